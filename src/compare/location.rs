//! What lives at an offset: a chain of places, outermost first.
//!
//! `[FileData /live/filesystem.squashfs @ 12345, SquashfsData /usr/lib/libfoo.so block 3]`
//! reads "inside live/filesystem.squashfs, data block 3 of /usr/lib/libfoo.so". Every
//! name in here came from an image, so it is [`Untrusted`].

use std::fmt;

use serde::Serialize;

use crate::untrusted::Untrusted;

/// One level of a location.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Place {
    /// The format is not one we parse, or the structures around the offset are broken.
    Unknown { reason: String },
    /// ISO 9660 system area (first 32 KiB): MBR, GPT, APM, or boot code.
    SystemArea { part: String, field: Option<String> },
    /// A volume descriptor (PVD, SVD/Joliet, boot record, terminator) and the field hit.
    VolumeDescriptor {
        index: u32,
        descriptor: String,
        field: String,
    },
    /// A path table (`L`/`M`, of the ISO 9660 or the Joliet tree).
    PathTable { which: String },
    /// The directory records of a directory; `entry` is the record hit, when it parses.
    DirectoryRecords {
        tree: String,
        directory: Untrusted,
        entry: Option<Untrusted>,
        field: Option<String>,
    },
    /// A Rock Ridge continuation area (SUSP CE) of a directory record.
    RockRidgeContinuation { directory: Untrusted },
    /// The El Torito boot catalog.
    BootCatalog { entry: String },
    /// An El Torito boot image (when no file of the tree covers it).
    BootImage { entry: u32 },
    /// The data of a file; `offset` is the byte of the file. `also` counts other names
    /// for the same data (hard links, the Joliet tree, deduplicated files).
    FileData {
        path: Untrusted,
        offset: u64,
        size: u64,
        also: u32,
    },
    /// Within an ISO volume but in no structure: padding or unallocated blocks.
    Padding { what: String },
    /// Past the end of the file (only the other image has bytes here).
    PastEnd,
    /// A partition of the MBR/GPT that holds no ISO 9660 structure (e.g. an appended EFI image).
    Partition {
        table: String,
        index: u32,
        offset: u64,
    },
    /// A SquashFS superblock field.
    SquashfsSuperblock { field: String },
    /// A SquashFS metadata table (inode, directory, fragment, export, id, xattr), the
    /// metadata block hit (0-based), and a few of the names whose entries it holds.
    SquashfsTable {
        table: String,
        block: u64,
        holds: Vec<Untrusted>,
    },
    /// A data block of a file inside a SquashFS. `file_offset` is where the block starts in
    /// the file; `offset_in_block` is the byte of the stored (maybe compressed) block.
    SquashfsData {
        path: Untrusted,
        block: u64,
        file_offset: u64,
        offset_in_block: u64,
        compressed: bool,
        also: u32,
    },
    /// A fragment block: the tails of several small files packed together.
    SquashfsFragment {
        index: u32,
        offset_in_block: u64,
        files: Vec<Untrusted>,
        files_total: u64,
    },
    /// Between the end of the SquashFS and the end of its 4 KiB padding.
    SquashfsPadding,
}

/// Where an offset lives, outermost place first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub places: Vec<Place>,
}

impl Location {
    pub fn new(place: Place) -> Self {
        Location {
            places: vec![place],
        }
    }

    pub fn unknown(reason: impl Into<String>) -> Self {
        Location::new(Place::Unknown {
            reason: reason.into(),
        })
    }

    pub fn past_end() -> Self {
        Location::new(Place::PastEnd)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.places.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{p}")?;
        }
        if self.places.is_empty() {
            f.write_str("unknown")?;
        }
        Ok(())
    }
}

fn names(list: &[Untrusted], total: u64) -> String {
    let mut s = list
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if total > list.len() as u64 {
        s.push_str(&format!(", … ({total} in all)"));
    }
    s
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Unknown { reason } => write!(f, "unknown ({reason})"),
            Place::SystemArea { part, field } => match field {
                Some(field) => write!(f, "system area, {part}, {field}"),
                None => write!(f, "system area, {part}"),
            },
            Place::VolumeDescriptor {
                index,
                descriptor,
                field,
            } => write!(f, "{descriptor} (volume descriptor {index}), {field}"),
            Place::PathTable { which } => write!(f, "{which} path table"),
            Place::DirectoryRecords {
                tree,
                directory,
                entry,
                field,
            } => {
                write!(f, "{tree} directory records of {directory}")?;
                if let Some(e) = entry {
                    write!(f, ", record of {e}")?;
                }
                if let Some(field) = field {
                    write!(f, " ({field})")?;
                }
                Ok(())
            }
            Place::RockRidgeContinuation { directory } => {
                write!(f, "Rock Ridge continuation area of a record in {directory}")
            }
            Place::BootCatalog { entry } => write!(f, "El Torito boot catalog, {entry}"),
            Place::BootImage { entry } => write!(f, "El Torito boot image of entry {entry}"),
            Place::FileData {
                path,
                offset,
                size,
                also,
            } => {
                write!(f, "{path}, byte {offset} of the file (size {size})")?;
                if *also > 0 {
                    write!(f, " (data shared with {also} other name(s))")?;
                }
                Ok(())
            }
            Place::Padding { what } => f.write_str(what),
            Place::PastEnd => f.write_str("past the end of this image"),
            Place::Partition {
                table,
                index,
                offset,
            } => write!(
                f,
                "{table} partition {index}, byte {offset} of the partition"
            ),
            Place::SquashfsSuperblock { field } => write!(f, "SquashFS superblock, {field}"),
            Place::SquashfsTable {
                table,
                block,
                holds,
            } => {
                write!(f, "SquashFS {table}, metadata block {block}")?;
                if !holds.is_empty() {
                    write!(f, " (holds {})", names(holds, holds.len() as u64))?;
                }
                Ok(())
            }
            Place::SquashfsData {
                path,
                block,
                file_offset,
                offset_in_block,
                compressed,
                also,
            } => {
                let kind = if *compressed { "compressed" } else { "stored" };
                write!(
                    f,
                    "{path}, data block {block} (file bytes from {file_offset}), byte {offset_in_block} of the {kind} block"
                )?;
                if *also > 0 {
                    write!(f, " (data shared with {also} other name(s))")?;
                }
                Ok(())
            }
            Place::SquashfsFragment {
                index,
                offset_in_block,
                files,
                files_total,
            } => write!(
                f,
                "SquashFS fragment block {index}, byte {offset_in_block}, tails of {}",
                names(files, *files_total)
            ),
            Place::SquashfsPadding => f.write_str("SquashFS padding (after bytes_used)"),
        }
    }
}
