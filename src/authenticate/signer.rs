//! Which key made a signature, and whether that key could make it *when it did*.
//!
//! The rules (docs/report.md, "authenticate"):
//! - the signer must be the pinned primary key or a subkey bound to it;
//! - validity is judged at the signature's creation time, with sequoia's standard
//!   policy: the certificate and the key must be bound and alive then, and the key
//!   must have had the signing capability then. A key that expired *after* the
//!   signature does not spoil it (Tails 3.3's subkey expired two months later);
//! - revocations: a hard one (key compromised, or no reason given) is final and
//!   refuses every signature, whatever its date; a soft one (superseded, retired)
//!   counts only from its own date on (sequoia's `revocation_status` at time t);
//! - the signature must not be from the future (beyond [`CLOCK_SKEW_SECS`]), not
//!   expired, and its hash must be collision resistant: MD5, SHA-1 and RIPEMD-160
//!   are refused whatever the signature's date.

use std::time::{Duration, SystemTime};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::packet::key::{PublicParts, UnspecifiedRole};
use openpgp::packet::{Key, Signature};
use openpgp::policy::{HashAlgoSecurity, Policy};
use openpgp::types::{HashAlgorithm, PublicKeyAlgorithm, RevocationStatus, SignatureType};
use openpgp::Cert;

use super::error::{AuthError, CLOCK_SKEW_SECS};
use super::time::rfc3339;
use crate::untrusted::Untrusted;

/// A key that was entitled to make a given signature, and what to report about it.
#[derive(Clone)]
pub(crate) struct Signer {
    pub key: Key<PublicParts, UnspecifiedRole>,
    pub uid: Option<Untrusted>,
    pub created: SystemTime,
}

/// Checks everything about `sig` that does not need the signed bytes.
pub(crate) fn check_signature(
    cert: &Cert,
    policy: &dyn Policy,
    sig: &Signature,
    now: SystemTime,
) -> Result<Vec<Signer>, AuthError> {
    match sig.typ() {
        SignatureType::Binary | SignatureType::Text => {}
        other => {
            return Err(AuthError::WrongSignatureType {
                typ: other.to_string(),
            })
        }
    }
    check_hash(sig, policy)?;
    let created = sig
        .signature_creation_time()
        .ok_or(AuthError::NoCreationTime)?;
    check_dates(sig, created, now)?;
    let matching = issuer_keys(cert, sig)?;
    let vc = valid_cert_at(cert, policy, created)?;

    let mut first_error = None;
    let mut signers = Vec::new();
    for fpr in matching {
        match signer_at(&vc, &fpr, created) {
            Ok(signer) => signers.push(signer),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if signers.is_empty() => Err(e),
        _ => Ok(signers),
    }
}

/// The hash must resist collisions: a signature over a colliding pair vouches for both.
fn check_hash(sig: &Signature, policy: &dyn Policy) -> Result<(), AuthError> {
    #[allow(deprecated)]
    let weak = match sig.hash_algo() {
        HashAlgorithm::MD5 => Some("MD5"),
        HashAlgorithm::SHA1 => Some("SHA-1"),
        HashAlgorithm::RipeMD => Some("RIPEMD-160"),
        _ => None,
    };
    if let Some(algo) = weak {
        return Err(AuthError::WeakHash { algo: algo.into() });
    }
    policy
        .signature(sig, HashAlgoSecurity::CollisionResistance)
        .map_err(|e| AuthError::PolicyRejected { reason: why(&e) })
}

fn check_dates(sig: &Signature, created: SystemTime, now: SystemTime) -> Result<(), AuthError> {
    if created > now + Duration::from_secs(CLOCK_SKEW_SECS) {
        return Err(AuthError::FutureSignature {
            created: rfc3339(created),
            now: rfc3339(now),
        });
    }
    if let Some(expired) = sig.signature_expiration_time() {
        if expired <= now {
            return Err(AuthError::SignatureExpired {
                expired: rfc3339(expired),
            });
        }
    }
    Ok(())
}

/// Fingerprints of the certificate's keys that the signature names as its issuer
/// (all keys when it names none, which OpenPGP allows).
fn issuer_keys(cert: &Cert, sig: &Signature) -> Result<Vec<openpgp::Fingerprint>, AuthError> {
    let issuers = sig.get_issuers();
    let matching: Vec<_> = cert
        .keys()
        .filter(|ka| issuers.is_empty() || issuers.iter().any(|h| h.aliases(ka.key().key_handle())))
        .map(|ka| ka.key().fingerprint())
        .collect();
    if matching.is_empty() {
        let issuers = issuers
            .iter()
            .map(|h| h.to_hex())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AuthError::NotByPinnedKey {
            issuers,
            primary: cert.fingerprint().to_hex(),
        });
    }
    Ok(matching)
}

/// The certificate as it stood at `t`, refused when its primary key was not bound,
/// had expired, or is revoked (hard: ever; soft: by then).
fn valid_cert_at<'a>(
    cert: &'a Cert,
    policy: &'a dyn Policy,
    t: SystemTime,
) -> Result<ValidCert<'a>, AuthError> {
    let primary = cert.fingerprint().to_hex();
    let vc = cert
        .with_policy(policy, t)
        .map_err(|e| AuthError::CertNotValidAt {
            primary: primary.clone(),
            time: rfc3339(t),
            reason: why(&e),
        })?;
    if let RevocationStatus::Revoked(revs) = vc.revocation_status() {
        return Err(AuthError::Revoked {
            which: "primary",
            key: primary,
            reason: revocation_reason(&revs),
        });
    }
    vc.alive().map_err(|e| AuthError::PrimaryExpired {
        primary: primary.clone(),
        time: rfc3339(t),
        reason: why(&e),
    })?;
    Ok(vc)
}

/// Whether the key `fpr` of `vc` could sign data at `vc`'s time.
fn signer_at(
    vc: &ValidCert<'_>,
    fpr: &openpgp::Fingerprint,
    t: SystemTime,
) -> Result<Signer, AuthError> {
    let key = fpr.to_hex();
    let ka = vc
        .cert()
        .keys()
        .key_handle(fpr.clone())
        .next()
        .ok_or_else(|| AuthError::KeyNotValidAt {
            key: key.clone(),
            time: rfc3339(t),
            reason: "not found in the certificate".into(),
        })?;
    let vka = ka
        .with_policy(vc.policy(), t)
        .map_err(|e| AuthError::KeyNotValidAt {
            key: key.clone(),
            time: rfc3339(t),
            reason: why(&e),
        })?;
    if let RevocationStatus::Revoked(revs) = vka.revocation_status() {
        return Err(AuthError::Revoked {
            which: if vka.primary() { "primary" } else { "signing" },
            key,
            reason: revocation_reason(&revs),
        });
    }
    vka.alive().map_err(|e| AuthError::KeyExpired {
        key: key.clone(),
        time: rfc3339(t),
        reason: why(&e),
    })?;
    if !vka.for_signing() {
        return Err(AuthError::NotSigningCapable {
            key,
            time: rfc3339(t),
        });
    }
    let uid = vc
        .primary_userid()
        .ok()
        .map(|u| Untrusted::new(u.userid().value().to_vec()));
    Ok(Signer {
        key: vka.key().clone().role_into_unspecified(),
        uid,
        created: t,
    })
}

/// A sequoia error and its causes as one escaped line (they may quote packet contents).
fn why(e: &anyhow::Error) -> String {
    Untrusted::new(format!("{e:#}").into_bytes()).escaped()
}

/// "key compromised: <message>" from the first revocation, message escaped.
fn revocation_reason(revs: &[&Signature]) -> Untrusted {
    let mut text = Vec::new();
    match revs.first().and_then(|r| r.reason_for_revocation()) {
        Some((code, message)) => {
            text.extend_from_slice(code.to_string().to_lowercase().as_bytes());
            if !message.is_empty() {
                text.extend_from_slice(b": ");
                text.extend_from_slice(message);
            }
        }
        None => text.extend_from_slice(b"no reason given, which counts as compromised"),
    }
    Untrusted::new(text)
}

/// "SHA512", "SHA256", "SHA1", …
pub(crate) fn hash_name(algo: HashAlgorithm) -> String {
    format!("{algo:?}")
}

/// "RSA-4096", "EdDSA-256", …
pub(crate) fn pubkey_name(key: &Key<PublicParts, UnspecifiedRole>) -> String {
    #[allow(deprecated)]
    let name = match key.pk_algo() {
        PublicKeyAlgorithm::RSAEncryptSign | PublicKeyAlgorithm::RSASign => "RSA".to_string(),
        other => format!("{other:?}"),
    };
    match key.mpis().bits() {
        Some(bits) => format!("{name}-{bits}"),
        None => name,
    }
}
