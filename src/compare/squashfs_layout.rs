//! Where everything lies in a SquashFS 4.0 image: superblock fields, the metadata tables
//! (inode, directory, fragment, export, id, xattr) block by block, the data blocks of
//! each inner file and the fragment blocks with the files whose tails they hold.
//!
//! A small parser of our own (the squashfs crate's reader returns values, this one keeps
//! positions); decompression is the squashfs crate's bounded [`squashfs::decompress`].
//! Nothing is extracted: the tables are read into memory (bounded by [`MAX_TABLE`]),
//! data blocks are only read when the content summary needs them, one block at a time.

use std::collections::{HashSet, VecDeque};

use squashfs::Compression;

use super::location::Place;
use super::source::{bad, field_name, le16, le32, le64, PResult, ParseError, Source};
use crate::untrusted::Untrusted;

const MAGIC: &[u8; 4] = b"hsqs";
const METADATA: usize = 8192;
/// Most uncompressed bytes kept for one metadata table.
const MAX_TABLE: usize = 256 << 20;
const MAX_ENTRIES: usize = 1 << 22;
const MAX_IDS: usize = 65536;
/// Block-list entries kept for all files together (4 bytes each).
const MAX_BLOCKS: usize = 1 << 24;
const MAX_PATH: usize = 4096;
/// Bytes of path names kept for one tree (hostile images can nest deeply).
const MAX_PATH_BYTES: usize = 256 << 20;
const NO_FRAGMENT: u32 = 0xffff_ffff;
const NO_TABLE: u64 = u64::MAX;
const DATA_UNCOMPRESSED: u32 = 1 << 24;
const MAX_NOTES: usize = 32;

const SUPERBLOCK_FIELDS: &[(usize, usize, &str)] = &[
    (0, 4, "magic"),
    (4, 4, "inode count"),
    (8, 4, "modification time"),
    (12, 4, "block size"),
    (16, 4, "fragment count"),
    (20, 2, "compression id"),
    (22, 2, "block log"),
    (24, 2, "flags"),
    (26, 2, "id count"),
    (28, 2, "major version"),
    (30, 2, "minor version"),
    (32, 8, "root inode reference"),
    (40, 8, "bytes used"),
    (48, 8, "id table start"),
    (56, 8, "xattr id table start"),
    (64, 8, "inode table start"),
    (72, 8, "directory table start"),
    (80, 8, "fragment table start"),
    (88, 8, "export table start"),
];

/// The superblock values this module uses.
#[derive(Debug, Clone, Default)]
pub struct Super {
    pub inodes: u32,
    pub mkfs_time: u32,
    pub block_size: u32,
    pub fragments: u32,
    pub compression: u16,
    pub flags: u16,
    pub no_ids: u16,
    pub root_inode: u64,
    pub bytes_used: u64,
    pub id_table: u64,
    pub xattr_table: u64,
    pub inode_table: u64,
    pub directory_table: u64,
    pub fragment_table: u64,
    pub export_table: u64,
}

/// One inode reached from the root, under one of its names.
#[derive(Debug, Clone, Default)]
pub struct SqFile {
    pub path: Vec<u8>,
    /// Basic type: 1 dir, 2 file, 3 symlink, 4 block dev, 5 char dev, 6 fifo, 7 socket.
    pub kind: u16,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub size: u64,
    /// Squashfs-relative start of the data blocks, and each block's stored size word.
    pub blocks_start: u64,
    pub blocks: Vec<u32>,
    /// Fragment index and offset of the tail in the (uncompressed) fragment block.
    pub fragment: Option<(u32, u32)>,
    pub symlink: Option<Vec<u8>>,
    pub rdev: Option<u32>,
    pub nlink: u32,
    /// Start (squashfs-relative) of the inode-table metadata block holding the inode.
    inode_block: u64,
    /// For directories: start of the directory-table block holding the listing.
    listing_block: Option<u64>,
}

impl SqFile {
    /// Stored bytes of the data blocks (sparse blocks take none).
    pub fn stored_len(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| u64::from(b & !DATA_UNCOMPRESSED))
            .sum()
    }
}

/// A metadata table: [start, end) and where each of its metadata blocks starts.
#[derive(Debug, Clone)]
struct Table {
    name: &'static str,
    start: u64,
    end: u64,
    blocks: Vec<u64>,
}

/// One parsed SquashFS; offsets in here are relative to `base` unless said otherwise.
#[derive(Debug, Default)]
pub struct SquashLayout {
    /// Where the SquashFS starts in the image file.
    pub base: u64,
    /// Bytes available to it (the size of the file holding it, or the image size).
    pub len: u64,
    pub sb: Super,
    pub compression: Option<Compression>,
    tables: Vec<Table>,
    pub files: Vec<SqFile>,
    /// (start, stored length, file index) of data runs, sorted by start.
    data: Vec<(u64, u64, usize)>,
    /// Fragment table: (start, stored size word).
    pub fragments: Vec<(u64, u32)>,
    pub notes: Vec<String>,
}

/// One metadata table read and decompressed: the bytes, and for each block the
/// (relative start of the block, offset of its bytes in `bytes`).
struct Meta {
    bytes: Vec<u8>,
    map: Vec<(u64, usize)>,
}

impl Meta {
    /// Position in `bytes` of an inode/directory reference (block start, offset).
    fn pos(&self, block: u64, offset: usize) -> PResult<usize> {
        let i = self
            .map
            .binary_search_by_key(&block, |e| e.0)
            .map_err(|_| ParseError(format!("reference to no metadata block at {block}")))?;
        let p = self.map[i].1 + offset;
        if p >= self.bytes.len() {
            return bad("reference past the end of a metadata table");
        }
        Ok(p)
    }
}

pub fn is_squashfs(head: &[u8]) -> bool {
    head.len() >= 4 && &head[..4] == MAGIC
}

fn parse_super(b: &[u8]) -> PResult<Super> {
    if !is_squashfs(b) {
        return bad("no SquashFS magic");
    }
    let s = Super {
        inodes: le32(b, 4)?,
        mkfs_time: le32(b, 8)?,
        block_size: le32(b, 12)?,
        fragments: le32(b, 16)?,
        compression: le16(b, 20)?,
        flags: le16(b, 24)?,
        no_ids: le16(b, 26)?,
        root_inode: le64(b, 32)?,
        bytes_used: le64(b, 40)?,
        id_table: le64(b, 48)?,
        xattr_table: le64(b, 56)?,
        inode_table: le64(b, 64)?,
        directory_table: le64(b, 72)?,
        fragment_table: le64(b, 80)?,
        export_table: le64(b, 88)?,
    };
    let block_log = le16(b, 22)?;
    if (le16(b, 28)?, le16(b, 30)?) != (4, 0) {
        return bad("not a SquashFS 4.0 image");
    }
    if !s.block_size.is_power_of_two()
        || !(4096..=1 << 20).contains(&s.block_size)
        || 1u32.checked_shl(u32::from(block_log)) != Some(s.block_size)
    {
        return bad("bad SquashFS block size");
    }
    Ok(s)
}

impl SquashLayout {
    fn note(&mut self, msg: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(msg);
        }
    }

    /// Parses the SquashFS at `base`, which may use at most `len` bytes. A broken
    /// superblock is an error; broken tables leave a partial layout with notes.
    pub fn parse(src: &Source, base: u64, len: u64) -> PResult<SquashLayout> {
        let sb = parse_super(&src.read(base, 96)?)?;
        if sb.bytes_used > len {
            return bad(format!(
                "SquashFS claims {} bytes but only {len} are there",
                sb.bytes_used
            ));
        }
        let mut l = SquashLayout {
            base,
            len,
            compression: Compression::from_id(sb.compression),
            sb,
            ..SquashLayout::default()
        };
        if l.compression.is_none() {
            l.note(format!(
                "SquashFS compression id {} is not supported: tables and files not parsed",
                l.sb.compression
            ));
            return Ok(l);
        }
        if let Err(e) = l.parse_tables(src) {
            l.note(format!("SquashFS tables: {e}"));
        }
        Ok(l)
    }

    fn parse_tables(&mut self, src: &Source) -> PResult<()> {
        let sb = self.sb.clone();
        let check = |v: u64, what: &str| {
            if v > sb.bytes_used {
                bad(format!("{what} at {v} is past bytes_used"))
            } else {
                Ok(v)
            }
        };
        check(sb.inode_table, "inode table")?;
        check(sb.directory_table, "directory table")?;
        if sb.directory_table < sb.inode_table {
            return bad("directory table before inode table");
        }
        // The indexed tables: their index arrays, then where their blocks begin.
        let frag_count = u64::from(sb.fragments);
        let mut indexed: Vec<Table> = Vec::new();
        let mut frag_index = Vec::new();
        if sb.fragment_table != NO_TABLE && frag_count > 0 {
            frag_index = self.read_index(src, sb.fragment_table, frag_count * 16)?;
            indexed.push(self.indexed_table("fragment table", sb.fragment_table, &frag_index));
        }
        if sb.export_table != NO_TABLE {
            let idx = self.read_index(src, sb.export_table, u64::from(sb.inodes) * 8)?;
            indexed.push(self.indexed_table("export table", sb.export_table, &idx));
        }
        let id_index = self.read_index(src, sb.id_table, u64::from(sb.no_ids) * 4)?;
        indexed.push(self.indexed_table("id table", sb.id_table, &id_index));
        if sb.xattr_table != NO_TABLE {
            if let Ok(h) = src.read(self.base + check(sb.xattr_table, "xattr table")?, 16) {
                let kv_start = le64(&h, 0)?;
                let end = sb.xattr_table + 16;
                indexed.push(Table {
                    name: "xattr table",
                    start: kv_start.min(sb.xattr_table),
                    end: end.max(sb.xattr_table),
                    blocks: vec![kv_start.min(sb.xattr_table)],
                });
            }
        }
        // The directory table ends where the next table begins.
        let dir_end = indexed
            .iter()
            .map(|t| t.start)
            .filter(|&s| s >= sb.directory_table)
            .min()
            .unwrap_or(sb.bytes_used);
        let inodes = self.read_meta(src, sb.inode_table, sb.directory_table, "inode table")?;
        let dirs = self.read_meta(src, sb.directory_table, dir_end, "directory table")?;
        let ids = self.read_ids(src, &id_index)?;
        if !frag_index.is_empty() {
            self.fragments = self.read_fragments(src, &frag_index, frag_count)?;
        }
        self.tables.push(Table {
            name: "inode table",
            start: sb.inode_table,
            end: sb.directory_table,
            blocks: inodes.map.iter().map(|e| e.0 + sb.inode_table).collect(),
        });
        self.tables.push(Table {
            name: "directory table",
            start: sb.directory_table,
            end: dir_end,
            blocks: dirs.map.iter().map(|e| e.0 + sb.directory_table).collect(),
        });
        self.tables.extend(indexed);
        self.walk(&inodes, &dirs, &ids);
        self.data = self
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind == 2 && f.stored_len() > 0)
            .map(|(i, f)| (f.blocks_start, f.stored_len(), i))
            .collect();
        self.data.sort_unstable();
        Ok(())
    }

    /// Reads an index array of u64 block positions for a table of `bytes` entries bytes.
    fn read_index(&self, src: &Source, at: u64, bytes: u64) -> PResult<Vec<u64>> {
        let count = bytes.div_ceil(METADATA as u64);
        if at.saturating_add(count * 8) > self.sb.bytes_used {
            return bad(format!("table index at {at} runs past bytes_used"));
        }
        let raw = src.read(self.base + at, count * 8)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    }

    fn indexed_table(&self, name: &'static str, index_at: u64, blocks: &[u64]) -> Table {
        let start = blocks
            .iter()
            .copied()
            // A corrupt pointer must not stretch the table over the data blocks.
            .filter(|&b| b < index_at && b >= self.sb.directory_table)
            .min()
            .unwrap_or(index_at);
        let count = blocks.len() as u64;
        Table {
            name,
            start,
            end: index_at + count * 8,
            blocks: blocks.to_vec(),
        }
    }

    /// Reads one metadata block at `at`: (uncompressed bytes, stored length incl. header).
    fn read_block(&self, src: &Source, at: u64) -> PResult<(Vec<u8>, u64)> {
        let h = src.read(self.base + at, 2)?;
        let h = u16::from_le_bytes([h[0], h[1]]);
        let len = u64::from(h & 0x7fff);
        if len == 0 || len > METADATA as u64 {
            return bad(format!("metadata block at {at} has bad length {len}"));
        }
        let raw = src.read(self.base + at + 2, len)?;
        let bytes = if h & 0x8000 != 0 {
            raw
        } else {
            let kind = self
                .compression
                .ok_or_else(|| ParseError("unsupported compression".into()))?;
            squashfs::decompress(kind, &raw, METADATA)
                .map_err(|e| ParseError(format!("metadata block at {at}: {e}")))?
        };
        Ok((bytes, 2 + len))
    }

    /// Reads the consecutive metadata blocks in [start, end).
    fn read_meta(&self, src: &Source, start: u64, end: u64, what: &str) -> PResult<Meta> {
        let mut m = Meta {
            bytes: Vec::new(),
            map: Vec::new(),
        };
        let mut at = start;
        while at < end {
            let (b, stored) = self.read_block(src, at)?;
            if m.bytes.len() + b.len() > MAX_TABLE {
                return bad(format!("{what} is larger than {MAX_TABLE} bytes"));
            }
            m.map.push((at - start, m.bytes.len()));
            m.bytes.extend_from_slice(&b);
            at += stored;
        }
        Ok(m)
    }

    fn read_ids(&self, src: &Source, index: &[u64]) -> PResult<Vec<u32>> {
        let mut ids = Vec::new();
        for &at in index {
            let (b, _) = self.read_block(src, at)?;
            ids.extend(
                b.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            if ids.len() > MAX_IDS {
                break;
            }
        }
        ids.truncate(usize::from(self.sb.no_ids));
        Ok(ids)
    }

    fn read_fragments(&self, src: &Source, index: &[u64], count: u64) -> PResult<Vec<(u64, u32)>> {
        let mut out = Vec::new();
        for &at in index {
            let (b, _) = self.read_block(src, at)?;
            for e in b.chunks_exact(16) {
                if out.len() as u64 >= count {
                    break;
                }
                out.push((le64(e, 0)?, le32(e, 8)?));
            }
        }
        Ok(out)
    }

    /// Breadth-first walk from the root inode; each directory inode is entered once.
    fn walk(&mut self, inodes: &Meta, dirs: &Meta, ids: &[u32]) {
        let root = self.sb.root_inode;
        let mut queue = VecDeque::from([(root, b"/".to_vec())]);
        let mut seen = HashSet::new();
        let mut blocks = 0usize;
        let mut path_bytes = 0usize;
        while let Some((iref, path)) = queue.pop_front() {
            if self.files.len() >= MAX_ENTRIES || blocks > MAX_BLOCKS {
                self.note("too many SquashFS entries or blocks; walk stopped".into());
                break;
            }
            path_bytes += path.len();
            if path.len() > MAX_PATH || path_bytes > MAX_PATH_BYTES {
                self.note(format!("path longer than {MAX_PATH} bytes skipped"));
                continue;
            }
            let file = match self.parse_inode(inodes, ids, iref, path.clone()) {
                Ok(f) => f,
                Err(e) => {
                    self.note(format!("inode of {}: {e}", Untrusted::new(path)));
                    continue;
                }
            };
            if file.kind == 1 {
                if !seen.insert(iref) {
                    self.note(format!("directory loop at {}", Untrusted::new(path)));
                    continue;
                }
                match list_dir(dirs, &file, self.sb.directory_table) {
                    Ok(children) => {
                        for (name, child) in children {
                            let mut p = path.clone();
                            if p.last() != Some(&b'/') {
                                p.push(b'/');
                            }
                            p.extend_from_slice(&name);
                            if queue.len() + self.files.len() < MAX_ENTRIES {
                                queue.push_back((child, p));
                            }
                        }
                    }
                    Err(e) => self.note(format!("directory {}: {e}", Untrusted::new(path))),
                }
            }
            blocks += file.blocks.len();
            self.files.push(file);
        }
    }

    fn parse_inode(&self, m: &Meta, ids: &[u32], iref: u64, path: Vec<u8>) -> PResult<SqFile> {
        let block = iref >> 16;
        let p = m.pos(block, (iref & 0xffff) as usize)?;
        let b = &m.bytes[p..];
        let id = |i: u16| {
            ids.get(usize::from(i))
                .copied()
                .ok_or_else(|| ParseError(format!("id index {i} out of range")))
        };
        let typ = le16(b, 0)?;
        let mut f = SqFile {
            path,
            kind: if typ > 7 { typ - 7 } else { typ },
            mode: le16(b, 2)?,
            uid: id(le16(b, 4)?)?,
            gid: id(le16(b, 6)?)?,
            mtime: le32(b, 8)?,
            inode_block: self.sb.inode_table + block,
            ..SqFile::default()
        };
        let block_count = |size: u64, frag: u32| {
            let bs = u64::from(self.sb.block_size);
            if frag == NO_FRAGMENT {
                size.div_ceil(bs)
            } else {
                size / bs
            }
        };
        let read_blocks = |at: usize, n: u64| -> PResult<Vec<u32>> {
            if n > (b.len().saturating_sub(at) / 4) as u64 {
                return bad("block list runs past the inode table");
            }
            (0..n as usize).map(|i| le32(b, at + 4 * i)).collect()
        };
        match typ {
            1 => {
                f.listing_block = Some(u64::from(le32(b, 16)?));
                f.nlink = le32(b, 20)?;
                f.size = u64::from(le16(b, 24)?);
                f.blocks_start = u64::from(le16(b, 26)?); // listing offset
            }
            8 => {
                f.nlink = le32(b, 16)?;
                f.size = u64::from(le32(b, 20)?);
                f.listing_block = Some(u64::from(le32(b, 24)?));
                f.blocks_start = u64::from(le16(b, 34)?);
            }
            2 => {
                f.blocks_start = u64::from(le32(b, 16)?);
                let frag = le32(b, 20)?;
                let frag_off = le32(b, 24)?;
                f.size = u64::from(le32(b, 28)?);
                f.nlink = 1;
                f.blocks = read_blocks(32, block_count(f.size, frag))?;
                f.fragment = (frag != NO_FRAGMENT).then_some((frag, frag_off));
            }
            9 => {
                f.blocks_start = le64(b, 16)?;
                f.size = le64(b, 24)?;
                f.nlink = le32(b, 40)?;
                let frag = le32(b, 44)?;
                let frag_off = le32(b, 48)?;
                f.blocks = read_blocks(56, block_count(f.size, frag))?;
                f.fragment = (frag != NO_FRAGMENT).then_some((frag, frag_off));
            }
            3 | 10 => {
                f.nlink = le32(b, 16)?;
                let n = le32(b, 20)? as usize;
                let target = b
                    .get(24..24 + n)
                    .ok_or_else(|| ParseError("symlink target runs past the table".into()))?;
                f.size = n as u64;
                f.symlink = Some(target.to_vec());
            }
            4 | 5 | 11 | 12 => {
                f.nlink = le32(b, 16)?;
                f.rdev = Some(le32(b, 20)?);
            }
            6 | 7 | 13 | 14 => f.nlink = le32(b, 16)?,
            _ => return bad(format!("unknown inode type {typ}")),
        }
        if f.kind == 1 {
            f.listing_block = f.listing_block.map(|b| b + self.sb.directory_table);
        }
        Ok(f)
    }

    /// Offset `rel` (relative to the SquashFS start) → place, or `None` past its padding.
    pub fn locate(&self, rel: u64) -> Option<Place> {
        if rel < 96 {
            let field = field_name(SUPERBLOCK_FIELDS, rel as usize).unwrap_or_default();
            return Some(Place::SquashfsSuperblock { field });
        }
        if rel < self.sb.bytes_used {
            return Some(self.locate_inside(rel));
        }
        if rel < self.sb.bytes_used.div_ceil(4096) * 4096 {
            return Some(Place::SquashfsPadding);
        }
        None
    }

    fn locate_inside(&self, rel: u64) -> Place {
        for t in &self.tables {
            if rel >= t.start && rel < t.end {
                return self.table_place(t, rel);
            }
        }
        if let Some(p) = self.data_place(rel) {
            return p;
        }
        for (i, &(start, size)) in self.fragments.iter().enumerate() {
            let stored = u64::from(size & !DATA_UNCOMPRESSED);
            if rel >= start && rel < start + stored {
                let users: Vec<&SqFile> = self
                    .files
                    .iter()
                    .filter(|f| f.fragment.map(|x| x.0) == Some(i as u32))
                    .collect();
                return Place::SquashfsFragment {
                    index: i as u32,
                    offset_in_block: rel - start,
                    files: users
                        .iter()
                        .take(5)
                        .map(|f| Untrusted::new(f.path.clone()))
                        .collect(),
                    files_total: users.len() as u64,
                };
            }
        }
        if self.sb.flags & (1 << 10) != 0 && rel < 96 + 2 + METADATA as u64 {
            return Place::SquashfsTable {
                table: "compressor options".into(),
                block: 0,
                holds: Vec::new(),
            };
        }
        let reason = if self.compression.is_none() || !self.notes.is_empty() {
            "SquashFS tables not fully parsed"
        } else {
            "SquashFS bytes in no known structure"
        };
        Place::Unknown {
            reason: reason.into(),
        }
    }

    fn table_place(&self, t: &Table, rel: u64) -> Place {
        let mut sorted = t.blocks.clone();
        sorted.sort_unstable();
        let k = sorted.partition_point(|&b| b <= rel);
        if k == 0
            || (t.name != "inode table"
                && t.name != "directory table"
                && rel >= t.end - t.blocks.len() as u64 * 8)
        {
            // Before the first block of an indexed table, or in its index array.
            return Place::SquashfsTable {
                table: format!("{} index", t.name),
                block: 0,
                holds: Vec::new(),
            };
        }
        let block_start = sorted[k - 1];
        let holds: Vec<Untrusted> = match t.name {
            "inode table" => self
                .files
                .iter()
                .filter(|f| f.inode_block == block_start)
                .take(3)
                .map(|f| Untrusted::new(f.path.clone()))
                .collect(),
            "directory table" => self
                .files
                .iter()
                .filter(|f| f.listing_block == Some(block_start))
                .take(3)
                .map(|f| Untrusted::new(f.path.clone()))
                .collect(),
            _ => Vec::new(),
        };
        Place::SquashfsTable {
            table: t.name.into(),
            block: (k - 1) as u64,
            holds,
        }
    }

    fn data_place(&self, rel: u64) -> Option<Place> {
        let i = self.data.partition_point(|e| e.0 <= rel);
        let mut hits = self.data[..i]
            .iter()
            .rev()
            .take(64)
            .filter(|(s, l, _)| rel < s + l);
        let &(start, _, fi) = hits.next()?;
        let also = hits.count() as u32;
        let f = &self.files[fi];
        let mut at = start;
        for (k, &word) in f.blocks.iter().enumerate() {
            let stored = u64::from(word & !DATA_UNCOMPRESSED);
            if rel < at + stored {
                return Some(Place::SquashfsData {
                    path: Untrusted::new(f.path.clone()),
                    block: k as u64,
                    file_offset: k as u64 * u64::from(self.sb.block_size),
                    offset_in_block: rel - at,
                    compressed: word & DATA_UNCOMPRESSED == 0,
                    also,
                });
            }
            at += stored;
        }
        None
    }

    /// Image offsets and stored sizes of a file's data blocks: (abs offset, size word).
    pub fn block_runs(&self, f: &SqFile) -> Vec<(u64, u32)> {
        let mut at = self.base + f.blocks_start;
        f.blocks
            .iter()
            .map(|&w| {
                let r = (at, w);
                at += u64::from(w & !DATA_UNCOMPRESSED);
                r
            })
            .collect()
    }

    /// Reads and (if needed) decompresses one stored data or fragment block.
    pub fn read_data_block(&self, src: &Source, abs: u64, word: u32) -> PResult<Vec<u8>> {
        let stored = u64::from(word & !DATA_UNCOMPRESSED);
        if stored == 0 {
            return Ok(vec![0; self.sb.block_size as usize]);
        }
        if stored > u64::from(self.sb.block_size) {
            return bad(format!("data block at {abs} larger than the block size"));
        }
        let raw = src.read(abs, stored)?;
        if word & DATA_UNCOMPRESSED != 0 {
            return Ok(raw);
        }
        let kind = self
            .compression
            .ok_or_else(|| ParseError("unsupported compression".into()))?;
        squashfs::decompress(kind, &raw, self.sb.block_size as usize)
            .map_err(|e| ParseError(format!("data block at {abs}: {e}")))
    }
}

/// The entries of a directory: (name, inode reference).
/// `table_start` turns the (squashfs-relative) listing block into a table offset.
fn list_dir(m: &Meta, dir: &SqFile, table_start: u64) -> PResult<Vec<(Vec<u8>, u64)>> {
    let block = dir.listing_block.unwrap_or(0).saturating_sub(table_start);
    let size = dir.size.saturating_sub(3) as usize;
    let mut out = Vec::new();
    if size == 0 {
        return Ok(out);
    }
    let start = m.pos(block, dir.blocks_start as usize)?;
    let end = start
        .checked_add(size)
        .filter(|&e| e <= m.bytes.len())
        .ok_or_else(|| ParseError("directory listing runs past the table".into()))?;
    let b = &m.bytes[start..end];
    let mut p = 0usize;
    while p + 12 <= b.len() {
        let count = le32(b, p)? as usize + 1;
        let inode_block = u64::from(le32(b, p + 4)?);
        p += 12;
        if count > 256 {
            return bad("directory header claims more than 256 entries");
        }
        for _ in 0..count {
            let off = u64::from(le16(b, p)?);
            let name_len = usize::from(le16(b, p + 6)?) + 1;
            let name = b
                .get(p + 8..p + 8 + name_len)
                .ok_or_else(|| ParseError("directory entry name runs past the listing".into()))?;
            if name.contains(&b'/') || name == b"." || name == b".." {
                return bad("directory entry with an invalid name");
            }
            out.push((name.to_vec(), (inode_block << 16) | off));
            p += 8 + name_len;
        }
    }
    Ok(out)
}
