//! The `tails` rebuild backend: the plan for Tails 3.3, preflight on a host that lacks
//! everything (an empty PATH, no KVM device), and `run` driving a stand-in host.
//!
//! A real Tails build needs Vagrant, libvirt, KVM, ~20 GB and hours, which no CI runner
//! has; `run` is therefore exercised with small shell scripts standing in for the host's
//! tools (they record what they were given), so that what we control — preflight first,
//! the environment passed to `rake build`, where the image is looked for, hashing it —
//! is checked for real.

use std::path::{Path, PathBuf};

use verify_release::exit::{Exit, Failure};
use verify_release::rebuild::tails::{
    plan, preflight_with, run_with, HostEnv, TailsError, BUILD_OPTIONS,
};
use verify_release::release::tails::release;
use verify_release::report::Render;

const TOOL_NAMES: &[&str] = &[
    "git",
    "rake",
    "ruby",
    "vagrant",
    "virsh",
    "qemu-system-x86_64",
    "qemu-img",
    "vmdebootstrap",
    "sudo",
    "scp",
];

/// A host with nothing: an empty PATH directory, no KVM device, little memory.
fn bare_host(tmp: &Path) -> HostEnv {
    let bin = tmp.join("empty-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let meminfo = tmp.join("meminfo");
    std::fs::write(&meminfo, "MemTotal: 1000 kB\nMemAvailable: 512 kB\n").unwrap();
    HostEnv {
        path: bin.into_os_string(),
        kvm: tmp.join("no-kvm"),
        meminfo,
        min_memory: 1 << 30,
        min_disk: u64::MAX,
    }
}

#[cfg(unix)]
fn script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn preflight_names_everything_missing_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let env = bare_host(tmp.path());
    let err = preflight_with(tmp.path(), &env).unwrap_err();
    assert_eq!(err.exit(), Exit::Incomplete);
    let items: Vec<&str> = err.missing.iter().map(|m| m.item.as_str()).collect();
    for tool in TOOL_NAMES {
        assert!(items.contains(tool), "{tool} not reported: {items:?}");
    }
    let kvm = env.kvm.display().to_string();
    for other in [kvm.as_str(), "memory", "disk space"] {
        assert!(items.contains(&other), "{other} not reported: {items:?}");
    }
    let text = err.to_string();
    assert!(text.contains("sudo apt install vagrant"), "{text}");
    assert!(text.contains("sudo apt install qemu-system-x86"), "{text}");
    assert!(text.contains("kvm group"), "{text}");
    // One message, one line per missing item.
    assert_eq!(text.lines().count(), err.missing.len() + 1, "{text}");
    // Through the backend's error type too.
    assert_eq!(TailsError::from(err).exit(), Exit::Incomplete);
}

#[cfg(unix)]
#[test]
fn preflight_looks_deeper_once_a_tool_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let env = bare_host(tmp.path());
    let bin = PathBuf::from(&env.path);
    // A vagrant without the libvirt provider, a ruby without the libvirt binding.
    script(&bin, "vagrant", "case \"$1\" in --version) echo 'Vagrant 2.3.4';; plugin) echo 'vagrant-share (2.0)';; esac");
    script(
        &bin,
        "ruby",
        "case \"$1\" in --version) echo 'ruby 3.1';; *) exit 1;; esac",
    );
    let err = preflight_with(tmp.path(), &env).unwrap_err();
    let items: Vec<&str> = err.missing.iter().map(|m| m.item.as_str()).collect();
    assert!(!items.contains(&"vagrant"), "{items:?}");
    assert!(!items.contains(&"ruby"), "{items:?}");
    assert!(items.contains(&"vagrant-libvirt"), "{items:?}");
    assert!(items.contains(&"ruby-libvirt"), "{items:?}");
    assert!(items.contains(&"rake"), "{items:?}");
}

#[test]
fn plan_for_tails_3_3_lists_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let r = release("3.3").unwrap();
    let p = plan(&r, tmp.path()).unwrap();
    assert_eq!(p.source_date_epoch.known, Some(1_510_631_607));
    assert!(p.image.ends_with("tails-amd64-3.3.iso"));
    let names: Vec<&str> = p.steps.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "fetch",
            "verify-tag",
            "check-commit",
            "checkout",
            "source-date-epoch",
            "preflight",
            "base-branch-ref",
            "build",
            "hash",
            "compare"
        ]
    );
    let text = p.human();
    for needle in [
        "+refs/tags/3.3:refs/tags/3.3",
        "https://gitlab.tails.boum.org/tails/tails.git",
        "A490D0F4D311A4153E2BB7CADBB802B258ACD84F",
        "e8e5791b60f09a0d313416dc97a4758e4e3f821c",
        "debian/changelog of tag 3.3",
        "SOURCE_DATE_EPOCH=1510631607",
        "TAILS_BUILD_OPTIONS='defaultcomp forcecleanup'",
        "rake build",
        "5ac6b8a563a999701aa394a0761ba3e29d5a964537549e5b4a81b2abf12a1c09",
        "vagrant",
    ] {
        assert!(text.contains(needle), "plan lacks {needle:?}:\n{text}");
    }
    let artifacts = format!("ARTIFACTS={}", p.output_dir.display());
    assert!(text.contains(&artifacts), "{text}");
    // The JSON form carries the same build command, as argv and environment.
    let json = p.json();
    let build = &json["plan"]["steps"][7]["commands"][0];
    assert_eq!(build["argv"], serde_json::json!(["rake", "build"]));
    assert_eq!(build["cwd"], serde_json::json!(p.checkout_dir));
    assert!(build["env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(["SOURCE_DATE_EPOCH", "1510631607"])));
    assert_eq!(p.exit(), Exit::Verified);
}

#[test]
fn plan_for_a_release_without_a_known_epoch_says_where_it_comes_from() {
    let tmp = tempfile::tempdir().unwrap();
    let r = release("5.0").unwrap();
    let p = plan(&r, tmp.path()).unwrap();
    assert_eq!(p.source_date_epoch.known, None);
    let text = p.human();
    assert!(text.contains("debian/changelog of tag 5.0"), "{text}");
    assert!(
        text.contains("SOURCE_DATE_EPOCH='<from debian/changelog>'"),
        "{text}"
    );
}

#[test]
fn plan_refuses_a_release_of_another_backend() {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo/catalog.toml");
    let r = verify_release::release::resolve("1.0", Some(&catalog), &[]).unwrap();
    let err = plan(&r, Path::new("/tmp/w")).unwrap_err();
    assert!(matches!(err, TailsError::NotTails { .. }), "{err}");
}

/// A host where every tool is a script; `rake` writes an "image" recording its
/// environment and working directory (or fails when asked to).
#[cfg(unix)]
fn stand_in_host(tmp: &Path, rake_body: &str) -> HostEnv {
    // A new directory per host: a script is never rewritten while it may run.
    let bin = tempfile::tempdir_in(tmp).unwrap().keep();
    for name in TOOL_NAMES {
        script(&bin, name, "echo \"$0 1.0\"");
    }
    script(&bin, "vagrant", "case \"$1\" in plugin) echo 'vagrant-libvirt (0.11.2, system)';; *) echo 'Vagrant 2.3.4';; esac");
    script(&bin, "virsh", "echo 'Using library: libvirt 9.0.0'");
    script(&bin, "rake", rake_body);
    // The real git: the backend points a ref in the checkout with it.
    std::fs::remove_file(bin.join("git")).unwrap();
    std::os::unix::fs::symlink(real_git(), bin.join("git")).unwrap();
    let kvm = tmp.join("kvm");
    std::fs::write(&kvm, "").unwrap();
    let meminfo = tmp.join("meminfo");
    std::fs::write(&meminfo, "MemAvailable: 8000000 kB\n").unwrap();
    HostEnv {
        path: bin.into_os_string(),
        kvm,
        meminfo,
        min_memory: 1 << 30,
        min_disk: 0,
    }
}

#[cfg(unix)]
fn real_git() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git must be installed for these tests")
}

/// A git checkout like Tails': config/base_branch names `stable`, one commit.
#[cfg(unix)]
fn tails_like_checkout(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let out = std::process::Command::new(real_git())
            .args(["-c", "user.name=T", "-c", "user.email=t@invalid", "-C"])
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    std::fs::create_dir_all(dir.join("config")).unwrap();
    git(&["init", "-q"]);
    std::fs::write(dir.join("config/base_branch"), "stable\n").unwrap();
    git(&["add", "config/base_branch"]);
    git(&["commit", "-q", "-m", "release"]);
    git(&["rev-parse", "HEAD"])
}

#[cfg(unix)]
#[test]
fn run_builds_in_the_checkout_with_the_release_environment_and_hashes_the_image() {
    use sha2::Digest;
    let tmp = tempfile::tempdir().unwrap();
    let env = stand_in_host(
        tmp.path(),
        "[ \"$1\" = build ] || exit 9\nprintf '%s\\n' \"$SOURCE_DATE_EPOCH\" \"$TAILS_BUILD_OPTIONS\" \"$(pwd)\" > \"$ARTIFACTS/tails-amd64-3.3.iso\"",
    );
    let checkout = tmp.path().join("source");
    std::fs::create_dir(&checkout).unwrap();
    let head = tails_like_checkout(&checkout);
    let out = tmp.path().join("artifacts");
    let built = run_with(&checkout, "3.3", 1_510_631_607, &out, &env).unwrap();
    let bytes = std::fs::read(out.join("tails-amd64-3.3.iso")).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1510631607");
    assert_eq!(lines[1], BUILD_OPTIONS);
    assert_eq!(
        std::fs::canonicalize(lines[2]).unwrap(),
        std::fs::canonicalize(&checkout).unwrap()
    );
    assert_eq!(built.image, out.join("tails-amd64-3.3.iso"));
    assert_eq!(built.size, bytes.len() as u64);
    assert_eq!(built.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    let vagrant = built
        .host
        .tools
        .iter()
        .find(|t| t.name == "vagrant")
        .unwrap();
    assert_eq!(vagrant.version, "Vagrant 2.3.4");
    assert!(built.host.libvirt.contains("libvirt 9.0.0"));
    // The Rakefile's base-branch check is satisfied without touching the tree.
    let git = |args: &[&str]| {
        let o = std::process::Command::new(real_git())
            .arg("-C")
            .arg(&checkout)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(git(&["rev-parse", "refs/remotes/origin/stable"]), head);
    assert_eq!(git(&["status", "--porcelain"]), "");
    // A base branch git would read as an option is refused.
    std::fs::write(checkout.join("config/base_branch"), "--upload-pack=x\n").unwrap();
    let err = run_with(&checkout, "3.3", 1, &tmp.path().join("a9"), &env).unwrap_err();
    assert!(matches!(err, TailsError::BadBaseBranch { .. }), "{err}");
    std::fs::write(checkout.join("config/base_branch"), "stable\n").unwrap();
    // The output directory must be fresh for the next build.
    let err = run_with(&checkout, "3.3", 1_510_631_607, &out, &env).unwrap_err();
    assert!(matches!(err, TailsError::OutputNotFresh { .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn run_reports_a_failed_or_empty_build_and_starts_nothing_on_a_bare_host() {
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("source");
    std::fs::create_dir(&checkout).unwrap();
    let env = stand_in_host(tmp.path(), "exit 3");
    let err = run_with(&checkout, "3.3", 1, &tmp.path().join("a1"), &env).unwrap_err();
    assert!(matches!(err, TailsError::BuildFailed { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Incomplete);
    assert!(err.to_string().contains("rake build"), "{err}");
    let env = stand_in_host(
        tmp.path(),
        ": > \"$ARTIFACTS/tails-amd64-3.3.iso.buildlog\"",
    );
    let err = run_with(&checkout, "3.3", 1, &tmp.path().join("a2"), &env).unwrap_err();
    assert!(matches!(err, TailsError::NoImage { .. }), "{err}");
    assert!(
        err.to_string().contains("tails-amd64-3.3.iso.buildlog"),
        "{err}"
    );
    // On a bare host nothing runs and no output directory is made.
    let bare = bare_host(tmp.path());
    let out = tmp.path().join("a3");
    let err = run_with(&checkout, "3.3", 1, &out, &bare).unwrap_err();
    assert!(matches!(err, TailsError::Preflight(_)), "{err}");
    assert!(!out.exists());
}
