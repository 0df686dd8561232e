//! The `embedded` backend: the checked-out tree's release.toml run through crates/builder,
//! with no external tool. Also the `verify-release build` command.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use crate::cli::{BuildArgs, OutputArgs};
use crate::exit::{Exit, Failure};
use crate::progress::Progress;
use crate::report::Render;
use crate::untrusted::Untrusted;

/// The builder's version, recorded in reports: the crate version and the recipe
/// formats it makes.
pub fn builder_version() -> String {
    format!(
        "verify-release {} embedded builder (recipe formats {:?})",
        env!("CARGO_PKG_VERSION"),
        builder::SUPPORTED_FORMATS
    )
}

/// A failed build: exit 4, except a recipe the user pointed at by hand being wrong (2).
#[derive(Debug, thiserror::Error)]
#[error("build of {source_dir} failed: {source}")]
pub struct BuildFailed {
    pub source_dir: PathBuf,
    #[source]
    pub source: builder::BuildError,
}

impl Failure for BuildFailed {
    fn exit(&self) -> Exit {
        Exit::Incomplete
    }
}

/// What was built, and how long it took.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub built: builder::Built,
    pub seconds: f64,
}

impl Render for BuildReport {
    fn command(&self) -> &'static str {
        "build"
    }

    fn exit(&self) -> Exit {
        Exit::Verified
    }

    fn human(&self) -> String {
        let b = &self.built;
        let mut text = format!(
            "built {}\n  size    {} bytes\n  sha256  {}\n  SOURCE_DATE_EPOCH {} (recipe format {})\n",
            Untrusted::new(b.path.as_os_str().as_encoded_bytes()),
            b.size,
            b.sha256,
            b.source_date_epoch,
            b.format
        );
        for s in &b.squashfs {
            text.push_str(&format!(
                "  squashfs {} ({} bytes)\n",
                Untrusted::new(s.path.as_bytes()),
                s.size
            ));
        }
        text
    }

    fn json(&self) -> Value {
        json!({
            "build": {
                "path": Untrusted::new(self.built.path.as_os_str().as_encoded_bytes()),
                "size": self.built.size,
                "sha256": self.built.sha256,
                "source_date_epoch": self.built.source_date_epoch,
                "recipe_format": self.built.format,
                "squashfs": self.built.squashfs,
                "builder": builder_version(),
                "seconds": self.seconds,
            }
        })
    }
}

/// Builds `source_dir`'s recipe into `output`, with a progress bar on a terminal.
pub fn build(
    source_dir: &Path,
    output: &Path,
    out: &OutputArgs,
) -> Result<BuildReport, BuildFailed> {
    let started = Instant::now();
    let enabled = Progress::wanted(out.json, out.quiet);
    let mut bar: Option<(builder::Stage, Progress)> = None;
    let built = builder::build(source_dir, output, &mut |stage, done, total| {
        if bar.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            let label = match stage {
                builder::Stage::Squashfs { path, .. } => {
                    Untrusted::new(path.as_bytes()).to_string()
                }
                builder::Stage::Image => "image".to_owned(),
            };
            bar = Some((stage.clone(), Progress::new(enabled, &label, Some(total))));
        }
        if let Some((_, b)) = &bar {
            b.set_position(done);
        }
    });
    if let Some((_, b)) = bar {
        b.finish();
    }
    let built = built.map_err(|source| BuildFailed {
        source_dir: source_dir.to_path_buf(),
        source,
    })?;
    Ok(BuildReport {
        built,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `verify-release build SOURCE_DIR [--output FILE]`.
pub fn run_cli(args: &BuildArgs, out: &OutputArgs) -> Result<BuildReport, BuildFailed> {
    let output = match &args.output {
        Some(o) => o.clone(),
        None => {
            let recipe = builder::Recipe::load(&args.source_dir).map_err(|e| BuildFailed {
                source_dir: args.source_dir.clone(),
                source: e.into(),
            })?;
            PathBuf::from(recipe.image.output)
        }
    };
    build(&args.source_dir, &output, out)
}

/// The steps of an embedded rebuild of `release`, nothing run (`--plan`).
pub fn plan(
    release: &crate::release::Release,
    work_dir: &Path,
) -> Result<super::tails::Plan, super::RebuildError> {
    use super::tails::{CommandLine, EpochPlan, Plan, Step};
    let src = release
        .source
        .as_ref()
        .ok_or_else(|| super::RebuildError::NoSource {
            project: release.project.clone(),
            version: release.version.clone(),
        })?;
    let work_dir = std::path::absolute(work_dir).unwrap_or_else(|_| work_dir.to_path_buf());
    let checkout = work_dir.join("source");
    let out_dir = work_dir.join("rebuilt");
    let image = out_dir.join(&release.image.file_name);
    let (from, known) = match &src.source_date_epoch {
        crate::release::EpochRule::Recipe => (
            "source_date_epoch in release.toml of the tag".to_owned(),
            None,
        ),
        crate::release::EpochRule::DebianChangelog => (
            "the top entry of debian/changelog of the tag".to_owned(),
            None,
        ),
        crate::release::EpochRule::Fixed(n) => ("the catalog".to_owned(), Some(*n)),
    };
    let cmd = |argv: &[&str]| CommandLine {
        cwd: None,
        env: Vec::new(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
    };
    let steps = vec![
        Step {
            name: "fetch",
            what: format!("fetch tag {} from {} into {}", src.tag, src.repo, checkout.display()),
            commands: Vec::new(),
        },
        Step {
            name: "verify-tag",
            what: format!(
                "split the raw tag object into its signed payload and OpenPGP signature and verify it natively against the pinned primary key {}",
                release.signers.join(", ")
            ),
            commands: Vec::new(),
        },
        Step {
            name: "check-commit",
            what: match &src.commit {
                Some(c) => format!("the verified tag must name commit {c}"),
                None => "no commit is recorded: the verified tag alone decides".into(),
            },
            commands: Vec::new(),
        },
        Step {
            name: "checkout",
            what: "check out exactly that commit (detached) with its submodules".into(),
            commands: Vec::new(),
        },
        Step {
            name: "source-date-epoch",
            what: format!("SOURCE_DATE_EPOCH from {from}"),
            commands: Vec::new(),
        },
        Step {
            name: "build",
            what: format!(
                "run the tree's release.toml with the embedded builder ({}); no external tool",
                builder_version()
            ),
            commands: vec![cmd(&[
                "verify-release",
                "build",
                &checkout.to_string_lossy(),
                "--output",
                &image.to_string_lossy(),
            ])],
        },
        Step {
            name: "compare",
            what: "compare the rebuilt image with the verified official image byte for byte, and check the official signature over the rebuilt bytes".into(),
            commands: Vec::new(),
        },
    ];
    Ok(Plan {
        project: release.project.clone(),
        version: release.version.clone(),
        backend: "embedded",
        work_dir: work_dir.clone(),
        checkout_dir: checkout,
        output_dir: out_dir,
        image,
        source_date_epoch: EpochPlan { from, known },
        steps,
    })
}
