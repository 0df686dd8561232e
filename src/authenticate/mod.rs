//! The authenticate stage: is this file what the pinned signer signed?
//!
//! A [`Verifier`] holds the signer's certificate (whose *primary* fingerprint must be
//! one of the pins) and a detached signature, both already checked for everything that
//! does not need the file: see [`signer`](self) rules in `signer.rs`. A [`Check`] is then
//! fed the file's bytes once, as they are read or downloaded ([`Sink`]): the same pass
//! feeds the signature's hash and SHA-256, counts the bytes and stops as soon as more
//! than the expected size arrive. [`Sink::finish`] says whether it all holds.

mod cli;
mod error;
mod hashing;
mod signer;
mod time;

use std::sync::Arc;
use std::time::SystemTime;

use sequoia_openpgp as openpgp;

use openpgp::cert::CertParser;
use openpgp::packet::Signature;
use openpgp::parse::{PacketParserBuilder, PacketParserResult, Parse};
use openpgp::policy::StandardPolicy;
use openpgp::{Cert, Fingerprint, Packet};

pub use cli::run_cli;
pub use error::{AuthError, CLOCK_SKEW_SECS};
pub use hashing::Check;

use crate::untrusted::Untrusted;

/// At most this many signatures in one detached signature file.
pub const MAX_SIGNATURES: usize = 8;

/// A streaming check that bytes are fed into (std::io::Write), then finished.
pub trait Sink: std::io::Write {
    fn finish(self: Box<Self>) -> Result<Authenticity, AuthError>;
}

/// What the publisher says about the file, when it says anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    pub sha256: Option<[u8; 32]>,
}

/// What was verified, and with what. Serialized as the `authenticity` object of the
/// JSON report (docs/report.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Authenticity {
    /// The pinned primary key's fingerprint (upper-case hex).
    pub primary_fingerprint: String,
    /// The key that made the signature: the primary or one of its subkeys.
    pub signing_key_fingerprint: String,
    /// The certificate's primary user ID at signature time (attacker-controlled text).
    pub signer_uid: Option<Untrusted>,
    /// When the signature says it was made, RFC 3339 UTC.
    pub signature_time: String,
    /// The same instant in seconds since the epoch.
    pub signature_unix_time: u64,
    /// The signature's hash algorithm, e.g. `SHA512`.
    pub hash_algorithm: String,
    /// The signing key's algorithm and size, e.g. `RSA-4096`.
    pub pubkey_algorithm: String,
    /// Bytes read.
    pub size: u64,
    /// SHA-256 of the bytes read, lower-case hex.
    pub sha256: String,
    /// Whether `size` was compared with a published size (and matched).
    pub size_checked: bool,
    /// Whether `sha256` was compared with a published digest (and matched).
    pub sha256_checked: bool,
}

/// Parses a pinned fingerprint: 40 (v4) or 64 (v6) hex digits; spaces and colons
/// between groups are ignored.
pub fn parse_fingerprint(input: &str) -> Result<Fingerprint, AuthError> {
    let bad = || AuthError::BadFingerprint {
        input: Untrusted::new(input.as_bytes()),
    };
    let digits: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .unwrap_or(&digits);
    let version = match digits.len() {
        40 => 4,
        64 => 6,
        _ => return Err(bad()),
    };
    let raw = hex::decode(digits).map_err(|_| bad())?;
    Fingerprint::from_bytes(version, &raw).map_err(|_| bad())
}

/// Parses a published SHA-256 digest (64 hex digits, either case).
pub fn parse_sha256(input: &str) -> Result<[u8; 32], AuthError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(input.trim(), &mut out).map_err(|_| AuthError::BadSha256 {
        input: Untrusted::new(input.as_bytes()),
    })?;
    Ok(out)
}

/// The signer's certificate, accepted because its primary fingerprint is pinned.
#[derive(Debug, Clone)]
pub struct PinnedCert {
    cert: Arc<Cert>,
}

impl PinnedCert {
    /// Parses `cert_bytes` (one certificate or a keyring, armored or binary) and keeps
    /// the certificate whose *primary* fingerprint is one of `pins`. A subkey matching
    /// a pin does not count.
    pub fn new(cert_bytes: &[u8], pins: &[String]) -> Result<Self, AuthError> {
        let pins = pins
            .iter()
            .map(|p| parse_fingerprint(p))
            .collect::<Result<Vec<_>, _>>()?;
        if pins.is_empty() {
            return Err(AuthError::NoPin);
        }
        let parse_error = |e: anyhow::Error| AuthError::CertParse {
            reason: Untrusted::new(format!("{e:#}").into_bytes()),
        };
        let mut found = Vec::new();
        for cert in CertParser::from_bytes(cert_bytes).map_err(parse_error)? {
            let cert = cert.map_err(parse_error)?;
            if pins.contains(&cert.fingerprint()) {
                return Ok(PinnedCert {
                    cert: Arc::new(cert.strip_secret_key_material()),
                });
            }
            found.push(cert.fingerprint().to_hex());
        }
        if found.is_empty() {
            return Err(AuthError::CertParse {
                reason: Untrusted::new(b"no certificate found".to_vec()),
            });
        }
        Err(AuthError::CertNotPinned {
            found: found.join(", "),
            pinned: pins
                .iter()
                .map(|p| p.to_hex())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The pinned primary fingerprint (upper-case hex).
    pub fn primary_fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// A verifier for one detached signature by this certificate, judged now.
    pub fn verifier(&self, signature_bytes: &[u8]) -> Result<Verifier, AuthError> {
        self.verifier_at(signature_bytes, SystemTime::now())
    }

    /// The same, with "now" given: for replaying a past verification, and for tests.
    pub fn verifier_at(
        &self,
        signature_bytes: &[u8],
        now: SystemTime,
    ) -> Result<Verifier, AuthError> {
        let policy = StandardPolicy::new();
        let mut candidates = Vec::new();
        let mut first_error: Option<AuthError> = None;
        for sig in parse_signatures(signature_bytes)? {
            match signer::check_signature(&self.cert, &policy, &sig, now) {
                Ok(signers) => candidates.extend(signers.into_iter().map(|s| Candidate {
                    sig: sig.clone(),
                    signer: s,
                })),
                // A signature by a stranger says less than one by our key that fails.
                Err(e) => match &first_error {
                    Some(AuthError::NotByPinnedKey { .. }) | None => first_error = Some(e),
                    Some(_) => {}
                },
            }
        }
        if candidates.is_empty() {
            return Err(first_error.unwrap_or(AuthError::NoSignature));
        }
        Ok(Verifier {
            primary: self.primary_fingerprint(),
            candidates,
        })
    }
}

/// A signature by a key that was entitled to make it, waiting for the signed bytes.
#[derive(Clone)]
pub(crate) struct Candidate {
    sig: Signature,
    signer: signer::Signer,
}

/// A pinned certificate and a detached signature it is entitled to have made, checked
/// for everything but the signed bytes. Feed those through [`Check`] or
/// [`verify_detached`].
#[derive(Clone)]
pub struct Verifier {
    primary: String,
    candidates: Vec<Candidate>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("primary", &self.primary)
            .field("signatures", &self.candidates.len())
            .finish()
    }
}

impl Verifier {
    /// Parses the certificate and the detached signature (armored or binary), checks
    /// the primary fingerprint against `pins` and the signature against the key's
    /// validity at signature time (see `signer.rs`).
    pub fn new(
        cert_bytes: &[u8],
        pins: &[String],
        signature_bytes: &[u8],
    ) -> Result<Verifier, AuthError> {
        PinnedCert::new(cert_bytes, pins)?.verifier(signature_bytes)
    }

    /// The pinned primary fingerprint (upper-case hex).
    pub fn primary_fingerprint(&self) -> &str {
        &self.primary
    }
}

/// Verifies a detached signature over an in-memory payload (e.g. a git tag's signed
/// part) with the same pinned-primary rules as a file.
pub fn verify_detached(verifier: &Verifier, payload: &[u8]) -> Result<Authenticity, AuthError> {
    use std::io::Write;
    let mut check = Check::new(verifier, Expected::default())?;
    check.write_all(payload).map_err(|e| AuthError::Hashing {
        reason: e.to_string(),
    })?;
    check.finish()
}

/// Every packet of a detached signature file must be a signature. Containers are
/// not opened (no decompression of hostile input): the first one is an error.
fn parse_signatures(bytes: &[u8]) -> Result<Vec<Signature>, AuthError> {
    let parse_error = |e: anyhow::Error| AuthError::SignatureParse {
        reason: Untrusted::new(format!("{e:#}").into_bytes()),
    };
    let mut ppr = PacketParserBuilder::from_bytes(bytes)
        .map_err(parse_error)?
        .max_recursion_depth(0)
        .build()
        .map_err(parse_error)?;
    let mut sigs = Vec::new();
    while let PacketParserResult::Some(pp) = ppr {
        if !matches!(pp.packet, Packet::Signature(_)) {
            return Err(AuthError::NotDetached {
                what: pp.packet.tag().to_string().to_lowercase(),
            });
        }
        if sigs.len() == MAX_SIGNATURES {
            return Err(AuthError::TooManySignatures {
                limit: MAX_SIGNATURES,
            });
        }
        let (packet, next) = pp.next().map_err(parse_error)?;
        ppr = next;
        if let Packet::Signature(sig) = packet {
            sigs.push(sig);
        }
    }
    if sigs.is_empty() {
        return Err(AuthError::NoSignature);
    }
    Ok(sigs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_spaces_and_refuse_junk() {
        let fpr = parse_fingerprint("A490 D0F4 D311 A415 3E2B  B7CA DBB8 02B2 58AC D84F").unwrap();
        assert_eq!(fpr.to_hex(), "A490D0F4D311A4153E2BB7CADBB802B258ACD84F");
        let lower = parse_fingerprint("0xa490d0f4d311a4153e2bb7cadbb802b258acd84f").unwrap();
        assert_eq!(lower, fpr);
        for bad in [
            "",
            "A490D0F4",
            "DBB802B258ACD84F",
            "Z490D0F4D311A4153E2BB7CADBB802B258ACD84F",
        ] {
            let err = parse_fingerprint(bad).unwrap_err();
            assert!(
                matches!(err, AuthError::BadFingerprint { .. }),
                "{bad}: {err}"
            );
            assert_eq!(crate::exit::Failure::exit(&err), crate::exit::Exit::Usage);
        }
        let v6 = "CB186C4F0609A697E4D52DFA6C722B0C1F1E27C18A56708F6525EC27BAD9ACC9";
        assert_eq!(parse_fingerprint(v6).unwrap().to_hex(), v6);
    }

    #[test]
    fn sha256_parses_64_hex_digits_only() {
        let hex = "5ac6b8a563a999701aa394a0761ba3e29d5a964537549e5b4a81b2abf12a1c09";
        assert_eq!(hex::encode(parse_sha256(hex).unwrap()), hex);
        assert_eq!(hex::encode(parse_sha256(&hex.to_uppercase()).unwrap()), hex);
        assert!(parse_sha256(&hex[1..]).is_err());
        assert!(parse_sha256("zz").is_err());
    }

    #[test]
    fn signature_files_must_hold_only_signatures() {
        assert!(matches!(
            parse_signatures(b"").unwrap_err(),
            AuthError::NoSignature | AuthError::SignatureParse { .. }
        ));
        assert!(matches!(
            parse_signatures(b"hello, not a signature").unwrap_err(),
            AuthError::SignatureParse { .. }
        ));
        // A literal data packet (tag 11): a signed message's content, not a signature.
        let literal = [0xcb, 0x07, b'b', 0, 0, 0, 0, 0, b'x'];
        assert!(matches!(
            parse_signatures(&literal).unwrap_err(),
            AuthError::NotDetached { .. }
        ));
    }
}
