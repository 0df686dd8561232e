//! ISO 9660 (+ Rock Ridge, Joliet, El Torito, hybrid MBR/GPT) writer byte-identical
//! to what Debian 12's xorriso 1.5.4 makes with live-build's flags, and a bounded
//! reader ([`read`]) that says what lives at any byte of an image.
//!
//! The writer reproduces
//! `xorriso -as mkisofs -R -r -J -joliet-long -l -cache-inodes -iso-level 3 -V …
//! --modification-date=… [-b … -c … -no-emul-boot -boot-load-size 4 -boot-info-table]
//! [-eltorito-alt-boot -e … -no-emul-boot -isohybrid-gpt-basdat]
//! [-isohybrid-mbr … -partition_offset 16]` run with `SOURCE_DATE_EPOCH` set and
//! `LC_ALL=C` (non-ASCII name bytes become `_` in ISO 9660 and Joliet names). See
//! docs/iso9660.md for the layout rules.

mod hybrid;
mod names;
pub mod read;
mod susp;
mod writer;

pub use writer::write;

/// What the image is called and dated; mirrors the xorriso options of the recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoOptions {
    /// `-V`: recorded as given (up to 32 bytes).
    pub volume_id: String,
    /// `-A`
    pub application_id: Option<String>,
    /// `-p`; xorriso's own identification string when `None`.
    pub preparer_id: Option<String>,
    /// `-publisher`
    pub publisher_id: Option<String>,
    /// SOURCE_DATE_EPOCH: volume dates, boot catalog date, "now".
    pub modification_time: i64,
    pub boot: Option<BootOptions>,
}

/// El Torito and hybrid boot setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOptions {
    /// `-b`: path of the BIOS no-emulation image inside the image tree (e.g. "isolinux/isolinux.bin").
    pub bios_image: String,
    /// `-c`: path where the boot catalog is placed (e.g. "isolinux/boot.cat").
    pub catalog: String,
    /// `-eltorito-alt-boot -e`: path of the EFI image inside the tree; implies
    /// `-isohybrid-gpt-basdat` when `isohybrid_mbr` is given.
    pub efi_image: Option<String>,
    /// `-isohybrid-mbr` template (up to 32 KiB, copied into the system area before
    /// the MBR fields and the GPT are written over it), with `-partition_offset 16`:
    /// a hybrid image with a second descriptor set and partition-relative tree copies
    /// (docs/iso9660.md, "Hybrid").
    pub isohybrid_mbr: Option<Vec<u8>>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Image size in 2048-byte blocks.
    pub blocks: u64,
    pub bytes: u64,
}

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the image: {0}")]
    Write(#[source] std::io::Error),
    #[error("{path} changed size while writing (expected {expected} bytes); do not modify the tree during a build")]
    SizeChanged {
        path: std::path::PathBuf,
        expected: u64,
    },
    #[error("{path}: {size} bytes is 4 GiB or more; files that large need multi-extent ISO 9660 files, which this writer does not produce")]
    FileTooBig { path: String, size: u64 },
    #[error("{path}: the name cannot be recorded ({why}); rename it")]
    BadName { path: String, why: &'static str },
    #[error("{path}: {why}")]
    Boot { path: String, why: &'static str },
    #[error("the image would exceed the 32-bit block addresses of ISO 9660")]
    TooLarge,
    #[error("{0} is not supported by this writer yet; build this image with xorriso")]
    Unsupported(&'static str),
}
