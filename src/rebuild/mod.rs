//! Rebuild backends: `embedded` (crates/builder) and `tails` (Tails' own build system).

pub mod embedded;
pub mod tails;
