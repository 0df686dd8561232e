//! The writer: lays a [`fstree::Tree`] out exactly as mksquashfs 4.5.1 does with
//! `-noappend -all-root -no-xattrs` (defaults otherwise: duplicate detection, export
//! table, fragments only for files smaller than a block, sparse blocks, reproducible
//! mode), given SOURCE_DATE_EPOCH. See docs/squashfs.md for the rules.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use fstree::{NodeId, NodeKind, Tree};

use crate::compress::{CodecError, Compression, Compressor};
use crate::format::*;
use crate::meta::{indexed_table, push_block, DirListing, MetaTable};
use crate::pipeline::{self, BlockOut, Digest, Feed, FileJob, FragOut, Unit};

/// How to build the image (the mksquashfs command-line choices we support).
#[derive(Debug, Clone)]
pub struct Options {
    pub compression: Compression,
    /// Data block size: a power of two from 4096 to 1048576 (`-b`).
    pub block_size: u32,
    /// SOURCE_DATE_EPOCH: the superblock time, and the clamp for inode times.
    pub mkfs_time: u32,
    /// Compression threads; the output does not depend on it.
    pub threads: usize,
}

impl Options {
    /// mksquashfs's defaults for the given codec: 128 KiB blocks, threads = cores.
    pub fn new(compression: Compression, mkfs_time: u32) -> Options {
        Options {
            compression,
            block_size: 131072,
            mkfs_time,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The superblock as written (table offsets, counts, bytes_used).
    pub superblock: Superblock,
    /// Length of the image including the padding to 4 KiB.
    pub image_size: u64,
    /// Regular files stored (hard links counted once).
    pub files: u64,
    /// Files whose data was found identical to an earlier file's.
    pub duplicates: u64,
}

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "block size {0} is not supported; use a power of two from 4096 to 1048576 (e.g. 131072)"
    )]
    BlockSize(u32),
    #[error("tree is malformed: {0}")]
    Tree(String),
    #[error("name {name:?} in {dir} is {len} bytes long; squashfs names hold at most 256 bytes")]
    NameTooLong {
        dir: String,
        name: String,
        len: usize,
    },
    #[error("{path} is nested deeper than {max} directories; refusing so deep a tree")]
    TooDeep { path: String, max: usize },
    #[error(
        "the tree has more than {max} distinct owner and group ids; squashfs cannot hold that many"
    )]
    TooManyIds { max: usize },
    #[error("the tree has too many inodes for squashfs ({0})")]
    TooManyInodes(usize),
    #[error("directory {path} lists more than 4 GiB of entries; squashfs cannot hold it")]
    DirTooBig { path: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} changed while being read (expected {expected} bytes); rebuild from a tree nothing is writing to")]
    Changed { path: PathBuf, expected: u64 },
    #[error("cannot write the image: {0}")]
    Write(#[source] std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

const MAX_DEPTH: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frag {
    index: u32,
    offset: u32,
    size: u32,
}

const NO_FRAG: Frag = Frag {
    index: NO_FRAGMENT,
    offset: 0,
    size: 0,
};

/// What mksquashfs calls a `file_info`: where a file's data lives.
struct FileRec {
    file_size: u64,
    blocks: Vec<u32>,
    digests: Vec<Digest>,
    start: u64,
    frag: Frag,
    frag_digest: Digest,
    sparse: u64,
}

/// Facts about the tree gathered before writing.
struct Plan {
    /// Inode number per node (0 = unreachable).
    numbers: Vec<u32>,
    /// Entries pointing at each node.
    links: Vec<u32>,
    /// Sorted entry order per directory node.
    order: Vec<Vec<usize>>,
    /// Regular files in the order their data is laid out.
    files: Vec<FileJob>,
    /// Node of each file in `files`.
    file_nodes: Vec<NodeId>,
    /// inode_no after numbering (the root directory's parent number).
    next_number: u32,
}

fn plan(tree: &Tree) -> Result<Plan, WriteError> {
    let n = tree.nodes.len();
    if tree.root >= n || !matches!(tree.nodes[tree.root].kind, NodeKind::Dir { .. }) {
        return Err(WriteError::Tree("the root is not a directory".into()));
    }
    let mut p = Plan {
        numbers: vec![0; n],
        links: vec![0; n],
        order: vec![Vec::new(); n],
        files: Vec::new(),
        file_nodes: Vec::new(),
        next_number: 1,
    };
    let mut seen_dir = vec![false; n];
    seen_dir[tree.root] = true;
    plan_dir(tree, tree.root, "", 0, &mut p, &mut seen_dir)?;
    if p.next_number == u32::MAX {
        return Err(WriteError::TooManyInodes(n));
    }
    p.numbers[tree.root] = p.next_number;
    p.next_number += 1;
    Ok(p)
}

fn plan_dir(
    tree: &Tree,
    dir: NodeId,
    path: &str,
    depth: usize,
    p: &mut Plan,
    seen_dir: &mut [bool],
) -> Result<(), WriteError> {
    if depth > MAX_DEPTH {
        return Err(WriteError::TooDeep {
            path: path.to_string(),
            max: MAX_DEPTH,
        });
    }
    let NodeKind::Dir { entries } = &tree.nodes[dir].kind else {
        return Err(WriteError::Internal("plan_dir on a non-directory"));
    };
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| entries[a].name.cmp(&entries[b].name));
    let shown = if path.is_empty() { "/" } else { path };
    for w in order.windows(2) {
        if entries[w[0]].name == entries[w[1]].name {
            return Err(WriteError::Tree(format!(
                "{shown} has two entries named {:?}",
                String::from_utf8_lossy(&entries[w[0]].name)
            )));
        }
    }
    for &i in &order {
        let e = &entries[i];
        if e.name.is_empty()
            || e.name.contains(&b'/')
            || e.name.contains(&0)
            || e.name == b"."
            || e.name == b".."
        {
            return Err(WriteError::Tree(format!(
                "{shown} has an invalid entry name {:?}",
                String::from_utf8_lossy(&e.name)
            )));
        }
        if e.name.len() > MAX_NAME {
            return Err(WriteError::NameTooLong {
                dir: shown.to_string(),
                name: String::from_utf8_lossy(&e.name).into_owned(),
                len: e.name.len(),
            });
        }
        if e.node >= tree.nodes.len() {
            return Err(WriteError::Tree(format!(
                "{shown}: entry {:?} points at node {} which does not exist",
                String::from_utf8_lossy(&e.name),
                e.node
            )));
        }
        let child_path = format!("{path}/{}", String::from_utf8_lossy(&e.name));
        p.links[e.node] = p.links[e.node].saturating_add(1);
        if p.numbers[e.node] == 0 {
            if p.next_number == u32::MAX - 1 {
                return Err(WriteError::TooManyInodes(tree.nodes.len()));
            }
            p.numbers[e.node] = p.next_number;
            p.next_number += 1;
            if let NodeKind::File { source, size } = &tree.nodes[e.node].kind {
                p.files.push(FileJob {
                    source: source.clone(),
                    size: *size,
                });
                p.file_nodes.push(e.node);
            }
        }
        if let NodeKind::Dir { .. } = tree.nodes[e.node].kind {
            if seen_dir[e.node] {
                return Err(WriteError::Tree(format!(
                    "directory {child_path} is reachable twice (a directory hard link or a loop)"
                )));
            }
            seen_dir[e.node] = true;
            plan_dir(tree, e.node, &child_path, depth + 1, p, seen_dir)?;
        }
    }
    p.order[dir] = order;
    Ok(())
}

/// A byte sink that knows its position.
struct Sink<'a, W: Write> {
    out: std::io::BufWriter<&'a mut W>,
    pos: u64,
}

impl<W: Write> Sink<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes).map_err(WriteError::Write)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }
}

struct Writer<'a, 't, W: Write> {
    tree: &'t Tree,
    opts: &'a Options,
    plan: Plan,
    sink: Sink<'a, W>,
    data_comp: Compressor,
    meta_comp: Compressor,
    inodes: MetaTable,
    dirs: MetaTable,
    ids: Vec<u32>,
    id_index: HashMap<u32, u16>,
    inode_refs: Vec<Option<(u64, u16)>>,
    inode_count: u32,
    recs: Vec<FileRec>,
    dupl_block: HashMap<u32, Vec<usize>>,
    dupl_frag: HashMap<u32, Vec<usize>>,
    frag_open: Option<(u32, Vec<u8>)>,
    frag_count: u32,
    frag_table: Vec<(u64, u32)>,
    files_done: usize,
    duplicates: u64,
    bytes_done: u64,
    bytes_total: u64,
}

fn block_hash(size: u32, blocks: usize) -> u32 {
    ((size << 10) & 0xffc00) | (blocks as u32 & 0x3ff)
}

/// Writes `tree` as a SquashFS image to `out` (starting at its current position).
pub fn write<W: Write + Seek>(
    tree: &Tree,
    out: &mut W,
    opts: &Options,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, WriteError> {
    let bs = opts.block_size;
    if !bs.is_power_of_two() || !(4096..=1_048_576).contains(&bs) {
        return Err(WriteError::BlockSize(bs));
    }
    let plan = plan(tree)?;
    let base = out.stream_position().map_err(WriteError::Write)?;
    let bytes_total = plan.files.iter().map(|f| f.size).sum();
    let n = tree.nodes.len();
    let mut plan = plan;
    let jobs = std::mem::take(&mut plan.files);
    let mut w = Writer {
        tree,
        opts,
        plan,
        sink: Sink {
            out: std::io::BufWriter::with_capacity(1 << 20, out),
            pos: 0,
        },
        data_comp: Compressor::new(opts.compression, bs),
        meta_comp: Compressor::new(opts.compression, METADATA_SIZE as u32),
        inodes: MetaTable::new(),
        dirs: MetaTable::new(),
        ids: Vec::new(),
        id_index: HashMap::new(),
        inode_refs: vec![None; n],
        inode_count: 0,
        recs: Vec::new(),
        dupl_block: HashMap::new(),
        dupl_frag: HashMap::new(),
        frag_open: None,
        frag_count: 0,
        frag_table: Vec::new(),
        files_done: 0,
        duplicates: 0,
        bytes_done: 0,
        bytes_total,
    };
    // The superblock goes in last; its room stays zero until then.
    w.sink.put(&[0u8; SUPERBLOCK_SIZE])?;
    let root = tree.root;
    let root_ref = pipeline::run(&jobs, opts.compression, bs, opts.threads, |next| {
        let r = w.write_dir(root, None, "", next, progress)?;
        w.flush_fragment(next)?;
        w.drain_fragments(next)?;
        Ok(r)
    })?;
    w.finish(root_ref, base)
}

type NextUnit<'x, 'f> = &'x mut Feed<'f>;

impl<'a, 't, W: Write + Seek> Writer<'a, 't, W> {
    fn id(&mut self, id: u32) -> Result<u16, WriteError> {
        if let Some(&i) = self.id_index.get(&id) {
            return Ok(i);
        }
        if self.ids.len() >= MAX_IDS {
            return Err(WriteError::TooManyIds { max: MAX_IDS });
        }
        let i = self.ids.len() as u16;
        self.ids.push(id);
        self.id_index.insert(id, i);
        Ok(i)
    }

    /// The 16-byte header every inode starts with.
    fn base(&mut self, node: NodeId, kind: u16) -> Result<Vec<u8>, WriteError> {
        let n = &self.tree.nodes[node];
        let uid = self.id(n.uid)?;
        let gid = self.id(n.gid)?;
        // SOURCE_DATE_EPOCH clamps later times; the result is truncated to 32 bits.
        let mtime = n.mtime.min(self.opts.mkfs_time as i64) as u32;
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&((n.mode & 0o7777) as u16).to_le_bytes());
        b.extend_from_slice(&uid.to_le_bytes());
        b.extend_from_slice(&gid.to_le_bytes());
        b.extend_from_slice(&mtime.to_le_bytes());
        b.extend_from_slice(&self.plan.numbers[node].to_le_bytes());
        Ok(b)
    }

    fn add_inode(&mut self, bytes: &[u8]) -> Result<u64, WriteError> {
        self.inode_count = self
            .inode_count
            .checked_add(1)
            .ok_or(WriteError::TooManyInodes(self.tree.nodes.len()))?;
        Ok(self.inodes.add(bytes, &mut self.meta_comp)?)
    }

    /// Writes a directory's children (files' data and inodes, subdirectories), then
    /// its listing and its own inode: the post-order mksquashfs uses.
    fn write_dir(
        &mut self,
        dir: NodeId,
        parent: Option<NodeId>,
        path: &str,
        next: NextUnit<'_, '_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, WriteError> {
        let tree = self.tree;
        let NodeKind::Dir { entries } = &tree.nodes[dir].kind else {
            return Err(WriteError::Internal("write_dir on a non-directory"));
        };
        let order = std::mem::take(&mut self.plan.order[dir]);
        let mut listing = DirListing::new();
        let mut byte_count: u64 = 0;
        let mut subdirs: u32 = 0;
        for &i in &order {
            let e = &entries[i];
            byte_count += e.name.len() as u64 + 8;
            let node = e.node;
            let (iref, kind) = match self.inode_refs[node] {
                Some(r) => r,
                None => {
                    let r = match &tree.nodes[node].kind {
                        NodeKind::File { .. } => {
                            let rec = self.write_file(node, next, progress)?;
                            (self.file_inode(node, rec)?, FILE_TYPE)
                        }
                        NodeKind::Dir { .. } => {
                            let child = format!("{path}/{}", String::from_utf8_lossy(&e.name));
                            (
                                self.write_dir(node, Some(dir), &child, next, progress)?,
                                DIR_TYPE,
                            )
                        }
                        NodeKind::Symlink { target } => {
                            (self.symlink_inode(node, target)?, SYMLINK_TYPE)
                        }
                    };
                    self.inode_refs[node] = Some(r);
                    r
                }
            };
            if kind == DIR_TYPE {
                subdirs += 1;
            }
            listing.add(iref, self.plan.numbers[node], &e.name, kind);
        }
        let ldir = !(order.len() < 257 && byte_count < METADATA_SIZE as u64);
        let (buf, index) = listing.finish();
        // Place the listing in the directory table, noting which table block each
        // index point lands in.
        let (block, offset) = self.dirs.position();
        self.dirs.pending.extend_from_slice(&buf);
        let mut index_blocks = vec![0u32; index.len()];
        let mut limit = METADATA_SIZE as u64 - offset as u64;
        let mut k = 0;
        loop {
            while k < index.len() && (index[k].0 as u64) < limit {
                index_blocks[k] = self.dirs.packed.len() as u32;
                k += 1;
            }
            limit += METADATA_SIZE as u64;
            if self.dirs.pending.len() < METADATA_SIZE {
                break;
            }
            let rest = self.dirs.pending.split_off(METADATA_SIZE);
            let full = std::mem::replace(&mut self.dirs.pending, rest);
            push_block(&mut self.meta_comp, &full, &mut self.dirs.packed)?;
        }
        let file_size = buf.len() as u64 + 3;
        let parent = match parent {
            None => self.plan.next_number,
            Some(p) => self.plan.numbers[p],
        };
        let nlink = subdirs + 2;
        let iref = if !ldir {
            let mut b = self.base(dir, DIR_TYPE)?;
            b.extend_from_slice(&(block as u32).to_le_bytes());
            b.extend_from_slice(&nlink.to_le_bytes());
            b.extend_from_slice(&(file_size as u16).to_le_bytes());
            b.extend_from_slice(&(offset as u16).to_le_bytes());
            b.extend_from_slice(&parent.to_le_bytes());
            self.add_inode(&b)?
        } else {
            if file_size >= 1 << 32 {
                return Err(WriteError::DirTooBig {
                    path: path.to_string(),
                });
            }
            let mut b = self.base(dir, LDIR_TYPE)?;
            b.extend_from_slice(&nlink.to_le_bytes());
            b.extend_from_slice(&(file_size as u32).to_le_bytes());
            b.extend_from_slice(&(block as u32).to_le_bytes());
            b.extend_from_slice(&parent.to_le_bytes());
            b.extend_from_slice(&(index.len() as u16).to_le_bytes());
            b.extend_from_slice(&(offset as u16).to_le_bytes());
            b.extend_from_slice(&NO_XATTR.to_le_bytes());
            for ((at, name), start) in index.iter().zip(&index_blocks) {
                b.extend_from_slice(&at.to_le_bytes());
                b.extend_from_slice(&start.to_le_bytes());
                b.extend_from_slice(&(name.len() as u32 - 1).to_le_bytes());
                b.extend_from_slice(name);
            }
            self.add_inode(&b)?
        };
        Ok(iref)
    }

    fn symlink_inode(&mut self, node: NodeId, target: &[u8]) -> Result<u64, WriteError> {
        let mut b = self.base(node, SYMLINK_TYPE)?;
        b.extend_from_slice(&self.plan.links[node].to_le_bytes());
        b.extend_from_slice(&(target.len() as u32).to_le_bytes());
        b.extend_from_slice(target);
        self.add_inode(&b)
    }

    fn file_inode(&mut self, node: NodeId, rec: usize) -> Result<u64, WriteError> {
        let nlink = self.plan.links[node];
        let r = &self.recs[rec];
        let (file_size, start, sparse, frag) = (r.file_size, r.start, r.sparse, r.frag);
        let blocks = r.blocks.clone();
        let extended = nlink > 1 || file_size >= 1 << 32 || start >= 1 << 32 || sparse != 0;
        let mut b = if extended {
            let mut b = self.base(node, LREG_TYPE)?;
            let sparse = if sparse >= file_size {
                file_size.saturating_sub(1)
            } else {
                sparse
            };
            b.extend_from_slice(&start.to_le_bytes());
            b.extend_from_slice(&file_size.to_le_bytes());
            b.extend_from_slice(&sparse.to_le_bytes());
            b.extend_from_slice(&nlink.to_le_bytes());
            b.extend_from_slice(&frag.index.to_le_bytes());
            b.extend_from_slice(&frag.offset.to_le_bytes());
            b.extend_from_slice(&NO_XATTR.to_le_bytes());
            b
        } else {
            let mut b = self.base(node, FILE_TYPE)?;
            b.extend_from_slice(&(start as u32).to_le_bytes());
            b.extend_from_slice(&frag.index.to_le_bytes());
            b.extend_from_slice(&frag.offset.to_le_bytes());
            b.extend_from_slice(&(file_size as u32).to_le_bytes());
            b
        };
        for c in blocks {
            b.extend_from_slice(&c.to_le_bytes());
        }
        self.add_inode(&b)
    }

    fn tick(&mut self, n: u64, progress: &mut dyn FnMut(u64, u64)) {
        self.bytes_done += n;
        progress(self.bytes_done, self.bytes_total);
    }

    /// Stores one file's data (or finds it already stored) and returns its record.
    fn write_file(
        &mut self,
        node: NodeId,
        next: NextUnit<'_, '_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<usize, WriteError> {
        let NodeKind::File { size, .. } = &self.tree.nodes[node].kind else {
            return Err(WriteError::Internal("write_file on a non-file"));
        };
        let size = *size;
        self.files_done += 1;
        let first = next.unit()?;
        match first {
            Unit::Empty => {
                self.recs.push(FileRec {
                    file_size: 0,
                    blocks: Vec::new(),
                    digests: Vec::new(),
                    start: 0,
                    frag: NO_FRAG,
                    frag_digest: [0; 32],
                    sparse: 0,
                });
                Ok(self.recs.len() - 1)
            }
            Unit::Small {
                data,
                zero: false,
                digest,
                ..
            } => {
                self.tick(size, progress);
                self.write_small(size, data, digest, next)
            }
            Unit::Small {
                data,
                zero: true,
                alloc,
                ..
            } => {
                self.tick(size, progress);
                // An all-zero small file becomes one sparse block, not a fragment.
                let block = BlockOut {
                    read_size: data.len() as u32,
                    c_byte: 0,
                    stored: Vec::new(),
                    digest: [0; 32],
                    alloc,
                };
                let pre_dup = self
                    .dupl_frag
                    .get(&(size as u32))
                    .is_some_and(|l| l.iter().any(|&r| self.recs[r].frag.size as u64 == size));
                self.write_blocks(node, size, block, 0, pre_dup, next, progress)
            }
            Unit::Block(first) => {
                let nblocks = size.div_ceil(self.opts.block_size as u64) as usize;
                let first_size = if first.c_byte == 0 {
                    first.read_size
                } else {
                    first.stored.len() as u32
                };
                let hash = block_hash(first_size, nblocks);
                let pre_dup = self.dupl_block.get(&hash).is_some_and(|l| {
                    l.iter().any(|&r| {
                        self.recs[r].blocks.len() == nblocks
                            && self.recs[r].blocks[0] == first.c_byte
                    })
                });
                self.write_blocks(node, size, first, hash, pre_dup, next, progress)
            }
        }
    }

    fn write_small(
        &mut self,
        size: u64,
        data: Vec<u8>,
        digest: Digest,
        next: NextUnit<'_, '_>,
    ) -> Result<usize, WriteError> {
        if let Some(list) = self.dupl_frag.get(&(size as u32)) {
            let found = list.iter().rev().copied().find(|&r| {
                self.recs[r].frag.size as u64 == size && self.recs[r].frag_digest == digest
            });
            if let Some(m) = found {
                self.duplicates += 1;
                if self.recs[m].file_size == size {
                    return Ok(m);
                }
                // The match is the tail of a longer file: share the fragment only.
                let frag = self.recs[m].frag;
                self.recs.push(FileRec {
                    file_size: size,
                    blocks: Vec::new(),
                    digests: Vec::new(),
                    start: 0,
                    frag,
                    frag_digest: digest,
                    sparse: 0,
                });
                return Ok(self.recs.len() - 1);
            }
        }
        let frag = self.fill_fragment(&data, next)?;
        self.recs.push(FileRec {
            file_size: size,
            blocks: Vec::new(),
            digests: Vec::new(),
            start: 0,
            frag,
            frag_digest: digest,
            sparse: 0,
        });
        let r = self.recs.len() - 1;
        self.dupl_frag.entry(size as u32).or_default().push(r);
        Ok(r)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_blocks(
        &mut self,
        node: NodeId,
        size: u64,
        first: BlockOut,
        hash: u32,
        pre_dup: bool,
        next: NextUnit<'_, '_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<usize, WriteError> {
        let nblocks = size.div_ceil(self.opts.block_size as u64).max(1) as usize;
        // Like mksquashfs in reproducible mode: every fragment block queued so far is
        // written before a block file starts, so `start` is the sequential writer's.
        self.drain_fragments(next)?;
        let start = self.sink.pos;
        let mut candidates: Vec<usize> = if pre_dup {
            self.dupl_block
                .get(&hash)
                .map(|l| {
                    l.iter()
                        .rev()
                        .copied()
                        .filter(|&r| self.recs[r].blocks.len() == nblocks)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut holding = !candidates.is_empty();
        let mut blocks = Vec::with_capacity(nblocks);
        let mut digests = Vec::with_capacity(nblocks);
        let mut sparse = 0u64;
        let mut alloc = first.alloc;
        let mut unit = Some(first);
        for i in 0..nblocks {
            let b = match unit.take() {
                Some(b) => b,
                None => match next.unit()? {
                    Unit::Block(b) => b,
                    _ => return Err(WriteError::Internal("expected a data block")),
                },
            };
            alloc = b.alloc;
            if b.c_byte == 0 {
                sparse += b.read_size as u64;
            }
            blocks.push(b.c_byte);
            digests.push(b.digest);
            if holding {
                let recs = &self.recs;
                candidates.retain(|&r| {
                    recs[r].blocks[i] == b.c_byte
                        && (b.c_byte == 0 || recs[r].digests[i] == b.digest)
                });
                if candidates.is_empty() {
                    holding = false;
                    self.rewrite_prefix(node, &blocks[..i], &digests[..i])?;
                }
            }
            if !holding && b.c_byte != 0 {
                self.sink.put(&b.stored)?;
            }
            if nblocks > 1 || size >= self.opts.block_size as u64 {
                self.tick(b.read_size as u64, progress);
            }
        }
        if sparse != 0 && alloc >= size {
            sparse = 0;
        }
        if holding {
            let m = candidates[0];
            self.duplicates += 1;
            if self.recs[m].file_size == size {
                return Ok(m);
            }
            let (mb, ms) = (self.recs[m].blocks.clone(), self.recs[m].start);
            self.recs.push(FileRec {
                file_size: size,
                blocks: mb,
                digests: Vec::new(),
                start: ms,
                frag: NO_FRAG,
                frag_digest: [0; 32],
                sparse,
            });
            return Ok(self.recs.len() - 1);
        }
        self.recs.push(FileRec {
            file_size: size,
            blocks,
            digests,
            start,
            frag: NO_FRAG,
            frag_digest: [0; 32],
            sparse,
        });
        let r = self.recs.len() - 1;
        self.dupl_block.entry(hash).or_default().push(r);
        Ok(r)
    }

    /// Writes the first blocks of a file that looked like a duplicate until it
    /// diverged: they were not kept, so read and compress them again.
    fn rewrite_prefix(
        &mut self,
        node: NodeId,
        blocks: &[u32],
        digests: &[Digest],
    ) -> Result<(), WriteError> {
        if blocks.iter().all(|&c| c == 0) {
            return Ok(());
        }
        let NodeKind::File { source, size } = &self.tree.nodes[node].kind else {
            return Err(WriteError::Internal("rewrite_prefix on a non-file"));
        };
        let (mut file, _) = pipeline::open_checked(source, *size)?;
        let bs = self.opts.block_size as u64;
        for (i, (&c, d)) in blocks.iter().zip(digests).enumerate() {
            let len = (*size - i as u64 * bs).min(bs) as usize;
            let data = pipeline::read_block(&mut file, source, len, *size)?;
            if c == 0 {
                continue;
            }
            let out = pipeline::compress_block(data, &mut self.data_comp, bs as usize, 0)?;
            if out.c_byte != c || &out.digest != d {
                return Err(WriteError::Changed {
                    path: source.clone(),
                    expected: *size,
                });
            }
            self.sink.put(&out.stored)?;
        }
        Ok(())
    }

    fn fill_fragment(&mut self, data: &[u8], next: NextUnit<'_, '_>) -> Result<Frag, WriteError> {
        if let Some((_, buf)) = &self.frag_open {
            if buf.len() + data.len() > self.opts.block_size as usize {
                self.flush_fragment(next)?;
            }
        }
        if self.frag_open.is_none() {
            if self.frag_count == u32::MAX - 1 {
                return Err(WriteError::Internal("too many fragments"));
            }
            self.frag_open = Some((
                self.frag_count,
                Vec::with_capacity(self.opts.block_size as usize),
            ));
            self.frag_count += 1;
        }
        let Some((index, buf)) = &mut self.frag_open else {
            return Err(WriteError::Internal("no open fragment"));
        };
        let frag = Frag {
            index: *index,
            offset: buf.len() as u32,
            size: data.len() as u32,
        };
        buf.extend_from_slice(data);
        Ok(frag)
    }

    /// Closes the open fragment block and hands it to the compressors. Its place in
    /// the image (and its fragment table entry) is settled when it is written, in
    /// index order, by `put_fragment`.
    fn flush_fragment(&mut self, next: NextUnit<'_, '_>) -> Result<(), WriteError> {
        let Some((index, buf)) = self.frag_open.take() else {
            return Ok(());
        };
        // Keep memory bounded: at most `limit` blocks wait for their turn.
        while next.frags.full() {
            self.take_fragment(next)?;
        }
        next.frags.submit(index, buf)?;
        // Write what is already done, so finished blocks do not wait in memory.
        while next.frags.oldest_ready() {
            self.take_fragment(next)?;
        }
        Ok(())
    }

    /// Writes every fragment block handed over so far.
    fn drain_fragments(&mut self, next: NextUnit<'_, '_>) -> Result<(), WriteError> {
        while next.frags.in_flight() > 0 {
            self.take_fragment(next)?;
        }
        Ok(())
    }

    /// Waits for the oldest fragment block handed over and writes it at the current
    /// end of data.
    fn take_fragment(&mut self, next: NextUnit<'_, '_>) -> Result<(), WriteError> {
        let Some(taken) = next.frags.take() else {
            return Ok(());
        };
        let (index, FragOut { c_byte, stored }) = taken?;
        if index as usize != self.frag_table.len() {
            return Err(WriteError::Internal("fragments out of order"));
        }
        self.frag_table.push((self.sink.pos, c_byte));
        self.sink.put(&stored)
    }

    /// Writes the tables and the superblock.
    fn finish(mut self, root_ref: u64, base: u64) -> Result<Summary, WriteError> {
        let mut comp = Compressor::new(self.opts.compression, METADATA_SIZE as u32);
        let inode_table_start = self.sink.pos;
        let inodes = std::mem::replace(&mut self.inodes, MetaTable::new()).finish(&mut comp)?;
        self.sink.put(&inodes)?;
        let directory_table_start = self.sink.pos;
        let dirs = std::mem::replace(&mut self.dirs, MetaTable::new()).finish(&mut comp)?;
        self.sink.put(&dirs)?;

        let mut frag_bytes = Vec::with_capacity(self.frag_table.len() * 16);
        for &(start, size) in &self.frag_table {
            frag_bytes.extend_from_slice(&start.to_le_bytes());
            frag_bytes.extend_from_slice(&size.to_le_bytes());
            frag_bytes.extend_from_slice(&0u32.to_le_bytes());
        }
        let fragment_table_start = self.put_table(&frag_bytes, &mut comp)?;

        let mut lookup = vec![0u8; self.inode_count as usize * 8];
        for (node, r) in self.inode_refs.iter().enumerate() {
            let number = self.plan.numbers[node];
            let iref = if node == self.tree.root {
                Some(root_ref)
            } else {
                r.map(|x| x.0)
            };
            if let (Some(iref), true) = (iref, number != 0) {
                let at = (number as usize - 1) * 8;
                if at + 8 <= lookup.len() {
                    lookup[at..at + 8].copy_from_slice(&iref.to_le_bytes());
                }
            }
        }
        let lookup_table_start = self.put_table(&lookup, &mut comp)?;

        let mut id_bytes = Vec::with_capacity(self.ids.len() * 4);
        for id in &self.ids {
            id_bytes.extend_from_slice(&id.to_le_bytes());
        }
        let id_table_start = self.put_table(&id_bytes, &mut comp)?;

        let bytes_used = self.sink.pos;
        let pad = (4096 - bytes_used % 4096) % 4096;
        self.sink.put(&vec![0u8; pad as usize])?;
        let image_size = self.sink.pos;

        let sb = Superblock {
            magic: MAGIC,
            inodes: self.inode_count,
            mkfs_time: self.opts.mkfs_time,
            block_size: self.opts.block_size,
            fragments: self.frag_table.len() as u32,
            compression: self.opts.compression.id(),
            block_log: self.opts.block_size.trailing_zeros() as u16,
            flags: FLAG_DUPLICATES | FLAG_EXPORTABLE | FLAG_NO_XATTRS,
            no_ids: self.ids.len() as u16,
            major: 4,
            minor: 0,
            root_inode: root_ref,
            bytes_used,
            id_table_start,
            xattr_id_table_start: NO_TABLE,
            inode_table_start,
            directory_table_start,
            fragment_table_start,
            lookup_table_start,
        };
        let out = &mut self.sink.out;
        out.seek(SeekFrom::Start(base)).map_err(WriteError::Write)?;
        out.write_all(&sb.encode()).map_err(WriteError::Write)?;
        out.seek(SeekFrom::Start(base + image_size))
            .map_err(WriteError::Write)?;
        out.flush().map_err(WriteError::Write)?;
        Ok(Summary {
            superblock: sb,
            image_size,
            files: self.files_done as u64,
            duplicates: self.duplicates,
        })
    }

    fn put_table(&mut self, data: &[u8], comp: &mut Compressor) -> Result<u64, WriteError> {
        let at = self.sink.pos;
        let (bytes, list_at) = indexed_table(data, at, comp)?;
        self.sink.put(&bytes)?;
        Ok(at + list_at)
    }
}
