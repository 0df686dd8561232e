//! The compare stage on images made by Debian's own tools (xorriso, genisoimage,
//! mksquashfs), with bytes flipped at places chosen with those tools' own reports
//! (`xorriso -find -exec report_lba`, `rdsquashfs -s`, `isoinfo -d`), then through the
//! real binary for exit codes and JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use verify_release::compare::{compare_files, CompareOptions, Comparison, Place};

/// Fails (does not skip) when an oracle tool is missing: CI installs them.
fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is required (apt-get install -y xorriso squashfs-tools squashfs-tools-ng genisoimage isolinux diffoscope)"
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic, compressible bytes (a small alphabet), so blocks get compressed.
fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b"abcdefgh \n"[((x >> 33) % 10) as usize]
        })
        .collect()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The inner tree: one multi-block file, small files (fragments), a symlink.
fn make_inner(root: &Path, variant: u64) {
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("usr/lib/libfoo.so.1"), text_bytes(300_000, 1)).unwrap();
    std::fs::write(root.join("etc/a.conf"), b"alpha=1\n").unwrap();
    std::fs::write(root.join("etc/b.conf"), text_bytes(900, 2 + variant)).unwrap();
    std::fs::write(root.join("etc/c.conf"), b"gamma=3\n").unwrap();
    std::os::unix::fs::symlink("libfoo.so.1", root.join("usr/lib/libfoo.so")).unwrap();
}

fn mksquashfs(tree: &Path, out: &Path, comp: &str) {
    require("mksquashfs");
    run(Command::new("mksquashfs")
        .arg(tree)
        .arg(out)
        .args([
            "-noappend",
            "-quiet",
            "-all-root",
            "-no-xattrs",
            "-comp",
            comp,
        ])
        .env("SOURCE_DATE_EPOCH", "1700000000"));
}

/// Debian live-build's flags: Rock Ridge, Joliet, El Torito BIOS + EFI, hybrid MBR/GPT.
fn xorriso_hybrid(tree: &Path, out: &Path) {
    require("xorriso");
    run(Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-R",
            "-r",
            "-J",
            "-joliet-long",
            "-l",
            "-cache-inodes",
        ])
        .args([
            "-iso-level",
            "3",
            "-V",
            "TEST",
            "--modification-date=2023111422132000",
        ])
        .args(["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat"])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        .args([
            "-eltorito-alt-boot",
            "-e",
            "EFI/boot/efi.img",
            "-no-emul-boot",
        ])
        .args([
            "-isohybrid-gpt-basdat",
            "-isohybrid-mbr",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
        ])
        .args(["-partition_offset", "16", "-quiet", "-o"])
        .arg(out)
        .arg(tree)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
}

fn genisoimage(tree: &Path, out: &Path) {
    require("genisoimage");
    run(Command::new("genisoimage")
        .args([
            "-R",
            "-J",
            "-quiet",
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
        ])
        .args([
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-o",
        ])
        .arg(out)
        .arg(tree));
}

/// The outer tree: bootloader, an EFI image, a SquashFS, a few plain files.
fn make_outer(root: &Path, squashfs: &Path) {
    for d in ["isolinux", "live", "EFI/boot", "doc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(
        "/usr/lib/ISOLINUX/isolinux.bin",
        root.join("isolinux/isolinux.bin"),
    )
    .expect("/usr/lib/ISOLINUX/isolinux.bin (apt-get install -y isolinux)");
    std::fs::write(root.join("EFI/boot/efi.img"), vec![0u8; 64 * 1024]).unwrap();
    std::fs::copy(squashfs, root.join("live/filesystem.squashfs")).unwrap();
    std::fs::write(root.join("doc/readme.txt"), b"hello, this is the readme\n").unwrap();
    std::fs::write(root.join("live/vmlinuz"), text_bytes(70_000, 9)).unwrap();
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for (variant, name) in [(0, "a"), (1, "b")] {
            let inner = f.path(&format!("inner-{name}"));
            make_inner(&inner, variant);
            if variant == 1 {
                std::fs::remove_file(inner.join("etc/c.conf")).unwrap();
                std::fs::write(inner.join("etc/new.conf"), b"new\n").unwrap();
            }
            let sq = f.path(&format!("{name}.squashfs"));
            mksquashfs(&inner, &sq, "xz");
            let outer = f.path(&format!("outer-{name}"));
            make_outer(&outer, &sq);
            xorriso_hybrid(&outer, &f.path(&format!("{name}.iso")));
        }
        genisoimage(&f.path("outer-a"), &f.path("geniso.iso"));
        let gz = f.path("gz.squashfs");
        mksquashfs(&f.path("inner-a"), &gz, "gzip");
        f
    })
}

/// A copy of `src` named `name` in the fixture directory, with each (offset, xor) applied.
fn mutated(src: &Path, name: &str, flips: &[(u64, u8)]) -> PathBuf {
    let dst = fixture().path(name);
    let mut bytes = std::fs::read(src).unwrap();
    for &(off, x) in flips {
        bytes[off as usize] ^= x;
    }
    std::fs::write(&dst, bytes).unwrap();
    dst
}

fn compare(a: &Path, b: &Path) -> Comparison {
    compare_files(a, b, &CompareOptions::default()).expect("compare")
}

/// xorriso's own report of file extents: path → start LBA.
fn report_lba(iso: &Path) -> HashMap<String, u64> {
    let out = Command::new("xorriso")
        .args(["-indev"])
        .arg(iso)
        .args(["-find", "/", "-exec", "report_lba"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.starts_with("File data lba:"))
        .filter_map(|l| {
            let fields: Vec<&str> = l["File data lba:".len()..].split(',').collect();
            let lba = fields.get(1)?.trim().parse().ok()?;
            let path = fields.get(4..)?.join(",");
            Some((path.trim().trim_matches('\'').to_string(), lba))
        })
        .collect()
}

/// rdsquashfs's view of a file: blocks start, stored block sizes, fragment index.
fn rdsquashfs_stat(sq: &Path, path: &str) -> (u64, Vec<u64>, Option<u32>) {
    require("rdsquashfs");
    let out = run(Command::new("rdsquashfs").arg("-s").arg(path).arg(sq));
    let mut start = 0;
    let mut sizes = Vec::new();
    let mut frag = None;
    for l in out.lines() {
        let l = l.trim();
        if let Some(v) = l.strip_prefix("Blocks start: ") {
            start = v.parse().unwrap();
        } else if let Some(v) = l.strip_prefix("Fragment index: ") {
            let v = u32::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
            frag = (v != u32::MAX).then_some(v);
        } else if l.starts_with("Block #") {
            let size = l.split("size: ").nth(1).unwrap().split(' ').next().unwrap();
            sizes.push(size.parse().unwrap());
        }
    }
    (start, sizes, frag)
}

fn first_places(c: &Comparison) -> (&[Place], &[Place]) {
    let f = c.first_difference.as_ref().expect("a difference");
    (&f.official_location.places, &f.rebuilt_location.places)
}

#[test]
fn identical_images_are_identical() {
    let f = fixture();
    let c = compare(&f.path("a.iso"), &f.path("a.iso"));
    assert!(c.identical && c.sizes_equal && c.first_difference.is_none());
    assert_eq!(c.regions_total, 0);
}

#[test]
fn iso_file_byte_located_with_xorriso_extents() {
    let f = fixture();
    let a = f.path("a.iso");
    let lba = report_lba(&a)["/doc/readme.txt"];
    let b = mutated(&a, "file.iso", &[(lba * 2048 + 7, 0x20)]);
    let c = compare(&a, &b);
    assert_eq!(c.first_difference.as_ref().unwrap().offset, lba * 2048 + 7);
    for places in [first_places(&c).0, first_places(&c).1] {
        match &places[0] {
            Place::FileData { path, offset, .. } => {
                assert_eq!(path.to_string(), "/doc/readme.txt");
                assert_eq!(*offset, 7);
            }
            other => panic!("expected file data, got {other:?}"),
        }
    }
    assert_eq!(
        c.content[0].content_differs.names[0].to_string(),
        "/doc/readme.txt"
    );
    assert_eq!(c.content[0].content_differs.total, 1);
}

#[test]
fn every_file_extent_matches_xorriso() {
    let f = fixture();
    let a = f.path("a.iso");
    let lbas = report_lba(&a);
    assert!(lbas.len() >= 5, "xorriso reported {lbas:?}");
    // Flip the first byte of each file; each region must name that file at byte 0.
    let flips: Vec<(u64, u8)> = lbas.values().map(|&l| (l * 2048, 0xff)).collect();
    let b = mutated(&a, "all-files.iso", &flips);
    let c = compare_files(
        &a,
        &b,
        &CompareOptions {
            max_regions: 100,
            ..Default::default()
        },
    )
    .unwrap();
    for (path, lba) in &lbas {
        let r = c
            .regions
            .iter()
            .find(|r| r.start == lba * 2048)
            .unwrap_or_else(|| panic!("no region at {path}"));
        match &r.official_location.places[0] {
            Place::FileData {
                path: p, offset: 0, ..
            } => assert_eq!(&p.to_string(), path),
            other => panic!("{path}: got {other:?}"),
        }
    }
}

#[test]
fn squashfs_data_block_located_with_rdsquashfs() {
    let f = fixture();
    let a = f.path("a.iso");
    let sq_lba = report_lba(&a)["/live/filesystem.squashfs"];
    let (start, sizes, _) = rdsquashfs_stat(&f.path("a.squashfs"), "/usr/lib/libfoo.so.1");
    assert!(sizes.len() >= 3, "expected several blocks, got {sizes:?}");
    // Byte 10 of block 2.
    let inner = start + sizes[0] + sizes[1] + 10;
    let b = mutated(&a, "block.iso", &[(sq_lba * 2048 + inner, 0x01)]);
    let c = compare(&a, &b);
    let (pa, _) = first_places(&c);
    assert!(matches!(&pa[0], Place::FileData { path, offset, .. }
        if path.to_string() == "/live/filesystem.squashfs" && *offset == inner));
    match &pa[1] {
        Place::SquashfsData {
            path,
            block,
            file_offset,
            offset_in_block,
            ..
        } => {
            assert_eq!(path.to_string(), "/usr/lib/libfoo.so.1");
            assert_eq!(
                (*block, *file_offset, *offset_in_block),
                (2, 2 * 131072, 10)
            );
        }
        other => panic!("expected a data block, got {other:?}"),
    }
    let sq = c
        .content
        .iter()
        .find(|s| s.format == "squashfs")
        .expect("squashfs scope");
    assert_eq!(sq.scope.to_string(), "/live/filesystem.squashfs");
    assert_eq!(sq.content_differs.total, 1);
    assert_eq!(
        sq.content_differs.names[0].to_string(),
        "/usr/lib/libfoo.so.1"
    );
    assert_eq!(sq.only_in_official.total + sq.only_in_rebuilt.total, 0);
}

#[test]
fn fragment_block_names_the_files_sharing_it() {
    let f = fixture();
    let gz = f.path("gz.squashfs");
    // Small files only have a fragment; its block is not part of any file's blocks.
    let (_, _, frag) = rdsquashfs_stat(&gz, "/etc/a.conf");
    assert_eq!(frag, Some(0));
    let (start, sizes, _) = rdsquashfs_stat(&gz, "/usr/lib/libfoo.so.1");
    let data_end = start + sizes.iter().sum::<u64>();
    // mksquashfs writes the last fragment block right after the last data blocks.
    let b = mutated(&gz, "frag.squashfs", &[(data_end + 5, 0x10)]);
    let c = compare(&gz, &b);
    assert_eq!(c.official.format, "squashfs");
    match &first_places(&c).0[0] {
        Place::SquashfsFragment {
            files, files_total, ..
        } => {
            let names: Vec<String> = files.iter().map(|n| n.to_string()).collect();
            assert!(names.contains(&"/etc/a.conf".to_string()), "{names:?}");
            assert!(*files_total >= 3);
        }
        other => panic!("expected a fragment block, got {other:?}"),
    }
    // A corrupted fragment: the files in it cannot be read or differ; never a panic.
    let sq = &c.content[0];
    assert!(sq.content_differs.total + sq.not_compared.total >= 1);
}

#[test]
fn volume_descriptor_field() {
    let f = fixture();
    let a = f.path("a.iso");
    let b = mutated(&a, "pvd.iso", &[(32768 + 830 + 5, 0x01)]);
    let c = compare(&a, &b);
    match &first_places(&c).0[0] {
        Place::VolumeDescriptor {
            descriptor, field, ..
        } => {
            assert_eq!(descriptor, "primary volume descriptor");
            assert_eq!(field, "volume modification date");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn directory_record_of_a_file() {
    let f = fixture();
    let a = f.path("a.iso");
    let bytes = std::fs::read(&a).unwrap();
    // The /DOC directory: find its record in the root directory (ECMA-119 9.1).
    let pvd = &bytes[32768..34816];
    let root_lba = u32::from_le_bytes(pvd[158..162].try_into().unwrap()) as usize;
    let root = &bytes[root_lba * 2048..root_lba * 2048 + 2048];
    let pos = root
        .windows(3)
        .position(|w| w == b"DOC")
        .expect("DOC record")
        - 33;
    let off = (root_lba * 2048 + pos + 18) as u64; // recording date
    let b = mutated(&a, "dirrec.iso", &[(off, 0x01)]);
    let c = compare(&a, &b);
    match &first_places(&c).0[0] {
        Place::DirectoryRecords {
            tree,
            directory,
            entry,
            field,
        } => {
            assert_eq!(tree, "ISO 9660");
            assert_eq!(directory.to_string(), "/");
            assert_eq!(entry.as_ref().unwrap().to_string(), "doc");
            assert_eq!(field.as_deref(), Some("recording date"));
        }
        other => panic!("{other:?}"),
    }
    let iso = &c.content[0];
    assert_eq!(iso.metadata_differs_total, 1);
    assert_eq!(iso.metadata_differs[0].path.to_string(), "/doc");
}

#[test]
fn boot_catalog_and_gpt() {
    require("isoinfo");
    let f = fixture();
    let a = f.path("a.iso");
    let info = run(Command::new("isoinfo").arg("-d").arg("-i").arg(&a));
    let cat: u64 = info
        .lines()
        .find_map(|l| l.split("boot catalog is in sector ").nth(1))
        .expect("isoinfo reports the boot catalog")
        .trim()
        .parse()
        .unwrap();
    let size = std::fs::metadata(&a).unwrap().len();
    let b = mutated(
        &a,
        "boot.iso",
        &[
            (512 + 60, 0x01),
            (cat * 2048 + 32 + 8, 0x01),
            (size - 512 + 60, 0x01),
        ],
    );
    let c = compare(&a, &b);
    let places: Vec<&Place> = c
        .regions
        .iter()
        .map(|r| &r.official_location.places[0])
        .collect();
    assert!(
        matches!(places[0], Place::SystemArea { part, field }
        if part == "GPT header" && field.as_deref() == Some("disk GUID")),
        "{places:?}"
    );
    assert!(
        matches!(places[1], Place::BootCatalog { entry } if entry == "default entry, load RBA"),
        "{places:?}"
    );
    assert!(
        matches!(places[2], Place::SystemArea { part, field }
        if part == "backup GPT header" && field.as_deref() == Some("disk GUID")),
        "{places:?}"
    );
}

#[test]
fn genisoimage_image_files_located() {
    let f = fixture();
    let a = f.path("geniso.iso");
    let lba = report_lba(&a)["/live/vmlinuz"];
    let b = mutated(&a, "geniso-b.iso", &[(lba * 2048 + 1000, 0x04)]);
    let c = compare(&a, &b);
    assert!(
        matches!(&first_places(&c).0[0], Place::FileData { path, offset: 1000, .. }
        if path.to_string() == "/live/vmlinuz")
    );
}

#[test]
fn trees_that_differ_list_added_removed_and_changed_files() {
    let f = fixture();
    let c = compare(&f.path("a.iso"), &f.path("b.iso"));
    assert!(!c.identical);
    let sq = c
        .content
        .iter()
        .find(|s| s.format == "squashfs")
        .expect("squashfs scope");
    let names = |l: &verify_release::compare::content::NameList| {
        l.names.iter().map(|n| n.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&sq.only_in_official), ["/etc/c.conf"]);
    assert_eq!(names(&sq.only_in_rebuilt), ["/etc/new.conf"]);
    assert_eq!(names(&sq.content_differs), ["/etc/b.conf"]);
    // libfoo is the same in both: not listed even though the layouts shifted.
    assert!(!names(&sq.content_differs).contains(&"/usr/lib/libfoo.so.1".to_string()));
}

#[test]
fn sizes_empty_files_and_unknown_formats() {
    let f = fixture();
    let empty = f.path("empty");
    std::fs::write(&empty, b"").unwrap();
    let c = compare(&empty, &empty);
    assert!(c.identical);
    let one = f.path("one");
    std::fs::write(&one, b"x").unwrap();
    let c = compare(&empty, &one);
    assert!(!c.identical && !c.sizes_equal);
    let fd = c.first_difference.as_ref().unwrap();
    assert_eq!(
        (fd.offset, fd.official_byte, fd.rebuilt_byte),
        (0, None, Some(b'x'))
    );
    assert!(matches!(fd.official_location.places[0], Place::PastEnd));

    let plain_a = f.path("plain-a");
    let plain_b = f.path("plain-b");
    std::fs::write(&plain_a, text_bytes(100_000, 5)).unwrap();
    let mut bytes = text_bytes(100_000, 5);
    bytes[50_000] ^= 1;
    bytes.extend_from_slice(b"tail");
    std::fs::write(&plain_b, bytes).unwrap();
    let c = compare(&plain_a, &plain_b);
    assert_eq!(c.official.format, "unknown");
    assert!(
        matches!(&first_places(&c).0[0], Place::Unknown { reason } if reason == "unknown format")
    );
    assert_eq!(c.regions.len(), 2);
    assert!(c.regions[1].beyond_end);
    assert_eq!((c.regions[1].start, c.regions[1].length), (100_000, 4));
    assert!(matches!(
        c.regions[1].official_location.places[0],
        Place::PastEnd
    ));

    // An image one sector longer: the tail is past the end of the official one.
    let a = f.path("a.iso");
    let longer = f.path("longer.iso");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend_from_slice(&[0xee; 2048]);
    std::fs::write(&longer, bytes).unwrap();
    let c = compare(&a, &longer);
    assert_eq!(c.regions_total, 1);
    assert!(c.regions[0].beyond_end);
}

#[test]
fn truncated_and_looping_images_do_not_panic() {
    let f = fixture();
    let a = f.path("a.iso");
    let bytes = std::fs::read(&a).unwrap();
    // Cut in the middle of the directory area, and at odd places.
    for cut in [
        32768 + 100,
        40_000,
        70_000,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let t = f.path(&format!("cut-{cut}.iso"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let c = compare(&a, &t);
        assert!(!c.identical && !c.sizes_equal);
    }
    // The root directory pointing at itself from a subdirectory record: a loop.
    let pvd = &bytes[32768..34816];
    let root_lba = u32::from_le_bytes(pvd[158..162].try_into().unwrap());
    let mut looped = bytes.clone();
    let root = root_lba as usize * 2048;
    let pos = root
        + looped[root..root + 2048]
            .windows(3)
            .position(|w| w == b"DOC")
            .unwrap()
        - 33;
    looped[pos + 2..pos + 6].copy_from_slice(&root_lba.to_le_bytes());
    let l = f.path("loop.iso");
    std::fs::write(&l, &looped).unwrap();
    let c = compare(&a, &l);
    assert!(
        c.rebuilt.notes.iter().any(|n| n.contains("loop")),
        "{:?}",
        c.rebuilt.notes
    );
}

fn bin(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn binary_exit_codes_and_json() {
    let f = fixture();
    let a = f.path("a.iso");
    let lba = report_lba(&a)["/doc/readme.txt"];
    let b = mutated(
        &a,
        "bin.iso",
        &[(lba * 2048 + 3, 0x02), (32768 + 830, 0x01)],
    );
    let (code, out, _) = bin(&["compare".as_ref(), a.as_os_str(), a.as_os_str()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("identical"));
    let (code, out, _) = bin(&["compare".as_ref(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("differ: first difference at offset 33598"),
        "{out}"
    );
    assert!(out.contains("volume modification date"), "{out}");
    assert!(out.contains("/doc/readme.txt"), "{out}");

    let (code, out, _) = bin(&[
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--json".as_ref(),
        "--max-regions".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["command"], "compare");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["identical"], false);
    assert_eq!(v["regions_total"], 2);
    assert_eq!(v["regions"].as_array().unwrap().len(), 1);
    let fd = &v["first_difference"];
    assert_eq!(fd["offset"], 33598);
    assert_eq!(
        fd["official_location"]["places"][0]["kind"],
        "volume_descriptor"
    );
    assert_eq!(
        fd["official_location"]["places"][0]["field"],
        "volume modification date"
    );

    let missing = f.path("does-not-exist.iso");
    let (code, out, err) = bin(&["compare".as_ref(), a.as_os_str(), missing.as_os_str()]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("cannot read the rebuilt image"), "{err}");
    let (code, _, _) = bin(&["compare".as_ref(), a.as_os_str()]);
    assert_eq!(code, 2);
}

#[test]
fn diffoscope_runs_on_the_differing_inner_file() {
    require("diffoscope");
    let f = fixture();
    let opts = CompareOptions {
        diffoscope: true,
        diffoscope_files: 1,
        ..Default::default()
    };
    let c = compare_files(&f.path("a.iso"), &f.path("b.iso"), &opts).unwrap();
    let d = c.diffoscope.expect("diffoscope report");
    assert_eq!(d.status, "ran");
    assert_eq!(d.files.len(), 1);
    let file = &d.files[0];
    assert_eq!(file.path.to_string(), "/etc/b.conf");
    assert_eq!(file.status, "ran", "{file:?}");
    assert_eq!(file.exit_code, Some(1), "{file:?}");
    assert!(file.output.contains("b.conf"), "{}", file.output);
}

#[test]
fn joliet_records_and_squashfs_tables() {
    let f = fixture();
    let a = f.path("a.iso");
    let bytes = std::fs::read(&a).unwrap();
    // The Joliet SVD: type 2 with a UCS-2 escape sequence (ECMA-119 8.5, Joliet spec).
    let svd = (16..32)
        .map(|s| &bytes[s * 2048..s * 2048 + 2048])
        .find(|d| d[0] == 2 && &d[1..6] == b"CD001" && &d[88..90] == b"%/")
        .expect("a Joliet SVD");
    let root = u32::from_le_bytes(svd[158..162].try_into().unwrap()) as usize * 2048;
    let name = [0, b'd', 0, b'o', 0, b'c'];
    let pos = root
        + bytes[root..root + 2048]
            .windows(6)
            .position(|w| w == name)
            .unwrap()
        - 33;
    let b = mutated(&a, "joliet.iso", &[(pos as u64 + 10, 0x01)]);
    let c = compare(&a, &b);
    match &first_places(&c).0[0] {
        Place::DirectoryRecords {
            tree, entry, field, ..
        } => {
            assert_eq!(tree, "Joliet");
            assert_eq!(entry.as_ref().unwrap().to_string(), "doc");
            assert_eq!(field.as_deref(), Some("data length"));
        }
        other => panic!("{other:?}"),
    }

    // SquashFS: the inode table's first metadata block (superblock field at 64).
    let gz = f.path("gz.squashfs");
    let sq = std::fs::read(&gz).unwrap();
    let inode_table = u64::from_le_bytes(sq[64..72].try_into().unwrap());
    let b = mutated(
        &gz,
        "inodes.squashfs",
        &[(inode_table + 10, 0x01), (8, 0x01)],
    );
    let c = compare(&gz, &b);
    let places: Vec<&Place> = c
        .regions
        .iter()
        .map(|r| &r.official_location.places[0])
        .collect();
    assert!(
        matches!(places[0], Place::SquashfsSuperblock { field } if field == "modification time"),
        "{places:?}"
    );
    assert!(
        matches!(places[1], Place::SquashfsTable { table, block: 0, holds } if table == "inode table" && !holds.is_empty()),
        "{places:?}"
    );
}

#[test]
fn diffoscope_missing_is_reported_not_an_error() {
    let f = fixture();
    let (a, b) = (f.path("a.iso"), f.path("b.iso"));
    let out = Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .args(["compare", "--diffoscope", "--json"])
        .arg(&a)
        .arg(&b)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["diffoscope"]["status"], "not_installed");
    assert_eq!(v["identical"], false);
}
