//! Shared helpers for the builder's integration tests: deterministic source trees, the
//! oracle (the real mksquashfs + xorriso run with the command lines of docs/recipe.md on
//! a staged copy, as testdata/demo/make-demo.sh does) and a byte comparison that says
//! what lives at the first difference.

#![allow(dead_code)]

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small xorshift generator: the same seed gives the same tree on every host.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// Text that compresses like prose: words from a small vocabulary.
    pub fn text(&mut self, n: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "the",
            "image",
            "is",
            "built",
            "from",
            "source",
            "and",
            "every",
            "byte",
            "must",
            "match",
            "squashfs",
            "block",
            "fragment",
            "directory",
            "inode",
            "release",
            "tag",
            "signed",
            "reproducible\n",
        ];
        let mut v = Vec::with_capacity(n + 16);
        while v.len() < n {
            v.extend_from_slice(WORDS[(self.next() % WORDS.len() as u64) as usize].as_bytes());
            v.push(b' ');
        }
        v.truncate(n);
        v
    }
}

/// Writes `bytes` at `path`, creating parent directories.
pub fn put(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Fills `dir` with a mixed tree of about `scale` × 1 MiB: prose, incompressible data,
/// zeros (sparse blocks), files of exactly one block and one byte more, many small files
/// (some duplicates), hard links, symlinks (relative, absolute, dangling), an empty file
/// and directory, executables, odd permissions, a non-ASCII and a long name, and a real
/// ELF binary from the host.
pub fn mixed_tree(dir: &Path, seed: u64, scale: usize, block: usize) {
    let mut r = Rng::new(seed);
    fs::create_dir_all(dir).unwrap();
    put(&dir.join("README.txt"), &r.text(3000));
    put(&dir.join("docs/guide.txt"), &r.text(200_000 * scale));
    put(&dir.join("data/random.bin"), &r.bytes(300_000 * scale));
    put(&dir.join("data/zeros.img"), &vec![0u8; 3 * block + 100]);
    let mut mixed = r.bytes(block);
    mixed.extend(vec![0u8; 2 * block]);
    mixed.extend(r.text(block / 2));
    put(&dir.join("data/mixed.img"), &mixed);
    put(&dir.join("data/one-block"), &r.text(block));
    put(&dir.join("data/one-block-plus"), &r.text(block + 1));
    put(&dir.join("data/empty"), b"");
    fs::create_dir_all(dir.join("empty-dir")).unwrap();
    for i in 0..(60 * scale) {
        let body = if i % 7 == 0 {
            b"duplicate small file\n".to_vec()
        } else {
            let n = 50 + (r.next() % 3000) as usize;
            r.text(n)
        };
        put(&dir.join(format!("etc/conf.d/{i:03}.conf")), &body);
    }
    // A large duplicate: whole-file duplicate detection.
    let guide = fs::read(dir.join("docs/guide.txt")).unwrap();
    put(&dir.join("docs/guide-copy.txt"), &guide);
    // Executables and odd modes (staging makes them 0755 / 0644).
    let true_bin = fs::read("/bin/true").expect("/bin/true is readable");
    put(&dir.join("usr/bin/true"), &true_bin);
    chmod(&dir.join("usr/bin/true"), 0o700);
    put(&dir.join("usr/bin/hello"), b"#!/bin/sh\necho hello\n");
    chmod(&dir.join("usr/bin/hello"), 0o750);
    chmod(&dir.join("README.txt"), 0o600);
    chmod(&dir.join("etc"), 0o700);
    // Hard links and symlinks.
    fs::hard_link(dir.join("usr/bin/hello"), dir.join("usr/bin/hello-again")).unwrap();
    std::os::unix::fs::symlink("hello", dir.join("usr/bin/hi")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/true", dir.join("usr/bin/yes-true")).unwrap();
    std::os::unix::fs::symlink("../nowhere/at/all", dir.join("usr/dangling")).unwrap();
    std::os::unix::fs::symlink("../docs", dir.join("usr/docs")).unwrap();
    // Names: non-ASCII, long, ISO-colliding.
    put(&dir.join("docs/Grüße aus Köln.txt"), b"non-ascii name\n");
    put(
        &dir.join(format!("docs/{}.txt", "long-name-".repeat(20))),
        b"long\n",
    );
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9 cr\xe8me.txt");
    put(&dir.join("docs").join(latin1), b"latin-1 name, not UTF-8\n");
    put(&dir.join("docs/Collide.TXT"), b"a\n");
    put(&dir.join("docs/collide.txt"), b"b\n");
    let deep = (0..10)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    put(&dir.join(deep).join("bottom.txt"), b"deep\n");
}

/// Panics with a clear message when a tool the oracle needs is missing (CI installs them).
pub fn need(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(tool).is_file()
        || Path::new("/sbin").join(tool).is_file();
    assert!(
        found,
        "{tool} is missing: apt-get install -y xorriso squashfs-tools dosfstools isolinux"
    );
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The recipe's staging rules, with the same commands as make-demo.sh.
fn normalize(dir: &Path, epoch: i64) {
    let script = format!(
        "find \"$1\" -type d -exec chmod 0755 {{}} + && \
         find \"$1\" -type f -perm /111 -exec chmod 0755 {{}} + && \
         find \"$1\" -type f ! -perm /111 -exec chmod 0644 {{}} + && \
         find \"$1\" -exec touch -h -d @{epoch} {{}} +"
    );
    run(Command::new("sh").arg("-c").arg(script).arg("sh").arg(dir));
}

/// `YYYYMMDDhhmmss00` of an epoch, UTC (the civil-from-days algorithm).
pub fn mkisofs_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86400);
    let secs = epoch.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The official way: stage copies of the recipe's trees, run mksquashfs for each
/// `[[squashfs]]` and xorriso for the image, exactly as docs/recipe.md writes them, with
/// SOURCE_DATE_EPOCH and LC_ALL=C. `scratch` must be an empty directory.
pub fn oracle_build(source: &Path, scratch: &Path, out: &Path) {
    need("mksquashfs");
    need("xorriso");
    let recipe = builder::Recipe::load(source).unwrap_or_else(|e| panic!("{e}"));
    let epoch = recipe.source_date_epoch;
    let env = |c: &mut Command| {
        c.env("SOURCE_DATE_EPOCH", epoch.to_string())
            .env("LC_ALL", "C")
            .env("TZ", "UTC");
    };
    let image = scratch.join("image");
    run(Command::new("cp")
        .arg("-a")
        .arg(source.join(&recipe.image.tree))
        .arg(&image));
    normalize(&image, epoch);
    for (i, sq) in recipe.squashfs.iter().enumerate() {
        let tree = scratch.join(format!("squashfs-tree-{i}"));
        run(Command::new("cp")
            .arg("-a")
            .arg(source.join(&sq.tree))
            .arg(&tree));
        normalize(&tree, epoch);
        let dest = image.join(&sq.path);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut c = Command::new("mksquashfs");
        c.arg(&tree).arg(&dest).args([
            "-noappend",
            "-all-root",
            "-no-xattrs",
            "-comp",
            &sq.compression,
            "-quiet",
        ]);
        if let Some(b) = sq.block_size {
            c.arg("-b").arg(b.to_string());
        }
        env(&mut c);
        run(&mut c);
    }
    normalize(&image, epoch);
    let mut c = Command::new("xorriso");
    c.args(["-as", "mkisofs", "-R", "-r", "-J", "-joliet-long", "-l"])
        .args([
            "-cache-inodes",
            "-iso-level",
            "3",
            "-V",
            &recipe.image.volume_id,
        ]);
    if let Some(a) = &recipe.image.application_id {
        c.args(["-A", a]);
    }
    if let Some(p) = &recipe.image.preparer_id {
        c.args(["-p", p]);
    }
    if let Some(p) = &recipe.image.publisher_id {
        c.args(["-publisher", p]);
    }
    c.arg(format!("--modification-date={}", mkisofs_date(epoch)));
    if let Some(b) = &recipe.boot {
        c.args(["-b", &b.bios_image, "-c", &b.catalog]).args([
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
        ]);
        if let Some(e) = &b.efi_image {
            c.args(["-eltorito-alt-boot", "-e", e, "-no-emul-boot"])
                .arg("-isohybrid-gpt-basdat");
        }
        if let Some(m) = &b.isohybrid_mbr {
            c.arg("-isohybrid-mbr")
                .arg(source.join(m))
                .args(["-partition_offset", "16"]);
        }
    }
    c.arg("-o").arg(out).arg(&image);
    env(&mut c);
    run(&mut c);
}

/// Our build, with default options.
pub fn ours(source: &Path, out: &Path) -> builder::Built {
    builder::build(source, out, &mut |_, _, _| {})
        .unwrap_or_else(|e| panic!("build of {} failed: {e}", source.display()))
}

/// Panics unless the two files are identical, saying where they first differ and what
/// lives there in our image (parsed by isofs's reader).
pub fn assert_same_image(ours: &Path, theirs: &Path) {
    let a = fs::read(ours).unwrap();
    let b = fs::read(theirs).unwrap();
    if a == b {
        return;
    }
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let what = |bytes: &[u8]| match isofs::read::Image::parse(&mut std::io::Cursor::new(bytes)) {
        Ok(img) => img.describe(at as u64),
        Err(e) => format!("(cannot parse: {e})"),
    };
    panic!(
        "images differ: ours {} bytes, oracle {} bytes; first difference at offset {at} \
         (ours {:?}, oracle {:?}); in ours: {}; in the oracle's: {}",
        a.len(),
        b.len(),
        a.get(at),
        b.get(at),
        what(&a),
        what(&b)
    );
}

/// Writes `release.toml` in `source`.
pub fn recipe(source: &Path, text: &str) {
    put(&source.join("release.toml"), text.as_bytes());
}

/// Names in `dir` (to check nothing was left behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_of(dir: &tempfile::TempDir, rel: &str) -> PathBuf {
    dir.path().join(rel)
}
