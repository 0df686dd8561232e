//! SquashFS 4.0: a writer whose output is byte-identical to Debian 12's mksquashfs
//! 4.5.1 (`-noappend -all-root -no-xattrs -comp xz|gzip [-b N]`, SOURCE_DATE_EPOCH
//! set), and a bounded reader that maps an image's bytes back to what lives there.
//!
//! The layout rules are written down in docs/squashfs.md.

mod compress;
pub mod format;
mod meta;
mod pipeline;
pub mod read;
mod write;

pub use compress::{decompress, CodecError, Compression, DecompressError};
pub use format::Superblock;
pub use write::{write, Options, Summary, WriteError};
