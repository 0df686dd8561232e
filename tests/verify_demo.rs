//! The main job through the real binary, on the bundled demo release (offline).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::demo::{catalog, demo, json};

fn run(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn demo_release_authenticates_offline() {
    let cache = tempfile::tempdir().unwrap();
    let out = run(
        cache.path(),
        &["--catalog", &catalog(), "1.0", "--no-rebuild", "--json"],
    );
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["command"], "verify");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["release"]["project"], "Demo");
    let a = &doc["authenticity"];
    assert_eq!(
        a["primary_fingerprint"],
        "B1F9C666D3985B7D3B0C5B81252D077014915BBD"
    );
    assert_eq!(a["size_checked"], true);
    assert_eq!(a["sha256_checked"], true);
    assert!(a["signer_uid"].as_str().unwrap().contains("TEST ONLY"));
    // The verified copy is in the content-addressed cache, and no part is left.
    let path = PathBuf::from(doc["image"]["path"].as_str().unwrap());
    assert!(
        path.starts_with(cache.path().join("sha256")),
        "{}",
        path.display()
    );
    let parts: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
}

#[test]
fn human_report_says_who_signed() {
    let cache = tempfile::tempdir().unwrap();
    let out = run(
        cache.path(),
        &["--catalog", &catalog(), "1.0", "--no-rebuild", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Demo 1.0: authentic\n"), "{text}");
    assert!(
        text.contains("B1F9 C666 D398 5B7D 3B0C  5B81 252D 0770 1491 5BBD"),
        "{text}"
    );
    assert!(text.contains("not rebuilt (--no-rebuild)"), "{text}");
    assert!(
        out.stderr.is_empty(),
        "--quiet printed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tampered_local_image_is_an_authenticity_failure() {
    let cache = tempfile::tempdir().unwrap();
    let copy = cache.path().join("demo-amd64-1.0.iso");
    let mut bytes = std::fs::read(demo().join("releases/1.0/demo-amd64-1.0.iso")).unwrap();
    bytes[40000] ^= 1;
    std::fs::write(&copy, &bytes).unwrap();
    let out = authenticate_image(cache.path(), &copy);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(3), "{doc}");
    assert_eq!(doc["error"]["kind"], "authenticity");
}

#[test]
fn the_users_own_copy_is_verified_in_place() {
    let cache = tempfile::tempdir().unwrap();
    let image = demo().join("releases/1.0/demo-amd64-1.0.iso");
    let out = authenticate_image(cache.path(), &image);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["image"]["origin"], "local");
}

#[test]
fn usage_errors_exit_2() {
    let cache = tempfile::tempdir().unwrap();
    let out = run(
        cache.path(),
        &["--catalog", &catalog(), "9.9", "--no-rebuild"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it lists: 1.0, 1.0-poisoned"));
    let out = run(cache.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(cache.path(), &["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn list_shows_tails_and_the_catalog() {
    let out = Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .args(["list", "--catalog", &catalog(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out);
    let versions: Vec<&str> = doc["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["3.3", "1.0", "1.0-poisoned"]);
}

/// `--no-rebuild --json --image FILE` on demo release 1.0.
fn authenticate_image(cache: &Path, image: &Path) -> Output {
    run(
        cache,
        &[
            "--catalog",
            &catalog(),
            "1.0",
            "--no-rebuild",
            "--json",
            "--image",
            image.to_str().unwrap(),
        ],
    )
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
