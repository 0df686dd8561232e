//! The command line (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Check that a released OS image really comes from its published source.
///
/// `verify-release 3.3` fetches Tails 3.3, authenticates it against the pinned signing
/// key, rebuilds it from the signed source tag and compares the two images byte for byte.
#[derive(Debug, Parser)]
#[command(
    name = "verify-release",
    version,
    args_conflicts_with_subcommands = true
)]
#[command(
    after_help = "Exit codes: 0 verified, 1 rebuilt image differs, 2 usage error, \
3 authenticity failure, 4 could not complete."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub verify: VerifyArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How results are shown. Only the report goes to stdout.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Print a machine-readable JSON report on stdout (schema: docs/report.md).
    #[arg(long, global = true)]
    pub json: bool,

    /// No progress bars or log lines on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// Where releases are described and where downloads go.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// A catalog file (TOML, docs/catalog.md) describing releases other than Tails'.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Cache directory for verified downloads [default: $XDG_CACHE_HOME/verify-release].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// A base URL to try before the release's own locations (repeatable).
    #[arg(long, value_name = "URL")]
    pub mirror: Vec<String>,
}

/// The main job: verify one release.
#[derive(Debug, Clone, Default, Args)]
pub struct VerifyArgs {
    /// The release to verify, e.g. 3.3 for Tails 3.3, or a version from --catalog.
    #[arg(value_name = "VERSION", id = "release")]
    pub version: Option<String>,

    #[command(flatten)]
    pub source: SourceArgs,

    /// Use this copy of the image instead of downloading it (verified just the same).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,

    /// The signing key (OpenPGP certificate) to use instead of fetching it; its primary
    /// fingerprint must still match the pinned one.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Only authenticate the image; do not rebuild it.
    #[arg(long)]
    pub no_rebuild: bool,

    /// Print every step and command of the rebuild without running any.
    #[arg(long)]
    pub plan: bool,

    /// Keep the work directory (source checkout, rebuilt image) after the run.
    #[arg(long)]
    pub keep: bool,

    /// Where to check out and rebuild [default: a fresh temporary directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Authenticate a file with a detached OpenPGP signature against a pinned key.
    Authenticate(AuthenticateArgs),
    /// List the releases verify-release knows.
    List(ListArgs),
    /// Compare two images byte for byte and say what lives where they differ.
    Compare(CompareArgs),
    /// Build the image described by a source tree's release.toml with the embedded builder.
    Build(BuildArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuthenticateArgs {
    /// The signer's OpenPGP certificate (armored or binary).
    #[arg(long, value_name = "KEYFILE")]
    pub cert: PathBuf,

    /// The pinned primary-key fingerprint (40 or 64 hex digits, spaces allowed).
    #[arg(long, value_name = "FPR")]
    pub fingerprint: String,

    /// The detached signature (armored or binary).
    #[arg(long, value_name = "SIGFILE")]
    pub signature: PathBuf,

    /// The expected SHA-256 of the file, in hex.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,

    /// The expected size of the file in bytes.
    #[arg(long, value_name = "BYTES")]
    pub size: Option<u64>,

    /// The file to authenticate.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Also list the releases of this catalog file.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The official image.
    pub official: PathBuf,
    /// The rebuilt image.
    pub rebuilt: PathBuf,
    /// Report at most this many differing regions.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_regions: usize,
    /// Run diffoscope on the differing inner files (when installed), with a time budget.
    #[arg(long)]
    pub diffoscope: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// A source tree with release.toml at its root.
    pub source_dir: PathBuf,
    /// Where to write the image [default: the recipe's output name in the current directory].
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_and_subcommands_parse() {
        let cli = Cli::try_parse_from(["verify-release", "3.3", "--no-rebuild", "--json"]).unwrap();
        assert_eq!(cli.verify.version.as_deref(), Some("3.3"));
        assert!(cli.verify.no_rebuild && cli.output.json);
        let cli = Cli::try_parse_from(["verify-release", "compare", "a", "b", "--json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Compare(_))));
        assert!(cli.output.json);
    }
}
