//! Feeding bytes through the verifier, the SHA-256 the cache is keyed by, the size
//! limit and the progress bar, all in one pass.

use std::fs::File;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::error::Failed;
use super::verify::Verify;
use super::Expected;
use crate::progress::Progress;

/// Reads are this big: large enough to keep the disk and the hash busy.
pub const BLOCK: usize = 2 << 20;

/// The most bytes a source may send, and whether that bound is the release's size
/// (then more bytes are wrong bytes) or only the configured safety cap.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bytes: u64,
    pub is_expected_size: bool,
}

impl Limit {
    pub fn new(expected: &Expected, max_size: u64) -> Self {
        match expected.size {
            Some(bytes) => Limit {
                bytes,
                is_expected_size: true,
            },
            None => Limit {
                bytes: max_size,
                is_expected_size: false,
            },
        }
    }
}

/// A verified file's facts.
#[derive(Debug)]
pub struct Done<O> {
    pub output: O,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// One attempt's verifier, with the digest and count kept beside it.
pub struct Tee<'p, V: Verify + ?Sized> {
    verifier: Box<V>,
    hasher: Sha256,
    total: u64,
    limit: Limit,
    progress: &'p Progress,
}

impl<'p, V: Verify + ?Sized> Tee<'p, V> {
    pub fn new(verifier: Box<V>, limit: Limit, progress: &'p Progress) -> Self {
        progress.set_position(0);
        Tee {
            verifier,
            hasher: Sha256::new(),
            total: 0,
            limit,
            progress,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Takes the next bytes, refusing them if they go past the limit.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(), Failed<V::Error>> {
        let n = buf.len() as u64;
        if self.total.saturating_add(n) > self.limit.bytes {
            return Err(Failed::TooLarge {
                limit: self.limit.bytes,
                limit_is_expected_size: self.limit.is_expected_size,
            });
        }
        self.verifier.write_all(buf).map_err(Failed::VerifierIo)?;
        self.hasher.update(buf);
        self.total += n;
        self.progress.inc(n);
        Ok(())
    }

    /// The verdict: right size, verifier satisfied, right digest (when known).
    pub fn finish(mut self, expected: &Expected) -> Result<Done<V::Output>, Failed<V::Error>> {
        if let Some(size) = expected.size {
            if self.total != size {
                return Err(Failed::SizeMismatch {
                    expected: size,
                    actual: self.total,
                });
            }
        }
        self.verifier.flush().map_err(Failed::VerifierIo)?;
        let output = self.verifier.finish().map_err(Failed::Verification)?;
        let actual: [u8; 32] = self.hasher.finalize().into();
        if let Some(sha) = expected.sha256 {
            if sha != actual {
                return Err(Failed::Sha256Mismatch {
                    expected: sha,
                    actual,
                });
            }
        }
        Ok(Done {
            output,
            sha256: actual,
            size: self.total,
        })
    }
}

/// Why pumping a reader stopped early.
pub enum PumpError<E> {
    /// The reader failed (network dropped, file unreadable).
    Read(io::Error),
    /// The bytes were refused (too many, verifier write failed).
    Rejected(Failed<E>),
    /// Writing the part file failed.
    Write(io::Error),
}

/// Copies `reader` to its end through `tee` (and into `part`, when given).
pub fn pump<V: Verify + ?Sized>(
    reader: &mut dyn Read,
    tee: &mut Tee<'_, V>,
    mut part: Option<&mut File>,
    buf: &mut [u8],
) -> Result<(), PumpError<V::Error>> {
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PumpError::Read(e)),
        };
        tee.feed(&buf[..n]).map_err(PumpError::Rejected)?;
        if let Some(f) = part.as_deref_mut() {
            f.write_all(&buf[..n]).map_err(PumpError::Write)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::verify::Sha256Check;

    fn digest(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    fn run(data: &[u8], expected: Expected, max: u64) -> Result<Done<[u8; 32]>, String> {
        let p = Progress::hidden();
        let v = Box::new(Sha256Check::new(digest(data)));
        let mut tee = Tee::new(v, Limit::new(&expected, max), &p);
        let mut buf = vec![0u8; 3];
        match pump(&mut &data[..], &mut tee, None, &mut buf) {
            Ok(()) => tee.finish(&expected).map_err(|e| e.to_string()),
            Err(PumpError::Rejected(e)) => Err(e.to_string()),
            Err(_) => Err("io".into()),
        }
    }

    #[test]
    fn counts_hashes_and_checks_size_and_digest() {
        let data = b"0123456789";
        let ok = run(
            data,
            Expected {
                size: Some(10),
                sha256: Some(digest(data)),
            },
            0,
        )
        .unwrap();
        assert_eq!((ok.size, ok.sha256), (10, digest(data)));
        let e = run(
            data,
            Expected {
                size: Some(11),
                sha256: None,
            },
            0,
        )
        .unwrap_err();
        assert!(e.contains("size mismatch"), "{e}");
        let e = run(
            data,
            Expected {
                size: None,
                sha256: Some([0; 32]),
            },
            99,
        )
        .unwrap_err();
        assert!(e.contains("sha256 mismatch"), "{e}");
    }

    #[test]
    fn refuses_bytes_past_the_limit() {
        let e = run(
            b"0123456789",
            Expected {
                size: Some(9),
                sha256: None,
            },
            0,
        )
        .unwrap_err();
        assert!(e.contains("grew past the 9 bytes"), "{e}");
        let e = run(b"0123456789", Expected::default(), 4).unwrap_err();
        assert!(e.contains("grew past the 4 bytes"), "{e}");
    }
}
