//! Where everything lies in an ISO 9660 volume: descriptors, path tables, directory
//! extents, Rock Ridge continuation areas, the El Torito catalog and boot images, file
//! extents — plus a metadata summary of each file for the content comparison.
//!
//! This is a small parser of our own, kept inside the compare stage because it records
//! byte positions of structures and fields (what localisation needs) rather than values.
//! Every count and length read from the image is bounded before it is used; a broken
//! structure is noted and skipped, never trusted.

use std::collections::{HashSet, VecDeque};

use super::location::Place;
use super::source::{bad, field_name, le16, le32, PResult, Source};
use super::system_area::SYSTEM_AREA;
use crate::untrusted::Untrusted;

pub const SECTOR: u64 = 2048;
const MAX_DESCRIPTORS: u64 = 64;
const MAX_DIRS: usize = 1 << 18;
const MAX_ENTRIES: usize = 1 << 22;
const MAX_DIR_BYTES: u64 = 16 << 20;
const MAX_CE_HOPS: usize = 8;
const MAX_NOTES: usize = 32;
const MAX_PATH: usize = 4096;
/// Bytes of path names kept for one tree (hostile images can nest deeply).
const MAX_PATH_BYTES: usize = 256 << 20;

/// Which directory hierarchy a structure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Iso,
    Joliet,
}

impl Tree {
    fn name(self) -> &'static str {
        match self {
            Tree::Iso => "ISO 9660",
            Tree::Joliet => "Joliet",
        }
    }
}

/// Metadata of one entry, compared field by field in the content summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub is_dir: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The 7-byte recording date of the directory record.
    pub date: [u8; 7],
    /// Rock Ridge TF entry, raw (timestamps).
    pub times: Vec<u8>,
    /// Rock Ridge SL components, raw (symlink target).
    pub symlink: Option<Vec<u8>>,
}

/// One file or directory of the primary (Rock Ridge) tree.
#[derive(Debug, Clone)]
pub struct IsoFile {
    pub path: Vec<u8>,
    /// Absolute image offsets and lengths of its data.
    pub extents: Vec<(u64, u64)>,
    pub size: u64,
    pub meta: Meta,
}

#[derive(Debug, Clone)]
struct DirExtent {
    start: u64,
    len: u64,
    tree: Tree,
    path: Vec<u8>,
}

/// One parsed ISO 9660 volume (the main one, or a copy at a partition offset).
#[derive(Debug, Default)]
pub struct IsoVolume {
    pub base: u64,
    pub volume_end: u64,
    descriptors: Vec<(u64, String)>,
    path_tables: Vec<(u64, u64, String)>,
    dirs: Vec<DirExtent>,
    continuations: Vec<(u64, u64, Vec<u8>)>,
    catalog: Option<u64>,
    boot_images: Vec<(u64, u64, u32)>,
    pub files: Vec<IsoFile>,
    /// (start, len, file index), sorted by start; only files with data.
    data: Vec<(u64, u64, usize)>,
    pub notes: Vec<String>,
}

const PVD_FIELDS: &[(usize, usize, &str)] = &[
    (0, 1, "descriptor type"),
    (1, 5, "standard identifier"),
    (6, 1, "descriptor version"),
    (8, 32, "system identifier"),
    (40, 32, "volume identifier"),
    (80, 8, "volume space size"),
    (88, 32, "escape sequences"),
    (120, 4, "volume set size"),
    (124, 4, "volume sequence number"),
    (128, 4, "logical block size"),
    (132, 8, "path table size"),
    (140, 4, "L path table location"),
    (144, 4, "optional L path table location"),
    (148, 4, "M path table location"),
    (152, 4, "optional M path table location"),
    (156, 34, "root directory record"),
    (190, 128, "volume set identifier"),
    (318, 128, "publisher identifier"),
    (446, 128, "data preparer identifier"),
    (574, 128, "application identifier"),
    (702, 37, "copyright file identifier"),
    (739, 37, "abstract file identifier"),
    (776, 37, "bibliographic file identifier"),
    (813, 17, "volume creation date"),
    (830, 17, "volume modification date"),
    (847, 17, "volume expiration date"),
    (864, 17, "volume effective date"),
    (881, 1, "file structure version"),
    (883, 512, "application use"),
];
const BOOT_RECORD_FIELDS: &[(usize, usize, &str)] = &[
    (0, 1, "descriptor type"),
    (1, 5, "standard identifier"),
    (6, 1, "descriptor version"),
    (7, 32, "boot system identifier"),
    (39, 32, "boot identifier"),
    (71, 4, "boot catalog location"),
];
const RECORD_FIELDS: &[(usize, usize, &str)] = &[
    (0, 1, "record length"),
    (1, 1, "extended attribute length"),
    (2, 8, "extent location"),
    (10, 8, "data length"),
    (18, 7, "recording date"),
    (25, 1, "file flags"),
    (26, 2, "interleave"),
    (28, 4, "volume sequence number"),
    (32, 1, "name length"),
];
const CATALOG_ENTRY_FIELDS: &[(usize, usize, &str)] = &[
    (0, 1, "boot indicator"),
    (1, 1, "boot media type"),
    (2, 2, "load segment"),
    (4, 1, "system type"),
    (6, 2, "sector count"),
    (8, 4, "load RBA"),
    (12, 20, "selection criteria"),
];

/// One parsed directory record.
struct Record {
    extent: u64,
    size: u64,
    flags: u8,
    date: [u8; 7],
    iso_name: Vec<u8>,
    /// Offset of the system use area within the record.
    su_start: usize,
}

fn parse_record(r: &[u8]) -> PResult<Record> {
    if r.len() < 34 {
        return bad("directory record shorter than 34 bytes");
    }
    let nl = r[32] as usize;
    if 33 + nl > r.len() {
        return bad("directory record name runs past the record");
    }
    let mut date = [0u8; 7];
    date.copy_from_slice(&r[18..25]);
    Ok(Record {
        extent: u64::from(le32(r, 2)?),
        size: u64::from(le32(r, 10)?),
        flags: r[25],
        date,
        iso_name: r[33..33 + nl].to_vec(),
        su_start: 33 + nl + usize::from(nl % 2 == 0),
    })
}

/// What the System Use entries of a record say (Rock Ridge).
#[derive(Default)]
struct Susp {
    name: Option<Vec<u8>>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    times: Vec<u8>,
    symlink: Option<Vec<u8>>,
    /// Continuation areas followed: (absolute offset, length).
    continuations: Vec<(u64, u64)>,
}

/// Walks SUSP entries, following CE continuations a bounded number of times.
fn parse_susp(src: &Source, base: u64, area: &[u8]) -> Susp {
    let mut out = Susp::default();
    let mut area = area.to_vec();
    for _hop in 0..=MAX_CE_HOPS {
        let mut next: Option<(u64, u64)> = None;
        let mut p = 0usize;
        while p + 4 <= area.len() {
            let len = area[p + 2] as usize;
            if len < 4 || p + len > area.len() {
                break;
            }
            let e = &area[p..p + len];
            match &e[..2] {
                b"NM" if len >= 5 => {
                    // Flags bit 0: the name continues in the next NM entry.
                    let n = out.name.get_or_insert_with(Vec::new);
                    if n.len() < 4096 {
                        n.extend_from_slice(&e[5..]);
                    }
                }
                b"PX" if len >= 36 => {
                    out.mode = le32(e, 4).ok();
                    out.uid = le32(e, 20).ok();
                    out.gid = le32(e, 28).ok();
                }
                b"TF" => out.times = e[4..].to_vec(),
                b"SL" if len >= 5 => {
                    let s = out.symlink.get_or_insert_with(Vec::new);
                    if s.len() < 8192 {
                        s.extend_from_slice(&e[5..]);
                    }
                }
                b"CE" if len >= 28 => {
                    let block = u64::from(le32(e, 4).unwrap_or(0));
                    let off = u64::from(le32(e, 12).unwrap_or(0));
                    let l = u64::from(le32(e, 20).unwrap_or(0)).min(64 << 10);
                    next = Some((base + block * SECTOR + off, l));
                }
                b"ST" => break,
                _ => {}
            }
            p += len;
        }
        let Some((at, len)) = next else { break };
        if out.continuations.contains(&(at, len)) {
            break;
        }
        out.continuations.push((at, len));
        match src.read(at, len) {
            Ok(a) => area = a,
            Err(_) => break,
        }
    }
    out
}

fn joliet_name(raw: &[u8]) -> Vec<u8> {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let s: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect();
    strip_version(s.into_bytes())
}

/// `NAME.EXT;1` → `NAME.EXT`; `NAME.;1` → `NAME`.
fn strip_version(mut n: Vec<u8>) -> Vec<u8> {
    if let Some(p) = n.iter().rposition(|&b| b == b';') {
        n.truncate(p);
    }
    if n.last() == Some(&b'.') {
        n.pop();
    }
    n
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl IsoVolume {
    fn note(&mut self, msg: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(msg);
        }
    }

    /// Parses the volume whose system area starts at `base`.
    pub fn parse(src: &Source, base: u64) -> PResult<IsoVolume> {
        let mut v = IsoVolume {
            base,
            ..IsoVolume::default()
        };
        let mut pvd: Option<Vec<u8>> = None;
        let mut joliet: Option<Vec<u8>> = None;
        for i in 0..MAX_DESCRIPTORS {
            let at = base + SYSTEM_AREA + i * SECTOR;
            let d = src.read(at, SECTOR)?;
            if &d[1..6] != b"CD001" {
                if i == 0 {
                    return bad("no ISO 9660 volume descriptor at sector 16");
                }
                v.note(format!(
                    "volume descriptor set not terminated at offset {at}"
                ));
                break;
            }
            let name = match d[0] {
                0 => "boot record",
                1 => "primary volume descriptor",
                2 if is_joliet(&d) => "Joliet supplementary volume descriptor",
                2 => "supplementary volume descriptor",
                3 => "volume partition descriptor",
                255 => "volume descriptor set terminator",
                _ => "unknown volume descriptor",
            };
            v.descriptors.push((at, name.to_string()));
            match d[0] {
                0 if d[7..].starts_with(b"EL TORITO SPECIFICATION") => {
                    v.catalog = Some(base + u64::from(le32(&d, 71)?) * SECTOR);
                }
                1 if pvd.is_none() => pvd = Some(d),
                2 if joliet.is_none() && is_joliet(&d) => joliet = Some(d),
                255 => break,
                _ => {}
            }
        }
        let Some(pvd) = pvd else {
            return bad("no primary volume descriptor");
        };
        if le16(&pvd, 128)? != SECTOR as u16 {
            return bad("logical block size is not 2048");
        }
        v.volume_end = base + u64::from(le32(&pvd, 80)?) * SECTOR;
        v.add_path_tables(&pvd, "ISO 9660");
        if let Some(j) = &joliet {
            v.add_path_tables(j, "Joliet");
        }
        v.walk(src, &pvd[156..190], Tree::Iso);
        if let Some(j) = &joliet {
            v.walk(src, &j[156..190], Tree::Joliet);
        }
        v.parse_catalog(src);
        v.data = v
            .files
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                f.extents
                    .iter()
                    .filter(|e| e.1 > 0)
                    .map(move |&(s, l)| (s, l, i))
            })
            .collect();
        v.data.sort_unstable();
        Ok(v)
    }

    fn add_path_tables(&mut self, d: &[u8], tree: &str) {
        let size = u64::from(le32(d, 132).unwrap_or(0));
        if size == 0 || size > MAX_DIR_BYTES {
            return;
        }
        let lbas = [
            (le32(d, 140).ok(), "L"),
            (le32(d, 144).ok(), "optional L"),
            (le32(d, 148).ok().map(u32::swap_bytes), "M"),
            (le32(d, 152).ok().map(u32::swap_bytes), "optional M"),
        ];
        for (lba, which) in lbas {
            if let Some(lba) = lba.filter(|&l| l != 0) {
                let start = self.base + u64::from(lba) * SECTOR;
                self.path_tables
                    .push((start, size, format!("{tree} {which}")));
            }
        }
    }

    /// Breadth-first walk of one directory hierarchy, each directory extent at most once.
    fn walk(&mut self, src: &Source, root: &[u8], tree: Tree) {
        let Ok(root) = parse_record(root) else {
            self.note(format!("{} root directory record is broken", tree.name()));
            return;
        };
        let mut queue = VecDeque::from([(root.extent, root.size, b"/".to_vec())]);
        let mut seen = HashSet::new();
        let mut entries = 0usize;
        let mut path_bytes = 0usize;
        // Data already named by the Rock Ridge tree, so the Joliet walk skips it.
        let named: HashSet<u64> = self
            .files
            .iter()
            .filter_map(|f| f.extents.first().map(|e| e.0))
            .collect();
        while let Some((lba, size, path)) = queue.pop_front() {
            if !seen.insert(lba) {
                self.note(format!(
                    "directory {} points back to an extent already walked (loop)",
                    Untrusted::new(path)
                ));
                continue;
            }
            if seen.len() > MAX_DIRS || entries > MAX_ENTRIES {
                self.note("too many directories or entries; walk stopped".into());
                break;
            }
            let start = self.base + lba * SECTOR;
            let len = size.div_ceil(SECTOR) * SECTOR;
            if len > MAX_DIR_BYTES {
                self.note(format!(
                    "directory {} claims {size} bytes; skipped",
                    Untrusted::new(path)
                ));
                continue;
            }
            let data = match src.read(start, len) {
                Ok(d) => d,
                Err(e) => {
                    self.note(format!("directory {}: {e}", Untrusted::new(path)));
                    continue;
                }
            };
            self.dirs.push(DirExtent {
                start,
                len,
                tree,
                path: path.clone(),
            });
            let records = split_records(&data[..(size as usize).min(data.len())]);
            let mut pending_multi: Option<usize> = None;
            for (_, rec) in records {
                entries += 1;
                let Ok(r) = parse_record(rec) else {
                    continue;
                };
                if r.iso_name == [0] || r.iso_name == [1] {
                    continue;
                }
                let susp = match tree {
                    Tree::Iso => parse_susp(src, self.base, rec.get(r.su_start..).unwrap_or(&[])),
                    Tree::Joliet => Susp::default(),
                };
                for &(at, l) in &susp.continuations {
                    self.continuations.push((at, l, path.clone()));
                }
                let name = match (tree, &susp.name) {
                    (Tree::Iso, Some(n)) => n.clone(),
                    (Tree::Iso, None) => strip_version(r.iso_name.clone()),
                    (Tree::Joliet, _) => joliet_name(&r.iso_name),
                };
                let child = join(&path, &name);
                path_bytes += child.len();
                if child.len() > MAX_PATH || path_bytes > MAX_PATH_BYTES {
                    continue;
                }
                let is_dir = r.flags & 2 != 0;
                if is_dir {
                    queue.push_back((r.extent, r.size, child.clone()));
                }
                let extent = (
                    self.base + r.extent * SECTOR,
                    if is_dir { 0 } else { r.size },
                );
                // Joliet names only matter for data no Rock Ridge name covers.
                if tree == Tree::Joliet && (is_dir || named.contains(&extent.0)) {
                    continue;
                }
                if let Some(i) = pending_multi.take() {
                    if self.files[i].path == child {
                        self.files[i].extents.push(extent);
                        self.files[i].size += extent.1;
                        if r.flags & 0x80 != 0 {
                            pending_multi = Some(i);
                        }
                        continue;
                    }
                }
                let file = IsoFile {
                    path: child,
                    extents: vec![extent],
                    size: extent.1,
                    meta: Meta {
                        is_dir,
                        mode: susp.mode,
                        uid: susp.uid,
                        gid: susp.gid,
                        date: r.date,
                        times: susp.times,
                        symlink: susp.symlink,
                    },
                };
                if r.flags & 0x80 != 0 {
                    pending_multi = Some(self.files.len());
                }
                self.files.push(file);
            }
        }
    }

    fn parse_catalog(&mut self, src: &Source) {
        let Some(at) = self.catalog else { return };
        let Ok(cat) = src.read(at, SECTOR) else {
            self.note("El Torito boot catalog is outside the image".into());
            return;
        };
        for (i, e) in cat.chunks_exact(32).enumerate().skip(1) {
            // Section headers (0x90, 0x91) and extensions (0x44) describe no image.
            if matches!(e[0], 0x90 | 0x91 | 0x44) {
                continue;
            }
            let rba = u64::from(le32(e, 8).unwrap_or(0));
            if rba == 0 || (e[0] != 0x88 && i > 1) {
                continue;
            }
            let count = u64::from(le16(e, 6).unwrap_or(0)).max(1);
            self.boot_images
                .push((self.base + rba * SECTOR, count * 512, i as u32));
        }
    }

    /// The structural place of `off` (not file data), if any.
    pub fn locate_structure(&self, src: &Source, off: u64) -> Option<Place> {
        for (i, (at, name)) in self.descriptors.iter().enumerate() {
            if off >= *at && off < at + SECTOR {
                let rel = (off - at) as usize;
                let table = if name == "boot record" {
                    BOOT_RECORD_FIELDS
                } else {
                    PVD_FIELDS
                };
                let field = field_name(table, rel).unwrap_or_else(|| "unused bytes".into());
                return Some(Place::VolumeDescriptor {
                    index: i as u32,
                    descriptor: name.clone(),
                    field,
                });
            }
        }
        if let Some(at) = self.catalog {
            if off >= at && off < at + SECTOR {
                return Some(Place::BootCatalog {
                    entry: catalog_entry_name(src, at, off),
                });
            }
        }
        for (at, len, which) in &self.path_tables {
            if off >= *at && off < at + len {
                return Some(Place::PathTable {
                    which: which.clone(),
                });
            }
        }
        for d in &self.dirs {
            if off >= d.start && off < d.start + d.len {
                return Some(self.directory_place(src, d, off));
            }
        }
        for (at, len, dir) in &self.continuations {
            if off >= *at && off < at + len {
                return Some(Place::RockRidgeContinuation {
                    directory: Untrusted::new(dir.clone()),
                });
            }
        }
        None
    }

    /// Which record of a directory extent holds `off`, and which field of it.
    fn directory_place(&self, src: &Source, d: &DirExtent, off: u64) -> Place {
        let sector = d.start + (off - d.start) / SECTOR * SECTOR;
        let mut place = Place::DirectoryRecords {
            tree: d.tree.name().into(),
            directory: Untrusted::new(d.path.clone()),
            entry: None,
            field: None,
        };
        let Ok(data) = src.read(sector, SECTOR) else {
            return place;
        };
        let rel = (off - sector) as usize;
        for (pos, rec) in split_records(&data) {
            if rel < pos || rel >= pos + rec.len() {
                continue;
            }
            let Ok(r) = parse_record(rec) else { break };
            let at = rel - pos;
            let name = match r.iso_name.as_slice() {
                [0] => b".".to_vec(),
                [1] => b"..".to_vec(),
                n if d.tree == Tree::Joliet => joliet_name(n),
                n => {
                    let su = rec.get(r.su_start..).unwrap_or(&[]);
                    parse_susp(src, self.base, su)
                        .name
                        .unwrap_or_else(|| strip_version(n.to_vec()))
                }
            };
            let field = field_name(RECORD_FIELDS, at).unwrap_or_else(|| {
                if at < 33 + r.iso_name.len() {
                    "file identifier".into()
                } else if at < r.su_start {
                    "padding".into()
                } else {
                    susp_entry_at(rec, r.su_start, at)
                }
            });
            if let Place::DirectoryRecords {
                entry, field: f, ..
            } = &mut place
            {
                *entry = Some(Untrusted::new(name));
                *f = Some(field);
            }
            return place;
        }
        if let Place::DirectoryRecords { field, .. } = &mut place {
            *field = Some("unused bytes at the end of the sector".into());
        }
        place
    }

    /// The file whose data holds `off`: (file index, byte of the file, other names).
    pub fn locate_file(&self, off: u64) -> Option<(usize, u64, u32)> {
        let i = self.data.partition_point(|e| e.0 <= off);
        let mut hits = self.data[..i]
            .iter()
            .rev()
            .take(64)
            .filter(|(s, l, _)| off < s + l);
        let &(start, _, f) = hits.next()?;
        let also = hits.count() as u32;
        let file = &self.files[f];
        // Offset within the file: the extents before this one, plus the offset in it.
        let mut before = 0;
        for &(s, l) in &file.extents {
            if s == start {
                break;
            }
            before += l;
        }
        Some((f, before + off - start, also))
    }

    pub fn locate_boot_image(&self, off: u64) -> Option<Place> {
        self.boot_images
            .iter()
            .find(|(s, l, _)| off >= *s && off < s + l)
            .map(|&(_, _, entry)| Place::BootImage { entry })
    }
}

fn is_joliet(d: &[u8]) -> bool {
    let esc = &d[88..91];
    esc == b"%/@" || esc == b"%/C" || esc == b"%/E"
}

/// Records in a directory extent: (offset, bytes). Records never cross sectors; a zero
/// length byte means "skip to the next sector".
fn split_records(data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let len = data[pos] as usize;
        let sector_end = (pos / SECTOR as usize + 1) * SECTOR as usize;
        if len == 0 || pos + len > sector_end.min(data.len()) {
            pos = sector_end;
            continue;
        }
        out.push((pos, &data[pos..pos + len]));
        pos += len;
    }
    out
}

/// The SUSP entry (Rock Ridge field) at byte `at` of a record.
fn susp_entry_at(rec: &[u8], su_start: usize, at: usize) -> String {
    let mut p = su_start;
    while p + 4 <= rec.len() {
        let len = rec[p + 2] as usize;
        if len < 4 {
            break;
        }
        if at < p + len {
            let sig = String::from_utf8_lossy(&rec[p..p + 2]).into_owned();
            let what = match sig.as_str() {
                "PX" => "POSIX attributes",
                "TF" => "timestamps",
                "NM" => "alternate name",
                "SL" => "symbolic link",
                "CE" => "continuation pointer",
                "SP" => "SUSP indicator",
                "ER" => "extension reference",
                "PN" => "device number",
                "RE" | "CL" | "PL" => "relocation",
                "ZF" => "zisofs",
                _ => "entry",
            };
            return format!("Rock Ridge {sig} ({what})");
        }
        p += len;
    }
    "system use area".into()
}

fn catalog_entry_name(src: &Source, at: u64, off: u64) -> String {
    let i = (off - at) / 32;
    let rel = ((off - at) % 32) as usize;
    if i == 0 {
        return "validation entry".into();
    }
    let kind = src.read(at + i * 32, 1).ok().map(|b| b[0]).unwrap_or(0);
    let name = match kind {
        0x90 | 0x91 => return format!("section header (entry {i})"),
        _ if i == 1 => "default entry".to_string(),
        0x88 | 0x00 => format!("section entry (entry {i})"),
        _ => format!("entry {i}"),
    };
    match field_name(CATALOG_ENTRY_FIELDS, rel) {
        Some(f) => format!("{name}, {f}"),
        None => name,
    }
}
