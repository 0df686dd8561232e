//! `verify-release authenticate`: one file, one detached signature, one pinned key.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use super::{parse_sha256, AuthError, Check, Expected, PinnedCert, Sink};
use crate::cli::{AuthenticateArgs, OutputArgs};
use crate::report::authenticate::AuthReport;

/// A certificate larger than this is not a signing key (Tails' is 1.3 MB with all
/// its third-party certifications).
const MAX_CERT_BYTES: u64 = 64 << 20;
/// A detached signature file larger than this holds more than signatures.
const MAX_SIGNATURE_BYTES: u64 = 1 << 20;
/// The file is read in blocks this large.
const READ_BLOCK: usize = 4 << 20;

/// Authenticates `args.file` and says what was verified.
pub fn run_cli(args: &AuthenticateArgs, _out: &OutputArgs) -> Result<AuthReport, AuthError> {
    let expected = Expected {
        size: args.size,
        sha256: args.sha256.as_deref().map(parse_sha256).transpose()?,
    };
    super::parse_fingerprint(&args.fingerprint)?;
    let cert = read_small(&args.cert, "certificate", MAX_CERT_BYTES)?;
    let signature = read_small(&args.signature, "signature", MAX_SIGNATURE_BYTES)?;
    let verifier =
        PinnedCert::new(&cert, std::slice::from_ref(&args.fingerprint))?.verifier(&signature)?;
    let check = Check::new(&verifier, expected)?;
    let authenticity = feed_file(&args.file, check, expected)?;
    Ok(AuthReport {
        file: args.file.clone(),
        authenticity,
    })
}

/// Reads a whole small file, refusing one larger than `limit`.
fn read_small(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, AuthError> {
    let io = |source| AuthError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(io)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(AuthError::InputTooLarge {
            what,
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// One pass over the file in large blocks. A regular file whose size already
/// disagrees with the published one is refused before reading it.
fn feed_file(
    path: &Path,
    mut check: Box<Check>,
    expected: Expected,
) -> Result<super::Authenticity, AuthError> {
    let io = |source| AuthError::Io {
        what: "file",
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    if let (Some(size), Ok(meta)) = (expected.size, file.metadata()) {
        if meta.is_file() && meta.len() != size {
            return Err(if meta.len() > size {
                AuthError::TooLong { expected: size }
            } else {
                AuthError::SizeMismatch {
                    expected: size,
                    actual: meta.len(),
                }
            });
        }
    }
    let mut buf = vec![0u8; READ_BLOCK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        if check.write_all(&buf[..n]).is_err() {
            // Only an overflow fails a write; finish() names it.
            break;
        }
    }
    check.finish()
}
