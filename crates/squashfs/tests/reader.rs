//! The reader, checked against Debian's unsquashfs and rdsquashfs on images made by
//! mksquashfs itself, and against the source files.
mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use common::*;
use squashfs::read::{Image, Kind, Location, RegionKind};
use squashfs::Compression;

fn tool(cmd: &mut Command, name: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed for this test (apt-get install squashfs-tools squashfs-tools-ng): {e}"));
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sample_tree(p: &Path) {
    write(&p.join("a/small"), b"small file\n");
    write(&p.join("a/text"), &text(300_000, 1));
    write(&p.join("a/noise"), &noise(5000, 2));
    write(&p.join("b/dup"), &text(300_000, 1));
    let mut mixed = text(10_000, 3);
    mixed.extend(vec![0u8; 4096 * 3]);
    mixed.extend(text(100, 4));
    write(&p.join("b/mixed"), &mixed);
    write(&p.join("b/empty"), b"");
    write(&p.join("c/zeros"), &[0u8; 500]);
    fs::hard_link(p.join("a/small"), p.join("c/small_link")).unwrap();
    std::os::unix::fs::symlink("../a/text", p.join("c/sym")).unwrap();
    for i in 0..40 {
        write(&p.join(format!("d/f{i:02}")), &text(100 + i * 50, i as u64));
    }
}

fn perms(kind: Kind, mode: u16) -> String {
    let t = match kind {
        Kind::Dir => 'd',
        Kind::File => '-',
        Kind::Symlink => 'l',
        Kind::BlockDev => 'b',
        Kind::CharDev => 'c',
        Kind::Fifo => 'p',
        Kind::Socket => 's',
    };
    let mut s = String::from(t);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let special = match shift {
            6 => mode & 0o4000 != 0,
            3 => mode & 0o2000 != 0,
            _ => mode & 0o1000 != 0,
        };
        let x = bits & 1 != 0;
        s.push(match (special, x, shift) {
            (true, true, 0) => 't',
            (true, false, 0) => 'T',
            (true, true, _) => 's',
            (true, false, _) => 'S',
            (false, true, _) => 'x',
            (false, false, _) => '-',
        });
    }
    s
}

#[test]
fn listing_matches_unsquashfs_and_rdsquashfs() {
    let d = tempfile::tempdir().unwrap();
    sample_tree(d.path());
    for comp in [Compression::Gzip, Compression::Xz] {
        let img = oracle(d.path(), comp, 4096);
        let out = tempfile::tempdir().unwrap();
        let img_path = out.path().join("img.sqfs");
        fs::write(&img_path, &img).unwrap();

        let image = Image::open(Cursor::new(img.clone())).unwrap();
        let entries = image.entries().unwrap();

        // unsquashfs -lln: permissions, owner, size and path of every entry, in order
        let listing = tool(
            Command::new("unsquashfs").arg("-lln").arg(&img_path),
            "unsquashfs",
        );
        let theirs: Vec<(String, String)> = listing
            .lines()
            .filter(|l| l.contains("squashfs-root"))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let path = f[5].trim_start_matches("squashfs-root").to_string();
                let path = if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                };
                (path, format!("{} {} {}", f[0], f[1], f[2]))
            })
            .collect();
        let ours: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e.path.clone(),
                    format!(
                        "{} {}/{} {}",
                        perms(e.inode.kind, e.inode.mode),
                        e.inode.uid,
                        e.inode.gid,
                        e.inode.size
                    ),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{} listing", comp.name());

        // rdsquashfs -s: inode details of each regular file
        for e in entries.iter().filter(|e| e.inode.kind == Kind::File) {
            let stat = tool(
                Command::new("rdsquashfs")
                    .arg("-s")
                    .arg(&e.path)
                    .arg(&img_path),
                "rdsquashfs",
            );
            let field = |name: &str| -> String {
                stat.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_else(|| panic!("no {name} in {stat}"))
                    .to_string()
            };
            let num = |s: String| -> u64 {
                match s.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).unwrap(),
                    None => s.parse().unwrap(),
                }
            };
            let i = &e.inode;
            assert_eq!(num(field("Inode number")), i.number as u64, "{}", e.path);
            // basic file inodes have no link count (it is 1)
            let nlink = stat
                .lines()
                .find_map(|l| l.strip_prefix("Hard link count: "));
            assert_eq!(
                nlink.map(|n| n.parse().unwrap()).unwrap_or(1u32),
                i.nlink,
                "{}",
                e.path
            );
            assert_eq!(num(field("File size")), i.size, "{}", e.path);
            let frag = num(field("Fragment index"));
            match &i.fragment {
                Some(f) => {
                    assert_eq!(frag, f.index as u64, "{}", e.path);
                    assert_eq!(num(field("Fragment offset")), f.offset as u64, "{}", e.path);
                }
                None => assert_eq!(frag, 0xffff_ffff, "{}", e.path),
            }
            assert_eq!(
                num(field("Block count")),
                i.blocks.len() as u64,
                "{}",
                e.path
            );
            if let Some(b) = i.blocks.first() {
                assert_eq!(num(field("Blocks start")), b.offset, "{}", e.path);
            }
            let sizes: Vec<String> = stat
                .lines()
                .filter(|l| l.trim_start().starts_with("Block #"))
                .map(|l| l.split(": ").nth(1).unwrap().to_string())
                .collect();
            let mine: Vec<String> = i
                .blocks
                .iter()
                .map(|b| {
                    if b.is_sparse() {
                        "0 (compressed)".to_string()
                    } else {
                        format!(
                            "{} ({})",
                            b.stored_size,
                            if b.compressed {
                                "compressed"
                            } else {
                                "uncompressed"
                            }
                        )
                    }
                })
                .collect();
            assert_eq!(mine, sizes, "{} blocks", e.path);
        }
    }
}

#[test]
fn contents_and_locations() {
    let d = tempfile::tempdir().unwrap();
    sample_tree(d.path());
    let img = oracle(d.path(), Compression::Xz, 4096);
    let mut image = Image::open(Cursor::new(img.clone())).unwrap();
    let entries = image.entries().unwrap();

    // every file reads back as its source
    for e in entries.iter().filter(|e| e.inode.kind == Kind::File) {
        let mut buf = Vec::new();
        image.read_file(&e.inode, &mut buf, 1 << 30).unwrap();
        assert_eq!(
            buf,
            fs::read(d.path().join(&e.path[1..])).unwrap(),
            "{}",
            e.path
        );
    }

    // the regions tile the image without gaps or overlaps
    let regions = image.regions().to_vec();
    assert_eq!(regions[0].start, 0);
    for w in regions.windows(2) {
        assert_eq!(w[0].end, w[1].start, "{:?} then {:?}", w[0], w[1]);
    }
    assert_eq!(regions.last().unwrap().end, img.len() as u64);
    assert_eq!(regions.last().unwrap().kind, RegionKind::Padding);

    // offsets map back to files, fragments and tables
    let map = image.data_map(&entries);
    let text = entries.iter().find(|e| e.path == "/a/text").unwrap();
    let b1 = &text.inode.blocks[1];
    match map.locate(b1.offset + 5) {
        Location::FileBlock {
            path,
            block,
            file_offset,
            offset_in_block,
            ..
        } => {
            assert!(path == "/a/text" || path == "/b/dup", "{path}");
            assert_eq!((block, file_offset, offset_in_block), (1, 4096, 5));
        }
        other => panic!("{other:?}"),
    }
    let small = entries.iter().find(|e| e.path == "/a/small").unwrap();
    let f = small.inode.fragment.as_ref().unwrap();
    let start = image.fragments[f.index as usize].start;
    match map.locate(start) {
        Location::FragmentBlock { index, files, .. } => {
            assert_eq!(index, f.index);
            assert!(
                files.contains(&"/a/small".to_string())
                    && files.contains(&"/c/small_link".to_string())
            );
        }
        other => panic!("{other:?}"),
    }
    let sb = &image.superblock;
    assert_eq!(
        map.locate(sb.inode_table_start + 1),
        Location::Region {
            kind: RegionKind::InodeTable,
            offset_in_region: 1
        }
    );
    assert_eq!(
        map.locate(3),
        Location::Region {
            kind: RegionKind::Superblock,
            offset_in_region: 3
        }
    );
    assert_eq!(map.locate(img.len() as u64), Location::PastEnd);
    // the export table maps every inode number to its inode
    let export = image.export.clone().unwrap();
    for e in &entries {
        assert_eq!(
            export[e.inode.number as usize - 1],
            e.inode.reference,
            "{}",
            e.path
        );
    }
}

#[test]
fn refuses_what_is_not_squashfs() {
    assert!(Image::open(Cursor::new(vec![0u8; 10])).is_err());
    assert!(Image::open(Cursor::new(vec![0u8; 4096])).is_err());
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("f"), b"x");
    let mut img = ours(d.path(), Compression::Gzip, 131072, 1);
    img.truncate(200);
    assert!(Image::open(Cursor::new(img)).is_err());
}

#[test]
fn reads_our_own_images_like_mksquashfs_ones() {
    let d = tempfile::tempdir().unwrap();
    sample_tree(d.path());
    let a = Image::open(Cursor::new(oracle(d.path(), Compression::Gzip, 131072))).unwrap();
    let b = Image::open(Cursor::new(ours(d.path(), Compression::Gzip, 131072, 2))).unwrap();
    let ea: HashMap<String, _> = a
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.path, e.inode))
        .collect();
    let eb: HashMap<String, _> = b
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.path, e.inode))
        .collect();
    assert_eq!(ea, eb);
}
