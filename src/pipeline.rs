//! `run()`: resolve → fetch → authenticate → source → rebuild → compare → report.
//!
//! Each stage has its own module and error type; this file only strings them together
//! and turns the outcome into a report and an exit code.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::authenticate::{self, AuthError, Authenticity, Check, PinnedCert, Sink};
use crate::cli::{Cli, Command, OutputArgs, VerifyArgs};
use crate::exit::{Exit, Failure};
use crate::fetch::{self, FetchError, Fetcher, SetupError, SmallFetchError, Source};
use crate::progress::Progress;
use crate::rebuild::{self, embedded, tails, RebuildError, WorkDir};
use crate::release::{self, Release, ResolveError};
use crate::report::{self, verify::VerifyReport};
use crate::untrusted::Untrusted;

/// Runs what the command line asks and reports it; returns the exit code.
pub fn main(cli: Cli) -> Exit {
    let out = cli.output.clone();
    match cli.command {
        Some(Command::Authenticate(args)) => match authenticate::run_cli(&args, &out) {
            Ok(r) => report::emit(&out, &r),
            Err(e) => report::emit_error(&out, "authenticate", &e),
        },
        Some(Command::List(args)) => match release::list(args.catalog.as_deref()) {
            Ok(list) => report::emit(&out, &report::list::ListReport { releases: list }),
            Err(e) => report::emit_error(&out, "list", &e),
        },
        Some(Command::Compare(args)) => match crate::compare::run_cli(&args, &out) {
            Ok(r) => report::emit(&out, &r),
            Err(e) => report::emit_error(&out, "compare", &e),
        },
        Some(Command::Build(args)) => match crate::rebuild::embedded::run_cli(&args, &out) {
            Ok(r) => report::emit(&out, &r),
            Err(e) => report::emit_error(&out, "build", &e),
        },
        None => match &cli.verify.version {
            Some(version) => match run(version, &cli.verify, &out) {
                Ok(r) => report::emit(&out, &r),
                Err(e) => report::emit_error(&out, "verify", &e),
            },
            None => {
                eprintln!(
                    "verify-release: error: which release? e.g. `verify-release 3.3`, \
                     or `verify-release --help`"
                );
                Exit::Usage
            }
        },
    }
}

/// Why verifying a release could not finish (a differing rebuild is not an error).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("cannot read the signing key {path}: {source}")]
    ReadCert {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot get {what} of {release}; tried:\n{tried}")]
    Small {
        what: &'static str,
        release: String,
        tried: String,
    },
    #[error("{what} of {release}: {source}")]
    Auth {
        what: &'static str,
        release: String,
        #[source]
        source: AuthError,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError<AuthError>),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    #[error(transparent)]
    Plan(#[from] tails::TailsError),
}

impl Failure for PipelineError {
    fn exit(&self) -> Exit {
        match self {
            PipelineError::Resolve(e) => e.exit(),
            PipelineError::Setup(e) => e.exit(),
            PipelineError::ReadCert { .. } | PipelineError::Small { .. } => Exit::Incomplete,
            PipelineError::Auth { source, .. } => source.exit(),
            PipelineError::Fetch(e) => e.exit(),
            PipelineError::Rebuild(e) => e.exit(),
            PipelineError::Plan(e) => e.exit(),
        }
    }
}

/// Feeds fetched bytes to the authenticity check (one read pass).
impl fetch::Verify for Check {
    type Output = Authenticity;
    type Error = AuthError;

    fn finish(self: Box<Self>) -> Result<Authenticity, AuthError> {
        Sink::finish(self)
    }
}

/// Verifies one release: the whole job behind `verify-release VERSION`.
pub fn run(version: &str, args: &VerifyArgs, out: &OutputArgs) -> Result<Outcome, PipelineError> {
    let started = Instant::now();
    let release = resolve(version, args)?;
    if args.plan {
        return Ok(Outcome::Plan(Box::new(plan(&release, args)?)));
    }
    let work = if args.no_rebuild {
        None
    } else {
        let work = WorkDir::new(args.work_dir.as_deref(), args.keep)?;
        rebuild::preflight(&release, &work)?;
        Some(work)
    };
    let progress = Progress::wanted(out.json, out.quiet);
    let fetcher = Fetcher::new(fetch::FetchOptions::from_args(&args.source, progress)?)?;
    log(
        out,
        &format!(
            "{} {}: resolving signature and signing key",
            Untrusted::new(release.project.as_bytes()),
            Untrusted::new(release.version.as_bytes())
        ),
    );

    let signature = fetch_first(&fetcher, &release.signature_urls, "the signature", &release)?;
    let (cert, cert_bytes) = signing_cert(&fetcher, args.cert.as_deref(), &release)?;
    let verifier = cert
        .verifier(&signature)
        .map_err(|source| auth_err("the signature", &release, source))?;

    let expected = authenticate::Expected {
        size: release.image.size,
        sha256: release
            .image
            .sha256
            .as_deref()
            .and_then(|h| authenticate::parse_sha256(h).ok()),
    };
    let mut new_check = || Check::new(&verifier, expected);
    let fetched = match &args.image {
        Some(path) => {
            log(
                out,
                &format!(
                    "authenticating {}",
                    Untrusted::new(path.as_os_str().as_encoded_bytes())
                ),
            );
            fetcher.verify_local(path, &fetch_expected(&expected), &mut new_check)?
        }
        None => {
            log(
                out,
                &format!(
                    "fetching {}",
                    Untrusted::new(release.image.file_name.as_bytes())
                ),
            );
            let request = fetch::Request {
                file_name: release.image.file_name.clone(),
                sources: release
                    .image
                    .urls
                    .iter()
                    .filter_map(|u| Source::parse(u.as_str()).ok())
                    .collect(),
                expected: fetch_expected(&expected),
            };
            fetcher.fetch_verified(&request, &mut new_check)?
        }
    };
    let authenticated_in = started.elapsed();
    let mut report = VerifyReport {
        image_path: fetched.path.clone(),
        origin: origin_text(&fetched.origin),
        authenticity: fetched.verified,
        authenticate_seconds: authenticated_in.as_secs_f64(),
        rebuild: None,
        release,
    };
    let Some(work) = work else {
        return Ok(Outcome::Verified(Box::new(report)));
    };
    let verdict = rebuild::rebuild(
        &report.release,
        &fetched.path,
        &cert_bytes,
        &verifier,
        &work,
        out,
    )?;
    report.rebuild = Some(verdict);
    Ok(Outcome::Verified(Box::new(report)))
}

/// What `verify-release VERSION` produced: a verdict, or with `--plan` the plan.
pub enum Outcome {
    Verified(Box<VerifyReport>),
    Plan(Box<tails::Plan>),
}

impl report::Render for Outcome {
    fn command(&self) -> &'static str {
        match self {
            Outcome::Verified(r) => r.command(),
            Outcome::Plan(p) => p.command(),
        }
    }
    fn exit(&self) -> Exit {
        match self {
            Outcome::Verified(r) => r.exit(),
            Outcome::Plan(p) => p.exit(),
        }
    }
    fn human(&self) -> String {
        match self {
            Outcome::Verified(r) => r.human(),
            Outcome::Plan(p) => p.human(),
        }
    }
    fn json(&self) -> serde_json::Value {
        match self {
            Outcome::Verified(r) => r.json(),
            Outcome::Plan(p) => p.json(),
        }
    }
}

/// Every step of the rebuild, nothing run (`--plan`).
fn plan(release: &Release, args: &VerifyArgs) -> Result<tails::Plan, PipelineError> {
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("verify-release-XXXXXX"));
    match release.backend {
        release::Backend::Tails => tails::plan(release, &work_dir).map_err(PipelineError::from),
        _ => embedded::plan(release, &work_dir).map_err(PipelineError::from),
    }
}

fn resolve(version: &str, args: &VerifyArgs) -> Result<Release, PipelineError> {
    // A USB image of Tails given with --image is checked against the .img signature.
    let is_img = args
        .image
        .as_deref()
        .and_then(Path::extension)
        .is_some_and(|e| e == "img");
    if args.source.catalog.is_none() && is_img {
        let mut r = release::tails::release_of_kind(version, release::tails::ImageKind::Img)?;
        release::add_mirrors(&mut r, &args.source.mirror)?;
        return Ok(r);
    }
    Ok(release::resolve(
        version,
        args.source.catalog.as_deref(),
        &args.source.mirror,
    )?)
}

/// Where the verified bytes came from, for the report: `cache`, `partial` (a complete
/// download from an earlier run), `local` (the user's `--image`), or the URL or path.
fn origin_text(origin: &fetch::Origin) -> String {
    match origin {
        fetch::Origin::Cache => "cache".into(),
        fetch::Origin::Partial => "partial".into(),
        fetch::Origin::Local => "local".into(),
        fetch::Origin::Source(s) => s.to_string(),
    }
}

fn fetch_expected(e: &authenticate::Expected) -> fetch::Expected {
    fetch::Expected {
        size: e.size,
        sha256: e.sha256,
    }
}

fn auth_err(what: &'static str, release: &Release, source: AuthError) -> PipelineError {
    PipelineError::Auth {
        what,
        release: format!("{} {}", release.project, release.version),
        source,
    }
}

/// Largest signature or key file accepted.
const SMALL_MAX: u64 = 1 << 20;

/// The first of `urls` that answers; every failure is listed when none does.
fn fetch_first(
    fetcher: &Fetcher,
    urls: &[url::Url],
    what: &'static str,
    release: &Release,
) -> Result<Vec<u8>, PipelineError> {
    let mut tried = Vec::new();
    for url in urls {
        match fetcher.fetch_small(url.as_str(), SMALL_MAX) {
            Ok(bytes) => return Ok(bytes),
            Err(e) => tried.push(format!("  {url}: {}", small_reason(&e))),
        }
    }
    if tried.is_empty() {
        tried.push("  (no location is known; give one in the catalog)".into());
    }
    Err(PipelineError::Small {
        what,
        release: format!("{} {}", release.project, release.version),
        tried: tried.join("\n"),
    })
}

fn small_reason(e: &SmallFetchError) -> String {
    report::error_chain(e)
}

/// The signing key: `--cert`, else a cached copy whose primary fingerprint is pinned,
/// else fetched from the release's key locations (and cached once its pin matched).
fn signing_cert(
    fetcher: &Fetcher,
    cert_file: Option<&Path>,
    release: &Release,
) -> Result<(PinnedCert, Vec<u8>), PipelineError> {
    if let Some(path) = cert_file {
        let bytes = std::fs::read(path).map_err(|source| PipelineError::ReadCert {
            path: path.to_path_buf(),
            source,
        })?;
        let cert = PinnedCert::new(&bytes, &release.signers)
            .map_err(|source| auth_err("the signing key", release, source))?;
        return Ok((cert, bytes));
    }
    let cached = fetcher
        .cache()
        .root()
        .join("certs")
        .join(format!("{}.pgp", release.signers.join("-")));
    if let Ok(bytes) = std::fs::read(&cached) {
        if let Ok(cert) = PinnedCert::new(&bytes, &release.signers) {
            return Ok((cert, bytes));
        }
    }
    let bytes = fetch_first(fetcher, &release.cert_urls, "the signing key", release)?;
    let cert = PinnedCert::new(&bytes, &release.signers)
        .map_err(|source| auth_err("the signing key", release, source))?;
    if let Some(dir) = cached.parent() {
        // Only a key whose pin matched is kept; failing to cache is not fatal.
        let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&cached, &bytes));
    }
    Ok((cert, bytes))
}

/// A progress line on stderr, unless quiet or JSON was asked for.
pub(crate) fn log(out: &OutputArgs, line: &str) {
    if !out.quiet && !out.json {
        eprintln!("verify-release: {line}");
    }
}
