//! The fetch stage: URLs → a verified local file in a content-addressed cache.
//!
//! Bytes are written to `<cache>/partial/<key>.part`, passed through a caller-made
//! verifier as they arrive, and renamed to `<cache>/sha256/<hex>/<name>` only when the
//! verifier, the expected size and the expected SHA-256 all agree. A failed check deletes
//! the part. Sources are tried in order (mirrors first); an interrupted download is
//! resumed with `Range` + `If-Range`. Nothing is trusted because it is in the cache:
//! a cached file goes through a fresh verifier like a download does.
//!
//! Not handled: two processes fetching the same file into the same cache at the same
//! time share one part file and can spoil each other's download (the verifier then
//! rejects it and the part is deleted; nothing bad is kept, the run just fails).

mod cache;
mod error;
mod http;
mod source;
mod stream;
mod verify;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cache::{default_cache_dir, Cache};
pub use error::{Attempt, Failed, FetchError, SetupError, SmallFetchError};
pub use http::{check_redirect, RedirectRefused, MAX_REDIRECTS};
pub use source::{BadSource, Source};
pub use verify::{parse_sha256, DigestMismatch, Sha256Check, Verify};

use cache::Part;
use stream::{pump, Done, Limit, PumpError, Tee, BLOCK};

use crate::cli::SourceArgs;
use crate::progress::Progress;
use crate::untrusted::Untrusted;

/// What is known about the wanted file before fetching it. Unknown facts are simply
/// not checked here (the verifier may still check them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    pub sha256: Option<[u8; 32]>,
}

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Request {
    /// The name it gets in the cache (a plain file name).
    pub file_name: String,
    /// Where to get it, in order: mirrors first, then the release's own URLs.
    pub sources: Vec<Source>,
    pub expected: Expected,
}

/// Where verified bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file already in the cache (verified again now).
    Cache,
    /// A download completed by an earlier run that had not been verified yet.
    Partial,
    /// Downloaded or copied now from this source.
    Source(Source),
    /// The user's own file, verified in place (`--image`).
    Local,
}

/// A verified file.
#[derive(Debug)]
pub struct Fetched<O> {
    /// Its path: in the cache, or the user's own path for `verify_local`.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: [u8; 32],
    pub origin: Origin,
    /// What the verifier returned.
    pub verified: O,
    /// Sources that were tried before and failed, with why (for the report).
    pub earlier_failures: Vec<String>,
}

/// How the fetcher behaves.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub cache_dir: PathBuf,
    /// How long to wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// How long to wait for the response headers, and for each read of the body: a
    /// server that sends nothing for this long is given up on.
    pub read_timeout: Duration,
    /// Draw a progress bar (still only when stderr is a terminal).
    pub progress: bool,
    /// The most bytes accepted for a file whose size is not known.
    pub max_size: u64,
}

impl FetchOptions {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_MAX_SIZE: u64 = 64 << 30;

    pub fn new(cache_dir: PathBuf) -> Self {
        FetchOptions {
            cache_dir,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            progress: false,
            max_size: Self::DEFAULT_MAX_SIZE,
        }
    }

    /// From the command line: `--cache-dir`, else the XDG cache directory.
    pub fn from_args(args: &SourceArgs, progress: bool) -> Result<Self, SetupError> {
        let dir = match &args.cache_dir {
            Some(d) => d.clone(),
            None => default_cache_dir().ok_or(SetupError::NoCacheDir)?,
        };
        Ok(FetchOptions {
            progress,
            ..Self::new(dir)
        })
    }
}

/// Fetches and verifies files. Make one per run; it holds the http client.
pub struct Fetcher {
    opts: FetchOptions,
    cache: Cache,
    client: reqwest::blocking::Client,
}

/// How one source ended, when it did not deliver.
enum Stop<E> {
    /// This source failed; try the next.
    Source(Failed<E>),
    /// Nothing else can succeed either (the cache is unwritable, no verifier).
    Fatal(FetchError<E>),
}

type VerifierFactory<'a, V> = &'a mut dyn FnMut() -> Result<Box<V>, <V as Verify>::Error>;

impl Fetcher {
    pub fn new(opts: FetchOptions) -> Result<Self, SetupError> {
        let client = http::client(&opts)?;
        Ok(Fetcher {
            cache: Cache::new(opts.cache_dir.clone()),
            opts,
            client,
        })
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// Gets `req` into the cache, verified: a cached copy, else a complete part from an
    /// earlier run, else each source in order. `new_verifier` is called once per try;
    /// the verifier it returns sees every byte of the candidate file exactly once.
    pub fn fetch_verified<V: Verify + ?Sized>(
        &self,
        req: &Request,
        new_verifier: VerifierFactory<'_, V>,
    ) -> Result<Fetched<V::Output>, FetchError<V::Error>> {
        let name = &req.file_name;
        if !cache::valid_file_name(name) {
            return Err(FetchError::BadFileName {
                name: Untrusted::new(name.as_str()),
            });
        }
        let progress = Progress::new(
            self.opts.progress,
            &Untrusted::new(name.as_str()).to_string(),
            req.expected.size,
        );
        let mut attempts = Vec::new();
        if let Some(found) = self.try_cache(req, new_verifier, &progress, &mut attempts)? {
            return Ok(found);
        }
        let part = self.cache.part(name, &req.expected);
        fs::create_dir_all(&part.dir).map_err(cache_err("create", &part.dir))?;
        if let Some(found) = self.try_complete_part(req, &part, new_verifier, &progress)? {
            return Ok(found);
        }
        if req.sources.is_empty() {
            return Err(FetchError::NoSources {
                file: Untrusted::new(name.as_str()),
            });
        }
        for source in &req.sources {
            let got = match source {
                Source::Http(url) => self.try_http(url, req, &part, new_verifier, &progress),
                Source::Local(path) => self.try_local(path, req, &part, new_verifier, &progress),
            };
            match got {
                Ok(done) => {
                    let path = self.publish(&part, &done, name)?;
                    progress.finish();
                    let earlier = attempts.iter().map(|a| a.to_string()).collect();
                    return Ok(fetched(path, done, Origin::Source(source.clone()), earlier));
                }
                Err(Stop::Source(failure)) => attempts.push(Attempt {
                    source: source.to_string(),
                    from_cache: false,
                    failure,
                }),
                Err(Stop::Fatal(e)) => return Err(e),
            }
        }
        progress.clear();
        Err(FetchError::AllSourcesFailed {
            file: Untrusted::new(name.as_str()),
            attempts,
        })
    }

    /// Verifies the user's own copy in place, without copying it (`--image PATH`).
    pub fn verify_local<V: Verify + ?Sized>(
        &self,
        path: &Path,
        expected: &Expected,
        new_verifier: VerifierFactory<'_, V>,
    ) -> Result<Fetched<V::Output>, FetchError<V::Error>> {
        let shown = Untrusted::new(path.as_os_str().as_encoded_bytes());
        let label = path
            .file_name()
            .map(|n| Untrusted::new(n.as_encoded_bytes()).to_string())
            .unwrap_or_default();
        let progress = Progress::new(self.opts.progress, &label, expected.size);
        match self.verify_file(path, expected, new_verifier, &progress) {
            Ok(done) => {
                progress.finish();
                Ok(fetched(path.to_path_buf(), done, Origin::Local, Vec::new()))
            }
            Err(Stop::Fatal(e)) => Err(e),
            Err(Stop::Source(Failed::Read { source, .. })) => Err(FetchError::LocalRead {
                path: shown,
                source,
            }),
            Err(Stop::Source(failure)) => Err(FetchError::LocalRejected {
                path: shown,
                failure,
            }),
        }
    }

    /// A small file (signature, key, catalog) into memory, at most `max_bytes`. The
    /// bytes are not verified here: whoever parses them authenticates them.
    pub fn fetch_small(&self, source: &str, max_bytes: u64) -> Result<Vec<u8>, SmallFetchError> {
        match Source::parse(source)? {
            Source::Http(url) => http::fetch_small(&self.client, &url, max_bytes),
            Source::Local(path) => read_small(&path, max_bytes),
        }
    }

    /// Cached copies, each checked by a fresh verifier. A copy whose bytes do not
    /// match the digest in its path is corrupt and removed.
    fn try_cache<V: Verify + ?Sized>(
        &self,
        req: &Request,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
        attempts: &mut Vec<Attempt<V::Error>>,
    ) -> Result<Option<Fetched<V::Output>>, FetchError<V::Error>> {
        for path in self.cache.candidates(&req.file_name, &req.expected) {
            match self.verify_file(&path, &req.expected, new_verifier, progress) {
                Ok(done) => {
                    progress.finish();
                    let earlier = attempts.drain(..).map(|a| a.to_string()).collect();
                    return Ok(Some(fetched(path, done, Origin::Cache, earlier)));
                }
                Err(Stop::Fatal(e)) => return Err(e),
                Err(Stop::Source(failure)) => {
                    let claimed = path.parent().and_then(cache::digest_of_dir);
                    let actual = match &failure {
                        Failed::Sha256Mismatch { actual, .. } => Some(*actual),
                        _ => None,
                    };
                    if claimed.is_some() && actual.is_some() && claimed != actual {
                        let _ = fs::remove_file(&path);
                    }
                    attempts.push(Attempt {
                        source: Untrusted::new(path.as_os_str().as_encoded_bytes()).to_string(),
                        from_cache: true,
                        failure,
                    });
                }
            }
        }
        Ok(None)
    }

    /// A part as long as the expected size was fully received by an earlier run that
    /// stopped before verifying it: verify it now, or drop it.
    fn try_complete_part<V: Verify + ?Sized>(
        &self,
        req: &Request,
        part: &Part,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
    ) -> Result<Option<Fetched<V::Output>>, FetchError<V::Error>> {
        let (Some(size), Some(len)) = (req.expected.size, part.len()) else {
            return Ok(None);
        };
        if len > size {
            part.discard();
        }
        if len != size {
            return Ok(None);
        }
        match self.verify_file(&part.path, &req.expected, new_verifier, progress) {
            Ok(done) => {
                let path = self.publish(part, &done, &req.file_name)?;
                progress.finish();
                Ok(Some(fetched(path, done, Origin::Partial, Vec::new())))
            }
            Err(Stop::Fatal(e)) => Err(e),
            Err(Stop::Source(_)) => {
                part.discard();
                Ok(None)
            }
        }
    }

    /// Streams a file on disk through a fresh verifier.
    fn verify_file<V: Verify + ?Sized>(
        &self,
        path: &Path,
        expected: &Expected,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
    ) -> Result<Done<V::Output>, Stop<V::Error>> {
        let read_failed = |source| {
            Stop::Source(Failed::Read {
                path: Untrusted::new(path.as_os_str().as_encoded_bytes()),
                source,
            })
        };
        let mut file = File::open(path).map_err(read_failed)?;
        let limit = Limit::new(expected, self.opts.max_size);
        if let Some(size) = expected.size {
            let len = file.metadata().map_err(read_failed)?.len();
            if len != size {
                return Err(Stop::Source(Failed::SizeMismatch {
                    expected: size,
                    actual: len,
                }));
            }
        }
        let verifier = new_verifier().map_err(|e| Stop::Fatal(FetchError::Verifier(e)))?;
        let mut tee = Tee::new(verifier, limit, progress);
        let mut buf = vec![0u8; BLOCK];
        match pump(&mut file, &mut tee, None, &mut buf) {
            Ok(()) => tee.finish(expected).map_err(Stop::Source),
            Err(PumpError::Read(e) | PumpError::Write(e)) => Err(read_failed(e)),
            Err(PumpError::Rejected(f)) => Err(Stop::Source(f)),
        }
    }

    /// A `file://` URL or a local path used as a source: copied into the part while
    /// being verified, then published like a download.
    fn try_local<V: Verify + ?Sized>(
        &self,
        path: &Path,
        req: &Request,
        part: &Part,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
    ) -> Result<Done<V::Output>, Stop<V::Error>> {
        let read_failed = |source| {
            Stop::Source(Failed::Read {
                path: Untrusted::new(path.as_os_str().as_encoded_bytes()),
                source,
            })
        };
        let mut file = File::open(path).map_err(read_failed)?;
        let len = file.metadata().map_err(read_failed)?.len();
        let limit = Limit::new(&req.expected, self.opts.max_size);
        if len > limit.bytes {
            return Err(Stop::Source(Failed::AnnouncedTooLarge {
                announced: len,
                limit: limit.bytes,
                limit_is_expected_size: limit.is_expected_size,
            }));
        }
        if let Some(size) = req.expected.size.filter(|s| *s != len) {
            return Err(Stop::Source(Failed::SizeMismatch {
                expected: size,
                actual: len,
            }));
        }
        let _ = fs::remove_file(&part.meta);
        let mut out = File::create(&part.path)
            .map_err(|e| Stop::Fatal(cache_err("create", &part.path)(e)))?;
        let verifier = new_verifier().map_err(|e| Stop::Fatal(FetchError::Verifier(e)))?;
        let mut tee = Tee::new(verifier, limit, progress);
        let mut buf = vec![0u8; BLOCK];
        let pumped = pump(&mut file, &mut tee, Some(&mut out), &mut buf);
        let result = match pumped {
            Ok(()) => tee.finish(&req.expected).map_err(Stop::Source),
            Err(PumpError::Read(e)) => Err(read_failed(e)),
            Err(PumpError::Rejected(f)) => Err(Stop::Source(f)),
            Err(PumpError::Write(e)) => Err(Stop::Fatal(cache_err("write", &part.path)(e))),
        };
        let result = result.and_then(|done| {
            out.sync_all()
                .map_err(|e| Stop::Fatal(cache_err("write", &part.path)(e)))?;
            Ok(done)
        });
        if result.is_err() {
            part.discard();
        }
        result
    }

    fn publish<O, E>(
        &self,
        part: &Part,
        done: &Done<O>,
        name: &str,
    ) -> Result<PathBuf, FetchError<E>> {
        self.cache.publish(part, &done.sha256, name).map_err(|e| {
            part.discard();
            cache_err("move the verified file into", self.cache.root())(e)
        })
    }
}

fn fetched<O>(path: PathBuf, done: Done<O>, origin: Origin, earlier: Vec<String>) -> Fetched<O> {
    Fetched {
        path,
        size: done.size,
        sha256: done.sha256,
        origin,
        verified: done.output,
        earlier_failures: earlier,
    }
}

fn cache_err<E>(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FetchError<E> {
    let path = Untrusted::new(path.as_os_str().as_encoded_bytes());
    move |source| FetchError::Cache {
        action,
        path,
        source,
    }
}

fn read_small(path: &Path, max_bytes: u64) -> Result<Vec<u8>, SmallFetchError> {
    use std::io::Read;
    let shown = || Untrusted::new(path.as_os_str().as_encoded_bytes());
    let file = File::open(path).map_err(|source| SmallFetchError::Read {
        path: shown(),
        source,
    })?;
    let mut out = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| SmallFetchError::Read {
            path: shown(),
            source,
        })?;
    if out.len() as u64 > max_bytes {
        return Err(SmallFetchError::TooLarge {
            url: shown(),
            limit: max_bytes,
        });
    }
    Ok(out)
}
