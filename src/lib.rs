//! verify-release: check that a released OS image really comes from its published source.
//!
//! The pipeline (see [`pipeline::run`]) is resolve → fetch → authenticate → source →
//! rebuild → compare → report; each stage lives in its own module with its own error type.

pub mod authenticate;
pub mod cli;
pub mod compare;
pub mod exit;
pub mod fetch;
pub mod pipeline;
pub mod progress;
pub mod rebuild;
pub mod release;
pub mod report;
pub mod source;
pub mod untrusted;
