//! The authenticate stage against real Tails 3.3 data: signatures made in 2017 by a
//! subkey that expired in 2018, checked with the key as published then and as
//! published in 2024 (primary expiring 2026-01-13).
//!
//! The data lives outside the repository (`../shared/tails-data`, or the folder named
//! by VERIFY_RELEASE_TAILS_DATA); where it is absent these tests say SKIPPED loudly.

use std::path::{Path, PathBuf};

use verify_release::authenticate::{verify_detached, AuthError, PinnedCert, Verifier};
use verify_release::exit::{Exit, Failure};

const TAILS_PIN: &str = "A490D0F4D311A4153E2BB7CADBB802B258ACD84F";
const SUBKEY_2017: &str = "BA2C222F44AC00ED9899389398FEC6BC752A3DB6";
const KEYS: [&str; 2] = [
    "tails-signing.key.2017-09-18",
    "tails-signing.key.2024-05-28",
];
/// Signed files and their detached signatures, relative to the data folder.
const SIGNED: [(&str, &str); 3] = [
    (
        "3.3/upgrade-3.2-stable/upgrades.yml",
        "3.3/upgrade-3.2-stable/upgrades.yml.pgp",
    ),
    (
        "3.3/upgrade-3.1-stable/upgrades.yml",
        "3.3/upgrade-3.1-stable/upgrades.yml.pgp",
    ),
    (
        "3.3/git-tag/tag-3.3.payload",
        "3.3/git-tag/tag-3.3.payload.asc",
    ),
];

fn tails_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("VERIFY_RELEASE_TAILS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tails-data"));
    if dir.join(KEYS[0]).is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {test}: real Tails data not tested because {} holds no {}; \
             set VERIFY_RELEASE_TAILS_DATA to the tails-data folder",
            dir.display(),
            KEYS[0]
        );
        None
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn tails_3_3_signatures_verify_with_both_key_copies() {
    let Some(dir) = tails_data("tails_3_3_signatures_verify_with_both_key_copies") else {
        return;
    };
    for key in KEYS {
        let cert = PinnedCert::new(&read(&dir, key), &[TAILS_PIN.to_string()])
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        for (file, sig) in SIGNED {
            let verifier = cert
                .verifier(&read(&dir, sig))
                .unwrap_or_else(|e| panic!("{key} / {sig}: {e}"));
            let a = verify_detached(&verifier, &read(&dir, file))
                .unwrap_or_else(|e| panic!("{key} / {file}: {e}"));
            assert_eq!(a.primary_fingerprint, TAILS_PIN);
            assert_eq!(a.signing_key_fingerprint, SUBKEY_2017);
            assert!(a.signature_time.starts_with("2017-11-14T"), "{a:?}");
            assert_eq!(a.hash_algorithm, "SHA512");
            assert_eq!(a.pubkey_algorithm, "RSA-4096");
            let uid = a.signer_uid.expect("a primary user ID").to_string();
            assert!(uid.contains("tails@boum.org"), "{uid}");
            assert_eq!(a.size, read(&dir, file).len() as u64);
        }
    }
}

#[test]
fn tails_3_3_any_flipped_byte_fails() {
    let Some(dir) = tails_data("tails_3_3_any_flipped_byte_fails") else {
        return;
    };
    let verifier = Verifier::new(
        &read(&dir, KEYS[1]),
        &[TAILS_PIN.to_string()],
        &read(&dir, SIGNED[2].1),
    )
    .unwrap();
    let payload = read(&dir, SIGNED[2].0);
    // Every byte of the tag payload, one bit flipped at a time (140 bytes: cheap).
    for i in 0..payload.len() {
        let mut bad = payload.clone();
        bad[i] ^= 0x01;
        let err = verify_detached(&verifier, &bad).unwrap_err();
        assert!(
            matches!(err, AuthError::BadSignature { .. }),
            "byte {i}: {err}"
        );
        assert_eq!(err.exit(), Exit::Authenticity);
    }
    // Truncated and extended payloads fail too.
    assert!(verify_detached(&verifier, &payload[..payload.len() - 1]).is_err());
    let mut longer = payload.clone();
    longer.push(b'\n');
    assert!(verify_detached(&verifier, &longer).is_err());
}

#[test]
fn tails_key_refused_under_another_pin() {
    let Some(dir) = tails_data("tails_key_refused_under_another_pin") else {
        return;
    };
    // The pin of the signing *subkey*: a subkey is not a primary, so it never matches.
    let err = PinnedCert::new(&read(&dir, KEYS[0]), &[SUBKEY_2017.to_string()]).unwrap_err();
    assert!(matches!(err, AuthError::CertNotPinned { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Authenticity);
    assert!(err.to_string().contains(TAILS_PIN), "{err}");
}
