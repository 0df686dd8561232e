//! The authenticate stage with keys made here by sequoia (TEST ONLY keys, never
//! published): who may sign, when, with what, and the one-pass size/digest checks.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::KeyPair;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::serialize::MarshalInto;
use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
use openpgp::{Cert, Packet};

use verify_release::authenticate::{
    verify_detached, AuthError, Authenticity, Check, Expected, PinnedCert, Sink,
};
use verify_release::exit::{Exit, Failure};

/// 2020-01-01T00:00:00Z: when the test keys are made.
const T0: u64 = 1_577_836_800;
const DAY: u64 = 86_400;
const UID: &str = "Release Team (TEST ONLY key) <release@example.org>";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A certification-only primary with one signing subkey valid for `subkey_validity`.
fn make_cert(uid: &str, subkey_validity: Option<Duration>) -> Cert {
    CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_creation_time(at(T0))
        .set_validity_period(None::<Duration>)
        .add_userid(uid)
        .add_subkey(KeyFlags::empty().set_signing(), subkey_validity, None)
        .generate()
        .unwrap()
        .0
}

fn subkey_signer(cert: &Cert) -> KeyPair {
    let ka = cert.keys().subkeys().secret().next().unwrap();
    ka.key().clone().into_keypair().unwrap()
}

fn primary_signer(cert: &Cert) -> KeyPair {
    let ka = cert.primary_key();
    ka.key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap()
}

fn sign_with(signer: &mut KeyPair, data: &[u8], when: SystemTime, hash: HashAlgorithm) -> Vec<u8> {
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_signature_creation_time(when)
        .unwrap()
        .set_hash_algo(hash)
        .sign_message(signer, data)
        .unwrap();
    Packet::from(sig).to_vec().unwrap()
}

/// A binary detached signature by the signing subkey, made at `when`.
fn sign(cert: &Cert, data: &[u8], when: SystemTime) -> Vec<u8> {
    sign_with(&mut subkey_signer(cert), data, when, HashAlgorithm::SHA512)
}

fn public(cert: &Cert) -> Vec<u8> {
    cert.armored().to_vec().unwrap()
}

fn pin(cert: &Cert) -> Vec<String> {
    vec![cert.fingerprint().to_hex()]
}

fn verify(cert: &Cert, sig: &[u8], data: &[u8]) -> Result<Authenticity, AuthError> {
    let verifier = PinnedCert::new(&public(cert), &pin(cert))?.verifier(sig)?;
    verify_detached(&verifier, data)
}

fn revoke_subkey(cert: Cert, reason: ReasonForRevocation, when: SystemTime) -> Cert {
    let subkey = cert.keys().subkeys().next().unwrap().key().clone();
    let rev = SubkeyRevocationBuilder::new()
        .set_signature_creation_time(when)
        .unwrap()
        .set_reason_for_revocation(reason, b"test revocation")
        .unwrap()
        .build(&mut primary_signer(&cert), &cert, &subkey, None)
        .unwrap();
    cert.insert_packets(rev).unwrap().0
}

#[track_caller]
fn assert_authenticity_failure(result: Result<Authenticity, AuthError>) -> AuthError {
    let err = result.expect_err("must be refused");
    assert_eq!(err.exit(), Exit::Authenticity, "{err}");
    err
}

const DATA: &[u8] = b"release image bytes\n";

#[test]
fn good_signature_verifies_and_says_by_whom() {
    let cert = make_cert(UID, None);
    let sig_time = T0 + 10 * DAY;
    let a = verify(&cert, &sign(&cert, DATA, at(sig_time)), DATA).unwrap();
    assert_eq!(a.primary_fingerprint, cert.fingerprint().to_hex());
    let subkey = cert.keys().subkeys().next().unwrap().key().fingerprint();
    assert_eq!(a.signing_key_fingerprint, subkey.to_hex());
    assert_eq!(a.signer_uid.unwrap().to_string(), UID);
    assert_eq!(a.signature_time, "2020-01-11T00:00:00Z");
    assert_eq!(a.signature_unix_time, sig_time);
    assert_eq!(a.hash_algorithm, "SHA512");
    assert_eq!(a.pubkey_algorithm, "EdDSA-256");
    assert_eq!(a.size, DATA.len() as u64);
    assert!(!a.size_checked && !a.sha256_checked);
}

#[test]
fn armored_and_binary_inputs_are_both_accepted() {
    let cert = make_cert(UID, None);
    let sig = sign(&cert, DATA, at(T0 + DAY));
    let armored_sig = {
        let mut w =
            openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::Signature).unwrap();
        w.write_all(&sig).unwrap();
        w.finalize().unwrap()
    };
    let binary_cert = cert.to_vec().unwrap();
    for (c, s) in [(&binary_cert, &armored_sig), (&public(&cert), &sig)] {
        let v = PinnedCert::new(c, &pin(&cert))
            .unwrap()
            .verifier(s)
            .unwrap();
        verify_detached(&v, DATA).unwrap();
    }
}

#[test]
fn tampered_data_fails() {
    let cert = make_cert(UID, None);
    let sig = sign(&cert, DATA, at(T0 + DAY));
    let mut bad = DATA.to_vec();
    bad[3] ^= 0x20;
    let err = assert_authenticity_failure(verify(&cert, &sig, &bad));
    assert!(matches!(err, AuthError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("altered"), "{err}");
}

#[test]
fn another_key_with_the_same_user_id_is_refused() {
    let real = make_cert(UID, None);
    let impostor = make_cert(UID, None);
    let sig = sign(&impostor, DATA, at(T0 + DAY));
    // The impostor's certificate under the real pin: refused before any hashing.
    let err = PinnedCert::new(&public(&impostor), &pin(&real)).unwrap_err();
    assert!(matches!(err, AuthError::CertNotPinned { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Authenticity);
    // A keyring holding both: the real one is picked, and the impostor's signature
    // is not by it.
    let mut ring = impostor.to_vec().unwrap();
    ring.extend(real.to_vec().unwrap());
    let err = PinnedCert::new(&ring, &pin(&real))
        .unwrap()
        .verifier(&sig)
        .unwrap_err();
    assert!(matches!(err, AuthError::NotByPinnedKey { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Authenticity);
}

#[test]
fn a_pinned_subkey_fingerprint_is_not_a_pinned_primary() {
    let cert = make_cert(UID, None);
    let subkey = cert.keys().subkeys().next().unwrap().key().fingerprint();
    let err = PinnedCert::new(&public(&cert), &[subkey.to_hex()]).unwrap_err();
    assert!(matches!(err, AuthError::CertNotPinned { .. }), "{err}");
}

#[test]
fn hard_revoked_subkey_is_refused_even_for_an_older_signature() {
    let cert = make_cert(UID, None);
    let sig = sign(&cert, DATA, at(T0 + DAY));
    let cert = revoke_subkey(
        cert,
        ReasonForRevocation::KeyCompromised,
        at(T0 + 100 * DAY),
    );
    let err = assert_authenticity_failure(verify(&cert, &sig, DATA));
    assert!(matches!(err, AuthError::Revoked { .. }), "{err}");
    assert!(err.to_string().contains("compromised"), "{err}");
}

#[test]
fn hard_revoked_primary_is_refused_even_for_an_older_signature() {
    let cert = make_cert(UID, None);
    let sig = sign(&cert, DATA, at(T0 + DAY));
    let rev = CertRevocationBuilder::new()
        .set_signature_creation_time(at(T0 + 100 * DAY))
        .unwrap()
        .set_reason_for_revocation(ReasonForRevocation::KeyCompromised, b"stolen")
        .unwrap()
        .build(&mut primary_signer(&cert), &cert, None)
        .unwrap();
    let cert = cert.insert_packets(rev).unwrap().0;
    let err = assert_authenticity_failure(verify(&cert, &sig, DATA));
    assert!(
        matches!(
            err,
            AuthError::Revoked {
                which: "primary",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn soft_revocation_counts_only_from_its_date() {
    let cert = make_cert(UID, None);
    let cert = revoke_subkey(cert, ReasonForRevocation::KeyRetired, at(T0 + 100 * DAY));
    // Made while the key was in service: still good.
    verify(&cert, &sign(&cert, DATA, at(T0 + DAY)), DATA).unwrap();
    // Made after it was retired: refused.
    let err =
        assert_authenticity_failure(verify(&cert, &sign(&cert, DATA, at(T0 + 101 * DAY)), DATA));
    assert!(matches!(err, AuthError::Revoked { .. }), "{err}");
}

#[test]
fn subkey_expired_after_signing_still_verifies() {
    // Like Tails 3.3: signed two days into a 30-day subkey, checked years later.
    let cert = make_cert(UID, Some(Duration::from_secs(30 * DAY)));
    let a = verify(&cert, &sign(&cert, DATA, at(T0 + 2 * DAY)), DATA).unwrap();
    assert_eq!(a.signature_unix_time, T0 + 2 * DAY);
}

#[test]
fn subkey_expired_at_signing_time_is_refused() {
    let cert = make_cert(UID, Some(Duration::from_secs(30 * DAY)));
    let err =
        assert_authenticity_failure(verify(&cert, &sign(&cert, DATA, at(T0 + 31 * DAY)), DATA));
    assert!(matches!(err, AuthError::KeyExpired { .. }), "{err}");
    assert!(err.to_string().contains("2020-02-01T00:00:00Z"), "{err}");
}

#[test]
fn signature_older_than_the_key_is_refused() {
    let cert = make_cert(UID, None);
    let err = assert_authenticity_failure(verify(&cert, &sign(&cert, DATA, at(T0 - DAY)), DATA));
    assert!(
        matches!(
            err,
            AuthError::CertNotValidAt { .. } | AuthError::KeyNotValidAt { .. }
        ),
        "{err}"
    );
}

#[test]
fn signature_from_the_future_is_refused_beyond_the_clock_skew() {
    let cert = make_cert(UID, None);
    let now = SystemTime::now();
    let future = sign(&cert, DATA, now + Duration::from_secs(3600));
    let err = assert_authenticity_failure(verify(&cert, &future, DATA));
    assert!(matches!(err, AuthError::FutureSignature { .. }), "{err}");
    assert!(err.to_string().contains("clock"), "{err}");
    // A minute ahead is ordinary clock skew.
    verify(
        &cert,
        &sign(&cert, DATA, now + Duration::from_secs(60)),
        DATA,
    )
    .unwrap();
}

#[test]
fn sha1_signature_is_refused_naming_sha1() {
    let cert = make_cert(UID, None);
    let sig = sign_with(
        &mut subkey_signer(&cert),
        DATA,
        at(T0 + DAY),
        HashAlgorithm::SHA1,
    );
    let err = assert_authenticity_failure(verify(&cert, &sig, DATA));
    assert!(matches!(err, AuthError::WeakHash { .. }), "{err}");
    assert!(err.to_string().contains("SHA-1"), "{err}");
}

#[test]
fn sha256_signature_is_accepted() {
    let cert = make_cert(UID, None);
    let sig = sign_with(
        &mut subkey_signer(&cert),
        DATA,
        at(T0 + DAY),
        HashAlgorithm::SHA256,
    );
    assert_eq!(verify(&cert, &sig, DATA).unwrap().hash_algorithm, "SHA256");
}

#[test]
fn primary_without_the_signing_flag_may_not_sign_data() {
    let cert = make_cert(UID, None);
    let sig = sign_with(
        &mut primary_signer(&cert),
        DATA,
        at(T0 + DAY),
        HashAlgorithm::SHA512,
    );
    let err = assert_authenticity_failure(verify(&cert, &sig, DATA));
    assert!(matches!(err, AuthError::NotSigningCapable { .. }), "{err}");
}

#[test]
fn one_good_signature_among_strangers_is_enough() {
    let cert = make_cert(UID, None);
    let stranger = make_cert("Someone Else <x@example.org>", None);
    let mut sigs = sign(&stranger, DATA, at(T0 + DAY));
    sigs.extend(sign(&cert, DATA, at(T0 + DAY)));
    verify(&cert, &sigs, DATA).unwrap();
}

#[test]
fn text_signature_hashes_line_ends_as_crlf() {
    let cert = make_cert(UID, None);
    let canonical = b"line one\r\nline two\r\n";
    let sig = SignatureBuilder::new(SignatureType::Text)
        .set_signature_creation_time(at(T0 + DAY))
        .unwrap()
        .sign_message(&mut subkey_signer(&cert), canonical)
        .unwrap();
    let sig = Packet::from(sig).to_vec().unwrap();
    for text in [
        &b"line one\nline two\n"[..],
        canonical,
        b"line one\rline two\r",
    ] {
        verify(&cert, &sig, text).unwrap();
    }
    assert_authenticity_failure(verify(&cert, &sig, b"line one\n\nline two\n"));
}

/// Feeds `data` in uneven pieces, as a download would arrive.
fn feed(check: &mut Check, data: &[u8]) -> std::io::Result<()> {
    let mut rest = data;
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        check.write_all(&rest[..n])?;
        rest = &rest[n..];
        step = step * 7 % 1_048_573 + 1;
    }
    Ok(())
}

fn big_data() -> Vec<u8> {
    // 5 MiB and a bit: several SHA-256 chunks and a partial one.
    (0..(5 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn sha256sum(data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, data).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .expect("sha256sum (coreutils) must be installed for this test");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn big_setup() -> (Cert, Vec<u8>, Vec<u8>, String) {
    let cert = make_cert(UID, None);
    let data = big_data();
    let sig = sign(&cert, &data, at(T0 + DAY));
    let digest = sha256sum(&data);
    (cert, data, sig, digest)
}

fn checker(cert: &Cert, sig: &[u8], expected: Expected) -> Box<Check> {
    let v = PinnedCert::new(&public(cert), &pin(cert))
        .unwrap()
        .verifier(sig)
        .unwrap();
    Check::new(&v, expected).unwrap()
}

fn digest_bytes(hex_digest: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).unwrap();
    out
}

#[test]
fn streaming_check_matches_sha256sum_and_the_signature() {
    let (cert, data, sig, digest) = big_setup();
    let expected = Expected {
        size: Some(data.len() as u64),
        sha256: Some(digest_bytes(&digest)),
    };
    let mut check = checker(&cert, &sig, expected);
    feed(&mut check, &data).unwrap();
    let a = check.finish().unwrap();
    assert_eq!(a.sha256, digest);
    assert_eq!(a.size, data.len() as u64);
    assert!(a.size_checked && a.sha256_checked);
}

#[test]
fn one_flipped_byte_deep_in_a_big_file_fails() {
    let (cert, mut data, sig, _) = big_setup();
    data[3 << 20] ^= 0x80;
    let mut check = checker(&cert, &sig, Expected::default());
    feed(&mut check, &data).unwrap();
    let err = assert_authenticity_failure(check.finish());
    assert!(matches!(err, AuthError::BadSignature { .. }), "{err}");
}

#[test]
fn size_mismatch_is_refused() {
    let (cert, data, sig, digest) = big_setup();
    let expected = Expected {
        size: Some(data.len() as u64 + 1),
        sha256: Some(digest_bytes(&digest)),
    };
    let mut check = checker(&cert, &sig, expected);
    feed(&mut check, &data).unwrap();
    let err = assert_authenticity_failure(check.finish());
    assert!(matches!(err, AuthError::SizeMismatch { .. }), "{err}");
}

#[test]
fn sha256_mismatch_is_refused() {
    let (cert, data, sig, digest) = big_setup();
    let mut wrong = digest_bytes(&digest);
    wrong[31] ^= 1;
    let expected = Expected {
        size: Some(data.len() as u64),
        sha256: Some(wrong),
    };
    let mut check = checker(&cert, &sig, expected);
    feed(&mut check, &data).unwrap();
    let err = assert_authenticity_failure(check.finish());
    assert!(matches!(err, AuthError::Sha256Mismatch { .. }), "{err}");
    assert!(err.to_string().contains(&digest), "{err}");
}

#[test]
fn more_bytes_than_expected_fail_at_once() {
    let (cert, data, sig, _) = big_setup();
    let limit = 1_000_000u64;
    let expected = Expected {
        size: Some(limit),
        sha256: None,
    };
    let mut check = checker(&cert, &sig, expected);
    let err = feed(&mut check, &data).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    // Nothing past the limit was taken, and nothing more is.
    assert!(check.bytes_fed() <= limit);
    assert!(check.write_all(b"x").is_err());
    let err = assert_authenticity_failure(check.finish());
    assert!(matches!(err, AuthError::TooLong { .. }), "{err}");
}
