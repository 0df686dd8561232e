//! A bounded SquashFS 4.0 reader for comparing images: where each table lies, every
//! path with its inode, data blocks and fragment, and what lives at a given offset.
//!
//! Input is treated as hostile: every size is checked against the image length and
//! fixed caps before anything is allocated, loops are bounded, and malformed input
//! gives a [`ReadError`], never a panic.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};

use crate::compress::{decompress, Compression, DecompressError};
use crate::format::*;

/// Most uncompressed metadata (inode or directory table) we accept.
const MAX_TABLE: usize = 256 << 20;
/// Most directory entries we walk.
const MAX_ENTRIES: usize = 20_000_000;
/// Deepest directory nesting we walk.
const MAX_DEPTH: usize = 1024;
/// Longest symlink target we accept.
const MAX_SYMLINK: u32 = 65536;
/// Most data blocks listed over all inodes decoded by one walk (16 Mi blocks is
/// 2 TiB at 128 KiB blocks), which bounds memory on hostile block lists.
const MAX_TOTAL_BLOCKS: usize = 16 << 20;

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a squashfs image (bad magic); is this the right file?")]
    BadMagic,
    #[error("squashfs version {major}.{minor} is not supported (only 4.0)")]
    Version { major: u16, minor: u16 },
    #[error("compression id {0} is not supported (only gzip and xz)")]
    Compression(u16),
    #[error("corrupt image: {0}")]
    Corrupt(String),
    #[error("corrupt image: {0}")]
    Decompress(#[from] DecompressError),
    #[error("image is too large to inspect: {0}")]
    Limit(String),
}

fn corrupt<T>(msg: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Corrupt(msg.into()))
}

/// What kind of object an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    BlockDev,
    CharDev,
    Fifo,
    Socket,
}

/// One data block of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    /// Offset in the image (meaningless for a sparse block).
    pub offset: u64,
    /// Bytes stored in the image (0 for a sparse block).
    pub stored_size: u32,
    /// Stored compressed (otherwise stored as is).
    pub compressed: bool,
    /// Bytes of the file this block stands for.
    pub size: u32,
}

impl DataBlock {
    pub fn is_sparse(&self) -> bool {
        self.stored_size == 0
    }
}

/// Where a file's tail lives inside a fragment block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentRef {
    pub index: u32,
    pub offset: u32,
    pub size: u32,
}

/// A fragment block as listed in the fragment table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentEntry {
    pub start: u64,
    pub stored_size: u32,
    pub compressed: bool,
}

/// A decoded inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Reference (block << 16 | offset) in the inode table.
    pub reference: u64,
    pub inode_type: u16,
    pub kind: Kind,
    pub number: u32,
    /// Permission bits.
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub nlink: u32,
    /// File size, directory listing size (+3), or symlink target length.
    pub size: u64,
    pub blocks: Vec<DataBlock>,
    pub fragment: Option<FragmentRef>,
    pub sparse: u64,
    pub symlink: Option<Vec<u8>>,
    /// Directory listing location (block in directory table, offset), for directories.
    pub dir_start: Option<(u32, u16)>,
    pub parent: Option<u32>,
    pub dir_index_count: u16,
}

/// One path of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Slash-separated path from the root; the root is "/".
    pub path: String,
    pub inode: Inode,
}

/// What a range of the image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    Superblock,
    CompressorOptions,
    Data,
    InodeTable,
    DirectoryTable,
    FragmentTable,
    ExportTable,
    IdTable,
    XattrTable,
    Padding,
}

impl RegionKind {
    pub fn name(self) -> &'static str {
        match self {
            RegionKind::Superblock => "superblock",
            RegionKind::CompressorOptions => "compressor options",
            RegionKind::Data => "data blocks and fragments",
            RegionKind::InodeTable => "inode table",
            RegionKind::DirectoryTable => "directory table",
            RegionKind::FragmentTable => "fragment table",
            RegionKind::ExportTable => "export table",
            RegionKind::IdTable => "id table",
            RegionKind::XattrTable => "xattr table",
            RegionKind::Padding => "padding",
        }
    }
}

/// A byte range [start, end) of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub kind: RegionKind,
    pub start: u64,
    pub end: u64,
}

/// What lives at one offset of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Inside a table or the superblock, padding, and so on.
    Region {
        kind: RegionKind,
        offset_in_region: u64,
    },
    /// Inside a stored data block of a file (first path naming the inode).
    FileBlock {
        path: String,
        block: usize,
        /// Offset in the file where this block's content begins.
        file_offset: u64,
        offset_in_block: u64,
        compressed: bool,
    },
    /// Inside a fragment block shared by the listed files.
    FragmentBlock {
        index: u32,
        offset_in_block: u64,
        compressed: bool,
        files: Vec<String>,
    },
    /// Not covered by anything we know of.
    Unaccounted,
    /// Past the end of the image.
    PastEnd,
}

/// A decompressed metadata table with its block map.
struct Table {
    data: Vec<u8>,
    /// Block position (relative to the table start) → offset in `data`.
    blocks: HashMap<u64, usize>,
}

impl Table {
    fn offset_of(&self, block: u64, offset: u16) -> Result<usize, ReadError> {
        match self.blocks.get(&block) {
            Some(&o) => Ok(o + offset as usize),
            None => corrupt(format!(
                "reference to metadata block {block} which does not exist"
            )),
        }
    }
}

/// An opened image.
pub struct Image<R: Read + Seek> {
    r: R,
    len: u64,
    pub superblock: Superblock,
    pub compression: Compression,
    pub ids: Vec<u32>,
    pub fragments: Vec<FragmentEntry>,
    /// Inode references indexed by inode number - 1, when the image is exportable.
    pub export: Option<Vec<u64>>,
    inodes: Table,
    dirs: Table,
    regions: Vec<Region>,
}

fn le16(b: &[u8], o: usize) -> Result<u16, ReadError> {
    match b.get(o..o + 2) {
        Some(s) => Ok(u16::from_le_bytes([s[0], s[1]])),
        None => corrupt("metadata ends in the middle of a record"),
    }
}

fn le32(b: &[u8], o: usize) -> Result<u32, ReadError> {
    match b.get(o..o + 4) {
        Some(s) => Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        None => corrupt("metadata ends in the middle of a record"),
    }
}

fn le64(b: &[u8], o: usize) -> Result<u64, ReadError> {
    match b.get(o..o + 8) {
        Some(s) => {
            let mut x = [0u8; 8];
            x.copy_from_slice(s);
            Ok(u64::from_le_bytes(x))
        }
        None => corrupt("metadata ends in the middle of a record"),
    }
}

impl<R: Read + Seek> Image<R> {
    /// Reads the superblock and the small tables, and decompresses the inode and
    /// directory tables.
    pub fn open(mut r: R) -> Result<Image<R>, ReadError> {
        let len = r.seek(SeekFrom::End(0))?;
        if len < SUPERBLOCK_SIZE as u64 {
            return Err(ReadError::BadMagic);
        }
        r.seek(SeekFrom::Start(0))?;
        let mut sbb = [0u8; SUPERBLOCK_SIZE];
        r.read_exact(&mut sbb)?;
        let sb = Superblock::decode(&sbb);
        if sb.magic != MAGIC {
            return Err(ReadError::BadMagic);
        }
        if sb.major != 4 || sb.minor != 0 {
            return Err(ReadError::Version {
                major: sb.major,
                minor: sb.minor,
            });
        }
        let compression =
            Compression::from_id(sb.compression).ok_or(ReadError::Compression(sb.compression))?;
        if !sb.block_size.is_power_of_two()
            || !(4096..=1_048_576).contains(&sb.block_size)
            || sb.block_log as u32 != sb.block_size.trailing_zeros()
        {
            return corrupt(format!(
                "block size {} / log {} are inconsistent",
                sb.block_size, sb.block_log
            ));
        }
        if sb.bytes_used > len {
            return corrupt(format!(
                "superblock says {} bytes are used but the image has {len}; is it truncated?",
                sb.bytes_used
            ));
        }
        let limit = sb.bytes_used;
        for (name, v) in [
            ("inode table", sb.inode_table_start),
            ("directory table", sb.directory_table_start),
            ("id table", sb.id_table_start),
        ] {
            if v >= limit {
                return corrupt(format!("{name} starts at {v}, past the used size {limit}"));
            }
        }
        if sb.directory_table_start < sb.inode_table_start {
            return corrupt("directory table starts before the inode table");
        }
        let mut img = Image {
            r,
            len,
            superblock: sb.clone(),
            compression,
            ids: Vec::new(),
            fragments: Vec::new(),
            export: None,
            inodes: Table {
                data: Vec::new(),
                blocks: HashMap::new(),
            },
            dirs: Table {
                data: Vec::new(),
                blocks: HashMap::new(),
            },
            regions: Vec::new(),
        };
        let mut regions = vec![Region {
            kind: RegionKind::Superblock,
            start: 0,
            end: SUPERBLOCK_SIZE as u64,
        }];
        let mut data_start = SUPERBLOCK_SIZE as u64;
        if sb.flags & FLAG_COMP_OPTS != 0 {
            let (_, end) = img.read_meta_block(SUPERBLOCK_SIZE as u64, limit)?;
            regions.push(Region {
                kind: RegionKind::CompressorOptions,
                start: SUPERBLOCK_SIZE as u64,
                end,
            });
            data_start = end;
        }
        // the small indexed tables
        let (ids, id_first) = img.read_indexed(sb.id_table_start, sb.no_ids as u64 * 4, limit)?;
        img.ids = ids
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let id_index_len = (sb.no_ids as u64 * 4).div_ceil(METADATA_SIZE as u64) * 8;
        regions.push(Region {
            kind: RegionKind::IdTable,
            start: id_first.unwrap_or(sb.id_table_start),
            end: sb.id_table_start + id_index_len,
        });
        let mut table_starts = vec![id_first.unwrap_or(sb.id_table_start)];
        if sb.fragment_table_start != NO_TABLE {
            let bytes = sb.fragments as u64 * 16;
            let (frag, first) = img.read_indexed(sb.fragment_table_start, bytes, limit)?;
            for c in frag.chunks_exact(16) {
                let start = u64::from_le_bytes(c[0..8].try_into().unwrap_or([0; 8]));
                let size = u32::from_le_bytes([c[8], c[9], c[10], c[11]]);
                let stored = size & !DATA_UNCOMPRESSED;
                if stored > sb.block_size
                    || start.checked_add(stored as u64).is_none_or(|e| e > limit)
                {
                    return corrupt(format!(
                        "fragment block at {start} of {stored} bytes lies outside the image"
                    ));
                }
                img.fragments.push(FragmentEntry {
                    start,
                    stored_size: stored,
                    compressed: size & DATA_UNCOMPRESSED == 0,
                });
            }
            let start = first.unwrap_or(sb.fragment_table_start);
            regions.push(Region {
                kind: RegionKind::FragmentTable,
                start,
                end: sb.fragment_table_start + bytes.div_ceil(METADATA_SIZE as u64) * 8,
            });
            table_starts.push(start);
        } else if sb.fragments != 0 {
            return corrupt("fragments are counted but there is no fragment table");
        }
        if sb.lookup_table_start != NO_TABLE {
            let bytes = sb.inodes as u64 * 8;
            let (exp, first) = img.read_indexed(sb.lookup_table_start, bytes, limit)?;
            img.export = Some(
                exp.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            );
            let start = first.unwrap_or(sb.lookup_table_start);
            regions.push(Region {
                kind: RegionKind::ExportTable,
                start,
                end: sb.lookup_table_start + bytes.div_ceil(METADATA_SIZE as u64) * 8,
            });
            table_starts.push(start);
        }
        if sb.xattr_id_table_start != NO_TABLE {
            if sb.xattr_id_table_start >= limit {
                return corrupt("xattr table lies outside the image");
            }
            // Its extent is not parsed; it runs to the end of the used bytes.
            regions.push(Region {
                kind: RegionKind::XattrTable,
                start: sb.xattr_id_table_start,
                end: limit,
            });
            table_starts.push(sb.xattr_id_table_start);
        }
        let dir_end = table_starts
            .iter()
            .copied()
            .filter(|&s| s >= sb.directory_table_start)
            .min()
            .unwrap_or(limit);
        img.inodes = img.read_table(sb.inode_table_start, sb.directory_table_start)?;
        img.dirs = img.read_table(sb.directory_table_start, dir_end)?;
        regions.push(Region {
            kind: RegionKind::Data,
            start: data_start,
            end: sb.inode_table_start,
        });
        regions.push(Region {
            kind: RegionKind::InodeTable,
            start: sb.inode_table_start,
            end: sb.directory_table_start,
        });
        regions.push(Region {
            kind: RegionKind::DirectoryTable,
            start: sb.directory_table_start,
            end: dir_end,
        });
        if len > sb.bytes_used {
            regions.push(Region {
                kind: RegionKind::Padding,
                start: sb.bytes_used,
                end: len,
            });
        }
        regions.sort_by_key(|r| (r.start, r.end));
        img.regions = regions;
        Ok(img)
    }

    /// Table extents and other ranges, sorted by start.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Image length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image has no bytes (never true for an opened image).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn read_at(&mut self, at: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        if at.checked_add(len as u64).is_none_or(|e| e > self.len) {
            return corrupt(format!("{len} bytes at {at} lie outside the image"));
        }
        self.r.seek(SeekFrom::Start(at))?;
        let mut buf = vec![0u8; len];
        self.r.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Reads one metadata block at `at`; returns its content and where the next starts.
    fn read_meta_block(&mut self, at: u64, limit: u64) -> Result<(Vec<u8>, u64), ReadError> {
        if at.checked_add(2).is_none_or(|e| e > limit) {
            return corrupt(format!("metadata block at {at} lies outside the image"));
        }
        let h = self.read_at(at, 2)?;
        let h = u16::from_le_bytes([h[0], h[1]]);
        let size = (h & !META_UNCOMPRESSED) as usize;
        if size == 0 || size > METADATA_SIZE {
            return corrupt(format!("metadata block at {at} claims {size} bytes"));
        }
        if (at + 2).checked_add(size as u64).is_none_or(|e| e > limit) {
            return corrupt(format!("metadata block at {at} runs past its table"));
        }
        let raw = self.read_at(at + 2, size)?;
        let data = if h & META_UNCOMPRESSED != 0 {
            raw
        } else {
            decompress(self.compression, &raw, METADATA_SIZE)?
        };
        Ok((data, at + 2 + size as u64))
    }

    /// Decompresses the metadata blocks in [start, end).
    fn read_table(&mut self, start: u64, end: u64) -> Result<Table, ReadError> {
        let mut t = Table {
            data: Vec::new(),
            blocks: HashMap::new(),
        };
        let mut at = start;
        while at < end {
            let (data, next) = self.read_meta_block(at, end)?;
            t.blocks.insert(at - start, t.data.len());
            if t.data.len() + data.len() > MAX_TABLE {
                return Err(ReadError::Limit(format!(
                    "a metadata table is over {MAX_TABLE} bytes"
                )));
            }
            t.data.extend_from_slice(&data);
            at = next;
        }
        Ok(t)
    }

    /// Reads an indexed table of `bytes` bytes whose block list is at `index_at`.
    /// Returns the data and the position of its first block.
    fn read_indexed(
        &mut self,
        index_at: u64,
        bytes: u64,
        limit: u64,
    ) -> Result<(Vec<u8>, Option<u64>), ReadError> {
        let nblocks = bytes.div_ceil(METADATA_SIZE as u64);
        let index_len = nblocks * 8;
        if index_at.checked_add(index_len).is_none_or(|e| e > limit) {
            return corrupt(format!("table index at {index_at} runs past the image"));
        }
        if bytes > MAX_TABLE as u64 {
            return Err(ReadError::Limit(format!("a table of {bytes} bytes")));
        }
        let index = self.read_at(index_at, index_len as usize)?;
        let mut out = Vec::with_capacity(bytes as usize);
        let mut first = None;
        for c in index.chunks_exact(8) {
            let at = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            first.get_or_insert(at);
            let (data, _) = self.read_meta_block(at, limit)?;
            out.extend_from_slice(&data);
        }
        if (out.len() as u64) < bytes {
            return corrupt(format!(
                "table at {index_at} holds {} bytes, {bytes} expected",
                out.len()
            ));
        }
        out.truncate(bytes as usize);
        Ok((out, first))
    }

    fn id(&self, i: u16) -> Result<u32, ReadError> {
        match self.ids.get(i as usize) {
            Some(&v) => Ok(v),
            None => corrupt(format!("id index {i} is past the id table")),
        }
    }

    /// Decodes the inode at `reference`.
    pub fn inode(&self, reference: u64) -> Result<Inode, ReadError> {
        let at = self
            .inodes
            .offset_of(reference >> 16, (reference & 0xffff) as u16)?;
        let b = &self.inodes.data;
        let t = le16(b, at)?;
        let mut ino = Inode {
            reference,
            inode_type: t,
            kind: Kind::File,
            number: le32(b, at + 12)?,
            mode: le16(b, at + 2)? & 0o7777,
            uid: self.id(le16(b, at + 4)?)?,
            gid: self.id(le16(b, at + 6)?)?,
            mtime: le32(b, at + 8)?,
            nlink: 1,
            size: 0,
            blocks: Vec::new(),
            fragment: None,
            sparse: 0,
            symlink: None,
            dir_start: None,
            parent: None,
            dir_index_count: 0,
        };
        let p = at + 16;
        match t {
            DIR_TYPE => {
                ino.kind = Kind::Dir;
                let start = le32(b, p)?;
                ino.nlink = le32(b, p + 4)?;
                ino.size = le16(b, p + 8)? as u64;
                ino.dir_start = Some((start, le16(b, p + 10)?));
                ino.parent = Some(le32(b, p + 12)?);
            }
            LDIR_TYPE => {
                ino.kind = Kind::Dir;
                ino.nlink = le32(b, p)?;
                ino.size = le32(b, p + 4)? as u64;
                let start = le32(b, p + 8)?;
                ino.parent = Some(le32(b, p + 12)?);
                ino.dir_index_count = le16(b, p + 16)?;
                ino.dir_start = Some((start, le16(b, p + 18)?));
            }
            FILE_TYPE | LREG_TYPE => {
                ino.kind = Kind::File;
                let (start, size, frag, off, list_at) = if t == FILE_TYPE {
                    (
                        le32(b, p)? as u64,
                        le32(b, p + 12)? as u64,
                        le32(b, p + 4)?,
                        le32(b, p + 8)?,
                        p + 16,
                    )
                } else {
                    ino.sparse = le64(b, p + 16)?;
                    ino.nlink = le32(b, p + 24)?;
                    (
                        le64(b, p)?,
                        le64(b, p + 8)?,
                        le32(b, p + 28)?,
                        le32(b, p + 32)?,
                        p + 40,
                    )
                };
                ino.size = size;
                let bs = self.superblock.block_size as u64;
                let nblocks = if frag == NO_FRAGMENT {
                    size.div_ceil(bs)
                } else {
                    size / bs
                };
                let room = (b.len().saturating_sub(list_at) / 4) as u64;
                if nblocks > room || nblocks > MAX_TOTAL_BLOCKS as u64 {
                    return corrupt(format!(
                        "inode {} claims {nblocks} blocks, more than the inode table holds",
                        ino.number
                    ));
                }
                let mut pos = start;
                for i in 0..nblocks as usize {
                    let c = le32(b, list_at + i * 4)?;
                    let stored = c & !DATA_UNCOMPRESSED;
                    if stored > self.superblock.block_size {
                        return corrupt(format!(
                            "inode {} has a block of {stored} bytes",
                            ino.number
                        ));
                    }
                    let size_here = (size - i as u64 * bs).min(bs) as u32;
                    ino.blocks.push(DataBlock {
                        offset: pos,
                        stored_size: stored,
                        compressed: c & DATA_UNCOMPRESSED == 0 && stored != 0,
                        size: size_here,
                    });
                    pos = match pos.checked_add(stored as u64) {
                        Some(x) if x <= self.superblock.bytes_used => x,
                        _ => {
                            return corrupt(format!(
                                "inode {} has data past the image end",
                                ino.number
                            ))
                        }
                    };
                }
                if frag != NO_FRAGMENT {
                    let tail = (size % bs) as u32;
                    match self.fragments.get(frag as usize) {
                        Some(_) if tail != 0 => {}
                        _ => {
                            return corrupt(format!(
                                "inode {} points at fragment {frag} which does not exist or is not needed",
                                ino.number
                            ))
                        }
                    }
                    if off as u64 + tail as u64 > bs {
                        return corrupt(format!(
                            "inode {} has a fragment tail past its block",
                            ino.number
                        ));
                    }
                    ino.fragment = Some(FragmentRef {
                        index: frag,
                        offset: off,
                        size: tail,
                    });
                }
            }
            SYMLINK_TYPE | LSYMLINK_TYPE => {
                ino.kind = Kind::Symlink;
                ino.nlink = le32(b, p)?;
                let n = le32(b, p + 4)?;
                if n > MAX_SYMLINK {
                    return corrupt(format!("symlink target of {n} bytes"));
                }
                ino.size = n as u64;
                match b.get(p + 8..p + 8 + n as usize) {
                    Some(s) => ino.symlink = Some(s.to_vec()),
                    None => return corrupt("symlink target runs past the inode table"),
                }
            }
            BLKDEV_TYPE | CHRDEV_TYPE | LBLKDEV_TYPE | LCHRDEV_TYPE => {
                ino.kind = if t == BLKDEV_TYPE || t == LBLKDEV_TYPE {
                    Kind::BlockDev
                } else {
                    Kind::CharDev
                };
                ino.nlink = le32(b, p)?;
            }
            FIFO_TYPE | SOCKET_TYPE | LFIFO_TYPE | LSOCKET_TYPE => {
                ino.kind = if t == FIFO_TYPE || t == LFIFO_TYPE {
                    Kind::Fifo
                } else {
                    Kind::Socket
                };
                ino.nlink = le32(b, p)?;
            }
            _ => return corrupt(format!("unknown inode type {t}")),
        }
        Ok(ino)
    }

    /// The root directory's inode.
    pub fn root(&self) -> Result<Inode, ReadError> {
        let root = self.inode(self.superblock.root_inode)?;
        if root.kind != Kind::Dir {
            return corrupt("the root inode is not a directory");
        }
        Ok(root)
    }

    /// The entries of a directory: (name, inode reference, entry type).
    pub fn dir_entries(&self, dir: &Inode) -> Result<Vec<(Vec<u8>, u64, u16)>, ReadError> {
        let Some((block, offset)) = dir.dir_start else {
            return corrupt("not a directory");
        };
        let len = match dir.size.checked_sub(3) {
            Some(l) => l as usize,
            None => return Ok(Vec::new()),
        };
        let start = self.dirs.offset_of(block as u64, offset)?;
        let Some(listing) = self.dirs.data.get(start..start.saturating_add(len)) else {
            return corrupt("directory listing runs past the directory table");
        };
        let mut out = Vec::new();
        let mut p = 0;
        while p < listing.len() {
            let count = le32(listing, p)? as usize + 1;
            let start_block = le32(listing, p + 4)? as u64;
            let base = le32(listing, p + 8)?;
            p += 12;
            if count > 256 {
                return corrupt(format!("directory header claims {count} entries"));
            }
            for _ in 0..count {
                let off = le16(listing, p)?;
                let delta = le16(listing, p + 2)? as i16;
                let typ = le16(listing, p + 4)?;
                let n = le16(listing, p + 6)? as usize + 1;
                let Some(name) = listing.get(p + 8..p + 8 + n) else {
                    return corrupt("directory entry name runs past the listing");
                };
                if name.contains(&b'/') || name.contains(&0) || name == b"." || name == b".." {
                    return corrupt(format!(
                        "directory entry with invalid name {:?}",
                        String::from_utf8_lossy(name)
                    ));
                }
                let _number = base as i64 + delta as i64;
                out.push((name.to_vec(), (start_block << 16) | off as u64, typ));
                p += 8 + n;
                if out.len() > MAX_ENTRIES {
                    return Err(ReadError::Limit(format!(
                        "a directory with over {MAX_ENTRIES} entries"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Every path in the image, depth first in listing order, the root first.
    pub fn entries(&self) -> Result<Vec<Entry>, ReadError> {
        let root = self.root()?;
        let mut out = vec![Entry {
            path: "/".into(),
            inode: root.clone(),
        }];
        let mut seen = HashSet::new();
        seen.insert(root.reference);
        let mut blocks = 0usize;
        self.walk(&root, "", 0, &mut seen, &mut blocks, &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        dir: &Inode,
        path: &str,
        depth: usize,
        seen: &mut HashSet<u64>,
        blocks: &mut usize,
        out: &mut Vec<Entry>,
    ) -> Result<(), ReadError> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Limit(format!(
                "directories nested over {MAX_DEPTH} deep"
            )));
        }
        for (name, reference, _) in self.dir_entries(dir)? {
            let inode = self.inode(reference)?;
            let child = format!("{path}/{}", String::from_utf8_lossy(&name));
            *blocks += inode.blocks.len();
            if *blocks > MAX_TOTAL_BLOCKS {
                return Err(ReadError::Limit(format!(
                    "over {MAX_TOTAL_BLOCKS} data blocks"
                )));
            }
            if out.len() >= MAX_ENTRIES {
                return Err(ReadError::Limit(format!("over {MAX_ENTRIES} entries")));
            }
            out.push(Entry {
                path: child.clone(),
                inode: inode.clone(),
            });
            if inode.kind == Kind::Dir {
                if !seen.insert(reference) {
                    return corrupt(format!("directory {child} appears twice (a loop)"));
                }
                self.walk(&inode, &child, depth + 1, seen, blocks, out)?;
            }
        }
        Ok(())
    }

    /// Streams a file's content to `out` (at most `max` bytes, else an error).
    pub fn read_file(
        &mut self,
        inode: &Inode,
        out: &mut dyn Write,
        max: u64,
    ) -> Result<u64, ReadError> {
        if inode.kind != Kind::File {
            return corrupt("not a regular file");
        }
        if inode.size > max {
            return Err(ReadError::Limit(format!("file of {} bytes", inode.size)));
        }
        let bs = self.superblock.block_size as usize;
        let mut written = 0u64;
        for b in &inode.blocks {
            if b.size as usize > bs || b.stored_size as usize > bs {
                return corrupt(format!(
                    "inode {} lists a block larger than the block size",
                    inode.number
                ));
            }
            let data = if b.is_sparse() {
                vec![0u8; b.size as usize]
            } else {
                let raw = self.read_at(b.offset, b.stored_size as usize)?;
                if b.compressed {
                    decompress(self.compression, &raw, bs)?
                } else {
                    raw
                }
            };
            if data.len() != b.size as usize {
                return corrupt(format!(
                    "a block of inode {} holds {} bytes, {} expected",
                    inode.number,
                    data.len(),
                    b.size
                ));
            }
            out.write_all(&data)?;
            written += data.len() as u64;
        }
        if let Some(f) = &inode.fragment {
            let block = self.fragment_block(f.index)?;
            let Some(part) = block.get(f.offset as usize..f.offset as usize + f.size as usize)
            else {
                return corrupt(format!(
                    "inode {} fragment lies past its block",
                    inode.number
                ));
            };
            out.write_all(part)?;
            written += part.len() as u64;
        }
        if written != inode.size {
            return corrupt(format!(
                "inode {} holds {written} bytes, {} expected",
                inode.number, inode.size
            ));
        }
        Ok(written)
    }

    /// Decompresses one fragment block.
    pub fn fragment_block(&mut self, index: u32) -> Result<Vec<u8>, ReadError> {
        let Some(f) = self.fragments.get(index as usize).cloned() else {
            return corrupt(format!("fragment {index} does not exist"));
        };
        let raw = self.read_at(f.start, f.stored_size as usize)?;
        if f.compressed {
            Ok(decompress(
                self.compression,
                &raw,
                self.superblock.block_size as usize,
            )?)
        } else {
            Ok(raw)
        }
    }

    /// Builds the map from image offsets to file data, for [`DataMap::locate`].
    pub fn data_map(&self, entries: &[Entry]) -> DataMap {
        let mut spans = Vec::new();
        let mut seen = HashSet::new();
        let mut frag_files: HashMap<u32, Vec<String>> = HashMap::new();
        for e in entries {
            if e.inode.kind != Kind::File {
                continue;
            }
            if let Some(f) = &e.inode.fragment {
                frag_files.entry(f.index).or_default().push(e.path.clone());
            }
            if !seen.insert(e.inode.reference) {
                continue;
            }
            let bs = self.superblock.block_size as u64;
            for (i, b) in e.inode.blocks.iter().enumerate() {
                if b.is_sparse() {
                    continue;
                }
                spans.push(Span {
                    start: b.offset,
                    end: b.offset.saturating_add(b.stored_size as u64),
                    what: SpanKind::File {
                        path: e.path.clone(),
                        block: i,
                        file_offset: i as u64 * bs,
                        compressed: b.compressed,
                    },
                });
            }
        }
        for (i, f) in self.fragments.iter().enumerate() {
            spans.push(Span {
                start: f.start,
                end: f.start.saturating_add(f.stored_size as u64),
                what: SpanKind::Fragment {
                    index: i as u32,
                    compressed: f.compressed,
                },
            });
        }
        spans.sort_by_key(|s| (s.start, s.end));
        DataMap {
            spans,
            frag_files,
            regions: self.regions.clone(),
            len: self.len,
        }
    }
}

#[derive(Debug, Clone)]
enum SpanKind {
    File {
        path: String,
        block: usize,
        file_offset: u64,
        compressed: bool,
    },
    Fragment {
        index: u32,
        compressed: bool,
    },
}

#[derive(Debug, Clone)]
struct Span {
    start: u64,
    end: u64,
    what: SpanKind,
}

/// Offsets → what lives there, built by [`Image::data_map`].
#[derive(Debug, Clone)]
pub struct DataMap {
    spans: Vec<Span>,
    frag_files: HashMap<u32, Vec<String>>,
    regions: Vec<Region>,
    len: u64,
}

impl DataMap {
    /// Says what the byte at `offset` belongs to.
    pub fn locate(&self, offset: u64) -> Location {
        if offset >= self.len {
            return Location::PastEnd;
        }
        let i = self.spans.partition_point(|s| s.start <= offset);
        if i > 0 {
            let s = &self.spans[i - 1];
            if offset < s.end {
                return match &s.what {
                    SpanKind::File {
                        path,
                        block,
                        file_offset,
                        compressed,
                    } => Location::FileBlock {
                        path: path.clone(),
                        block: *block,
                        file_offset: *file_offset,
                        offset_in_block: offset - s.start,
                        compressed: *compressed,
                    },
                    SpanKind::Fragment { index, compressed } => Location::FragmentBlock {
                        index: *index,
                        offset_in_block: offset - s.start,
                        compressed: *compressed,
                        files: self.frag_files.get(index).cloned().unwrap_or_default(),
                    },
                };
            }
        }
        for r in &self.regions {
            if r.kind != RegionKind::Data && offset >= r.start && offset < r.end {
                return Location::Region {
                    kind: r.kind,
                    offset_in_region: offset - r.start,
                };
            }
        }
        Location::Unaccounted
    }
}
