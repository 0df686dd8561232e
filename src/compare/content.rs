//! The content summary: the two parsed trees side by side (the ISO 9660 tree, and each
//! SquashFS found at the same path in both images), file by file.
//!
//! Stored bytes are compared first — through the byte pass's region list when a file
//! lies at the same offsets in both images, by reading both otherwise. Only when the
//! stored bytes of a SquashFS file differ are its blocks decompressed (one at a time) to
//! tell "content differs" from "same content, stored differently".

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::bytes::ByteDiff;
use super::image::ImageLayout;
use super::iso_layout::IsoFile;
use super::source::{PResult, Source};
use super::squashfs_layout::{SqFile, SquashLayout};
use crate::untrusted::Untrusted;

/// Lists in the summary are cut at this length (the totals are exact).
pub const LIST_CAP: usize = 50;
const READ_STEP: u64 = 1 << 20;
const FRAGMENT_CACHE: usize = 32;

/// A capped list of names and how many there are in all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NameList {
    pub total: u64,
    pub names: Vec<Untrusted>,
}

impl NameList {
    fn push(&mut self, name: &[u8]) {
        self.total += 1;
        if self.names.len() < LIST_CAP {
            self.names.push(Untrusted::new(name.to_vec()));
        }
    }
}

/// A file whose metadata differs, and which fields.
#[derive(Debug, Clone, Serialize)]
pub struct MetaDiff {
    pub path: Untrusted,
    pub fields: Vec<&'static str>,
}

/// One tree compared: the ISO 9660 tree (`scope` "/") or a SquashFS (`scope` = its path).
#[derive(Debug, Clone, Serialize)]
pub struct ScopeSummary {
    pub scope: Untrusted,
    pub format: &'static str,
    pub entries_compared: u64,
    pub content_differs: NameList,
    /// SquashFS files whose stored (compressed) bytes differ but whose content is the same.
    pub stored_differs_only: NameList,
    pub only_in_official: NameList,
    pub only_in_rebuilt: NameList,
    pub metadata_differs_total: u64,
    pub metadata_differs: Vec<MetaDiff>,
    /// Files whose content could not be compared (unreadable or corrupt blocks).
    pub not_compared: NameList,
}

impl ScopeSummary {
    fn new(scope: Vec<u8>, format: &'static str) -> Self {
        ScopeSummary {
            scope: Untrusted::new(scope),
            format,
            entries_compared: 0,
            content_differs: NameList::default(),
            stored_differs_only: NameList::default(),
            only_in_official: NameList::default(),
            only_in_rebuilt: NameList::default(),
            metadata_differs_total: 0,
            metadata_differs: Vec::new(),
            not_compared: NameList::default(),
        }
    }

    fn meta(&mut self, path: &[u8], fields: Vec<&'static str>) {
        if fields.is_empty() {
            return;
        }
        self.metadata_differs_total += 1;
        if self.metadata_differs.len() < LIST_CAP {
            self.metadata_differs.push(MetaDiff {
                path: Untrusted::new(path.to_vec()),
                fields,
            });
        }
    }

    pub fn has_differences(&self) -> bool {
        self.content_differs.total
            + self.only_in_official.total
            + self.only_in_rebuilt.total
            + self.metadata_differs_total
            > 0
    }
}

/// Both images, and the byte pass (to skip reading ranges known to be equal).
pub struct Pair<'a> {
    pub src_a: &'a Source<'a>,
    pub src_b: &'a Source<'a>,
    pub diff: &'a ByteDiff,
}

impl Pair<'_> {
    /// Whether [a, a+len) of A holds the same bytes as [b, b+len) of B.
    fn same_bytes(&self, a: u64, b: u64, len: u64) -> PResult<bool> {
        if a == b {
            if let Some(eq) = self.diff.range_is_equal(a, a + len) {
                return Ok(eq);
            }
        }
        let mut done = 0;
        while done < len {
            let n = (len - done).min(READ_STEP);
            if self.src_a.read(a + done, n)? != self.src_b.read(b + done, n)? {
                return Ok(false);
            }
            done += n;
        }
        Ok(true)
    }
}

/// Compares the ISO trees and every SquashFS present at the same path in both images.
pub fn summarize(pair: &Pair, a: &ImageLayout, b: &ImageLayout) -> Vec<ScopeSummary> {
    let mut out = Vec::new();
    if a.format == "iso9660" && b.format == "iso9660" {
        out.push(compare_iso(pair, a.iso_files(), b.iso_files()));
    }
    let sq_b = b.squashfs();
    for (path, la) in a.squashfs() {
        if let Some((_, lb)) = sq_b.iter().find(|(p, _)| *p == path) {
            let scope = if path.is_empty() { b"/".to_vec() } else { path };
            out.push(compare_squashfs(pair, scope, la, lb));
        }
    }
    out
}

fn compare_iso(pair: &Pair, a: &[IsoFile], b: &[IsoFile]) -> ScopeSummary {
    let mut s = ScopeSummary::new(b"/".to_vec(), "iso9660");
    let ma: BTreeMap<&[u8], &IsoFile> = a.iter().map(|f| (f.path.as_slice(), f)).collect();
    let mb: BTreeMap<&[u8], &IsoFile> = b.iter().map(|f| (f.path.as_slice(), f)).collect();
    for (path, fa) in &ma {
        let Some(fb) = mb.get(path) else {
            s.only_in_official.push(path);
            continue;
        };
        s.entries_compared += 1;
        let (x, y) = (&fa.meta, &fb.meta);
        let mut fields = Vec::new();
        for (differs, name) in [
            (x.is_dir != y.is_dir, "type"),
            (x.mode != y.mode, "mode"),
            (x.uid != y.uid, "uid"),
            (x.gid != y.gid, "gid"),
            (x.date != y.date, "recording date"),
            (x.times != y.times, "Rock Ridge timestamps"),
            (x.symlink != y.symlink, "symlink target"),
        ] {
            if differs {
                fields.push(name);
            }
        }
        s.meta(path, fields);
        if x.is_dir || y.is_dir {
            continue;
        }
        match iso_content_equal(pair, fa, fb) {
            Ok(true) => {}
            Ok(false) => s.content_differs.push(path),
            Err(_) => s.not_compared.push(path),
        }
    }
    for path in mb.keys().filter(|p| !ma.contains_key(*p)) {
        s.only_in_rebuilt.push(path);
    }
    s
}

fn iso_content_equal(pair: &Pair, a: &IsoFile, b: &IsoFile) -> PResult<bool> {
    if a.size != b.size {
        return Ok(false);
    }
    // Walk both extent lists in step (they may be cut differently).
    let (mut i, mut j, mut oi, mut oj) = (0usize, 0usize, 0u64, 0u64);
    while i < a.extents.len() && j < b.extents.len() {
        let (sa, la) = a.extents[i];
        let (sb, lb) = b.extents[j];
        let n = (la - oi).min(lb - oj);
        if n > 0 && !pair.same_bytes(sa + oi, sb + oj, n)? {
            return Ok(false);
        }
        oi += n;
        oj += n;
        if oi == la {
            i += 1;
            oi = 0;
        }
        if oj == lb {
            j += 1;
            oj = 0;
        }
    }
    Ok(true)
}

/// Decompressed fragment blocks, a few at a time, per image.
struct FragCache<'a> {
    layout: &'a SquashLayout,
    src: &'a Source<'a>,
    blocks: HashMap<u32, Vec<u8>>,
}

impl FragCache<'_> {
    fn tail(&mut self, f: &SqFile) -> PResult<Vec<u8>> {
        let Some((index, offset)) = f.fragment else {
            return Ok(Vec::new());
        };
        let tail_len = (f.size % u64::from(self.layout.sb.block_size)) as usize;
        if !self.blocks.contains_key(&index) {
            let &(start, word) = self.layout.fragments.get(index as usize).ok_or_else(|| {
                super::source::ParseError(format!("fragment {index} not in the table"))
            })?;
            let block = self
                .layout
                .read_data_block(self.src, self.layout.base + start, word)?;
            if self.blocks.len() >= FRAGMENT_CACHE {
                self.blocks.clear();
            }
            self.blocks.insert(index, block);
        }
        let block = &self.blocks[&index];
        let start = offset as usize;
        block
            .get(start..start + tail_len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                super::source::ParseError("fragment tail past the fragment block".into())
            })
    }
}

fn compare_squashfs(
    pair: &Pair,
    scope: Vec<u8>,
    la: &SquashLayout,
    lb: &SquashLayout,
) -> ScopeSummary {
    let mut s = ScopeSummary::new(scope, "squashfs");
    let ma: BTreeMap<&[u8], &SqFile> = la.files.iter().map(|f| (f.path.as_slice(), f)).collect();
    let mb: BTreeMap<&[u8], &SqFile> = lb.files.iter().map(|f| (f.path.as_slice(), f)).collect();
    let mut ca = FragCache {
        layout: la,
        src: pair.src_a,
        blocks: HashMap::new(),
    };
    let mut cb = FragCache {
        layout: lb,
        src: pair.src_b,
        blocks: HashMap::new(),
    };
    for (path, fa) in &ma {
        let Some(fb) = mb.get(path) else {
            s.only_in_official.push(path);
            continue;
        };
        s.entries_compared += 1;
        let mut fields = Vec::new();
        for (differs, name) in [
            (fa.kind != fb.kind, "type"),
            (fa.mode != fb.mode, "mode"),
            (fa.uid != fb.uid, "uid"),
            (fa.gid != fb.gid, "gid"),
            (fa.mtime != fb.mtime, "mtime"),
            (fa.symlink != fb.symlink, "symlink target"),
            (fa.rdev != fb.rdev, "device number"),
            (fa.kind == 1 && fa.nlink != fb.nlink, "link count"),
        ] {
            if differs {
                fields.push(name);
            }
        }
        s.meta(path, fields);
        if fa.kind != 2 || fb.kind != 2 {
            continue;
        }
        match sq_content(pair, la, lb, fa, fb, &mut ca, &mut cb) {
            Ok(Same::Stored) => {}
            Ok(Same::Content) => s.stored_differs_only.push(path),
            Ok(Same::No) => s.content_differs.push(path),
            Err(_) => s.not_compared.push(path),
        }
    }
    for path in mb.keys().filter(|p| !ma.contains_key(*p)) {
        s.only_in_rebuilt.push(path);
    }
    s
}

enum Same {
    /// Same stored bytes.
    Stored,
    /// Different stored bytes, same content once decompressed.
    Content,
    No,
}

fn sq_content(
    pair: &Pair,
    la: &SquashLayout,
    lb: &SquashLayout,
    fa: &SqFile,
    fb: &SqFile,
    ca: &mut FragCache,
    cb: &mut FragCache,
) -> PResult<Same> {
    if fa.size != fb.size {
        return Ok(Same::No);
    }
    let same_layout = la.sb.block_size == lb.sb.block_size
        && fa.blocks == fb.blocks
        && fa.fragment.is_some() == fb.fragment.is_some();
    let mut stored_same = same_layout
        && pair.same_bytes(
            la.base + fa.blocks_start,
            lb.base + fb.blocks_start,
            fa.stored_len(),
        )?;
    if stored_same {
        if let (Some((ia, oa)), Some((ib, ob))) = (fa.fragment, fb.fragment) {
            let ea = la.fragments.get(ia as usize);
            let eb = lb.fragments.get(ib as usize);
            stored_same = match (ea, eb) {
                (Some(&(sa, wa)), Some(&(sb, wb))) if wa == wb && oa == ob => {
                    let len = u64::from(wa & !(1 << 24));
                    pair.same_bytes(la.base + sa, lb.base + sb, len)?
                }
                _ => false,
            };
        }
    }
    if stored_same {
        return Ok(Same::Stored);
    }
    // Stored bytes differ: a block that does not decompress on either side means the
    // content cannot be the same as the other side's readable one.
    Ok(decompressed_equal(la, lb, fa, fb, pair, ca, cb).unwrap_or(Same::No))
}

fn decompressed_equal(
    la: &SquashLayout,
    lb: &SquashLayout,
    fa: &SqFile,
    fb: &SqFile,
    pair: &Pair,
    ca: &mut FragCache,
    cb: &mut FragCache,
) -> PResult<Same> {
    // Decompress both, block by block (their block sizes may differ: compare in bytes).
    let mut sa = Stream::new(la, pair.src_a, fa);
    let mut sb = Stream::new(lb, pair.src_b, fb);
    let (mut buf_a, mut buf_b) = (Vec::new(), Vec::new());
    loop {
        if buf_a.is_empty() {
            buf_a = sa.next_chunk(ca)?.unwrap_or_default();
        }
        if buf_b.is_empty() {
            buf_b = sb.next_chunk(cb)?.unwrap_or_default();
        }
        if buf_a.is_empty() || buf_b.is_empty() {
            return Ok(if buf_a.is_empty() && buf_b.is_empty() {
                Same::Content
            } else {
                Same::No
            });
        }
        let n = buf_a.len().min(buf_b.len());
        if buf_a[..n] != buf_b[..n] {
            return Ok(Same::No);
        }
        buf_a.drain(..n);
        buf_b.drain(..n);
    }
}

/// The content of a SquashFS file, one decompressed block at a time, then its tail.
pub struct Stream<'a> {
    layout: &'a SquashLayout,
    src: &'a Source<'a>,
    file: &'a SqFile,
    runs: Vec<(u64, u32)>,
    next: usize,
    pos: u64,
    tail_done: bool,
}

impl<'a> Stream<'a> {
    pub fn new(layout: &'a SquashLayout, src: &'a Source<'a>, file: &'a SqFile) -> Self {
        Stream {
            layout,
            src,
            file,
            runs: layout.block_runs(file),
            next: 0,
            pos: 0,
            tail_done: false,
        }
    }

    fn next_chunk(&mut self, cache: &mut FragCache) -> PResult<Option<Vec<u8>>> {
        if let Some(&(at, word)) = self.runs.get(self.next) {
            self.next += 1;
            let mut b = self.layout.read_data_block(self.src, at, word)?;
            let want = (self.file.size - self.pos).min(u64::from(self.layout.sb.block_size));
            b.truncate(want as usize);
            self.pos += b.len() as u64;
            return Ok(Some(b));
        }
        if !self.tail_done {
            self.tail_done = true;
            let t = cache.tail(self.file)?;
            if !t.is_empty() {
                self.pos += t.len() as u64;
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Writes the whole content to `out`, refusing more than `limit` bytes.
    pub fn copy_to(mut self, out: &mut impl std::io::Write, limit: u64) -> PResult<u64> {
        if self.file.size > limit {
            return super::source::bad(format!("file larger than {limit} bytes"));
        }
        let mut cache = FragCache {
            layout: self.layout,
            src: self.src,
            blocks: HashMap::new(),
        };
        while let Some(chunk) = self.next_chunk(&mut cache)? {
            out.write_all(&chunk)
                .map_err(|e| super::source::ParseError(format!("write: {e}")))?;
        }
        Ok(self.pos)
    }
}
