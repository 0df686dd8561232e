//! Running the git CLI on a repository we create, with settings that keep the remote
//! (and the user's environment) from steering it: no hooks, no fsmonitor, no `ext::`
//! transport, no prompts, a stall timeout, and every user-controlled argument after `--`
//! or in a position git cannot read as an option.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::SourceError;
use crate::untrusted::Untrusted;

/// At most this much of git's stderr is kept for an error message.
const MAX_STDERR: usize = 4000;

/// Environment variables that would point git at another repository, another
/// configuration or another object store than the one we made.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_CEILING_DIRECTORIES",
    "GIT_REPLACE_REF_BASE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_GRAFT_FILE",
    "GIT_SHALLOW_FILE",
    "GIT_EXTERNAL_DIFF",
    "GIT_TEMPLATE_DIR",
];

/// A repository directory we created, and how git is run in it.
pub struct Git {
    pub dir: PathBuf,
    /// Whether `file:` transports may be used by submodules (only when the release's
    /// own repository is local, i.e. an offline mirror or bundle).
    pub allow_file_submodules: bool,
}

impl Git {
    /// The base command: `git -c … -C <dir>`, scrubbed environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("SSH_ASKPASS", "true")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("LC_ALL", "C");
        let file = if self.allow_file_submodules {
            "always"
        } else {
            "user"
        };
        for setting in [
            "core.hooksPath=/dev/null".to_owned(),
            "core.fsmonitor=false".to_owned(),
            "protocol.ext.allow=never".to_owned(),
            format!("protocol.file.allow={file}"),
            // A stalled server is an error after a minute, not a hang.
            "http.lowSpeedLimit=1000".to_owned(),
            "http.lowSpeedTime=60".to_owned(),
            "advice.detachedHead=false".to_owned(),
            "init.templateDir=".to_owned(),
        ] {
            cmd.arg("-c").arg(setting);
        }
        cmd.arg("-C").arg(&self.dir);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs git with `args`; its stdout on success, else an error naming `action`.
    pub fn run<I, S>(&self, action: &str, args: I) -> Result<Vec<u8>, SourceError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        let out = cmd.output().map_err(|e| spawn_error(action, e))?;
        if !out.status.success() {
            return Err(SourceError::Git {
                action: action.to_owned(),
                status: out.status.to_string(),
                stderr: tail(&out.stderr),
            });
        }
        Ok(out.stdout)
    }

    /// Runs a long git command (a fetch). When stderr is a terminal, git's progress is
    /// shown there as it comes; the end of it is kept for the error message either way.
    pub fn run_showing_progress(&self, action: &str, args: &[&OsStr]) -> Result<(), SourceError> {
        use std::io::IsTerminal;
        let show = std::io::stderr().is_terminal();
        let mut cmd = self.command();
        let (first, rest) = args
            .split_first()
            .map_or((None, args), |(f, r)| (Some(*f), r));
        cmd.args(first);
        if show {
            cmd.arg("--progress");
        }
        cmd.args(rest).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| spawn_error(action, e))?;
        let mut kept: Vec<u8> = Vec::new();
        if let Some(mut err) = child.stderr.take() {
            let mut buf = [0u8; 8192];
            loop {
                let n = match std::io::Read::read(&mut err, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if show {
                    let _ = std::io::stderr().write_all(&buf[..n]);
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * MAX_STDERR {
                    kept.drain(..kept.len() - MAX_STDERR);
                }
            }
        }
        let status = child.wait().map_err(|e| spawn_error(action, e))?;
        if !status.success() {
            return Err(SourceError::Git {
                action: action.to_owned(),
                status: status.to_string(),
                stderr: tail(&kept),
            });
        }
        Ok(())
    }

    /// Runs git and returns its stdout as one trimmed line.
    pub fn line<I, S>(&self, action: &str, args: I) -> Result<String, SourceError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(action, args)?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Reads one object's raw bytes with `git cat-file --batch`: (type, bytes).
    /// Objects larger than `limit` are refused before being read into memory.
    pub fn read_object(&self, oid: &str, limit: usize) -> Result<(String, Vec<u8>), SourceError> {
        let action = "read the tag object";
        let mut cmd = self.command();
        cmd.args(["cat-file", "--batch-check"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let check = feed(cmd, oid, action)?;
        let header = String::from_utf8_lossy(&check);
        let mut fields = header.split_whitespace();
        let (Some(id), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(SourceError::Git {
                action: action.into(),
                status: "object missing".into(),
                stderr: Untrusted::new(check.clone()),
            });
        };
        let size: usize = size.parse().unwrap_or(usize::MAX);
        if id != oid || size > limit {
            return Err(SourceError::MalformedTag {
                tag: oid.to_owned(),
                reason: format!(
                    "object {id} of type {kind} is {size} bytes; at most {limit} are accepted"
                ),
            });
        }
        let kind = kind.to_owned();
        let mut cmd = self.command();
        cmd.args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = feed(cmd, oid, action)?;
        // "<oid> <type> <size>\n<bytes>\n"
        let start = out
            .iter()
            .position(|&b| b == b'\n')
            .map_or(out.len(), |i| i + 1);
        let bytes = out
            .get(start..start + size)
            .ok_or_else(|| SourceError::Git {
                action: action.into(),
                status: "short read".into(),
                stderr: Untrusted::new(Vec::new()),
            })?;
        Ok((kind, bytes.to_vec()))
    }
}

/// Runs `cmd` with `line` on its stdin and returns its stdout.
fn feed(mut cmd: Command, line: &str, action: &str) -> Result<Vec<u8>, SourceError> {
    let mut child = cmd.spawn().map_err(|e| spawn_error(action, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows up as git's failure below.
        let _ = stdin.write_all(format!("{line}\n").as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| spawn_error(action, e))?;
    if !out.status.success() {
        return Err(SourceError::Git {
            action: action.into(),
            status: out.status.to_string(),
            stderr: tail(&out.stderr),
        });
    }
    Ok(out.stdout)
}

fn spawn_error(action: &str, e: std::io::Error) -> SourceError {
    SourceError::GitUnavailable {
        action: action.to_owned(),
        source: e,
    }
}

/// The end of git's stderr, where the reason is.
fn tail(stderr: &[u8]) -> Untrusted {
    let start = stderr.len().saturating_sub(MAX_STDERR);
    let text = &stderr[start..];
    let trimmed = text.strip_suffix(b"\n").unwrap_or(text);
    Untrusted::new(trimmed.to_vec())
}

/// Initializes an empty repository at `dir` (which must not exist or be empty).
pub fn init(dir: &Path, allow_file_submodules: bool) -> Result<Git, SourceError> {
    let parent = Git {
        dir: dir.parent().unwrap_or(Path::new("/")).to_path_buf(),
        allow_file_submodules,
    };
    parent.run(
        "create the checkout repository",
        [
            OsStr::new("init"),
            OsStr::new("-q"),
            OsStr::new("--"),
            dir.as_os_str(),
        ],
    )?;
    Ok(Git {
        dir: dir.to_path_buf(),
        allow_file_submodules,
    })
}
