//! `verify-release authenticate` through the real binary: exit codes and reports.
//! Keys are made here by sequoia (TEST ONLY, never published).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::serialize::MarshalInto;
use openpgp::types::{KeyFlags, SignatureType};
use openpgp::Packet;

const TAILS_PIN: &str = "A490D0F4D311A4153E2BB7CADBB802B258ACD84F";

struct Fixture {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    sig: PathBuf,
    file: PathBuf,
    fpr: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_creation_time(UNIX_EPOCH + Duration::from_secs(1_577_836_800))
        .add_userid("CLI Tester (TEST ONLY key) <cli@example.org>")
        .add_subkey(KeyFlags::empty().set_signing(), None, None)
        .generate()
        .unwrap();
    let data = b"an image, or what stands in for one\n".repeat(1000);
    let mut signer = cert
        .keys()
        .subkeys()
        .secret()
        .next()
        .unwrap()
        .key()
        .clone()
        .into_keypair()
        .unwrap();
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_signature_creation_time(UNIX_EPOCH + Duration::from_secs(1_600_000_000))
        .unwrap()
        .sign_message(&mut signer, &data)
        .unwrap();
    let f = Fixture {
        cert: dir.path().join("key.asc"),
        sig: dir.path().join("image.sig"),
        file: dir.path().join("image.iso"),
        fpr: cert.fingerprint().to_spaced_hex(),
        _dir: dir,
    };
    std::fs::write(&f.cert, cert.armored().to_vec().unwrap()).unwrap();
    std::fs::write(&f.sig, Packet::from(sig).to_vec().unwrap()).unwrap();
    std::fs::write(&f.file, &data).unwrap();
    f
}

fn run(cert: &Path, fpr: &str, sig: &Path, file: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verify-release"))
        .arg("authenticate")
        .arg("--cert")
        .arg(cert)
        .args(["--fingerprint", fpr])
        .arg("--signature")
        .arg(sig)
        .args(extra)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils) must be installed for this test");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn good_file_exits_0_and_says_what_was_verified() {
    let f = fixture();
    let sha = sha256_of(&f.file);
    let size = std::fs::metadata(&f.file).unwrap().len().to_string();
    let (code, stdout, stderr) = run(
        &f.cert,
        &f.fpr,
        &f.sig,
        &f.file,
        &["--sha256", &sha, "--size", &size],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("authentic: "), "{stdout}");
    assert!(
        stdout.contains("CLI Tester (TEST ONLY key) <cli@example.org>"),
        "{stdout}"
    );
    assert!(stdout.contains(&f.fpr.replace("  ", " ")[..9]), "{stdout}");
    assert!(stdout.contains(&sha), "{stdout}");
    assert!(stdout.contains("matches the published digest"), "{stdout}");
    assert!(stdout.contains("2020-09-13T12:26:40Z"), "{stdout}");
}

#[test]
fn json_report_has_the_documented_fields() {
    let f = fixture();
    let (code, stdout, stderr) = run(&f.cert, &f.fpr, &f.sig, &f.file, &["--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["command"], "authenticate");
    assert_eq!(v["exit_code"], 0);
    let a = &v["authenticity"];
    assert_eq!(a["primary_fingerprint"], f.fpr.replace(' ', ""));
    assert_eq!(a["sha256"], sha256_of(&f.file));
    assert_eq!(a["sha256_checked"], false);
    assert_eq!(a["signature_time"], "2020-09-13T12:26:40Z");
    assert_eq!(a["signature_unix_time"], 1_600_000_000u64);
    assert!(v["file"].as_str().unwrap().ends_with("image.iso"));
}

#[test]
fn altered_file_exits_3() {
    let f = fixture();
    let mut data = std::fs::read(&f.file).unwrap();
    data[500] ^= 1;
    std::fs::write(&f.file, &data).unwrap();
    let (code, stdout, stderr) = run(&f.cert, &f.fpr, &f.sig, &f.file, &[]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("bad signature"), "{stderr}");
    let (code, stdout, _) = run(&f.cert, &f.fpr, &f.sig, &f.file, &["--json"]);
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["error"]["kind"], "authenticity");
}

#[test]
fn wrong_digest_or_size_exits_3() {
    let f = fixture();
    let zeros = "0".repeat(64);
    let (code, _, stderr) = run(&f.cert, &f.fpr, &f.sig, &f.file, &["--sha256", &zeros]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    let (code, _, stderr) = run(&f.cert, &f.fpr, &f.sig, &f.file, &["--size", "10"]);
    assert_eq!(code, 3, "{stderr}");
}

#[test]
fn other_pinned_fingerprint_exits_3() {
    let f = fixture();
    let (code, _, stderr) = run(&f.cert, TAILS_PIN, &f.sig, &f.file, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("not the pinned"), "{stderr}");
}

#[test]
fn malformed_fingerprint_or_digest_exits_2() {
    let f = fixture();
    let (code, _, stderr) = run(&f.cert, "A490D0F4", &f.sig, &f.file, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("40 or 64 hex digits"), "{stderr}");
    let (code, _, stderr) = run(&f.cert, &f.fpr, &f.sig, &f.file, &["--sha256", "abc"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn unreadable_file_exits_4() {
    let f = fixture();
    let missing = f.file.with_file_name("absent.iso");
    let (code, _, stderr) = run(&f.cert, &f.fpr, &f.sig, &missing, &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("absent.iso"), "{stderr}");
}

#[test]
fn real_tails_udf_verifies_through_the_cli() {
    let dir = std::env::var_os("VERIFY_RELEASE_TAILS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tails-data"));
    let udf = dir.join("3.3/upgrade-3.2-stable/upgrades.yml");
    if !udf.is_file() {
        eprintln!(
            "SKIPPED: real_tails_udf_verifies_through_the_cli because {} is absent; \
             set VERIFY_RELEASE_TAILS_DATA to the tails-data folder",
            udf.display()
        );
        return;
    }
    let sig = dir.join("3.3/upgrade-3.2-stable/upgrades.yml.pgp");
    for key in [
        "tails-signing.key.2017-09-18",
        "tails-signing.key.2024-05-28",
    ] {
        let (code, stdout, stderr) = run(&dir.join(key), TAILS_PIN, &sig, &udf, &[]);
        assert_eq!(code, 0, "{key}: {stdout}{stderr}");
        assert!(
            stdout.contains("BA2C 222F 44AC 00ED 9899  3893 98FE C6BC 752A 3DB6"),
            "{stdout}"
        );
        assert!(stdout.contains("2017-11-14T"), "{stdout}");
    }
}
