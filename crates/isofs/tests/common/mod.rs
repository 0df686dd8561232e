//! Oracle harness: run Debian's xorriso 1.5.4 and our writer on the same staged tree
//! and compare the bytes.
#![allow(dead_code)]

use isofs::{BootOptions, IsoOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn require_tool(name: &str) {
    let ok = Command::new(name)
        .arg("-version")
        .output()
        .map(|o| o.status.success() || !o.stdout.is_empty())
        .unwrap_or(false);
    assert!(
        ok,
        "{name} is required for this oracle test (apt-get install -y xorriso genisoimage isolinux)"
    );
}

/// `YYYYMMDDhhmmss00` of an epoch, UTC.
pub fn mod_date(epoch: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y%m%d%H%M%S00"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs the reference command; returns the image bytes.
pub fn xorriso(tree: &Path, out: &Path, opts: &IsoOptions, mbr_file: Option<&Path>) -> Vec<u8> {
    xorriso_to_file(tree, out, opts, mbr_file);
    std::fs::read(out).unwrap()
}

/// Runs the reference command, leaving the image in `out`.
pub fn xorriso_to_file(tree: &Path, out: &Path, opts: &IsoOptions, mbr_file: Option<&Path>) {
    require_tool("xorriso");
    let mut args: Vec<String> = [
        "-as",
        "mkisofs",
        "-R",
        "-r",
        "-J",
        "-joliet-long",
        "-l",
        "-cache-inodes",
        "-iso-level",
        "3",
        "-V",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(opts.volume_id.clone());
    if let Some(a) = &opts.application_id {
        args.extend(["-A".into(), a.clone()]);
    }
    if let Some(p) = &opts.preparer_id {
        args.extend(["-p".into(), p.clone()]);
    }
    if let Some(p) = &opts.publisher_id {
        args.extend(["-publisher".into(), p.clone()]);
    }
    args.push(format!(
        "--modification-date={}",
        mod_date(opts.modification_time)
    ));
    if let Some(b) = &opts.boot {
        args.extend(
            [
                "-b",
                &b.bios_image,
                "-c",
                &b.catalog,
                "-no-emul-boot",
                "-boot-load-size",
                "4",
                "-boot-info-table",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        if let Some(e) = &b.efi_image {
            args.extend(
                ["-eltorito-alt-boot", "-e", e, "-no-emul-boot"]
                    .iter()
                    .map(|s| s.to_string()),
            );
            if b.isohybrid_mbr.is_some() {
                args.push("-isohybrid-gpt-basdat".into());
            }
        }
        if b.isohybrid_mbr.is_some() {
            let m = mbr_file.expect("mbr template file");
            args.extend(["-isohybrid-mbr".into(), m.display().to_string()]);
            args.extend(["-partition_offset".into(), "16".into()]);
        }
    }
    args.extend([
        "-o".into(),
        out.display().to_string(),
        tree.display().to_string(),
    ]);
    let o = Command::new("xorriso")
        .args(&args)
        .env("SOURCE_DATE_EPOCH", opts.modification_time.to_string())
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .expect("run xorriso");
    assert!(
        o.status.success(),
        "xorriso failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn ours(tree: &Path, opts: &IsoOptions) -> Vec<u8> {
    let t = fstree::Tree::scan(tree).expect("scan");
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut last = (0, 0);
    let summary = isofs::write(&t, &mut cur, opts, &mut |a, b| last = (a, b)).expect("write");
    let v = cur.into_inner();
    assert_eq!(summary.bytes, v.len() as u64);
    assert_eq!(last, (summary.bytes, summary.bytes));
    v
}

pub fn opts(volid: &str, epoch: i64) -> IsoOptions {
    IsoOptions {
        volume_id: volid.into(),
        application_id: None,
        preparer_id: None,
        publisher_id: None,
        modification_time: epoch,
        boot: None,
    }
}

pub fn boot(bios: &str, cat: &str, efi: Option<&str>, mbr: Option<Vec<u8>>) -> BootOptions {
    BootOptions {
        bios_image: bios.into(),
        catalog: cat.into(),
        efi_image: efi.map(|s| s.into()),
        isohybrid_mbr: mbr,
    }
}

/// Compares; on mismatch panics with the first differing offset and what the
/// reader says lives there in the oracle's image.
pub fn assert_same(expected: &[u8], got: &[u8]) {
    if expected == got {
        return;
    }
    let first = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let what = match isofs::read::Image::parse(&mut std::io::Cursor::new(expected)) {
        Ok(img) => img.describe(first as u64),
        Err(e) => format!("(reader: {e})"),
    };
    let ctx = |v: &[u8]| {
        let s = first.saturating_sub(16);
        let e = (first + 48).min(v.len());
        v[s..e]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    panic!(
        "images differ: sizes xorriso={} ours={}, first difference at byte {} (block {}, +{}): {}\n xorriso: {}\n ours:    {}",
        expected.len(),
        got.len(),
        first,
        first / 2048,
        first % 2048,
        what,
        ctx(expected),
        ctx(got)
    );
}

/// Compares two image files in chunks (for images too big to hold twice); on a
/// mismatch, describes the first difference like [`assert_same`].
pub fn assert_same_files(expected: &Path, got: &Path) {
    use std::io::Read;
    let (la, lb) = (
        std::fs::metadata(expected).unwrap().len(),
        std::fs::metadata(got).unwrap().len(),
    );
    let mut a = std::io::BufReader::new(std::fs::File::open(expected).unwrap());
    let mut b = std::io::BufReader::new(std::fs::File::open(got).unwrap());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut off = 0u64;
    loop {
        let n = a.read(&mut ba).unwrap();
        if n == 0 {
            break;
        }
        b.read_exact(&mut bb[..n.min((lb - off.min(lb)) as usize)])
            .unwrap();
        let m = n.min((lb - off.min(lb)) as usize);
        if ba[..m] != bb[..m] {
            let p = ba[..m]
                .iter()
                .zip(&bb[..m])
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            let at = off + p as u64;
            let what = isofs::read::Image::parse(&mut std::fs::File::open(expected).unwrap())
                .map(|img| img.describe(at))
                .unwrap_or_else(|e| format!("(reader: {e})"));
            panic!("images differ: sizes xorriso={la} ours={lb}, first difference at byte {at}: {what}");
        }
        if m < n {
            break;
        }
        off += n as u64;
    }
    assert_eq!(
        la, lb,
        "images differ in size only (xorriso={la}, ours={lb})"
    );
}

/// Sets mtime of every path under `root` (and root) without following symlinks.
pub fn touch_all(root: &Path, epoch: i64) {
    let st = Command::new("find")
        .arg(root)
        .args([
            "-exec",
            "touch",
            "-h",
            "-d",
            &format!("@{epoch}"),
            "{}",
            "+",
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

pub fn write_file(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}

/// Builds both images of `tree` and compares them.
pub fn check(tree: &Path, opts: &IsoOptions, mbr_file: Option<&Path>) {
    let dir = tempfile::tempdir().unwrap();
    let exp = xorriso(tree, &dir.path().join("x.iso"), opts, mbr_file);
    let got = ours(tree, opts);
    assert_same(&exp, &got);
}
