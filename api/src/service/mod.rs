//! Data access: every read and write goes through here, with the caller's scope applied in
//! the query itself, so no GraphQL path can reach what the caller may not see.
pub mod access;
pub mod evidence;
pub mod history;
pub mod measures;
pub mod notify;
pub mod plan;
pub mod scope;
pub mod tokens;
pub mod write;
