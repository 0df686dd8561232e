//! The `tails` rebuild backend: Tails' own build system (`rake build`, which starts a
//! Vagrant + libvirt + KVM builder VM and runs live-build inside it), driven the way a
//! release rebuild needs. Why each setting: docs/tails-backend.md.
//!
//! - [`plan`] lists every step and command of a rebuild without running anything;
//! - [`preflight`] checks the host *before* anything long starts and names every
//!   missing piece at once, with how to get it;
//! - [`run`] runs the build in a verified checkout, and hashes the image it produced.
//!
//! [`Plan`] implements [`crate::report::Render`] (`verify-release 3.3 --plan`);
//! [`HostReport`] and [`PreflightError`] implement `Display`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::Value;

use crate::exit::{Exit, Failure};
use crate::release::{Backend, EpochRule, Release};

/// The build options of a release rebuild (TAILS_BUILD_OPTIONS). `defaultcomp`: the
/// release's own SquashFS compression (Tails builds releases with it; `gzipcomp` is
/// refused on a tag anyway). `forcecleanup`: a fresh builder VM for this build, removed
/// afterwards, so nothing from an earlier build can leak in.
pub const BUILD_OPTIONS: &str = "defaultcomp forcecleanup";

/// Free space Tails documents for a build (20 GB), in bytes.
pub const MIN_DISK_BYTES: u64 = 20_000_000_000;
/// Free RAM Tails documents for a build (1 GiB), in bytes.
pub const MIN_MEMORY_BYTES: u64 = 1 << 30;

/// Where things go under a work directory.
pub fn checkout_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("source")
}

/// The fresh directory the build's artifacts land in (ARTIFACTS).
pub fn output_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("tails-artifacts")
}

/// The image `rake build` leaves in ARTIFACTS for `version`.
pub fn image_name(version: &str) -> String {
    format!("tails-amd64-{version}.iso")
}

// ---------------------------------------------------------------------------------
// The plan

/// Every step of a rebuild, in order, with the exact commands; nothing is run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub project: String,
    pub version: String,
    pub backend: &'static str,
    pub work_dir: PathBuf,
    pub checkout_dir: PathBuf,
    pub output_dir: PathBuf,
    /// Where the rebuilt image will be.
    pub image: PathBuf,
    pub source_date_epoch: EpochPlan,
    pub steps: Vec<Step>,
}

/// Where SOURCE_DATE_EPOCH comes from, and its value when known before checkout.
#[derive(Debug, Clone, Serialize)]
pub struct EpochPlan {
    pub from: String,
    pub known: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub what: String,
    /// The commands of this step, when it runs any (our own checks run none).
    pub commands: Vec<CommandLine>,
}

/// A command as it will be run: working directory, environment added, argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandLine {
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub argv: Vec<String>,
}

impl CommandLine {
    fn new(argv: &[&str]) -> Self {
        CommandLine {
            cwd: None,
            env: Vec::new(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The command as a POSIX shell line, every word quoted where needed.
    pub fn shell(&self) -> String {
        let mut out = String::new();
        if let Some(cwd) = &self.cwd {
            out.push_str(&format!("cd {} && ", quote(&cwd.to_string_lossy())));
        }
        if !self.env.is_empty() {
            out.push_str("env ");
            for (k, v) in &self.env {
                out.push_str(&format!("{k}={} ", quote(v)));
            }
        }
        let words: Vec<String> = self.argv.iter().map(|a| quote(a)).collect();
        out.push_str(&words.join(" "));
        out
    }
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,@%^".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TailsError {
    #[error(
        "{project} {version} is not rebuilt with Tails' build system (its backend is {backend:?})"
    )]
    NotTails {
        project: String,
        version: String,
        backend: Backend,
    },
    #[error("{project} {version} has no recorded source repository and tag; it cannot be rebuilt")]
    NoSource { project: String, version: String },
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error("output directory {path} already exists and is not empty; each build needs a fresh one (remove it or use another work directory)", path = path.display())]
    OutputNotFresh { path: PathBuf },
    #[error("could not {what} {path}: {source}", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}); see its output above. `rake vm:destroy` in {checkout} removes a half-built builder VM", checkout = checkout.display())]
    BuildFailed {
        command: String,
        status: String,
        checkout: PathBuf,
    },
    #[error("{path} does not name a plain branch; the checkout is not a Tails release tree", path = path.display())]
    BadBaseBranch { path: PathBuf },
    #[error("the build finished but {path} holds no {expected}; it produced: {found}", path = dir.display())]
    NoImage {
        dir: PathBuf,
        expected: String,
        found: String,
    },
}

impl Failure for TailsError {
    fn exit(&self) -> Exit {
        match self {
            TailsError::NotTails { .. } | TailsError::OutputNotFresh { .. } => Exit::Usage,
            TailsError::Preflight(e) => e.exit(),
            TailsError::NoSource { .. }
            | TailsError::Io { .. }
            | TailsError::BuildFailed { .. }
            | TailsError::BadBaseBranch { .. }
            | TailsError::NoImage { .. } => Exit::Incomplete,
        }
    }
}

/// The rebuild of `release` with Tails' build system, under `work_dir`, step by step.
pub fn plan(release: &Release, work_dir: &Path) -> Result<Plan, TailsError> {
    if release.backend != Backend::Tails {
        return Err(TailsError::NotTails {
            project: release.project.clone(),
            version: release.version.clone(),
            backend: release.backend,
        });
    }
    let src = release
        .source
        .as_ref()
        .ok_or_else(|| TailsError::NoSource {
            project: release.project.clone(),
            version: release.version.clone(),
        })?;
    let work_dir = std::path::absolute(work_dir).unwrap_or_else(|_| work_dir.to_path_buf());
    let checkout = checkout_dir(&work_dir);
    let out = output_dir(&work_dir);
    let image = out.join(image_name(&release.version));
    let tag = &src.tag;
    let refname = format!("refs/tags/{tag}");
    let epoch = epoch_plan(&src.source_date_epoch, tag, &release.version);
    let pins = release.signers.join(", ");
    let co = checkout.to_string_lossy().into_owned();

    let mut steps = Vec::new();
    steps.push(Step {
        name: "fetch",
        what: format!(
            "fetch tag {tag} (and only what it reaches, full history) from {} into a new repository",
            src.repo
        ),
        commands: vec![
            CommandLine::new(&["git", "init", "-q", "--", &co]),
            CommandLine::new(&[
                "git",
                "-C",
                &co,
                "fetch",
                "--no-tags",
                "--",
                remote_arg(&src.repo).as_str(),
                &format!("+{refname}:{refname}"),
            ]),
        ],
    });
    steps.push(Step {
        name: "verify-tag",
        what: format!(
            "read the raw tag object of {refname} (git cat-file --batch), require an annotated tag named {tag} that names a commit and hashes to its id, split it into the signed payload and its OpenPGP signature, and verify the signature natively against the pinned primary key {pins} (a signing subkey valid when the signature was made; never the user's gpg keyring)"
        ),
        commands: vec![
            CommandLine::new(&["git", "-C", &co, "rev-parse", "--verify", "--end-of-options", &refname]),
            CommandLine::new(&["git", "-C", &co, "cat-file", "--batch"]),
        ],
    });
    steps.push(Step {
        name: "check-commit",
        what: match &src.commit {
            Some(c) => format!("the verified tag must name commit {c}, recorded for this release"),
            None => "no commit is recorded for this release: the verified tag alone decides".into(),
        },
        commands: Vec::new(),
    });
    let commit = src
        .commit
        .clone()
        .unwrap_or_else(|| "<commit named by the verified tag>".into());
    steps.push(Step {
        name: "checkout",
        what: "check out exactly the commit the verified tag names (detached), then its submodules at the commits its tree records".into(),
        commands: vec![
            CommandLine::new(&["git", "-C", &co, "checkout", "--detach", &commit, "--"]),
            CommandLine::new(&["git", "-C", &co, "submodule", "update", "--init", "--recursive"]),
        ],
    });
    steps.push(Step {
        name: "source-date-epoch",
        what: match epoch.known {
            Some(n) => format!("SOURCE_DATE_EPOCH {n}, {}", epoch.from),
            None => format!("SOURCE_DATE_EPOCH {}", epoch.from),
        },
        commands: Vec::new(),
    });
    steps.push(Step {
        name: "preflight",
        what: format!(
            "check the host before building: {}; /dev/kvm usable; libvirt's qemu:///system reachable; the vagrant-libvirt plugin and Ruby's libvirt binding present; at least {} MiB of free RAM and {} GB free in {}",
            TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
            MIN_MEMORY_BYTES >> 20,
            MIN_DISK_BYTES / 1_000_000_000,
            work_dir.display()
        ),
        commands: Vec::new(),
    });
    steps.push(Step {
        name: "base-branch-ref",
        what: "Tails' Rakefile requires origin/<config/base_branch> to resolve even for a tag build (which never merges it): point that local ref at the checked-out commit; nothing is fetched, the tree is untouched".into(),
        commands: vec![CommandLine::new(&[
            "git",
            "-C",
            &co,
            "update-ref",
            "--no-deref",
            "refs/remotes/origin/<first line of config/base_branch>",
            "HEAD",
        ])],
    });
    steps.push(Step {
        name: "build",
        what: format!(
            "run Tails' build in the checkout: a fresh builder VM (Vagrant + libvirt + KVM) builds the image and copies it to {}",
            out.display()
        ),
        commands: vec![build_command(&checkout, &out, epoch.known)],
    });
    steps.push(Step {
        name: "hash",
        what: format!(
            "as soon as the build ends: SHA-256 and size of {}, recorded with the host's tool versions (git, rake, vagrant, libvirt, qemu)",
            image.display()
        ),
        commands: Vec::new(),
    });
    let official = match (&release.image.sha256, release.image.size) {
        (Some(h), Some(s)) => format!(" (published: {s} bytes, sha256 {h})"),
        _ => String::new(),
    };
    steps.push(Step {
        name: "compare",
        what: format!(
            "compare the rebuilt image byte for byte with the authenticated official {}{official}; report the first difference and what lives there",
            release.image.file_name
        ),
        commands: Vec::new(),
    });
    Ok(Plan {
        project: release.project.clone(),
        version: release.version.clone(),
        backend: "tails",
        work_dir,
        checkout_dir: checkout,
        output_dir: out,
        image,
        source_date_epoch: epoch,
        steps,
    })
}

/// How git is told where to fetch from (a local path for file URLs, as the source
/// stage does).
fn remote_arg(url: &url::Url) -> String {
    match url.to_file_path() {
        Ok(p) if url.scheme() == "file" => p.to_string_lossy().into_owned(),
        _ => url.as_str().to_owned(),
    }
}

fn epoch_plan(rule: &EpochRule, tag: &str, version: &str) -> EpochPlan {
    match rule {
        EpochRule::Fixed(n) => EpochPlan {
            from: "fixed by the catalog".into(),
            known: Some(*n),
        },
        EpochRule::Recipe => EpochPlan {
            from: format!("from source_date_epoch in release.toml of tag {tag}"),
            known: None,
        },
        EpochRule::DebianChangelog => {
            let known = crate::release::tails::KNOWN
                .iter()
                .find(|k| k.version == version);
            EpochPlan {
                from: match known {
                    Some(k) => format!(
                        "from debian/changelog of tag {tag} (top entry dated {}); read again from the checkout",
                        k.changelog_date
                    ),
                    None => format!("from debian/changelog of tag {tag} (date of its top entry), read once checked out"),
                },
                known: known.map(|k| k.source_date_epoch),
            }
        }
    }
}

/// `cd <checkout> && env ARTIFACTS=<out> SOURCE_DATE_EPOCH=<n> TAILS_BUILD_OPTIONS=… rake build`
pub fn build_command(checkout: &Path, out_dir: &Path, epoch: Option<i64>) -> CommandLine {
    let epoch = epoch.map_or_else(|| "<from debian/changelog>".to_owned(), |n| n.to_string());
    CommandLine {
        cwd: Some(checkout.to_path_buf()),
        env: vec![
            ("ARTIFACTS".into(), out_dir.to_string_lossy().into_owned()),
            ("SOURCE_DATE_EPOCH".into(), epoch),
            ("TAILS_BUILD_OPTIONS".into(), BUILD_OPTIONS.into()),
        ],
        argv: vec!["rake".into(), "build".into()],
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Plan: rebuild {} {} with Tails' build system (nothing is run)",
            self.project, self.version
        )?;
        writeln!(f, "  work directory: {}", self.work_dir.display())?;
        writeln!(f, "  rebuilt image:  {}", self.image.display())?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "{:>2}. {}: {}", i + 1, step.name, step.what)?;
            for c in &step.commands {
                writeln!(f, "      $ {}", c.shell())?;
            }
        }
        Ok(())
    }
}

impl crate::report::Render for Plan {
    fn command(&self) -> &'static str {
        "plan"
    }
    fn exit(&self) -> Exit {
        Exit::Verified
    }
    fn human(&self) -> String {
        self.to_string()
    }
    fn json(&self) -> Value {
        serde_json::json!({ "plan": self })
    }
}

// ---------------------------------------------------------------------------------
// Preflight

/// A program the build runs, and where it comes from.
struct Tool {
    name: &'static str,
    package: &'static str,
    why: &'static str,
    /// Arguments that print its version on the first line.
    version_args: &'static [&'static str],
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "git",
        package: "git",
        why: "reads the checkout's tag and history",
        version_args: &["--version"],
    },
    Tool {
        name: "rake",
        package: "rake",
        why: "runs Tails' Rakefile",
        version_args: &["--version"],
    },
    Tool {
        name: "ruby",
        package: "ruby",
        why: "runs the Rakefile and build settings",
        version_args: &["--version"],
    },
    Tool {
        name: "vagrant",
        package: "vagrant",
        why: "starts the builder VM",
        version_args: &["--version"],
    },
    Tool {
        name: "virsh",
        package: "libvirt-clients (and libvirt-daemon-system)",
        why: "manages the builder VM through libvirt",
        version_args: &["--version"],
    },
    Tool {
        name: "qemu-system-x86_64",
        package: "qemu-system-x86",
        why: "runs the builder VM",
        version_args: &["--version"],
    },
    Tool {
        name: "qemu-img",
        package: "qemu-utils",
        why: "makes the VM's disk images",
        version_args: &["--version"],
    },
    Tool {
        name: "vmdebootstrap",
        package: "vmdebootstrap",
        why: "builds the Vagrant base box on first use",
        version_args: &["--version"],
    },
    Tool {
        name: "sudo",
        package: "sudo",
        why: "runs the base box build as root",
        version_args: &["--version"],
    },
    Tool {
        name: "scp",
        package: "openssh-client",
        why: "copies the image out of the VM",
        version_args: &["-V"],
    },
];

/// The host as preflight sees it; overridable so tests can point it at a bare system.
#[derive(Debug, Clone)]
pub struct HostEnv {
    /// Where programs are looked up (PATH).
    pub path: OsString,
    /// The KVM device.
    pub kvm: PathBuf,
    /// Where MemAvailable is read.
    pub meminfo: PathBuf,
    pub min_memory: u64,
    pub min_disk: u64,
}

impl HostEnv {
    /// This machine.
    pub fn current() -> Self {
        HostEnv {
            path: std::env::var_os("PATH").unwrap_or_default(),
            kvm: "/dev/kvm".into(),
            meminfo: "/proc/meminfo".into(),
            min_memory: MIN_MEMORY_BYTES,
            min_disk: MIN_DISK_BYTES,
        }
    }
}

/// One thing the host lacks, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub item: String,
    pub problem: String,
    pub fix: String,
}

/// What preflight found: every tool with its version, and the host's resources.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub tools: Vec<ToolVersion>,
    pub kvm: PathBuf,
    pub libvirt: String,
    pub memory_available: u64,
    pub disk_free: u64,
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolVersion {
    pub name: String,
    pub path: PathBuf,
    /// The first line the tool prints about its version.
    pub version: String,
}

/// Everything the host lacks for a Tails build, in one error.
#[derive(Debug, Clone, thiserror::Error)]
pub struct PreflightError {
    pub missing: Vec<Missing>,
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this host cannot run Tails' build; missing {}:",
            self.missing.len()
        )?;
        for m in &self.missing {
            write!(f, "\n  - {}: {}; {}", m.item, m.problem, m.fix)?;
        }
        Ok(())
    }
}

impl Failure for PreflightError {
    fn exit(&self) -> Exit {
        Exit::Incomplete
    }
}

impl fmt::Display for HostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Host ready for Tails' build:")?;
        for t in &self.tools {
            writeln!(f, "  {:<20} {} ({})", t.name, t.version, t.path.display())?;
        }
        writeln!(f, "  {:<20} {}", "libvirt", self.libvirt)?;
        writeln!(f, "  {:<20} {}", "kvm", self.kvm.display())?;
        writeln!(
            f,
            "  {:<20} {} MiB",
            "free memory",
            self.memory_available >> 20
        )?;
        writeln!(
            f,
            "  {:<20} {} GB in {}",
            "free disk",
            self.disk_free / 1_000_000_000,
            self.work_dir.display()
        )
    }
}

/// Checks this host for everything Tails' build needs, before anything long starts.
pub fn preflight(work_dir: &Path) -> Result<HostReport, PreflightError> {
    preflight_with(work_dir, &HostEnv::current())
}

/// [`preflight`] against a given view of the host.
pub fn preflight_with(work_dir: &Path, env: &HostEnv) -> Result<HostReport, PreflightError> {
    let mut missing = Vec::new();
    let mut tools = Vec::new();
    for tool in TOOLS {
        match find_program(tool.name, &env.path) {
            Some(path) => {
                let version = first_line(&path, tool.version_args, env)
                    .unwrap_or_else(|| "version unknown".into());
                tools.push(ToolVersion {
                    name: tool.name.into(),
                    path,
                    version,
                });
            }
            None => missing.push(Missing {
                item: tool.name.into(),
                problem: format!("not found on PATH (it {})", tool.why),
                fix: format!("install it: sudo apt install {}", tool.package),
            }),
        }
    }
    let found = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.path.clone())
    };
    if let Some(vagrant) = found("vagrant") {
        let plugins = output(&vagrant, &["plugin", "list"], env).unwrap_or_default();
        if !plugins.contains("vagrant-libvirt") {
            missing.push(Missing {
                item: "vagrant-libvirt".into(),
                problem: "Vagrant has no libvirt provider".into(),
                fix: "install it: sudo apt install vagrant-libvirt".into(),
            });
        }
    }
    if let Some(ruby) = found("ruby") {
        if output(&ruby, &["-e", "require 'libvirt'"], env).is_none() {
            missing.push(Missing {
                item: "ruby-libvirt".into(),
                problem: "Ruby cannot load the libvirt binding the Rakefile requires".into(),
                fix: "install it: sudo apt install ruby-libvirt".into(),
            });
        }
    }
    let mut libvirt = String::new();
    if let Some(virsh) = found("virsh") {
        match output(&virsh, &["-c", "qemu:///system", "version"], env) {
            Some(v) => libvirt = v.lines().find(|l| l.contains("libvirt")).unwrap_or("").trim().to_owned(),
            None => missing.push(Missing {
                item: "libvirt daemon".into(),
                problem: "qemu:///system does not answer".into(),
                fix: "install and start it (sudo apt install libvirt-daemon-system dnsmasq-base ebtables && sudo systemctl restart libvirtd) and join its group (sudo adduser \"$(whoami)\" libvirt; then log in again)".into(),
            }),
        }
    }
    if let Err(problem) = check_kvm(&env.kvm) {
        missing.push(Missing {
            item: env.kvm.display().to_string(),
            problem,
            fix: "enable virtualization (VT-x/AMD-V) in the firmware, load kvm_intel or kvm_amd, and join the kvm group (sudo adduser \"$(whoami)\" kvm; then log in again)".into(),
        });
    }
    let memory_available = mem_available(&env.meminfo).unwrap_or(0);
    if memory_available < env.min_memory {
        missing.push(Missing {
            item: "memory".into(),
            problem: format!(
                "{} MiB available, the build needs at least {} MiB",
                memory_available >> 20,
                env.min_memory >> 20
            ),
            fix: "close other programs or use a larger machine".into(),
        });
    }
    let disk_free = disk_free(work_dir).unwrap_or(0);
    if disk_free < env.min_disk {
        missing.push(Missing {
            item: "disk space".into(),
            problem: format!(
                "{} GB free in {}, the build needs at least {} GB",
                disk_free / 1_000_000_000,
                work_dir.display(),
                env.min_disk / 1_000_000_000
            ),
            fix: "free some space or choose another --work-dir".into(),
        });
    }
    if missing.is_empty() {
        Ok(HostReport {
            tools,
            kvm: env.kvm.clone(),
            libvirt,
            memory_available,
            disk_free,
            work_dir: work_dir.to_path_buf(),
        })
    } else {
        Err(PreflightError { missing })
    }
}

/// The first executable file called `name` in `path`.
fn find_program(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Runs `program args` (PATH from `env`) and returns its stdout and stderr when it
/// succeeds; at most 64 KiB are kept.
fn output(program: &Path, args: &[&str], env: &HostEnv) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env("PATH", &env.path)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut text = out.stdout;
    text.extend_from_slice(&out.stderr);
    text.truncate(64 << 10);
    Some(String::from_utf8_lossy(&text).into_owned())
}

fn first_line(program: &Path, args: &[&str], env: &HostEnv) -> Option<String> {
    let text = output(program, args, env)?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

/// The KVM device must exist and open for reading and writing.
fn check_kvm(kvm: &Path) -> Result<(), String> {
    match std::fs::OpenOptions::new().read(true).write(true).open(kvm) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("does not exist: KVM is not available".into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err("cannot be opened for reading and writing by this user".into())
        }
        Err(e) => Err(format!("cannot be opened: {e}")),
    }
}

/// MemAvailable from a /proc/meminfo-style file, in bytes.
fn mem_available(meminfo: &Path) -> Option<u64> {
    let mut text = String::new();
    std::fs::File::open(meminfo)
        .ok()?
        .take(64 << 10)
        .read_to_string(&mut text)
        .ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Free bytes (for unprivileged users) on the file system holding `dir` (or its
/// nearest existing ancestor), from POSIX `df -P -k`.
fn disk_free(dir: &Path) -> Option<u64> {
    let mut at = std::path::absolute(dir).ok()?;
    while !at.exists() {
        at = at.parent()?.to_path_buf();
    }
    let df = ["/usr/bin/df", "/bin/df"]
        .iter()
        .map(Path::new)
        .find(|p| is_executable(p))?;
    let out = Command::new(df)
        .args(["-P", "-k", "--"])
        .arg(&at)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "Filesystem 1024-blocks Used Available Capacity Mounted-on", then one line.
    let line = text.lines().nth(1)?;
    let avail: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    avail.checked_mul(1024)
}

// ---------------------------------------------------------------------------------
// Running the build

/// A finished build: the image, hashed right away, and what built it.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    pub image: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub command: CommandLine,
    pub host: HostReport,
    pub seconds: u64,
}

/// Runs `rake build` in the verified `checkout` of Tails `version`, with
/// SOURCE_DATE_EPOCH `epoch`, into the fresh directory `out_dir`; hashes the image.
/// Preflight runs first, so nothing starts on a host that cannot finish.
pub fn run(
    checkout: &Path,
    version: &str,
    epoch: i64,
    out_dir: &Path,
) -> Result<Built, TailsError> {
    run_with(checkout, version, epoch, out_dir, &HostEnv::current())
}

/// [`run`] against a given view of the host.
pub fn run_with(
    checkout: &Path,
    version: &str,
    epoch: i64,
    out_dir: &Path,
    env: &HostEnv,
) -> Result<Built, TailsError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| TailsError::Io { what, path, source }
    };
    let out_dir = std::path::absolute(out_dir).map_err(io("resolve", out_dir))?;
    let parent = out_dir.parent().unwrap_or(&out_dir).to_path_buf();
    let host = preflight_with(&parent, env)?;
    prepare_checkout(checkout, env)?;
    fresh_dir(&out_dir)?;
    let command = build_command(checkout, &out_dir, Some(epoch));
    let rake = host
        .tools
        .iter()
        .find(|t| t.name == "rake")
        .map(|t| t.path.clone())
        .unwrap_or_else(|| "rake".into());
    let mut cmd = Command::new(rake);
    cmd.args(&command.argv[1..])
        .current_dir(checkout)
        .env("PATH", &env.path)
        .stdin(Stdio::null());
    for (k, v) in &command.env {
        cmd.env(k, v);
    }
    // The build's chatter goes to stderr: stdout is reserved for the report.
    cmd.stdout(stderr_stdio());
    let started = std::time::Instant::now();
    let status = cmd.status().map_err(io("run rake in", checkout))?;
    if !status.success() {
        return Err(TailsError::BuildFailed {
            command: command.shell(),
            status: status.to_string(),
            checkout: checkout.to_path_buf(),
        });
    }
    let seconds = started.elapsed().as_secs();
    let image = out_dir.join(image_name(version));
    if !image.is_file() {
        return Err(TailsError::NoImage {
            dir: out_dir.clone(),
            expected: image_name(version),
            found: list_dir(&out_dir),
        });
    }
    let (size, sha256) = builder::hash_file(&image).map_err(io("hash", &image))?;
    Ok(Built {
        image,
        size,
        sha256,
        command,
        host,
        seconds,
    })
}

/// Tails' Rakefile (3.x) refuses to start unless `origin/<base branch>` resolves
/// (config/base_branch names it), although a build from a tag never merges it. A fresh
/// checkout of the tag alone has no remote, so that ref is pointed at the checked-out
/// commit: nothing is fetched and the working tree stays untouched.
pub fn prepare_checkout(checkout: &Path, env: &HostEnv) -> Result<(), TailsError> {
    let file = checkout.join("config").join("base_branch");
    let Ok(meta) = std::fs::symlink_metadata(&file) else {
        return Ok(()); // Releases without the file have no such check.
    };
    let mut text = String::new();
    if meta.is_file() {
        std::fs::File::open(&file)
            .and_then(|f| f.take(4096).read_to_string(&mut text))
            .map_err(|source| TailsError::Io {
                what: "read",
                path: file.clone(),
                source,
            })?;
    }
    let branch = text.lines().next().unwrap_or("").trim();
    let valid = !branch.is_empty()
        && !branch.starts_with(['-', '.', '/'])
        && !branch.contains("..")
        && branch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
    if !valid {
        return Err(TailsError::BadBaseBranch { path: file });
    }
    let git = find_program("git", &env.path).unwrap_or_else(|| "git".into());
    let refname = format!("refs/remotes/origin/{branch}");
    let status = Command::new(git)
        .arg("-C")
        .arg(checkout)
        .args(["update-ref", "--no-deref", &refname, "HEAD"])
        .env("PATH", &env.path)
        .stdin(Stdio::null())
        .status()
        .map_err(|source| TailsError::Io {
            what: "run git in",
            path: checkout.to_path_buf(),
            source,
        })?;
    if !status.success() {
        return Err(TailsError::BuildFailed {
            command: format!("git update-ref {refname} HEAD"),
            status: status.to_string(),
            checkout: checkout.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn stderr_stdio() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    }
}

#[cfg(not(unix))]
fn stderr_stdio() -> Stdio {
    Stdio::inherit()
}

/// Makes `dir` if needed; refuses one that already holds something.
fn fresh_dir(dir: &Path) -> Result<(), TailsError> {
    std::fs::create_dir_all(dir).map_err(|source| TailsError::Io {
        what: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries = std::fs::read_dir(dir).map_err(|source| TailsError::Io {
        what: "read",
        path: dir.to_path_buf(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(TailsError::OutputNotFresh {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

fn list_dir(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .map(|e| {
                    crate::untrusted::Untrusted::new(e.file_name().as_encoded_bytes()).to_string()
                })
                .take(20)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_epochs_match_their_changelog_dates() {
        for k in crate::release::tails::KNOWN {
            assert_eq!(
                crate::source::parse_rfc2822(k.changelog_date),
                Ok(k.source_date_epoch),
                "{}: {}",
                k.version,
                k.changelog_date
            );
        }
    }

    #[test]
    fn shell_lines_quote_what_needs_it() {
        let c = CommandLine {
            cwd: Some("/w/my dir".into()),
            env: vec![("A".into(), "x y".into()), ("B".into(), "it's".into())],
            argv: vec!["rake".into(), "build".into()],
        };
        assert_eq!(
            c.shell(),
            "cd '/w/my dir' && env A='x y' B='it'\\''s' rake build"
        );
    }

    #[test]
    fn meminfo_is_parsed_and_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("meminfo");
        std::fs::write(&p, "MemTotal: 100 kB\nMemAvailable:    2048 kB\n").unwrap();
        assert_eq!(mem_available(&p), Some(2048 * 1024));
        std::fs::write(&p, "MemAvailable: 99999999999999999999 kB\n").unwrap();
        assert_eq!(mem_available(&p), None);
    }
}
