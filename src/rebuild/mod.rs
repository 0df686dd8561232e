//! Rebuild backends: `embedded` (crates/builder) and `tails` (Tails' own build system),
//! and the verdict: the rebuilt image compared with the official one.

pub mod embedded;
pub mod tails;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::authenticate::{Check, Expected, Sink, Verifier};
use crate::cli::OutputArgs;
use crate::compare::{self, CompareError, CompareOptions, Comparison};
use crate::exit::{Exit, Failure};
use crate::pipeline::log;
use crate::release::{Backend, Release};
use crate::source::{self, Checkout, SourceError};

/// Everything the rebuild found; the `rebuild` object of the verify report.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Byte for byte the same as the official image.
    pub identical: bool,
    pub backend: Backend,
    /// The builder that made the image (and its version).
    pub builder: String,
    pub source: Checkout,
    pub source_date_epoch: i64,
    pub rebuilt: RebuiltImage,
    pub comparison: Comparison,
    /// The official detached signature checked over the rebuilt bytes.
    pub official_signature_over_rebuilt: SignatureCheck,
    /// Where the checkout and the rebuilt image are (kept with --keep or --work-dir).
    pub work_dir: PathBuf,
    pub kept: bool,
    pub timings: Timings,
    /// Host tool versions, when an external build ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<tails::HostReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuiltImage {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureCheck {
    pub verified: bool,
    /// Why it did not verify, when it did not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub source_seconds: f64,
    pub build_seconds: f64,
    pub compare_seconds: f64,
}

/// Why a rebuild could not be done (a differing image is a verdict, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("{project} {version} has no rebuild backend; use --no-rebuild to authenticate only")]
    NoBackend { project: String, version: String },
    #[error("{project} {version} names no source to rebuild from; use --no-rebuild to authenticate only")]
    NoSource { project: String, version: String },
    #[error("cannot prepare the work directory {path}: {source}")]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Build(#[from] embedded::BuildFailed),
    #[error(transparent)]
    Tails(#[from] tails::TailsError),
    #[error("the recipe says SOURCE_DATE_EPOCH {recipe}, but the release's rule gives {rule}; the catalog and the source disagree")]
    EpochMismatch { recipe: i64, rule: i64 },
    #[error(transparent)]
    Compare(#[from] CompareError),
}

impl Failure for RebuildError {
    fn exit(&self) -> Exit {
        match self {
            RebuildError::Source(e) => e.exit(),
            RebuildError::Build(e) => e.exit(),
            RebuildError::Tails(e) => e.exit(),
            RebuildError::Compare(e) => e.exit(),
            _ => Exit::Incomplete,
        }
    }
}

/// The work directory: the user's `--work-dir`, or a fresh temporary one that is
/// removed at the end unless `keep`.
pub struct WorkDir {
    path: PathBuf,
    temp: Option<tempfile::TempDir>,
}

impl WorkDir {
    pub fn new(given: Option<&Path>, keep: bool) -> Result<WorkDir, RebuildError> {
        match given {
            Some(p) => {
                std::fs::create_dir_all(p).map_err(|source| RebuildError::WorkDir {
                    path: p.to_path_buf(),
                    source,
                })?;
                let path = std::path::absolute(p).map_err(|source| RebuildError::WorkDir {
                    path: p.to_path_buf(),
                    source,
                })?;
                Ok(WorkDir { path, temp: None })
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("verify-release-")
                    .tempdir()
                    .map_err(|source| RebuildError::WorkDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                if keep {
                    let path = t.keep();
                    Ok(WorkDir { path, temp: None })
                } else {
                    Ok(WorkDir {
                        path: t.path().to_path_buf(),
                        temp: Some(t),
                    })
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory outlives the run.
    pub fn kept(&self) -> bool {
        self.temp.is_none()
    }
}

/// Checks, before anything long starts (the download included), that the release can
/// be rebuilt here: it has a source and a backend, and the backend's host requirements
/// are met.
pub fn preflight(release: &Release, work: &WorkDir) -> Result<(), RebuildError> {
    if release.source.is_none() {
        return Err(RebuildError::NoSource {
            project: release.project.clone(),
            version: release.version.clone(),
        });
    }
    match release.backend {
        Backend::None => Err(RebuildError::NoBackend {
            project: release.project.clone(),
            version: release.version.clone(),
        }),
        Backend::Tails => {
            tails::preflight(work.path()).map_err(tails::TailsError::from)?;
            Ok(())
        }
        Backend::Embedded => Ok(()),
    }
}

/// Gets the verified source, rebuilds it with the release's backend into the work
/// directory (never into the cache or next to the official image), and compares the
/// result with the verified `official` image.
pub fn rebuild(
    release: &Release,
    official: &Path,
    cert: &[u8],
    verifier: &Verifier,
    work: &WorkDir,
    out: &OutputArgs,
) -> Result<Verdict, RebuildError> {
    let src = release
        .source
        .as_ref()
        .ok_or_else(|| RebuildError::NoSource {
            project: release.project.clone(),
            version: release.version.clone(),
        })?;
    if release.backend == Backend::None {
        return Err(RebuildError::NoBackend {
            project: release.project.clone(),
            version: release.version.clone(),
        });
    }
    let started = Instant::now();
    log(
        out,
        &format!(
            "fetching the source at tag {} and verifying its signature",
            src.tag
        ),
    );
    let checkout = source::fetch_source(src, &release.signers, cert, work.path())?;
    let epoch = source::source_date_epoch(&src.source_date_epoch, &checkout.path)?;
    let source_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (rebuilt, builder, host) = match release.backend {
        Backend::Tails => {
            // Tails' build wants a fresh ARTIFACTS directory; one left by an earlier run
            // in the same work directory is ours to clear.
            let out_dir = tails::output_dir(work.path());
            if out_dir.exists() {
                std::fs::remove_dir_all(&out_dir).map_err(|source| RebuildError::WorkDir {
                    path: out_dir.clone(),
                    source,
                })?;
            }
            log(
                out,
                "building with Tails' build system (this takes a long time)",
            );
            let b = tails::run(&checkout.path, &release.version, epoch, &out_dir)?;
            let image = RebuiltImage {
                path: b.image,
                size: b.size,
                sha256: b.sha256,
            };
            (image, "tails: rake build".to_owned(), Some(b.host))
        }
        _ => {
            log(out, "building with the embedded builder");
            let out_dir = work.path().join("rebuilt");
            std::fs::create_dir_all(&out_dir).map_err(|source| RebuildError::WorkDir {
                path: out_dir.clone(),
                source,
            })?;
            let report =
                embedded::build(&checkout.path, &out_dir.join(&release.image.file_name), out)?;
            if report.built.source_date_epoch != epoch {
                return Err(RebuildError::EpochMismatch {
                    recipe: report.built.source_date_epoch,
                    rule: epoch,
                });
            }
            let image = RebuiltImage {
                path: report.built.path,
                size: report.built.size,
                sha256: report.built.sha256,
            };
            (image, embedded::builder_version(), None)
        }
    };
    let build_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    log(out, "comparing the rebuilt image with the official one");
    let comparison = compare::compare_files(official, &rebuilt.path, &CompareOptions::default())?;
    let official_signature_over_rebuilt = signature_over(verifier, &rebuilt.path);
    let compare_seconds = started.elapsed().as_secs_f64();
    Ok(Verdict {
        identical: comparison.identical,
        backend: release.backend,
        builder,
        source: checkout,
        source_date_epoch: epoch,
        rebuilt,
        comparison,
        official_signature_over_rebuilt,
        work_dir: work.path().to_path_buf(),
        kept: work.kept(),
        timings: Timings {
            source_seconds,
            build_seconds,
            compare_seconds,
        },
        host,
    })
}

/// Checks the official detached signature over the rebuilt bytes: if they are the
/// same bytes, it must verify (Tails' own documentation suggests this check).
fn signature_over(verifier: &Verifier, path: &Path) -> SignatureCheck {
    let result = (|| {
        let mut check = Check::new(verifier, Expected::default()).map_err(|e| e.to_string())?;
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut check, &buf[..n]).map_err(|e| e.to_string())?;
        }
        check.finish().map_err(|e| crate::report::error_chain(&e))
    })();
    match result {
        Ok(_) => SignatureCheck {
            verified: true,
            error: None,
        },
        Err(e) => SignatureCheck {
            verified: false,
            error: Some(e),
        },
    }
}
