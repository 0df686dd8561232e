//! The image writer: builds the ISO 9660 and Joliet trees from an [`fstree::Tree`],
//! lays everything out the way libisofs 1.5.4 does, then streams the image.

use crate::hybrid::{self, Geometry, GPT_BACKUP_BLOCKS, PARTITION_OFFSET};
use crate::names::{self, NameProblem};
use crate::susp::{self, bb16, bb32, SuspInfo, BLOCK};
use crate::{BootOptions, IsoOptions, Summary, WriteError};
use fstree::{NodeId, NodeKind, Tree};
use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
/// xorriso's default data preparer id (`-p` not given).
pub const XORRISO_PREPARER: &str =
    "XORRISO-1.5.4 2021.01.30.150001, LIBISOBURN-1.5.4, LIBISOFS-1.5.4, LIBBURN-1.5.4";
/// `-padding included`: 300 KiB of zeros after the last file.
const TAIL_BLOCKS: u32 = 150;
/// Largest boot image we patch in memory (libisofs refuses larger ones too).
const MAX_PATCHABLE: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

#[derive(Debug)]
enum Kind {
    Dir {
        children: Vec<usize>,
        block: u32,
        len: u32,
        ce_blocks: u32,
    },
    File {
        fsrc: usize,
    },
    Symlink {
        target: Vec<u8>,
    },
}

#[derive(Debug)]
struct INode {
    /// fstree node, None for the boot catalog.
    src: Option<NodeId>,
    name: Vec<u8>,
    rr_name: Vec<u8>,
    parent: usize,
    kind: Kind,
    nlink: u32,
    meta: Meta,
}

#[derive(Debug)]
struct JNode {
    name: Vec<u16>,
    parent: usize,
    /// Index into the ISO nodes (same file/dir), for times and extents.
    iso: usize,
    children: Vec<usize>,
    is_dir: bool,
    block: u32,
    len: u32,
}

#[derive(Debug)]
enum Content {
    Disk(PathBuf),
    Catalog,
}

#[derive(Debug)]
struct FileSrc {
    content: Content,
    size: u64,
    block: u32,
    boot_info_table: bool,
}

struct Plan<'a> {
    tree: &'a Tree,
    opts: &'a IsoOptions,
    iso: Vec<INode>,
    jol: Vec<JNode>,
    fsrcs: Vec<FileSrc>,
    iso_dirs: Vec<usize>,
    jol_dirs: Vec<usize>,
    iso_pt: (u32, u32, u32), // size, L, M
    jol_pt: (u32, u32, u32),
    data_start: u32,
    total_blocks: u32,
    /// `-isohybrid-mbr … -partition_offset 16`: a second descriptor set at block 32
    /// and second copies of both trees, addressed relative to block 16.
    hybrid: Option<HybridPlan>,
    /// (index of bios image fsrc, index of efi image fsrc, catalog fsrc)
    boot: Option<BootPlan>,
    /// xorriso relaxes ISO names to full ASCII when the last boot image given is
    /// patched with a boot info table (the BIOS image, when no EFI image follows).
    full_ascii: bool,
}

/// Where the second copies of the trees lie and how the image end is padded.
#[derive(Debug, Clone, Copy, Default)]
struct HybridPlan {
    /// Blocks of the first ISO 9660 tree (directories, continuation areas, path
    /// tables): the second copy starts that much later.
    iso_tree_blocks: u32,
    jol_tree_blocks: u32,
    /// Zero blocks that pad the image to whole cylinders (before the tail padding).
    align_blocks: u32,
    /// Backup GPT blocks at the very end (0 without GPT).
    gpt_backup_blocks: u32,
    geometry: Option<Geometry>,
}

/// How addresses are written into one copy of the trees: directories of the second
/// copy lie `*_shift` blocks after the first copy's, and every address of the
/// second copy is counted from the partition start (`sub` = 16).
#[derive(Debug, Clone, Copy, Default)]
struct View {
    iso_shift: u32,
    jol_shift: u32,
    sub: u32,
}

/// The first copy: absolute addresses.
const ABS: View = View {
    iso_shift: 0,
    jol_shift: 0,
    sub: 0,
};

#[derive(Debug, Clone, Copy)]
struct BootPlan {
    bios: usize,
    efi: Option<usize>,
    catalog: usize,
}

fn bad_name(path: &str, p: NameProblem) -> WriteError {
    let why = match p {
        NameProblem::Empty => "empty after mapping",
        NameProblem::TooLong => "longer than 255 bytes",
        NameProblem::TooManyCollisions => "too many names collide after ISO 9660 mapping",
    };
    WriteError::BadName {
        path: path.to_string(),
        why,
    }
}

/// `-r`: owner root, everyone may read, nobody may write, execute for all if for any.
fn rational_mode(perm: u32) -> u32 {
    let mut p = perm & 0o7777;
    p |= 0o444;
    p &= !0o222;
    if p & 0o111 != 0 {
        p |= 0o111;
    }
    p & !0o7000
}

fn meta_of(tree: &Tree, id: NodeId) -> Meta {
    let n = tree.node(id);
    let ifmt = match n.kind {
        NodeKind::Dir { .. } => S_IFDIR,
        NodeKind::File { .. } => S_IFREG,
        NodeKind::Symlink { .. } => S_IFLNK,
    };
    Meta {
        mode: ifmt | rational_mode(n.mode),
        uid: 0,
        gid: 0,
        mtime: n.mtime,
    }
}

/// Days since 1970-01-01 → (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn split_time(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil(days);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        ((secs / 60) % 60) as u32,
        (secs % 60) as u32,
    )
}

/// ECMA-119 9.1.5 recording time, always GMT, clamped to 1900..=2155.
pub(crate) fn time7(t: i64) -> [u8; 7] {
    let (y, m, d, hh, mm, ss) = split_time(t);
    if y < 1900 {
        return [0, 1, 1, 0, 0, 0, 0];
    }
    if y > 2155 {
        return [255, 12, 31, 23, 59, 59, 0];
    }
    [
        (y - 1900) as u8,
        m as u8,
        d as u8,
        hh as u8,
        mm as u8,
        ss as u8,
        0,
    ]
}

/// The 16 digits xorriso uses as volume "uuid" for SOURCE_DATE_EPOCH.
fn uuid_digits(t: i64) -> [u8; 16] {
    let (y, m, d, hh, mm, ss) = split_time(t);
    let s = format!("{:04}{:02}{:02}{:02}{:02}{:02}00", y, m, d, hh, mm, ss);
    let mut out = [b'1'; 16];
    for (i, c) in s.bytes().take(16).enumerate() {
        if !c.is_ascii_digit() {
            break;
        }
        out[i] = c;
    }
    out
}

fn px_of(m: &Meta, nlink: u32) -> Vec<u8> {
    susp::px(m.mode, nlink, m.uid, m.gid)
}

fn tf_of(m: &Meta) -> Vec<u8> {
    susp::tf(time7(m.mtime))
}

impl<'a> Plan<'a> {
    fn build(tree: &'a Tree, opts: &'a IsoOptions) -> Result<Plan<'a>, WriteError> {
        let mut plan = Plan {
            tree,
            opts,
            iso: Vec::new(),
            jol: Vec::new(),
            fsrcs: Vec::new(),
            iso_dirs: Vec::new(),
            jol_dirs: Vec::new(),
            iso_pt: (0, 0, 0),
            jol_pt: (0, 0, 0),
            data_start: 0,
            total_blocks: 0,
            hybrid: opts
                .boot
                .as_ref()
                .and_then(|b| b.isohybrid_mbr.as_ref())
                .map(|_| HybridPlan::default()),
            boot: None,
            full_ascii: opts.boot.as_ref().is_some_and(|b| b.efi_image.is_none()),
        };
        let root_meta = meta_of(tree, tree.root);
        plan.iso.push(INode {
            src: Some(tree.root),
            name: Vec::new(),
            rr_name: Vec::new(),
            parent: 0,
            kind: Kind::Dir {
                children: Vec::new(),
                block: 0,
                len: 0,
                ce_blocks: 0,
            },
            nlink: 1,
            meta: root_meta,
        });
        let catalog = match &opts.boot {
            Some(b) => Some(plan.catalog_place(b)?),
            None => None,
        };
        plan.build_iso_dir(0, tree.root, "", catalog.as_ref())?;
        plan.count_links();
        plan.collect_files()?;
        plan.build_joliet()?;
        if let Some(b) = &opts.boot {
            plan.boot = Some(plan.boot_plan(b)?);
        }
        plan.apply_weights();
        plan.layout()?;
        Ok(plan)
    }

    /// (parent dir fstree id, file name) where the boot catalog goes.
    fn catalog_place(&self, b: &BootOptions) -> Result<(NodeId, Vec<u8>), WriteError> {
        let path = b.catalog.trim_start_matches('/');
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        let bad = |why| WriteError::Boot {
            path: b.catalog.clone(),
            why,
        };
        if name.is_empty() {
            return Err(bad("the boot catalog path names no file"));
        }
        let parent = self
            .tree
            .lookup(dir)
            .ok_or_else(|| bad("the directory of the boot catalog does not exist in the tree"))?;
        let NodeKind::Dir { entries } = &self.tree.node(parent).kind else {
            return Err(bad("the parent of the boot catalog is not a directory"));
        };
        if entries.iter().any(|e| e.name == name.as_bytes()) {
            return Err(bad(
                "a file already exists where the boot catalog should go; remove it from the tree",
            ));
        }
        Ok((parent, name.as_bytes().to_vec()))
    }

    fn build_iso_dir(
        &mut self,
        me: usize,
        src: NodeId,
        path: &str,
        catalog: Option<&(NodeId, Vec<u8>)>,
    ) -> Result<(), WriteError> {
        let NodeKind::Dir { entries } = &self.tree.node(src).kind else {
            return Ok(());
        };
        // (rr name, Some(fstree id) or None for the catalog), in name byte order
        let mut list: Vec<(Vec<u8>, Option<NodeId>)> = entries
            .iter()
            .map(|e| (e.name.clone(), Some(e.node)))
            .collect();
        if let Some((cdir, cname)) = catalog {
            if *cdir == src {
                let pos = list.partition_point(|(n, _)| n.as_slice() < cname.as_slice());
                list.insert(pos, (cname.clone(), None));
            }
        }
        let mut kids = Vec::with_capacity(list.len());
        for (rr, id) in list {
            let child_path = format!("{}/{}", path, String::from_utf8_lossy(&rr));
            if rr.len() > 255 {
                return Err(bad_name(&child_path, NameProblem::TooLong));
            }
            let idx = self.iso.len();
            let (name, kind, meta) = match id {
                None => {
                    let pm = self.iso[me].meta;
                    let meta = Meta {
                        mode: S_IFREG | (pm.mode & 0o444),
                        uid: pm.uid,
                        gid: pm.gid,
                        mtime: self.opts.modification_time,
                    };
                    let name = names::iso_name(&rr, false, self.full_ascii)
                        .map_err(|p| bad_name(&child_path, p))?;
                    (name, Kind::File { fsrc: usize::MAX }, meta)
                }
                Some(id) => {
                    let meta = meta_of(self.tree, id);
                    match &self.tree.node(id).kind {
                        NodeKind::Dir { .. } => (
                            names::iso_name(&rr, true, self.full_ascii)
                                .map_err(|p| bad_name(&child_path, p))?,
                            Kind::Dir {
                                children: Vec::new(),
                                block: 0,
                                len: 0,
                                ce_blocks: 0,
                            },
                            meta,
                        ),
                        NodeKind::File { size, .. } => {
                            if *size >= 0xffff_ffff {
                                return Err(WriteError::FileTooBig {
                                    path: child_path,
                                    size: *size,
                                });
                            }
                            (
                                names::iso_name(&rr, false, self.full_ascii)
                                    .map_err(|p| bad_name(&child_path, p))?,
                                Kind::File { fsrc: usize::MAX },
                                meta,
                            )
                        }
                        NodeKind::Symlink { target } => (
                            names::iso_name(&rr, false, self.full_ascii)
                                .map_err(|p| bad_name(&child_path, p))?,
                            Kind::Symlink {
                                target: target.clone(),
                            },
                            meta,
                        ),
                    }
                }
            };
            self.iso.push(INode {
                src: id,
                name,
                rr_name: rr,
                parent: me,
                kind,
                nlink: 1,
                meta,
            });
            kids.push(idx);
            if let Some(id) = id {
                if matches!(self.tree.node(id).kind, NodeKind::Dir { .. }) {
                    self.build_iso_dir(idx, id, &child_path, catalog)?;
                }
            }
        }
        // sort (stable) by ISO name, make unique, sort again
        kids.sort_by(|a, b| self.iso[*a].name.cmp(&self.iso[*b].name));
        let mut nm: Vec<(Vec<u8>, bool)> = kids
            .iter()
            .map(|&k| {
                (
                    self.iso[k].name.clone(),
                    matches!(self.iso[k].kind, Kind::Dir { .. }),
                )
            })
            .collect();
        if names::mangle_iso(&mut nm).map_err(|p| bad_name(path, p))? {
            for (k, (n, _)) in kids.iter().zip(nm) {
                self.iso[*k].name = n;
            }
            kids.sort_by(|a, b| self.iso[*a].name.cmp(&self.iso[*b].name));
        }
        if let Kind::Dir { children, .. } = &mut self.iso[me].kind {
            *children = kids;
        }
        Ok(())
    }

    /// Rock Ridge link counts: directories 1, files and symlinks the number of
    /// names they have in the tree.
    fn count_links(&mut self) {
        let mut count: HashMap<NodeId, u32> = HashMap::new();
        for n in &self.iso {
            if let (Some(id), Kind::File { .. } | Kind::Symlink { .. }) = (n.src, &n.kind) {
                *count.entry(id).or_default() += 1;
            }
        }
        for n in &mut self.iso {
            if let (Some(id), Kind::File { .. } | Kind::Symlink { .. }) = (n.src, &n.kind) {
                n.nlink = count[&id];
            }
        }
    }

    fn children(&self, i: usize) -> &[usize] {
        match &self.iso[i].kind {
            Kind::Dir { children, .. } => children,
            _ => &[],
        }
    }

    fn iso_path(&self, mut i: usize) -> String {
        let mut parts = Vec::new();
        while i != 0 {
            parts.push(String::from_utf8_lossy(&self.iso[i].rr_name).into_owned());
            i = self.iso[i].parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// File contents in the order libisofs writes them: the boot catalog first
    /// (weight 1000000000), then depth-first through the sorted ISO tree, each
    /// inode once.
    fn collect_files(&mut self) -> Result<(), WriteError> {
        let mut seen: HashMap<NodeId, usize> = HashMap::new();
        let mut order: Vec<usize> = Vec::new();
        let mut stack = vec![(0usize, 0usize)];
        while let Some((dir, pos)) = stack.pop() {
            let kids = self.children(dir);
            if pos >= kids.len() {
                continue;
            }
            let k = kids[pos];
            stack.push((dir, pos + 1));
            match self.iso[k].kind {
                Kind::Dir { .. } => stack.push((k, 0)),
                Kind::File { .. } => order.push(k),
                Kind::Symlink { .. } => {}
            }
        }
        for k in order {
            let fsrc = match self.iso[k].src {
                None => {
                    self.fsrcs.push(FileSrc {
                        content: Content::Catalog,
                        size: BLOCK as u64,
                        block: 0,
                        boot_info_table: false,
                    });
                    self.fsrcs.len() - 1
                }
                Some(id) => {
                    if let Some(&f) = seen.get(&id) {
                        f
                    } else {
                        let NodeKind::File { source, size } = &self.tree.node(id).kind else {
                            continue;
                        };
                        self.fsrcs.push(FileSrc {
                            content: Content::Disk(source.clone()),
                            size: *size,
                            block: 0,
                            boot_info_table: false,
                        });
                        seen.insert(id, self.fsrcs.len() - 1);
                        self.fsrcs.len() - 1
                    }
                }
            };
            self.iso[k].kind = Kind::File { fsrc };
        }
        Ok(())
    }

    /// libisofs sorts the contents by weight (glibc's qsort is a stable merge sort
    /// here): the boot catalog weighs 1000000000, El Torito boot images 2, all
    /// other files 0; equal weights keep the tree order.
    fn apply_weights(&mut self) {
        let weight = |i: usize| -> u32 {
            match (&self.fsrcs[i].content, self.boot) {
                (Content::Catalog, _) => 1_000_000_000,
                (_, Some(b)) if b.bios == i || b.efi == Some(i) => 2,
                _ => 0,
            }
        };
        let mut order: Vec<usize> = (0..self.fsrcs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(weight(i)));
        let mut new_index = vec![0usize; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut old: Vec<Option<FileSrc>> = std::mem::take(&mut self.fsrcs)
            .into_iter()
            .map(Some)
            .collect();
        self.fsrcs = order.iter().filter_map(|&i| old[i].take()).collect();
        for n in &mut self.iso {
            if let Kind::File { fsrc } = &mut n.kind {
                *fsrc = new_index[*fsrc];
            }
        }
        if let Some(b) = &mut self.boot {
            b.bios = new_index[b.bios];
            b.efi = b.efi.map(|e| new_index[e]);
            b.catalog = new_index[b.catalog];
        }
    }

    fn build_joliet(&mut self) -> Result<(), WriteError> {
        self.jol.push(JNode {
            name: Vec::new(),
            parent: 0,
            iso: 0,
            children: Vec::new(),
            is_dir: true,
            block: 0,
            len: 0,
        });
        self.build_joliet_dir(0)
    }

    fn build_joliet_dir(&mut self, me: usize) -> Result<(), WriteError> {
        let iso_dir = self.jol[me].iso;
        // original (name byte) order of the ISO children = rr name order
        let mut src_kids: Vec<usize> = self.children(iso_dir).to_vec();
        src_kids.sort_by(|a, b| self.iso[*a].rr_name.cmp(&self.iso[*b].rr_name));
        let mut kids = Vec::new();
        for ik in src_kids {
            let is_dir = match self.iso[ik].kind {
                Kind::Dir { .. } => true,
                Kind::File { .. } => false,
                Kind::Symlink { .. } => continue,
            };
            let rr = &self.iso[ik].rr_name;
            let name = if is_dir {
                names::joliet_dir_name(rr)
            } else {
                names::joliet_file_name(rr)
            }
            .map_err(|p| bad_name(&self.iso_path(ik), p))?;
            let idx = self.jol.len();
            self.jol.push(JNode {
                name,
                parent: me,
                iso: ik,
                children: Vec::new(),
                is_dir,
                block: 0,
                len: 0,
            });
            kids.push(idx);
            if is_dir {
                self.build_joliet_dir(idx)?;
            }
        }
        kids.sort_by(|a, b| self.jol[*a].name.cmp(&self.jol[*b].name));
        let mut nm: Vec<(Vec<u16>, bool)> = kids
            .iter()
            .map(|&k| (self.jol[k].name.clone(), self.jol[k].is_dir))
            .collect();
        if names::mangle_joliet(&mut nm).map_err(|p| bad_name(&self.iso_path(iso_dir), p))? {
            for (k, (n, _)) in kids.iter().zip(nm) {
                self.jol[*k].name = n;
            }
            kids.sort_by(|a, b| self.jol[*a].name.cmp(&self.jol[*b].name));
        }
        self.jol[me].children = kids;
        Ok(())
    }

    fn find_iso(&self, path: &str) -> Option<usize> {
        let mut cur = 0usize;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = *self
                .children(cur)
                .iter()
                .find(|&&k| self.iso[k].rr_name == part.as_bytes())?;
        }
        Some(cur)
    }

    fn boot_plan(&mut self, b: &BootOptions) -> Result<BootPlan, WriteError> {
        let file_src = |plan: &Plan, p: &str| -> Result<usize, WriteError> {
            let bad = |why| WriteError::Boot {
                path: p.to_string(),
                why,
            };
            let i = plan
                .find_iso(p)
                .ok_or_else(|| bad("the boot image does not exist in the tree"))?;
            match plan.iso[i].kind {
                Kind::File { fsrc } => Ok(fsrc),
                _ => Err(bad("the boot image is not a regular file")),
            }
        };
        let bios = file_src(self, &b.bios_image)?;
        let efi = match &b.efi_image {
            Some(e) => Some(file_src(self, e)?),
            None => None,
        };
        if let (Some(i), Some(path)) = (efi, &b.efi_image) {
            if self.fsrcs[i].size == 0 {
                // xorriso: "Trying to use an invalid file as boot image"
                return Err(WriteError::Boot {
                    path: path.clone(),
                    why: "the EFI boot image is empty; xorriso refuses empty boot images",
                });
            }
        }
        let catalog = file_src(self, &b.catalog)?;
        let fs = &mut self.fsrcs[bios];
        if fs.size > MAX_PATCHABLE || fs.size < 64 {
            return Err(WriteError::Boot {
                path: b.bios_image.clone(),
                why: "a boot image patched with a boot info table must be 64 bytes to 32 MiB",
            });
        }
        fs.boot_info_table = true;
        Ok(BootPlan { bios, efi, catalog })
    }

    fn layout(&mut self) -> Result<(), WriteError> {
        let mut cur: u64 = 16;
        cur += 1; // PVD
        if self.boot.is_some() {
            cur += 1; // El Torito boot record
        }
        cur += 1; // Joliet SVD
        cur += 1; // terminator
        if self.hybrid.is_some() {
            // second descriptor set (PVD, Joliet SVD, terminator) at block 16 of
            // the partition
            cur = (PARTITION_OFFSET + 16 + 3) as u64;
        }
        // ISO directories, depth first
        let iso_start = cur;
        self.iso_dirs = self.dir_order_iso();
        for i in 0..self.iso_dirs.len() {
            let d = self.iso_dirs[i];
            let (recs, ce) = self.iso_dir_bytes(d, ABS);
            let blocks = (recs.len() / BLOCK) as u32;
            let ce_blocks = ce.len().div_ceil(BLOCK) as u32;
            if let Kind::Dir {
                block,
                len,
                ce_blocks: cb,
                ..
            } = &mut self.iso[d].kind
            {
                *block = cur as u32;
                *len = recs.len() as u32;
                *cb = ce_blocks;
            }
            cur += blocks as u64 + ce_blocks as u64;
        }
        let pts = self.iso_path_table(true, ABS).len() as u32;
        let l = cur as u32;
        cur += pts.div_ceil(BLOCK as u32) as u64;
        let m = cur as u32;
        cur += pts.div_ceil(BLOCK as u32) as u64;
        self.iso_pt = (pts, l, m);
        if let Some(h) = &mut self.hybrid {
            // the second ISO 9660 tree and path tables, same sizes
            h.iso_tree_blocks = (cur - iso_start) as u32;
            cur += cur - iso_start;
        }
        // Joliet
        let jol_start = cur;
        self.jol_dirs = self.dir_order_jol();
        for i in 0..self.jol_dirs.len() {
            let d = self.jol_dirs[i];
            let len = self.jol_dir_bytes(d, ABS).len();
            self.jol[d].block = cur as u32;
            self.jol[d].len = len as u32;
            cur += (len / BLOCK) as u64;
        }
        let pts = self.jol_path_table(true, ABS).len() as u32;
        let l = cur as u32;
        cur += pts.div_ceil(BLOCK as u32) as u64;
        let m = cur as u32;
        cur += pts.div_ceil(BLOCK as u32) as u64;
        self.jol_pt = (pts, l, m);
        let part_offset = match &mut self.hybrid {
            Some(h) => {
                h.jol_tree_blocks = (cur - jol_start) as u32;
                cur += cur - jol_start;
                PARTITION_OFFSET
            }
            None => 0,
        };
        // multi-session padding up to block 32 (of the partition)
        cur = cur.max(32 + part_offset as u64);
        self.data_start = cur as u32;
        cur += 1; // the zero block empty files and symlinks point at
        for f in &mut self.fsrcs {
            if f.size == 0 {
                f.block = self.data_start;
            } else {
                f.block = cur as u32;
                cur += f.size.div_ceil(BLOCK as u64);
            }
        }
        if let Some(h) = &mut self.hybrid {
            // the backup GPT comes last; the image is padded to whole cylinders
            // before the tail padding
            let gpt = self.boot.is_some_and(|b| b.efi.is_some());
            h.gpt_backup_blocks = if gpt { GPT_BACKUP_BLOCKS } else { 0 };
            let (g, pad) = hybrid::align(cur + TAIL_BLOCKS as u64 + h.gpt_backup_blocks as u64);
            h.geometry = Some(g);
            h.align_blocks = u32::try_from(pad).map_err(|_| WriteError::TooLarge)?;
            cur += pad + h.gpt_backup_blocks as u64;
        }
        cur += TAIL_BLOCKS as u64;
        if cur > u32::MAX as u64 {
            return Err(WriteError::TooLarge);
        }
        self.total_blocks = cur as u32;
        Ok(())
    }

    fn dir_order_iso(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![0usize];
        while let Some(d) = stack.pop() {
            out.push(d);
            for &k in self.children(d).iter().rev() {
                if matches!(self.iso[k].kind, Kind::Dir { .. }) {
                    stack.push(k);
                }
            }
        }
        out
    }

    fn dir_order_jol(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![0usize];
        while let Some(d) = stack.pop() {
            out.push(d);
            for &k in self.jol[d].children.iter().rev() {
                if self.jol[k].is_dir {
                    stack.push(k);
                }
            }
        }
        out
    }

    /// (block, size) of what an ISO node's record points at.
    fn iso_extent(&self, i: usize, v: View) -> (u32, u32) {
        match &self.iso[i].kind {
            Kind::Dir { block, len, .. } => (*block + v.iso_shift - v.sub, *len),
            Kind::File { fsrc } => {
                let f = &self.fsrcs[*fsrc];
                (f.block - v.sub, f.size as u32)
            }
            Kind::Symlink { .. } => (self.data_start - v.sub, 0),
        }
    }

    /// Directory records of one ISO directory (whole blocks) and its continuation area.
    fn iso_dir_bytes(&self, d: usize, v: View) -> (Vec<u8>, Vec<u8>) {
        let (dblock, dlen) = self.iso_extent(d, v);
        let ce_block = dblock + dlen.div_ceil(BLOCK as u32);
        let mut info = SuspInfo::new(ce_block);
        let mut out: Vec<u8> = Vec::with_capacity(BLOCK);
        let node = &self.iso[d];
        let parent = &self.iso[node.parent];
        // "."
        susp::dot_fields(&mut info, d == 0, px_of(&node.meta, 1), tf_of(&node.meta));
        push_rec(
            &mut out,
            &record(&[0], false, (dblock, dlen), node.meta.mtime, true, &info),
        );
        // ".."
        susp::dot_fields(
            &mut info,
            false,
            px_of(&parent.meta, 1),
            tf_of(&parent.meta),
        );
        push_rec(
            &mut out,
            &record(
                &[1],
                false,
                self.iso_extent(node.parent, v),
                parent.meta.mtime,
                true,
                &info,
            ),
        );
        for &k in self.children(d) {
            let c = &self.iso[k];
            let is_dir = matches!(c.kind, Kind::Dir { .. });
            let version = !is_dir;
            let mut used = 33 + c.name.len() + if version { 2 } else { 0 };
            used += used % 2;
            let link = match &c.kind {
                Kind::Symlink { target } => Some(target.as_slice()),
                _ => None,
            };
            susp::entry_fields(
                &mut info,
                used,
                px_of(&c.meta, c.nlink),
                tf_of(&c.meta),
                &c.rr_name,
                link,
            );
            push_rec(
                &mut out,
                &record(
                    &c.name,
                    version,
                    self.iso_extent(k, v),
                    c.meta.mtime,
                    is_dir,
                    &info,
                ),
            );
        }
        let total = out.len().div_ceil(BLOCK) * BLOCK;
        out.resize(total.max(BLOCK), 0);
        let mut ce = Vec::new();
        for f in &info.ce {
            if f.is_empty() {
                let pad = (BLOCK - ce.len() % BLOCK) % BLOCK;
                ce.resize(ce.len() + pad, 0);
            } else {
                ce.extend_from_slice(f);
            }
        }
        let cel = ce.len().div_ceil(BLOCK) * BLOCK;
        ce.resize(cel, 0);
        (out, ce)
    }

    fn jol_extent(&self, j: usize, v: View) -> (u32, u32) {
        let n = &self.jol[j];
        if n.is_dir {
            (n.block + v.jol_shift - v.sub, n.len)
        } else {
            self.iso_extent(n.iso, v)
        }
    }

    fn jol_dir_bytes(&self, d: usize, v: View) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::with_capacity(BLOCK);
        let node = &self.jol[d];
        let empty = SuspInfo::default();
        let mt = |j: usize| self.iso[self.jol[j].iso].meta.mtime;
        push_rec(
            &mut out,
            &record(&[0], false, self.jol_extent(d, v), mt(d), true, &empty),
        );
        push_rec(
            &mut out,
            // libisofs points Joliet ".." at the directory itself (only the date is the parent's)
            &record(
                &[1],
                false,
                self.jol_extent(d, v),
                mt(node.parent),
                true,
                &empty,
            ),
        );
        for &k in &node.children {
            let c = &self.jol[k];
            let name: Vec<u8> = c.name.iter().flat_map(|u| u.to_be_bytes()).collect();
            push_rec(
                &mut out,
                &record(&name, false, self.jol_extent(k, v), mt(k), c.is_dir, &empty),
            );
        }
        let total = out.len().div_ceil(BLOCK) * BLOCK;
        out.resize(total.max(BLOCK), 0);
        out
    }

    fn iso_path_table(&self, little: bool, v: View) -> Vec<u8> {
        let mut list = vec![0usize];
        let mut i = 0;
        while i < list.len() {
            for &k in self.children(list[i]) {
                if matches!(self.iso[k].kind, Kind::Dir { .. }) {
                    list.push(k);
                }
            }
            i += 1;
        }
        let entries: Vec<(Vec<u8>, u32, usize)> = list
            .iter()
            .map(|&d| {
                let name = if d == 0 {
                    vec![0]
                } else {
                    self.iso[d].name.clone()
                };
                (name, self.iso_extent(d, v).0, self.iso[d].parent)
            })
            .collect();
        path_table(&list, &entries, little)
    }

    fn jol_path_table(&self, little: bool, v: View) -> Vec<u8> {
        let mut list = vec![0usize];
        let mut i = 0;
        while i < list.len() {
            for &k in &self.jol[list[i]].children {
                if self.jol[k].is_dir {
                    list.push(k);
                }
            }
            i += 1;
        }
        let entries: Vec<(Vec<u8>, u32, usize)> = list
            .iter()
            .map(|&d| {
                let name = if d == 0 {
                    vec![0]
                } else {
                    self.jol[d]
                        .name
                        .iter()
                        .flat_map(|u| u.to_be_bytes())
                        .collect()
                };
                (name, self.jol_extent(d, v).0, self.jol[d].parent)
            })
            .collect();
        path_table(&list, &entries, little)
    }
}

/// Path table bytes; `list` are node ids in table order, `entries` (name, block, parent id).
fn path_table(list: &[usize], entries: &[(Vec<u8>, u32, usize)], little: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut parent = 0usize;
    for (i, (name, block, par)) in entries.iter().enumerate() {
        while i > 0 && list[parent] != *par {
            parent += 1;
        }
        out.push(name.len() as u8);
        out.push(0);
        if little {
            out.extend_from_slice(&block.to_le_bytes());
            out.extend_from_slice(&((parent + 1) as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&block.to_be_bytes());
            out.extend_from_slice(&((parent + 1) as u16).to_be_bytes());
        }
        out.extend_from_slice(name);
        if name.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

/// One directory record (ECMA-119 9.1) with the SUSP fields of `info`.
fn record(
    name: &[u8],
    version: bool,
    (block, size): (u32, u32),
    mtime: i64,
    is_dir: bool,
    info: &SuspInfo,
) -> Vec<u8> {
    let len_fi = name.len();
    let mut len_dr = 33 + len_fi + if len_fi % 2 == 1 { 0 } else { 1 };
    let mut fi = name.to_vec();
    if version {
        len_dr += 2;
        fi.extend_from_slice(b";1");
    }
    let mut r = vec![0u8; len_dr];
    r[1] = 0;
    bb32(&mut r[2..10], block);
    bb32(&mut r[10..18], size);
    r[18..25].copy_from_slice(&time7(mtime));
    r[25] = if is_dir { 2 } else { 0 };
    bb16(&mut r[28..32], 1);
    r[32] = fi.len() as u8;
    r[33..33 + fi.len()].copy_from_slice(&fi);
    for f in &info.sua {
        r.extend_from_slice(f);
    }
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    r
}

fn push_rec(out: &mut Vec<u8>, rec: &[u8]) {
    let used = out.len() % BLOCK;
    if used + rec.len() > BLOCK {
        out.resize(out.len() + BLOCK - used, 0);
    }
    out.extend_from_slice(rec);
}

fn pad_str(dst: &mut [u8], s: &[u8]) {
    for (i, b) in dst.iter_mut().enumerate() {
        *b = s.get(i).copied().unwrap_or(b' ');
    }
}

/// a-characters of an id string as xorriso sees it in the C locale (each non-ASCII
/// byte is one `_`).
fn a_chars(s: &str) -> Vec<u8> {
    s.bytes()
        .map(|c| {
            let u = c.to_ascii_uppercase();
            let ok = matches!(u, b' '..=b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_');
            if ok {
                u
            } else {
                b'_'
            }
        })
        .collect()
}

/// UCS-2 big endian of an id string as xorriso converts it in the C locale (each
/// non-ASCII byte is one `_`), padded with spaces.
fn ucs_pad(dst: &mut [u8], s: &str) {
    let units: Vec<u16> = s
        .bytes()
        .map(|c| if c.is_ascii() { c as u16 } else { b'_' as u16 })
        .collect();
    let max = dst.len();
    let len = (units.len() * 2).min(max - max % 2);
    let mut i = 0;
    while i < len {
        let u = units[i / 2].to_be_bytes();
        dst[i] = u[0];
        dst[i + 1] = u[1];
        i += 2;
    }
    while i + 1 < max {
        dst[i] = 0;
        dst[i + 1] = b' ';
        i += 2;
    }
    if max % 2 == 1 {
        dst[max - 1] = 0;
    }
}

fn root_record(extent: (u32, u32), mtime: i64) -> Vec<u8> {
    record(&[0], false, extent, mtime, true, &SuspInfo::default())
}

impl<'a> Plan<'a> {
    fn voldesc_times(&self, vd: &mut [u8]) {
        let u = uuid_digits(self.opts.modification_time);
        vd[813..829].copy_from_slice(&u);
        vd[829] = 0;
        vd[830..846].copy_from_slice(&u);
        vd[846] = 0;
        vd[847..863].fill(b'0');
        vd[863] = 0;
        vd[864..880].fill(b'0');
        vd[880] = 0;
    }

    /// The primary volume descriptor of one descriptor set (`v` = its tree copy).
    fn pvd(&self, v: View) -> Vec<u8> {
        let mut vd = vec![0u8; BLOCK];
        vd[0] = 1;
        vd[1..6].copy_from_slice(b"CD001");
        vd[6] = 1;
        pad_str(&mut vd[8..40], b"");
        pad_str(&mut vd[40..72], self.opts.volume_id.as_bytes());
        bb32(&mut vd[80..88], self.total_blocks - v.sub);
        bb16(&mut vd[120..124], 1);
        bb16(&mut vd[124..128], 1);
        bb16(&mut vd[128..132], BLOCK as u16);
        bb32(&mut vd[132..140], self.iso_pt.0);
        let (l, m) = (
            self.iso_pt.1 + v.iso_shift - v.sub,
            self.iso_pt.2 + v.iso_shift - v.sub,
        );
        vd[140..144].copy_from_slice(&l.to_le_bytes());
        vd[148..152].copy_from_slice(&m.to_be_bytes());
        let r = root_record(self.iso_extent(0, v), self.iso[0].meta.mtime);
        vd[156..190].copy_from_slice(&r);
        pad_str(&mut vd[190..318], b"");
        let o = self.opts;
        pad_str(
            &mut vd[318..446],
            &a_chars(o.publisher_id.as_deref().unwrap_or("")),
        );
        pad_str(
            &mut vd[446..574],
            &a_chars(o.preparer_id.as_deref().unwrap_or(XORRISO_PREPARER)),
        );
        pad_str(
            &mut vd[574..702],
            &a_chars(o.application_id.as_deref().unwrap_or("")),
        );
        pad_str(&mut vd[702..739], b"");
        pad_str(&mut vd[739..776], b"");
        pad_str(&mut vd[776..813], b"");
        self.voldesc_times(&mut vd);
        vd[881] = 1;
        vd[883..1395].fill(b' ');
        vd
    }

    fn joliet_svd(&self, v: View) -> Vec<u8> {
        let mut vd = vec![0u8; BLOCK];
        vd[0] = 2;
        vd[1..6].copy_from_slice(b"CD001");
        vd[6] = 1;
        let o = self.opts;
        ucs_pad(&mut vd[8..40], "");
        ucs_pad(&mut vd[40..72], &o.volume_id);
        vd[88..91].copy_from_slice(b"%/E");
        bb32(&mut vd[80..88], self.total_blocks - v.sub);
        bb16(&mut vd[120..124], 1);
        bb16(&mut vd[124..128], 1);
        bb16(&mut vd[128..132], BLOCK as u16);
        bb32(&mut vd[132..140], self.jol_pt.0);
        let (l, m) = (
            self.jol_pt.1 + v.jol_shift - v.sub,
            self.jol_pt.2 + v.jol_shift - v.sub,
        );
        vd[140..144].copy_from_slice(&l.to_le_bytes());
        vd[148..152].copy_from_slice(&m.to_be_bytes());
        let r = root_record(self.jol_extent(0, v), self.iso[0].meta.mtime);
        vd[156..190].copy_from_slice(&r);
        ucs_pad(&mut vd[190..318], "");
        ucs_pad(&mut vd[318..446], o.publisher_id.as_deref().unwrap_or(""));
        ucs_pad(
            &mut vd[446..574],
            o.preparer_id.as_deref().unwrap_or(XORRISO_PREPARER),
        );
        ucs_pad(&mut vd[574..702], o.application_id.as_deref().unwrap_or(""));
        ucs_pad(&mut vd[702..739], "");
        ucs_pad(&mut vd[739..776], "");
        ucs_pad(&mut vd[776..813], "");
        self.voldesc_times(&mut vd);
        vd[881] = 1;
        vd
    }

    fn boot_record(&self, b: &BootPlan) -> Vec<u8> {
        let mut vd = vec![0u8; BLOCK];
        vd[0] = 0;
        vd[1..6].copy_from_slice(b"CD001");
        vd[6] = 1;
        vd[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
        vd[71..75].copy_from_slice(&self.fsrcs[b.catalog].block.to_le_bytes());
        vd
    }

    fn catalog_bytes(&self, b: &BootPlan) -> Vec<u8> {
        let mut c = vec![0u8; BLOCK];
        // validation entry
        c[0] = 1;
        c[0x1e] = 0x55;
        c[0x1f] = 0xaa;
        let mut sum: u16 = 0;
        for i in (0..32).step_by(2) {
            sum = sum.wrapping_add(u16::from_le_bytes([c[i], c[i + 1]]));
        }
        let ck = 0u16.wrapping_sub(sum);
        c[0x1c..0x1e].copy_from_slice(&ck.to_le_bytes());
        // initial/default entry: BIOS, no emulation, 4 sectors
        let bios = &self.fsrcs[b.bios];
        c[32] = 0x88;
        c[32 + 6..32 + 8].copy_from_slice(&4u16.to_le_bytes());
        c[32 + 8..32 + 12].copy_from_slice(&bios.block.to_le_bytes());
        if let Some(e) = b.efi {
            let efi = &self.fsrcs[e];
            c[64] = 0x91;
            c[65] = 0xef;
            c[66..68].copy_from_slice(&1u16.to_le_bytes());
            c[96] = 0x88;
            let blocks = efi.size.div_ceil(BLOCK as u64) * 4;
            let count: u16 = if blocks > 65535 {
                0
            } else if blocks == 0 {
                1
            } else {
                blocks as u16
            };
            c[96 + 6..96 + 8].copy_from_slice(&count.to_le_bytes());
            c[96 + 8..96 + 12].copy_from_slice(&efi.block.to_le_bytes());
        }
        c
    }

    /// What the isohybrid system area and backup GPT describe.
    fn hybrid_layout(&self) -> Option<hybrid::Layout<'a>> {
        let h = self.hybrid?;
        let b = self.boot?;
        let template = self.opts.boot.as_ref()?.isohybrid_mbr.as_deref()?;
        Some(hybrid::Layout {
            template,
            uuid: uuid_digits(self.opts.modification_time),
            bios_block: self.fsrcs[b.bios].block,
            efi: b.efi.map(|e| (self.fsrcs[e].block, self.fsrcs[e].size)),
            total_blocks: self.total_blocks,
            geometry: h.geometry?,
        })
    }

    fn total_bytes(&self) -> u64 {
        self.total_blocks as u64 * BLOCK as u64
    }
}

struct Out<'w, W: Write> {
    w: &'w mut W,
    done: u64,
    total: u64,
    last_report: u64,
    progress: &'w mut dyn FnMut(u64, u64),
}

impl<W: Write> Out<'_, W> {
    fn put(&mut self, b: &[u8]) -> Result<(), WriteError> {
        self.w.write_all(b).map_err(WriteError::Write)?;
        self.done += b.len() as u64;
        if self.done - self.last_report >= 8 << 20 || self.done == self.total {
            self.last_report = self.done;
            (self.progress)(self.done, self.total);
        }
        Ok(())
    }

    fn zeros(&mut self, mut n: u64) -> Result<(), WriteError> {
        let z = [0u8; 65536];
        while n > 0 {
            let k = n.min(z.len() as u64) as usize;
            self.put(&z[..k])?;
            n -= k as u64;
        }
        Ok(())
    }
}

/// Writes the image of `tree` to `out` (from its current position) and reports
/// (bytes written, total bytes) to `progress` now and then.
pub fn write(
    tree: &Tree,
    out: &mut (impl Write + Seek),
    opts: &IsoOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, WriteError> {
    let plan = Plan::build(tree, opts)?;
    let total = plan.total_bytes();
    let mut o = Out {
        w: out,
        done: 0,
        total,
        last_report: 0,
        progress,
    };
    let hybrid = plan.hybrid_layout();
    // system area
    let system_area = match &hybrid {
        Some(h) => h.system_area(),
        None => vec![0u8; hybrid::SYSTEM_AREA],
    };
    o.put(&system_area)?;
    o.put(&plan.pvd(ABS))?;
    if let Some(b) = &plan.boot {
        o.put(&plan.boot_record(b))?;
    }
    o.put(&plan.joliet_svd(ABS))?;
    let mut term = vec![0u8; BLOCK];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    term[6] = 1;
    o.put(&term)?;
    // the copies of the trees: absolute addresses, then (hybrid) partition-relative
    let views: Vec<View> = match plan.hybrid {
        Some(h) => {
            let part = View {
                iso_shift: h.iso_tree_blocks,
                jol_shift: h.jol_tree_blocks,
                sub: PARTITION_OFFSET,
            };
            let here = o.done / BLOCK as u64;
            o.zeros(((PARTITION_OFFSET + 16) as u64 - here) * BLOCK as u64)?;
            o.put(&plan.pvd(part))?;
            o.put(&plan.joliet_svd(part))?;
            o.put(&term)?;
            vec![ABS, part]
        }
        None => vec![ABS],
    };
    for &v in &views {
        for &d in &plan.iso_dirs {
            let (recs, ce) = plan.iso_dir_bytes(d, v);
            o.put(&recs)?;
            o.put(&ce)?;
        }
        for little in [true, false] {
            let mut pt = plan.iso_path_table(little, v);
            pt.resize(pt.len().div_ceil(BLOCK) * BLOCK, 0);
            o.put(&pt)?;
        }
    }
    for &v in &views {
        for &d in &plan.jol_dirs {
            o.put(&plan.jol_dir_bytes(d, v))?;
        }
        for little in [true, false] {
            let mut pt = plan.jol_path_table(little, v);
            pt.resize(pt.len().div_ceil(BLOCK) * BLOCK, 0);
            o.put(&pt)?;
        }
    }
    let here = o.done / BLOCK as u64;
    o.zeros((plan.data_start as u64 - here) * BLOCK as u64)?;
    o.zeros(BLOCK as u64)?;
    for (i, f) in plan.fsrcs.iter().enumerate() {
        if f.size == 0 {
            continue;
        }
        debug_assert_eq!(o.done, f.block as u64 * BLOCK as u64);
        match &f.content {
            Content::Catalog => {
                let b = plan.boot.as_ref().ok_or(WriteError::TooLarge)?;
                o.put(&plan.catalog_bytes(b))?;
            }
            Content::Disk(path) => {
                let is_bios = plan.boot.map(|b| b.bios == i).unwrap_or(false);
                if f.boot_info_table && is_bios {
                    let mut data = read_all(path, f.size)?;
                    boot_info_table(&mut data, 16, f.block);
                    o.put(&data)?;
                } else {
                    copy_file(&mut o, path, f.size)?;
                }
                let rem = f.size % BLOCK as u64;
                if rem != 0 {
                    o.zeros(BLOCK as u64 - rem)?;
                }
            }
        }
    }
    if let Some(h) = plan.hybrid {
        o.zeros(h.align_blocks as u64 * BLOCK as u64)?;
    }
    o.zeros(TAIL_BLOCKS as u64 * BLOCK as u64)?;
    if let (Some(h), Some(p)) = (&hybrid, plan.hybrid) {
        if p.gpt_backup_blocks > 0 {
            o.put(&h.backup_gpt(&system_area))?;
        }
    }
    o.w.flush().map_err(WriteError::Write)?;
    (o.progress)(o.done, total);
    Ok(Summary {
        blocks: plan.total_blocks as u64,
        bytes: total,
    })
}

fn read_all(path: &PathBuf, size: u64) -> Result<Vec<u8>, WriteError> {
    let mut f = std::fs::File::open(path).map_err(|source| WriteError::Read {
        path: path.clone(),
        source,
    })?;
    let mut data = Vec::with_capacity(size as usize);
    (&mut f)
        .take(size + 1)
        .read_to_end(&mut data)
        .map_err(|source| WriteError::Read {
            path: path.clone(),
            source,
        })?;
    if data.len() as u64 != size {
        return Err(WriteError::SizeChanged {
            path: path.clone(),
            expected: size,
        });
    }
    Ok(data)
}

fn copy_file<W: Write>(o: &mut Out<'_, W>, path: &PathBuf, size: u64) -> Result<(), WriteError> {
    let f = std::fs::File::open(path).map_err(|source| WriteError::Read {
        path: path.clone(),
        source,
    })?;
    let mut r = f.take(size + 1);
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|source| WriteError::Read {
            path: path.clone(),
            source,
        })?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if got > size {
            return Err(WriteError::SizeChanged {
                path: path.clone(),
                expected: size,
            });
        }
        o.put(&buf[..n])?;
    }
    if got != size {
        return Err(WriteError::SizeChanged {
            path: path.clone(),
            expected: size,
        });
    }
    Ok(())
}

/// Boot info table (bytes 8..64): PVD block, image block, image length, checksum of
/// the 32-bit little-endian words from byte 64 on.
fn boot_info_table(buf: &mut [u8], pvd_lba: u32, lba: u32) {
    let size = buf.len();
    let mut sum: u32 = 0;
    let mut off = 64;
    while off + 4 <= size {
        sum = sum.wrapping_add(u32::from_le_bytes([
            buf[off],
            buf[off + 1],
            buf[off + 2],
            buf[off + 3],
        ]));
        off += 4;
    }
    if off != size {
        let mut w = [0u8; 4];
        w[..size - off].copy_from_slice(&buf[off..]);
        sum = sum.wrapping_add(u32::from_le_bytes(w));
    }
    buf[8..12].copy_from_slice(&pvd_lba.to_le_bytes());
    buf[12..16].copy_from_slice(&lba.to_le_bytes());
    buf[16..20].copy_from_slice(&(size as u32).to_le_bytes());
    buf[20..24].copy_from_slice(&sum.to_le_bytes());
    buf[24..64].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time7(1700000000), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(&uuid_digits(1700000000), b"2023111422132000");
        assert_eq!(time7(-3_000_000_000), [0, 1, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn rational() {
        assert_eq!(rational_mode(0o644), 0o444);
        assert_eq!(rational_mode(0o700), 0o555);
        assert_eq!(rational_mode(0o4777), 0o555);
    }
}
