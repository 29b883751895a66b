//! End-to-end tests: one binary, each test against its own server and its own database
//! (a fresh SQLite file, or a fresh PostgreSQL database when `REMEDY_TEST_DATABASE_URL`
//! is set).
mod helpers;

mod accountability;
mod approvals;
mod auth;
mod bulk;
mod conformance;
mod console;
mod exchange_in;
mod exchange_out;
mod foundation;
mod history;
mod history_scale;
mod hostile;
mod issuance;
mod ledger;
mod live;
mod mutations;
mod notify;
mod ops;
mod read;
mod reliability;
mod reporting;
mod scope_leaks;
mod seams;
