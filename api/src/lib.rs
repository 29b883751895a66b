//! remedy: a GraphQL service that tracks a company's remediation plan after a regulator acts
//! on an incident. The binary (`src/main.rs`) is a thin CLI over this library.
pub mod audit;
pub mod auth;
pub mod config;
pub mod date;
pub mod db;
pub mod digest;
pub mod document;
pub mod domain;
pub mod error;
pub mod events;
pub mod exchange;
pub mod graphql;
pub mod id;
pub mod metrics;
pub mod notifier;
pub mod outbound;
pub mod pipeline;
pub mod propagation;
pub mod report;
pub mod seed;
pub mod server;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod ttl;
pub mod ws;
