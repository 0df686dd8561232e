//! Tails' real signed tag 3.3 (bytes from Tails' public repository, in the shared
//! tails-data folder; see its README): our splitter must reproduce git's own split, the
//! object must hash to its id, and the signature must verify against the pinned key —
//! with the certificate of the time and with today's.

use std::path::PathBuf;

use verify_release::exit::{Exit, Failure};
use verify_release::source::{tag, verify_tag, SourceError};

const PIN: &str = "A490D0F4D311A4153E2BB7CADBB802B258ACD84F";
const TAG_ID: &str = "b61c685f738f94d36b846261b58af1ce4aaf97bf";
const COMMIT: &str = "e8e5791b60f09a0d313416dc97a4758e4e3f821c";

/// The tails-data folder, or None (after saying so loudly) when it is absent.
fn tails_data() -> Option<PathBuf> {
    let dir = std::env::var_os("VERIFY_RELEASE_TAILS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tails-data"));
    if dir.join("3.3/git-tag/tag-3.3.object").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: Tails tag 3.3 vectors not found in {} (set VERIFY_RELEASE_TAILS_DATA to the tails-data folder)",
            dir.display()
        );
        None
    }
}

fn read(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn splitter_reproduces_gits_split_of_tag_3_3() {
    let Some(dir) = tails_data() else { return };
    let raw = read(&dir, "3.3/git-tag/tag-3.3.object");
    let t = tag::parse(&raw, "3.3").unwrap();
    assert_eq!(t.payload, read(&dir, "3.3/git-tag/tag-3.3.payload"));
    assert_eq!(
        t.signature.as_deref(),
        Some(&read(&dir, "3.3/git-tag/tag-3.3.payload.asc")[..])
    );
    assert_eq!(t.object, COMMIT);
    assert_eq!(t.kind.as_bytes(), b"commit");
    assert_eq!(t.name.as_bytes(), b"3.3");
    assert_eq!(t.message.as_bytes(), b"tagging version 3.3\n");
    assert!(t.tagger.unwrap().as_bytes().ends_with(b" 1510631675 +0100"));
    assert_eq!(tag::object_id("tag", &raw, false).unwrap(), TAG_ID);
}

#[test]
fn tag_3_3_verifies_with_the_pinned_key_then_and_now() {
    let Some(dir) = tails_data() else { return };
    let raw = read(&dir, "3.3/git-tag/tag-3.3.object");
    for key in [
        "tails-signing.key.2017-09-18",
        "tails-signing.key.2024-05-28",
    ] {
        let cert = read(&dir, key);
        let signed = verify_tag("3.3", TAG_ID, &raw, Some(COMMIT), &[PIN.into()], &cert)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(signed.object, COMMIT);
        assert_eq!(signed.signer.primary_fingerprint, PIN);
        assert_eq!(
            signed.signer.signing_key_fingerprint,
            "BA2C222F44AC00ED9899389398FEC6BC752A3DB6"
        );
        assert!(signed.signer.signature_time.starts_with("2017-11-14"));
    }
}

#[test]
fn tag_3_3_altered_or_misnamed_is_refused() {
    let Some(dir) = tails_data() else { return };
    let raw = read(&dir, "3.3/git-tag/tag-3.3.object");
    let cert = read(&dir, "tails-signing.key.2017-09-18");
    let pins = [PIN.to_owned()];
    // One byte of the message changed, with the id recomputed to match: bad signature.
    let mut forged = raw.clone();
    let at = forged.windows(7).position(|w| w == b"version").unwrap();
    forged[at] = b'V';
    let forged_id = tag::object_id("tag", &forged, false).unwrap();
    let err = verify_tag("3.3", &forged_id, &forged, Some(COMMIT), &pins, &cert).unwrap_err();
    assert!(matches!(err, SourceError::TagSignature { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Authenticity);
    // The genuine bytes presented under another id: the repository lies.
    let err = verify_tag("3.3", &forged_id, &raw, Some(COMMIT), &pins, &cert).unwrap_err();
    assert!(
        matches!(err, SourceError::ObjectHashMismatch { .. }),
        "{err}"
    );
    // The genuine 3.3 tag offered as another release's tag.
    let err = verify_tag("3.4", TAG_ID, &raw, None, &pins, &cert).unwrap_err();
    assert!(matches!(err, SourceError::TagNameMismatch { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Authenticity);
    // Another pin: the certificate is not the one trusted.
    let other = ["B1F9C666D3985B7D3B0C5B81252D077014915BBD".to_owned()];
    let err = verify_tag("3.3", TAG_ID, &raw, Some(COMMIT), &other, &cert).unwrap_err();
    assert_eq!(err.exit(), Exit::Authenticity, "{err}");
}
