//! Everything that can go wrong while authenticating a file, one variant per failure.

use std::path::PathBuf;

use crate::exit::{Exit, Failure};
use crate::untrusted::Untrusted;

/// How much a signature's creation time may lie ahead of our clock before it is
/// refused as "from the future": clocks drift, and a publisher that signs a minute
/// before our clock says so is not an attack. Five minutes is what gpg and sequoia
/// treat as plausible skew too.
pub const CLOCK_SKEW_SECS: u64 = 5 * 60;

/// Why a file could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("pinned fingerprint {input} is not 40 or 64 hex digits; give the primary key's full fingerprint, e.g. A490D0F4D311A4153E2BB7CADBB802B258ACD84F")]
    BadFingerprint { input: Untrusted },

    #[error("no fingerprint is pinned; give the signer's primary key fingerprint")]
    NoPin,

    #[error("expected sha256 {input} is not 64 hex digits")]
    BadSha256 { input: Untrusted },

    #[error("could not read {what} {path}: {source}; check the path and permissions", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} {path} is larger than {limit} bytes, which no genuine one is; is it the right file?", path = path.display())]
    InputTooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },

    #[error("could not parse the signer's certificate: {reason}; give an OpenPGP public key (armored or binary)")]
    CertParse { reason: Untrusted },

    #[error("the certificate's primary key {found} is not the pinned {pinned}; this key file belongs to another signer (or was replaced), so nothing it signs is trusted")]
    CertNotPinned { found: String, pinned: String },

    #[error("could not parse the detached signature: {reason}; give an OpenPGP detached signature (.sig/.asc/.pgp)")]
    SignatureParse { reason: Untrusted },

    #[error("the signature file holds a {what} packet, not only signatures; give a detached signature, not a signed message")]
    NotDetached { what: String },

    #[error("the signature file holds no signature")]
    NoSignature,

    #[error("the signature file holds more than {limit} signatures; a detached signature file has one per signer")]
    TooManySignatures { limit: usize },

    #[error("the signature is of type {typ}, not a signature over a file (binary or text); give the file's detached signature")]
    WrongSignatureType { typ: String },

    #[error("the signature uses {algo}, which is broken for signatures (collisions can be forged) and is refused; ask the publisher for a SHA-256 or SHA-512 signature")]
    WeakHash { algo: String },

    #[error("the signature is refused by the security policy: {reason}")]
    PolicyRejected { reason: String },

    #[error("the signature has no creation time, so the key's validity when it was made cannot be checked")]
    NoCreationTime,

    #[error("the signature claims to be made at {created}, in the future (now {now}, tolerance {CLOCK_SKEW_SECS} s); check this computer's clock, or the signature was made with a wrong one")]
    FutureSignature { created: String, now: String },

    #[error(
        "the signature expired at {expired}; the signer limited its validity, ask for a fresh one"
    )]
    SignatureExpired { expired: String },

    #[error("the signature was made by {issuers}, which is not a key of the pinned certificate {primary}; the file was signed by someone else")]
    NotByPinnedKey { issuers: String, primary: String },

    #[error("the pinned certificate {primary} was not valid when the signature was made ({time}): {reason}")]
    CertNotValidAt {
        primary: String,
        time: String,
        reason: String,
    },

    #[error("the pinned primary key {primary} had expired when the signature was made ({time}): {reason}")]
    PrimaryExpired {
        primary: String,
        time: String,
        reason: String,
    },

    #[error("{which} key {key} is revoked ({reason}); a key revoked as compromised (or without a reason) is refused even for signatures made before the revocation")]
    Revoked {
        which: &'static str,
        key: String,
        reason: Untrusted,
    },

    #[error("signing key {key} was not validly bound to the pinned certificate when the signature was made ({time}): {reason}")]
    KeyNotValidAt {
        key: String,
        time: String,
        reason: String,
    },

    #[error("signing key {key} had expired when the signature was made ({time}): {reason}")]
    KeyExpired {
        key: String,
        time: String,
        reason: String,
    },

    #[error("key {key} was not allowed to sign data when the signature was made ({time})")]
    NotSigningCapable { key: String, time: String },

    #[error("bad signature by {key}: the bytes do not match what was signed; the file was altered, truncated, or is not the signed one")]
    BadSignature { key: String },

    #[error("size mismatch: read {actual} bytes, the published size is {expected}; the file is incomplete or not the published one")]
    SizeMismatch { expected: u64, actual: u64 },

    #[error("more bytes than the published size {expected} were fed; the file is not the published one (stopped early)")]
    TooLong { expected: u64 },

    #[error("sha256 mismatch: computed {actual}, the published value is {expected}; the file is not the published one")]
    Sha256Mismatch { expected: String, actual: String },

    #[error("internal error while hashing: {reason}")]
    Hashing { reason: String },
}

impl Failure for AuthError {
    fn exit(&self) -> Exit {
        use AuthError::*;
        match self {
            BadFingerprint { .. } | NoPin | BadSha256 { .. } => Exit::Usage,
            Io { .. } | Hashing { .. } => Exit::Incomplete,
            InputTooLarge { .. }
            | CertParse { .. }
            | CertNotPinned { .. }
            | SignatureParse { .. }
            | NotDetached { .. }
            | NoSignature
            | TooManySignatures { .. }
            | WrongSignatureType { .. }
            | WeakHash { .. }
            | PolicyRejected { .. }
            | NoCreationTime
            | FutureSignature { .. }
            | SignatureExpired { .. }
            | NotByPinnedKey { .. }
            | CertNotValidAt { .. }
            | PrimaryExpired { .. }
            | Revoked { .. }
            | KeyNotValidAt { .. }
            | KeyExpired { .. }
            | NotSigningCapable { .. }
            | BadSignature { .. }
            | SizeMismatch { .. }
            | TooLong { .. }
            | Sha256Mismatch { .. } => Exit::Authenticity,
        }
    }
}
