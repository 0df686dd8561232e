//! The embedded builder: a source tree's `release.toml` recipe → an image.
//!
//! The recipe's meaning is defined by the command lines in docs/recipe.md: what
//! mksquashfs 4.5.1 and `xorriso -as mkisofs` 1.5.4 make from the staged trees. This
//! crate makes the same bytes with its own writers (crates/squashfs, crates/isofs), so
//! a rebuild needs none of those tools. It prints nothing: progress goes through a
//! callback.

pub mod recipe;

mod build;

pub use build::{
    build, build_with, hash_file, BuildError, BuildOptions, Built, BuiltSquashfs, Progress, Stage,
};
pub use recipe::{Recipe, RecipeError};

/// The recipe layout epochs this builder knows. The bytes a given `format` produces
/// never change once released.
pub const SUPPORTED_FORMATS: &[u32] = &[1];
