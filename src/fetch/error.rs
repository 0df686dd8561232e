//! Why a fetch failed: per source ([`Failed`]), overall ([`FetchError`]), and for the
//! small in-memory fetches ([`SmallFetchError`]).

use std::fmt;

use crate::exit::{Exit, Failure};
use crate::untrusted::Untrusted;

use super::source::BadSource;

/// Why one source (or one cached copy) did not deliver verified bytes.
#[derive(Debug, thiserror::Error)]
pub enum Failed<E> {
    #[error("{detail}")]
    Transport { detail: String },
    #[error(
        "timed out ({detail}); hint: the server stalled, raise the timeout or try another mirror"
    )]
    Timeout { detail: String },
    #[error("http status {code}")]
    Status { code: String },
    #[error("protocol error: {detail}")]
    Protocol { detail: String },
    #[error("refused: the server announced {announced} bytes, more than the {limit} expected")]
    AnnouncedTooLarge {
        announced: u64,
        limit: u64,
        limit_is_expected_size: bool,
    },
    #[error("refused: the body grew past the {limit} bytes expected")]
    TooLarge {
        limit: u64,
        limit_is_expected_size: bool,
    },
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error(
        "sha256 mismatch: expected {}, got {}",
        hex::encode(expected),
        hex::encode(actual)
    )]
    Sha256Mismatch {
        expected: [u8; 32],
        actual: [u8; 32],
    },
    #[error("verification failed: {0}")]
    Verification(E),
    #[error("the verifier could not take the bytes: {0}")]
    VerifierIo(std::io::Error),
    #[error("could not read {path}: {source}")]
    Read {
        path: Untrusted,
        source: std::io::Error,
    },
}

impl<E: Failure> Failed<E> {
    /// Authenticity when the bytes were wrong (size, digest, signature); otherwise the
    /// source merely could not be used.
    pub fn exit(&self) -> Exit {
        match self {
            Failed::Verification(e) => e.exit(),
            Failed::SizeMismatch { .. } | Failed::Sha256Mismatch { .. } => Exit::Authenticity,
            Failed::AnnouncedTooLarge {
                limit_is_expected_size,
                ..
            }
            | Failed::TooLarge {
                limit_is_expected_size,
                ..
            } if *limit_is_expected_size => Exit::Authenticity,
            _ => Exit::Incomplete,
        }
    }
}

/// One failed try, for the error message and the report.
#[derive(Debug)]
pub struct Attempt<E> {
    /// The URL or path, escaped for display.
    pub source: String,
    /// Whether this was a copy already in the cache (a bad cached copy says nothing
    /// about the release: it does not count towards an authenticity failure).
    pub from_cache: bool,
    pub failure: Failed<E>,
}

impl<E: fmt::Display> fmt::Display for Attempt<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = if self.from_cache { "cached copy " } else { "" };
        write!(f, "{cached}{}: {}", self.source, self.failure)
    }
}

/// Why `fetch_verified` or `verify_local` failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError<E> {
    #[error("refusing file name {name}: it must be a plain name (no '/', no '..', at most 255 bytes); hint: check the release description")]
    BadFileName { name: Untrusted },
    #[error(
        "no source to fetch {file} from; hint: add --mirror URL or check the release description"
    )]
    NoSources { file: Untrusted },
    #[error("cache: could not {action} {path}: {source}; hint: check the permissions and free space there, or pass --cache-dir DIR")]
    Cache {
        action: &'static str,
        path: Untrusted,
        source: std::io::Error,
    },
    #[error("could not create a verifier: {0}")]
    Verifier(E),
    #[error("{}", all_failed(file, attempts))]
    AllSourcesFailed {
        file: Untrusted,
        attempts: Vec<Attempt<E>>,
    },
    #[error("could not read {path}: {source}; hint: check the path given with --image")]
    LocalRead {
        path: Untrusted,
        source: std::io::Error,
    },
    #[error("{path} was rejected: {failure}")]
    LocalRejected { path: Untrusted, failure: Failed<E> },
}

fn all_failed<E: fmt::Display>(file: &Untrusted, attempts: &[Attempt<E>]) -> String {
    let mut s = format!("could not fetch {file}; every source failed:");
    for a in attempts {
        s.push_str("\n  - ");
        s.push_str(&a.to_string());
    }
    s.push_str("\nhint: nothing unverified was kept; check the network, or add --mirror URL");
    s
}

impl<E: Failure> FetchError<E> {
    /// Whether some source sent bytes that failed verification.
    pub fn is_authenticity(&self) -> bool {
        self.exit() == Exit::Authenticity
    }
}

impl<E: Failure> Failure for FetchError<E> {
    fn exit(&self) -> Exit {
        match self {
            FetchError::Verifier(e) => e.exit(),
            FetchError::LocalRejected { failure, .. } => failure.exit(),
            FetchError::AllSourcesFailed { attempts, .. } => {
                let wrong_bytes = attempts
                    .iter()
                    .any(|a| !a.from_cache && a.failure.exit() == Exit::Authenticity);
                if wrong_bytes {
                    Exit::Authenticity
                } else {
                    Exit::Incomplete
                }
            }
            FetchError::BadFileName { .. }
            | FetchError::NoSources { .. }
            | FetchError::Cache { .. }
            | FetchError::LocalRead { .. } => Exit::Incomplete,
        }
    }
}

/// The fetcher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "no cache directory: neither XDG_CACHE_HOME nor HOME is set; hint: pass --cache-dir DIR"
    )]
    NoCacheDir,
    #[error("could not set up the http client: {detail}")]
    Client { detail: String },
}

impl Failure for SetupError {
    fn exit(&self) -> Exit {
        Exit::Incomplete
    }
}

/// Why a small download (signature, key, catalog) failed. Nothing here says the bytes
/// were bad: small files are authenticated by whoever uses them.
#[derive(Debug, thiserror::Error)]
pub enum SmallFetchError {
    #[error(transparent)]
    BadSource(#[from] BadSource),
    #[error("could not fetch {url}: {detail}; hint: check the network or the URL")]
    Transport { url: Untrusted, detail: String },
    #[error("could not fetch {url}: http status {code}")]
    Status { url: Untrusted, code: String },
    #[error("refusing {url}: larger than {limit} bytes")]
    TooLarge { url: Untrusted, limit: u64 },
    #[error("could not read {path}: {source}")]
    Read {
        path: Untrusted,
        source: std::io::Error,
    },
}

impl Failure for SmallFetchError {
    fn exit(&self) -> Exit {
        match self {
            SmallFetchError::BadSource(e) => e.exit(),
            _ => Exit::Incomplete,
        }
    }
}

/// An error and its causes on one line, "a: b: c", without repeating a cause that
/// the outer message already contains.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::verify::DigestMismatch;

    fn attempt(failure: Failed<DigestMismatch>, from_cache: bool) -> Attempt<DigestMismatch> {
        Attempt {
            source: "https://m.example/a.iso".into(),
            from_cache,
            failure,
        }
    }

    #[test]
    fn wrong_bytes_anywhere_make_an_authenticity_failure() {
        let e = FetchError::AllSourcesFailed {
            file: Untrusted::new("a.iso"),
            attempts: vec![
                attempt(
                    Failed::Status {
                        code: "404 Not Found".into(),
                    },
                    false,
                ),
                attempt(
                    Failed::Verification(DigestMismatch {
                        expected: [0; 32],
                        actual: [1; 32],
                    }),
                    false,
                ),
            ],
        };
        assert_eq!(e.exit(), Exit::Authenticity);
        let text = e.to_string();
        assert!(text.contains("http status 404 Not Found"), "{text}");
        assert!(text.contains("sha256 mismatch"), "{text}");
    }

    #[test]
    fn network_failures_and_bad_cache_copies_are_incomplete() {
        let e = FetchError::AllSourcesFailed {
            file: Untrusted::new("a.iso"),
            attempts: vec![
                attempt(
                    Failed::SizeMismatch {
                        expected: 1,
                        actual: 2,
                    },
                    true,
                ),
                attempt(
                    Failed::Transport {
                        detail: "connection refused".into(),
                    },
                    false,
                ),
                attempt(
                    Failed::TooLarge {
                        limit: 9,
                        limit_is_expected_size: false,
                    },
                    false,
                ),
            ],
        };
        assert_eq!(e.exit(), Exit::Incomplete);
    }
}
