//! The builder against the demo release, whose official image was made by the real
//! mksquashfs 4.5.1 + xorriso 1.5.4 (testdata/demo/make-demo.sh): the same bytes, from
//! a clone of the signed tag, whatever the checkout's mtimes, umask, TZ or path.

use std::path::{Path, PathBuf};
use std::process::Command;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/demo")
}

/// The official image's published SHA-256, read from the demo catalog.
fn official_sha256() -> String {
    let catalog = std::fs::read_to_string(demo().join("catalog.toml")).unwrap();
    let line = catalog
        .lines()
        .find(|l| l.starts_with("sha256 = "))
        .expect("catalog has a sha256");
    line.trim_start_matches("sha256 = ")
        .trim_matches('"')
        .to_owned()
}

fn clone_tag(dir: &Path) -> PathBuf {
    let co = dir.join("checkout");
    let status = Command::new("git")
        .args(["clone", "-q", "--branch", "1.0"])
        .arg(demo().join("source/demo-source.bundle"))
        .arg(&co)
        .status()
        .expect("git runs");
    assert!(status.success(), "git clone of the demo bundle failed");
    co
}

fn build(source: &Path, out: &Path) -> builder::Built {
    builder::build(source, out, &mut |_, _, _| {}).unwrap_or_else(|e| panic!("build failed: {e}"))
}

fn first_difference(a: &Path, b: &Path) -> Option<usize> {
    let a = std::fs::read(a).unwrap();
    let b = std::fs::read(b).unwrap();
    a.iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[test]
fn demo_rebuild_matches_the_official_image() {
    let dir = tempfile::tempdir().unwrap();
    let co = clone_tag(dir.path());
    let out = dir.path().join("demo-amd64-1.0.iso");
    let built = build(&co, &out);
    let official = demo().join("releases/1.0/demo-amd64-1.0.iso");
    assert_eq!(
        built.sha256,
        official_sha256(),
        "rebuilt image differs from the official one; first difference at byte {:?}",
        first_difference(&out, &official)
    );
    assert!(!dir.path().join("demo-amd64-1.0.iso.part").exists());
}

#[test]
fn build_ignores_checkout_metadata_and_location() {
    let dir = tempfile::tempdir().unwrap();
    let a = clone_tag(&dir.path().join("a"));
    // A second checkout elsewhere, with odd mtimes and permissions, under another TZ.
    let b = clone_tag(&dir.path().join("some/other/place"));
    let status = Command::new("sh")
        .arg("-c")
        .arg("find . -exec touch -h -d '2001-02-03 04:05:06' {} + && chmod -R go-rwx chroot && chmod 0600 binary/README.txt")
        .current_dir(&b)
        .status()
        .unwrap();
    assert!(status.success());
    let out_a = dir.path().join("a.iso");
    let out_b = dir.path().join("b.iso");
    let built_a = build(&a, &out_a);
    std::env::set_var("TZ", "Pacific/Chatham");
    let built_b = build(&b, &out_b);
    assert_eq!(
        built_a.sha256,
        built_b.sha256,
        "first difference at {:?}",
        first_difference(&out_a, &out_b)
    );
}

#[test]
fn failed_build_leaves_nothing_at_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let co = clone_tag(dir.path());
    std::fs::write(
        co.join("release.toml"),
        std::fs::read_to_string(co.join("release.toml"))
            .unwrap()
            .replace("tree = \"chroot\"", "tree = \"no-such-dir\""),
    )
    .unwrap();
    let out = dir.path().join("x.iso");
    let err = builder::build(&co, &out, &mut |_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "checkout")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}
