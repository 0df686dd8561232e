//! Shared helpers: build a tree with mksquashfs (the oracle) and with our writer.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use squashfs::{Compression, Options, Superblock};

pub const EPOCH: u32 = 1_700_000_000;

/// Runs Debian's mksquashfs; fails the test with a clear message when it is missing.
pub fn oracle(dir: &Path, comp: Compression, block_size: u32) -> Vec<u8> {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("oracle.sqfs");
    let res = Command::new("mksquashfs")
        .arg(dir)
        .arg(&out)
        .args([
            "-noappend",
            "-all-root",
            "-no-xattrs",
            "-quiet",
            "-no-progress",
        ])
        .args(["-comp", comp.name()])
        .args(["-b", &block_size.to_string()])
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .output();
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            panic!("mksquashfs is needed for this test (apt-get install squashfs-tools): {e}")
        }
    };
    assert!(
        res.status.success(),
        "mksquashfs failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    std::fs::read(&out).unwrap()
}

/// The tree as our writer sees it for the oracle's flags (`-all-root`).
pub fn scan(dir: &Path) -> fstree::Tree {
    let mut tree = fstree::Tree::scan(dir).unwrap();
    for n in &mut tree.nodes {
        n.uid = 0;
        n.gid = 0;
    }
    tree
}

pub fn ours(dir: &Path, comp: Compression, block_size: u32, threads: usize) -> Vec<u8> {
    let tree = scan(dir);
    let opts = Options {
        compression: comp,
        block_size,
        mkfs_time: EPOCH,
        threads,
    };
    let mut out = Cursor::new(Vec::new());
    let summary = squashfs::write(&tree, &mut out, &opts, &mut |_, _| {}).unwrap();
    let bytes = out.into_inner();
    assert_eq!(summary.image_size, bytes.len() as u64);
    bytes
}

fn table_hint(img: &[u8], off: usize) -> String {
    if img.len() < 96 {
        return "image shorter than a superblock".into();
    }
    let sb = Superblock::decode(img[..96].try_into().unwrap());
    let mut spots = [
        ("superblock", 0u64),
        ("data", 96),
        ("inode table", sb.inode_table_start),
        ("directory table", sb.directory_table_start),
        ("fragment table (blocks)", sb.fragment_table_start),
        ("export table", sb.lookup_table_start),
        ("id table", sb.id_table_start),
        ("padding", sb.bytes_used),
    ];
    spots.sort_by_key(|s| s.1);
    let within = spots
        .iter()
        .rfind(|s| s.1 <= off as u64)
        .map(|s| s.0)
        .unwrap_or("?");
    format!("{within} (oracle superblock: {sb:?})")
}

/// Asserts byte identity, explaining the first difference.
pub fn assert_same(what: &str, oracle: &[u8], ours: &[u8]) {
    if oracle == ours {
        return;
    }
    let keep = std::env::temp_dir().join(format!(
        "squashfs-mismatch-{}",
        what.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let _ = std::fs::write(keep.with_extension("oracle"), oracle);
    let _ = std::fs::write(keep.with_extension("ours"), ours);
    let first = oracle
        .iter()
        .zip(ours)
        .position(|(a, b)| a != b)
        .unwrap_or(oracle.len().min(ours.len()));
    panic!(
        "{what}: images differ; oracle {} bytes, ours {} bytes, first difference at offset {first} \
         (oracle {:?}, ours {:?}), in the oracle's {}; both kept as {}.{{oracle,ours}}",
        oracle.len(),
        ours.len(),
        oracle.get(first),
        ours.get(first),
        table_hint(oracle, first),
        keep.display()
    );
}

pub fn check(dir: &Path, comp: Compression, block_size: u32, threads: usize) {
    let a = oracle(dir, comp, block_size);
    let b = ours(dir, comp, block_size, threads);
    assert_same(&format!("{} -b {block_size}", comp.name()), &a, &b);
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, data).unwrap();
}

/// Deterministic pseudo-random bytes (xorshift), compressible to a chosen degree.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Text-like bytes that compress well.
pub fn text(len: usize, seed: u64) -> Vec<u8> {
    let words = ["alpha ", "beta ", "gamma\n", "delta ", "epsilon ", "zeta\t"];
    let mut out = Vec::with_capacity(len);
    let mut i = seed as usize;
    while out.len() < len {
        out.extend_from_slice(words[i % words.len()].as_bytes());
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out.truncate(len);
    out
}
