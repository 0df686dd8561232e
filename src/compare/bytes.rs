//! The byte-for-byte pass: two files streamed side by side in large blocks.
//!
//! Memory is a handful of [`CHUNK`]-sized buffers whatever the file sizes. Equal blocks
//! are skipped with one slice comparison (memcmp, vectorised by libc); only blocks that
//! differ are scanned word by word to find where.
//!
//! **Region rule.** Differing bytes separated by fewer than [`MERGE_GAP`] equal bytes
//! belong to the same region: a changed timestamp or a recompressed block shows as one
//! region, not as dozens of one-byte ones. A region starts at a differing byte and ends
//! after the last differing byte it holds; `differing_bytes` counts the bytes inside it
//! that actually differ. When the sizes differ, the tail of the longer file (past the end
//! of the shorter one) is one more region, marked `beyond_end`.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel};

/// Size of each read: large enough that syscalls cost little, small enough that a buffer
/// just filled by the kernel is still in the CPU cache when it is compared (measured:
/// 4 MiB reads cost twice the system time of 256 KiB ones on 1 GiB files).
pub const CHUNK: usize = 128 << 10;

/// Buffers in flight between the reader thread and the comparing one.
const POOL: usize = 2;

/// Equal runs shorter than this do not split a region (documented in docs/report.md).
pub const MERGE_GAP: u64 = 64;

/// How many regions are kept in memory for the later passes (content summary). Past this
/// the list is marked as overflowing and those passes read the images instead.
pub const KEPT_REGIONS: usize = 1 << 20;

/// One run of differences, in image offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRegion {
    pub start: u64,
    pub len: u64,
    pub differing: u64,
    /// Past the end of the shorter file.
    pub beyond_end: bool,
}

impl RawRegion {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// The result of the byte pass.
#[derive(Debug, Clone, Default)]
pub struct ByteDiff {
    pub size_a: u64,
    pub size_b: u64,
    /// Offset of the first difference and the byte of each file there (`None` past its end).
    pub first: Option<(u64, Option<u8>, Option<u8>)>,
    /// The first [`KEPT_REGIONS`] regions, in offset order.
    pub regions: Vec<RawRegion>,
    /// How many regions there are in all.
    pub regions_total: u64,
    /// Differing bytes within the common length (the size difference is not counted).
    pub differing_bytes: u64,
    /// True when `regions` holds fewer than `regions_total`.
    pub overflow: bool,
}

impl ByteDiff {
    pub fn identical(&self) -> bool {
        self.first.is_none()
    }

    /// Whether the kept regions cover [start, end) with no difference; `None` when the
    /// region list overflowed and the answer is unknown.
    pub fn range_is_equal(&self, start: u64, end: u64) -> Option<bool> {
        if start >= end {
            return Some(true);
        }
        // First region whose end is past `start`.
        let i = self.regions.partition_point(|r| r.end() <= start);
        match self.regions.get(i) {
            Some(r) if r.start < end => Some(false),
            _ if self.overflow => None,
            _ => Some(true),
        }
    }
}

/// Collects differing spans into merged regions.
struct Regions {
    cur: Option<RawRegion>,
    out: Vec<RawRegion>,
    total: u64,
    overflow: bool,
}

impl Regions {
    fn new() -> Self {
        Regions {
            cur: None,
            out: Vec::new(),
            total: 0,
            overflow: false,
        }
    }

    /// A span [pos, pos+len) whose first and last bytes differ, holding `count` differing bytes.
    fn add(&mut self, pos: u64, len: u64, count: u64) {
        if let Some(cur) = &mut self.cur {
            if pos.saturating_sub(cur.end()) < MERGE_GAP {
                cur.len = pos + len - cur.start;
                cur.differing += count;
                return;
            }
        }
        self.flush();
        self.cur = Some(RawRegion {
            start: pos,
            len,
            differing: count,
            beyond_end: false,
        });
    }

    fn flush(&mut self) {
        if let Some(r) = self.cur.take() {
            self.push(r);
        }
    }

    fn push(&mut self, r: RawRegion) {
        self.total += 1;
        if self.out.len() < KEPT_REGIONS {
            self.out.push(r);
        } else {
            self.overflow = true;
        }
    }
}

/// Number of non-zero bytes in a word (the XOR of two words: how many bytes differ).
fn nonzero_bytes(x: u64) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Each byte's top bit ends up set iff the byte was non-zero.
    ((((x & LOW7) + LOW7) | x) & HIGH).count_ones()
}

/// Scans two equal-length blocks that are known (or suspected) to differ.
fn scan_block(a: &[u8], b: &[u8], base: u64, regions: &mut Regions, diff: &mut ByteDiff) {
    const SUB: usize = 4096;
    let mut off = 0usize;
    for (sa, sb) in a.chunks(SUB).zip(b.chunks(SUB)) {
        if sa != sb {
            scan_words(sa, sb, base + off as u64, regions, diff);
        }
        off += sa.len();
    }
}

fn scan_words(a: &[u8], b: &[u8], base: u64, regions: &mut Regions, diff: &mut ByteDiff) {
    let words = a.len() / 8;
    for i in 0..words {
        let wa = u64::from_le_bytes(a[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let wb = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let x = wa ^ wb;
        if x == 0 {
            continue;
        }
        // Little-endian load: the lowest differing byte is the first in memory.
        let first = (x.trailing_zeros() / 8) as usize;
        let last = 7 - (x.leading_zeros() / 8) as usize;
        let pos = base + (i * 8 + first) as u64;
        note_first(diff, pos, a[i * 8 + first], b[i * 8 + first]);
        let count = u64::from(nonzero_bytes(x));
        diff.differing_bytes += count;
        regions.add(pos, (last - first + 1) as u64, count);
    }
    for j in words * 8..a.len() {
        if a[j] != b[j] {
            let pos = base + j as u64;
            note_first(diff, pos, a[j], b[j]);
            diff.differing_bytes += 1;
            regions.add(pos, 1, 1);
        }
    }
}

fn note_first(diff: &mut ByteDiff, pos: u64, a: u8, b: u8) {
    if diff.first.is_none() {
        diff.first = Some((pos, Some(a), Some(b)));
    }
}

/// Reads until `buf` is full or the end of the file; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Which of the two inputs an I/O error came from.
#[derive(Debug)]
pub enum Side {
    A,
    B,
}

/// Compares two files: mapped in memory when both are non-empty regular files (no copy
/// out of the page cache, which is most of the cost of reading), otherwise read in chunks
/// with the second file read by a helper thread so the reads overlap.
///
/// The mapping assumes the files are not truncated while they are compared (a truncation
/// would kill the process with SIGBUS): the pipeline compares files it owns, in its cache
/// and work directory.
pub fn diff_files(a: &Path, b: &Path) -> Result<ByteDiff, (Side, io::Error)> {
    let mut fa = File::open(a).map_err(|e| (Side::A, e))?;
    let fb = File::open(b).map_err(|e| (Side::B, e))?;
    let ma = fa.metadata().map_err(|e| (Side::A, e))?;
    let mb = fb.metadata().map_err(|e| (Side::B, e))?;
    let (size_a, size_b) = (ma.len(), mb.len());
    if ma.is_file() && (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
        // The same file under two names (as cmp, answer without reading it).
        return Ok(ByteDiff {
            size_a,
            size_b,
            ..ByteDiff::default()
        });
    }
    if ma.is_file() && mb.is_file() && size_a > 0 && size_b > 0 {
        if let Some(d) = diff_mapped(&fa, &fb, size_a, size_b) {
            return Ok(d);
        }
    }
    diff_readers(&mut fa, fb, size_a, size_b)
}

/// Bytes of each file mapped at a time: the resident set stays small whatever the size.
const WINDOW: u64 = 16 << 20;

/// The byte pass over both files mapped window by window; `None` if mapping fails. The
/// two halves are compared on two threads and their results joined.
fn diff_mapped(fa: &File, fb: &File, size_a: u64, size_b: u64) -> Option<ByteDiff> {
    let common = size_a.min(size_b);
    let mid = (common / 2).div_ceil(WINDOW) * WINDOW;
    let (first, second) = std::thread::scope(|s| {
        let h = s.spawn(|| diff_mapped_range(fa, fb, mid.min(common), common));
        let first = diff_mapped_range(fa, fb, 0, mid.min(common));
        (first, h.join().ok().flatten())
    });
    let (mut d1, mut r1) = first?;
    let (d2, r2) = second?;
    // Join: the second half's first region may continue the first half's last one.
    let mut out = std::mem::take(&mut r1.out);
    let mut total = r1.total + r2.total;
    let mut rest = r2.out.into_iter();
    if let (Some(last), Some(next)) = (out.last_mut(), rest.as_slice().first()) {
        if !r1.overflow && next.start - last.end() < MERGE_GAP {
            last.len = next.end() - last.start;
            last.differing += next.differing;
            total -= 1;
            rest.next();
        }
    }
    out.extend(rest);
    let overflow = r1.overflow || r2.overflow || out.len() > KEPT_REGIONS;
    out.truncate(KEPT_REGIONS);
    let regions = Regions {
        cur: None,
        out,
        total,
        overflow,
    };
    d1.first = d1.first.or(d2.first);
    d1.differing_bytes += d2.differing_bytes;
    d1.size_a = size_a;
    d1.size_b = size_b;
    let byte_at = |f: &File, size: u64| {
        let mut b = [0u8; 1];
        (size > common && f.read_exact_at(&mut b, common).is_ok()).then_some(b[0])
    };
    let (ta, tb) = (byte_at(fa, size_a), byte_at(fb, size_b));
    Some(finish(d1, regions, ta, tb))
}

/// One thread's share of [`diff_mapped`]: [start, end) of both files.
fn diff_mapped_range(fa: &File, fb: &File, start: u64, end: u64) -> Option<(ByteDiff, Regions)> {
    let mut diff = ByteDiff::default();
    let mut regions = Regions::new();
    let mut off = start;
    while off < end {
        let n = (end - off).min(WINDOW);
        let (x, y) = (map(fa, off, n)?, map(fb, off, n)?);
        scan_pair(&x, &y, off, &mut regions, &mut diff);
        off += n;
    }
    regions.flush();
    Some((diff, regions))
}

/// A read-only, sequential-access mapping of [off, off+len) of a file.
fn map(f: &File, off: u64, len: u64) -> Option<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and private to this process, and it is dropped
    // before the next window is mapped. Another process writing the file can change what
    // we read (the answer), not the bounds of the slice. A file truncated under us would
    // raise SIGBUS: `diff_files` documents that the files must not be truncated meanwhile.
    let m = unsafe {
        memmap2::MmapOptions::new()
            .offset(off)
            .len(usize::try_from(len).ok()?)
            .map(f)
    }
    .ok()?;
    let _ = m.advise(memmap2::Advice::Sequential);
    Some(m)
}

/// Compares two equal-length slices in [`CHUNK`] steps; `base` is their image offset.
fn scan_pair(a: &[u8], b: &[u8], base: u64, regions: &mut Regions, diff: &mut ByteDiff) {
    let mut off = 0usize;
    while off < a.len() {
        let n = (a.len() - off).min(CHUNK);
        let (x, y) = (&a[off..off + n], &b[off..off + n]);
        if x != y {
            scan_block(x, y, base + off as u64, regions, diff);
        }
        off += n;
    }
}

/// The byte pass over two in-memory images.
pub fn diff_slices(a: &[u8], b: &[u8]) -> ByteDiff {
    let mut diff = ByteDiff {
        size_a: a.len() as u64,
        size_b: b.len() as u64,
        ..ByteDiff::default()
    };
    let mut regions = Regions::new();
    let common = a.len().min(b.len());
    scan_pair(&a[..common], &b[..common], 0, &mut regions, &mut diff);
    regions.flush();
    finish(
        diff,
        regions,
        a.get(common).copied(),
        b.get(common).copied(),
    )
}

/// Adds the size difference (first difference and tail region) and the region list.
fn finish(
    mut diff: ByteDiff,
    mut regions: Regions,
    tail_a: Option<u8>,
    tail_b: Option<u8>,
) -> ByteDiff {
    let (len_a, len_b) = (diff.size_a, diff.size_b);
    let common = len_a.min(len_b);
    if len_a != len_b {
        if diff.first.is_none() {
            diff.first = Some((common, tail_a, tail_b));
        }
        regions.push(RawRegion {
            start: common,
            len: len_a.abs_diff(len_b),
            differing: len_a.abs_diff(len_b),
            beyond_end: true,
        });
    }
    diff.regions = regions.out;
    diff.regions_total = regions.total;
    diff.overflow = regions.overflow;
    diff
}

/// The core loop, over any two readers (files in practice; slices in tests).
pub fn diff_readers<R: Read + Send>(
    a: &mut impl Read,
    b: R,
    size_a: u64,
    size_b: u64,
) -> Result<ByteDiff, (Side, io::Error)> {
    diff_readers_chunked(a, b, size_a, size_b, CHUNK)
}

/// [`diff_readers`] with a chosen read size (tests use tiny ones to cross boundaries).
fn diff_readers_chunked<R: Read + Send>(
    a: &mut impl Read,
    mut b: R,
    size_a: u64,
    size_b: u64,
    chunk: usize,
) -> Result<ByteDiff, (Side, io::Error)> {
    let mut diff = ByteDiff {
        size_a,
        size_b,
        ..ByteDiff::default()
    };
    let mut regions = Regions::new();
    let mut offset = 0u64;
    let mut len_a = 0u64;
    let mut len_b = 0u64;
    let mut tail_a: Option<u8> = None;
    let mut tail_b: Option<u8> = None;
    std::thread::scope(|s| -> Result<(), (Side, io::Error)> {
        // Full buffers flow to us through `tx`; spent ones go back through `back`. A fixed
        // pool of buffers circulates, so nothing is allocated (or page-faulted) per read.
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(POOL);
        let (back, spent) = channel::<Vec<u8>>();
        for _ in 0..POOL {
            let _ = back.send(vec![0u8; chunk]);
        }
        s.spawn(move || {
            while let Ok(mut buf) = spent.recv() {
                buf.resize(chunk, 0);
                let res = read_full(&mut b, &mut buf).map(|n| {
                    buf.truncate(n);
                    buf
                });
                let done = !matches!(&res, Ok(v) if !v.is_empty());
                if tx.send(res).is_err() || done {
                    break;
                }
            }
        });
        let mut buf_a = vec![0u8; chunk];
        let mut pending_b: Vec<u8> = Vec::new();
        let mut pending_at = 0usize;
        let mut b_done = false;
        loop {
            let na = read_full(a, &mut buf_a).map_err(|e| (Side::A, e))?;
            len_a += na as u64;
            let mut ca = &buf_a[..na];
            // Match `ca` against as many B buffers as it takes.
            while !ca.is_empty() {
                if pending_at == pending_b.len() {
                    if b_done {
                        break;
                    }
                    let spent_buf = std::mem::take(&mut pending_b);
                    let _ = back.send(spent_buf);
                    match rx.recv() {
                        Ok(Ok(v)) if !v.is_empty() => {
                            len_b += v.len() as u64;
                            pending_b = v;
                            pending_at = 0;
                        }
                        Ok(Ok(_)) | Err(_) => {
                            b_done = true;
                            break;
                        }
                        Ok(Err(e)) => return Err((Side::B, e)),
                    }
                }
                let n = ca.len().min(pending_b.len() - pending_at);
                let (x, rest) = ca.split_at(n);
                let y = &pending_b[pending_at..pending_at + n];
                if x != y {
                    scan_block(x, y, offset, &mut regions, &mut diff);
                }
                offset += n as u64;
                pending_at += n;
                ca = rest;
            }
            if na == 0 {
                // A ended: whatever B still holds is its tail.
                if pending_at < pending_b.len() {
                    tail_b = Some(pending_b[pending_at]);
                }
                if !b_done {
                    while let Ok(res) = rx.recv() {
                        let v = res.map_err(|e| (Side::B, e))?;
                        if v.is_empty() {
                            break;
                        }
                        tail_b = tail_b.or(v.first().copied());
                        len_b += v.len() as u64;
                        let _ = back.send(v);
                    }
                }
                break;
            }
            if !ca.is_empty() {
                // B ended with A still going: A's tail starts here.
                tail_a = Some(ca[0]);
                len_a += drain_len(a).map_err(|e| (Side::A, e))?;
                break;
            }
        }
        Ok(())
    })?;
    regions.flush();
    // The files may have changed since their sizes were taken: trust what was read.
    diff.size_a = len_a;
    diff.size_b = len_b;
    let (tail_a, tail_b) = if len_a > len_b {
        (tail_a, None)
    } else {
        (None, tail_b)
    };
    Ok(finish(diff, regions, tail_a, tail_b))
}

fn drain_len(r: &mut impl Read) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(a: &[u8], b: &[u8]) -> ByteDiff {
        diff_chunked(a, b, CHUNK)
    }

    fn diff_chunked(a: &[u8], b: &[u8], chunk: usize) -> ByteDiff {
        let mut ra = a;
        diff_readers_chunked(&mut ra, b, a.len() as u64, b.len() as u64, chunk)
            .ok()
            .unwrap()
    }

    /// A slow, obviously right reference for the region rule.
    fn reference(a: &[u8], b: &[u8]) -> (u64, Vec<(u64, u64, u64)>) {
        let mut regions: Vec<(u64, u64, u64)> = Vec::new();
        let mut count = 0;
        for i in 0..a.len().min(b.len()) {
            if a[i] != b[i] {
                count += 1;
                let i = i as u64;
                match regions.last_mut() {
                    Some((s, l, c)) if i - (*s + *l) < MERGE_GAP => {
                        *l = i + 1 - *s;
                        *c += 1;
                    }
                    _ => regions.push((i, 1, 1)),
                }
            }
        }
        (count, regions)
    }

    #[test]
    fn nonzero_byte_count() {
        assert_eq!(nonzero_bytes(0), 0);
        assert_eq!(nonzero_bytes(u64::MAX), 8);
        assert_eq!(nonzero_bytes(0x0100_0000_0000_0080), 2);
        assert_eq!(nonzero_bytes(0x8000_0000_0000_0001), 2);
    }

    #[test]
    fn identical_and_empty() {
        assert!(diff(b"", b"").identical());
        let d = diff(&[7u8; 10000], &[7u8; 10000]);
        assert!(d.identical());
        assert_eq!(d.regions_total, 0);
    }

    #[test]
    fn first_difference_and_regions_match_reference() {
        let a: Vec<u8> = (0..CHUNK * 2 + 777).map(|i| (i * 31 % 251) as u8).collect();
        let mut b = a.clone();
        for &p in &[
            5usize,
            6,
            70,
            200,
            263,
            CHUNK - 1,
            CHUNK,
            CHUNK + 100,
            2 * CHUNK + 776,
        ] {
            b[p] ^= 0x5a;
        }
        let d = diff(&a, &b);
        let (count, reference_regions) = reference(&a, &b);
        assert_eq!(d.first, Some((5, Some(a[5]), Some(b[5]))));
        assert_eq!(d.differing_bytes, count);
        let got: Vec<_> = d
            .regions
            .iter()
            .map(|r| (r.start, r.len, r.differing))
            .collect();
        assert_eq!(got, reference_regions);
        assert!(d.range_is_equal(72, 200).unwrap());
        assert!(!d.range_is_equal(0, 6).unwrap());
        assert!(!d
            .range_is_equal(CHUNK as u64 + 100, CHUNK as u64 + 101)
            .unwrap());
    }

    #[test]
    fn size_difference_is_a_region() {
        let d = diff(b"abcdef", b"abc");
        assert_eq!(d.first, Some((3, Some(b'd'), None)));
        assert_eq!(d.differing_bytes, 0);
        assert_eq!(d.regions.len(), 1);
        assert!(d.regions[0].beyond_end);
        assert_eq!((d.regions[0].start, d.regions[0].len), (3, 3));
        let d = diff(b"", b"xy");
        assert_eq!(d.first, Some((0, None, Some(b'x'))));
        assert_eq!((d.size_a, d.size_b), (0, 2));
        let big_a = vec![1u8; CHUNK + 10];
        let mut big_b = big_a.clone();
        big_b.extend_from_slice(&[9u8; CHUNK * 2]);
        let d = diff(&big_a, &big_b);
        assert_eq!(d.first, Some(((CHUNK + 10) as u64, None, Some(9))));
        assert_eq!(d.size_b, (CHUNK * 3 + 10) as u64);
    }

    #[test]
    fn mapped_halves_join_like_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let len = 40 << 20; // halves split at 32 MiB (a window boundary)
        let a: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut b = a.clone();
        let mid = 32usize << 20;
        for p in [100, mid - 10, mid + 10, mid + 5000, len - 1] {
            b[p] ^= 0x11;
        }
        b.extend_from_slice(b"tail");
        let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&pa, &a).unwrap();
        std::fs::write(&pb, &b).unwrap();
        let m = diff_files(&pa, &pb).ok().unwrap();
        let d = diff_slices(&a, &b);
        assert_eq!(m.regions, d.regions);
        assert_eq!((m.first, m.regions_total), (d.first, d.regions_total));
        assert_eq!(
            (m.differing_bytes, m.size_a, m.size_b),
            (d.differing_bytes, d.size_a, d.size_b)
        );
        // The two bytes around the split are one region.
        assert_eq!(d.regions[1].start, (mid - 10) as u64);
        assert_eq!(d.regions[1].len, 21);
        assert_eq!(d.regions_total, 5);
    }

    proptest::proptest! {
        #[test]
        fn matches_reference(a in proptest::collection::vec(0u8..4, 0..3000),
                             flips in proptest::collection::vec((0usize..3000, 1u8..255), 0..40),
                             extra in 0usize..20, chunk in 1usize..700) {
            let mut b = a.clone();
            for (p, x) in flips { if p < b.len() { b[p] ^= x; } }
            b.extend(std::iter::repeat_n(3u8, extra));
            let d = diff_chunked(&a, &b, chunk);
            let (count, reference_regions) = reference(&a, &b);
            proptest::prop_assert_eq!(d.differing_bytes, count);
            proptest::prop_assert_eq!(d.size_b, b.len() as u64);
            let got: Vec<_> = d.regions.iter().filter(|r| !r.beyond_end).map(|r| (r.start, r.len, r.differing)).collect();
            proptest::prop_assert_eq!(got, reference_regions);
            proptest::prop_assert_eq!(d.identical(), a == b);
            // The mapped-file path gives the same answer as the streaming one.
            let m = diff_slices(&a, &b);
            proptest::prop_assert_eq!(m.first, d.first);
            proptest::prop_assert_eq!(&m.regions, &d.regions);
            proptest::prop_assert_eq!((m.differing_bytes, m.size_a, m.size_b), (d.differing_bytes, d.size_a, d.size_b));
        }
    }
}
