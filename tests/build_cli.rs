//! `verify-release build` through the real binary: the demo release's signed tag rebuilds
//! to the published SHA-256; bad input gives exit 4 (a failed build) or 2 (usage) with a
//! message naming what is wrong.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::demo::{demo, json};

fn verify_release(cwd: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// The published SHA-256 of release 1.0 in the demo catalog.
fn published_sha256() -> String {
    let text = std::fs::read_to_string(demo().join("catalog.toml")).unwrap();
    let catalog: toml::Value = toml::from_str(&text).unwrap();
    catalog["release"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"].as_str() == Some("1.0"))
        .expect("release 1.0 in the demo catalog")["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Clones the demo source bundle at tag 1.0 into `dir/checkout`.
fn clone_tag(dir: &Path) -> PathBuf {
    let co = dir.join("checkout");
    let out = Command::new("git")
        .args(["clone", "-q", "--branch", "1.0"])
        .arg(demo().join("source/demo-source.bundle"))
        .arg(&co)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git clone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    co
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    hex::encode(sha2::Sha256::digest(&bytes))
}

#[test]
fn demo_tag_builds_to_the_published_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let co = clone_tag(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let image = out_dir.join("rebuilt.iso");
    let out = verify_release(
        dir.path(),
        &[
            os("build"),
            co.as_os_str(),
            os("--output"),
            image.as_os_str(),
            os("--json"),
        ],
    );
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["command"], "build");
    assert_eq!(doc["exit_code"], 0);
    let b = &doc["build"];
    assert_eq!(b["sha256"], published_sha256(), "{doc}");
    assert_eq!(b["sha256"], sha256_of(&image));
    assert_eq!(b["size"], std::fs::metadata(&image).unwrap().len());
    assert_eq!(b["recipe_format"], 1);
    assert_eq!(b["squashfs"][0]["path"], "live/filesystem.squashfs");
    // Only the image is left: no .part, no scratch folder.
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["rebuilt.iso"]);
}

#[test]
fn default_output_is_the_recipe_name_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let co = clone_tag(dir.path());
    let cwd = dir.path().join("here");
    std::fs::create_dir(&cwd).unwrap();
    let out = verify_release(&cwd, &[os("build"), co.as_os_str(), os("--quiet")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = cwd.join("demo-amd64-1.0.iso");
    assert_eq!(sha256_of(&image), published_sha256());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&published_sha256()), "{text}");
}

#[test]
fn bad_recipe_exits_4_naming_release_toml() {
    let dir = tempfile::tempdir().unwrap();
    let co = clone_tag(dir.path());
    let recipe = co.join("release.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        text.replace("compression = \"xz\"", "compression = \"zstd\""),
    )
    .unwrap();
    let image = dir.path().join("x.iso");
    let out = verify_release(
        dir.path(),
        &[os("build"), co.as_os_str(), os("-o"), image.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("release.toml"), "{err}");
    assert!(err.contains("zstd"), "{err}");
    assert!(!image.exists());
    // The same through --json: the message is in error.message.
    let out = verify_release(
        dir.path(),
        &[
            os("build"),
            co.as_os_str(),
            os("-o"),
            image.as_os_str(),
            os("--json"),
        ],
    );
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(doc["exit_code"], 4);
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains("release.toml"), "{msg}");
    // Without --output the recipe is read first to name the image: same exit code.
    let out = verify_release(dir.path(), &[os("build"), co.as_os_str()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("release.toml"));
}

#[test]
fn missing_source_dir_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-checkout");
    let out = verify_release(dir.path(), &[os("build"), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-checkout"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn no_arguments_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = verify_release(dir.path(), &[os("build")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("usage"), "{err}");
}
