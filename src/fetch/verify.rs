//! The streaming verifier the caller hands to the fetcher, and a plain SHA-256 one.
//!
//! The fetcher never decides alone that bytes are good: every byte of the final file
//! goes through a fresh verifier exactly once, and only a verifier that finishes with
//! `Ok` lets the file be renamed into the cache or returned.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

use crate::exit::{Exit, Failure};

/// A check fed with the bytes of a file, in order, once each.
///
/// Write errors from the verifier abort the attempt as an I/O failure; a verdict on the
/// bytes (bad signature, wrong digest) must be returned by [`Verify::finish`] so that it
/// is counted as an authenticity failure of the source that sent them.
pub trait Verify: Write {
    type Output;
    type Error: std::error::Error + 'static;
    fn finish(self: Box<Self>) -> Result<Self::Output, Self::Error>;
}

/// Checks that the bytes have a given SHA-256. Useful on its own when a release's
/// digest is known, and as the verifier of the fetch tests.
pub struct Sha256Check {
    expected: [u8; 32],
    hasher: Sha256,
}

impl Sha256Check {
    pub fn new(expected: [u8; 32]) -> Self {
        Sha256Check {
            expected,
            hasher: Sha256::new(),
        }
    }
}

impl Write for Sha256Check {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Verify for Sha256Check {
    type Output = [u8; 32];
    type Error = DigestMismatch;

    fn finish(self: Box<Self>) -> Result<[u8; 32], DigestMismatch> {
        let actual: [u8; 32] = self.hasher.finalize().into();
        if actual == self.expected {
            Ok(actual)
        } else {
            Err(DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

/// The bytes do not have the SHA-256 they should have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sha256 mismatch: expected {}, got {}",
    hex::encode(expected),
    hex::encode(actual)
)]
pub struct DigestMismatch {
    pub expected: [u8; 32],
    pub actual: [u8; 32],
}

impl Failure for DigestMismatch {
    fn exit(&self) -> Exit {
        Exit::Authenticity
    }
}

/// Parses 64 hex digits (case-insensitive) into a SHA-256 digest.
pub fn parse_sha256(hex_digits: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digits.trim(), &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    #[test]
    fn accepts_the_right_bytes_in_pieces() {
        let mut v = Box::new(Sha256Check::new(digest(b"hello world")));
        v.write_all(b"hello ").unwrap();
        v.write_all(b"world").unwrap();
        assert_eq!(v.finish().unwrap(), digest(b"hello world"));
    }

    #[test]
    fn refuses_other_bytes_as_authenticity() {
        let mut v = Box::new(Sha256Check::new(digest(b"hello world")));
        v.write_all(b"hello there").unwrap();
        let e = v.finish().unwrap_err();
        assert_eq!(e.actual, digest(b"hello there"));
        assert_eq!(e.exit(), Exit::Authenticity);
        assert!(e.to_string().starts_with("sha256 mismatch: expected "));
    }

    #[test]
    fn parses_hex_digests() {
        let d = digest(b"x");
        assert_eq!(parse_sha256(&hex::encode_upper(d)), Some(d));
        assert_eq!(parse_sha256("abcd"), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
    }
}
