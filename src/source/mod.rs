//! The source stage: fetch a release's git repository at its tag, verify the tag's
//! OpenPGP signature natively against the pinned signer, and check out exactly the
//! commit the verified tag names (with its submodules).
//!
//! The tag is verified from its raw object bytes ([`tag`]): the signed payload and the
//! signature are split the way git writes them and checked with the same pinned-primary
//! rules as the image ([`crate::authenticate`]); the user's gpg keyring is never used.
//! SOURCE_DATE_EPOCH for the rebuild is read from the verified tree ([`epoch`]).

mod epoch;
mod git;
pub mod tag;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use url::Url;

use crate::authenticate::{verify_detached, AuthError, Authenticity, Verifier};
use crate::exit::{Exit, Failure};
use crate::release::SourceRef;
use crate::untrusted::Untrusted;

pub use epoch::{parse_rfc2822, source_date_epoch};

/// Marks a checkout as ours (inside its .git), so a later run may replace it.
const MARKER: &str = "verify-release-checkout";

/// How deep submodules may nest before we stop following them.
const MAX_SUBMODULE_DEPTH: usize = 8;
/// How many submodules (all levels) a release may have.
const MAX_SUBMODULES: usize = 256;

/// A verified checkout: what was checked out, and who vouched for it.
#[derive(Debug, Clone, Serialize)]
pub struct Checkout {
    /// The working tree.
    pub path: PathBuf,
    /// The tag's name.
    pub tag: String,
    /// The tag object's id (lower-case hex).
    pub tag_object: String,
    /// The commit the verified tag names, checked out detached.
    pub commit: String,
    /// That commit's tree.
    pub tree: String,
    /// The tag's `tagger` line (name, mail, time): attacker-controlled text.
    pub tagger: Option<Untrusted>,
    /// The tag's message, without its signature.
    pub tag_message: Untrusted,
    /// Who signed the tag, from the pinned certificate.
    pub signer: Authenticity,
    /// Submodules checked out at the commits the tree records, depth first.
    pub submodules: Vec<Submodule>,
}

/// One submodule: where it is in the tree and the commit the tree records for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Submodule {
    /// Path relative to the checkout's root (nested ones include their parents).
    pub path: Untrusted,
    pub commit: String,
}

/// Why a source could not be fetched or verified.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("repository URL {url} is refused: {reason}")]
    BadRepoUrl {
        url: Untrusted,
        reason: &'static str,
    },

    #[error("tag name {tag} is not a valid git tag name (no leading '-', spaces, control characters, '..', or any of ~^:?*[\\)")]
    BadTagName { tag: Untrusted },

    #[error("commit {commit} recorded for the release is not a full hex object id (40 or 64 lower-case hex digits)")]
    BadCommitId { commit: Untrusted },

    #[error("checkout directory {path} already exists, is not empty and was not made by verify-release; remove it or choose another work directory", path = path.display())]
    CheckoutExists { path: PathBuf },

    #[error("could not {what} {path}: {source}; check the path and permissions", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not run git to {action}: {source}; install git (it must be on PATH)")]
    GitUnavailable {
        action: String,
        #[source]
        source: std::io::Error,
    },

    #[error("git failed to {action} ({status}): {stderr}")]
    Git {
        action: String,
        status: String,
        stderr: Untrusted,
    },

    #[error("tag {tag} is a lightweight tag (it points straight at a {kind}), so nobody signed it; a release tag must be an annotated, signed tag")]
    Lightweight { tag: String, kind: String },

    #[error("refs/tags/{tag} points at a {kind}, not a tag object")]
    NotATagObject { tag: String, kind: String },

    #[error("tag {tag}'s object does not hash to its id {expected} (got {actual}); the repository is corrupt or was tampered with")]
    ObjectHashMismatch {
        tag: String,
        expected: String,
        actual: String,
    },

    #[error("tag {tag}'s object shows signs of a SHA-1 collision attack and is refused")]
    Sha1Collision { tag: String },

    #[error("tag {tag} is malformed: {reason}")]
    MalformedTag { tag: String, reason: String },

    #[error("refs/tags/{tag} holds a tag object named {found}; a tag moved under another name is refused")]
    TagNameMismatch { tag: String, found: Untrusted },

    #[error("tag {tag} names a {kind}, not a commit")]
    NotACommit { tag: String, kind: Untrusted },

    #[error("tag {tag} names commit {found}, but the release records commit {expected}; the tag was moved")]
    CommitMismatch {
        tag: String,
        expected: String,
        found: String,
    },

    #[error("tag {tag} is not signed; a release tag must carry the signer's OpenPGP signature")]
    Unsigned { tag: String },

    #[error(
        "tag {tag} carries {kind}; only OpenPGP-signed tags can be checked against the pinned key"
    )]
    UnsupportedSignature { tag: String, kind: &'static str },

    #[error("tag {tag}'s signature does not verify: {source}")]
    TagSignature {
        tag: String,
        #[source]
        source: AuthError,
    },

    #[error("checked-out {what} is at {found}, not {expected} as the verified tree records")]
    CheckoutMismatch {
        what: String,
        expected: String,
        found: String,
    },

    #[error("submodules nest deeper than {MAX_SUBMODULE_DEPTH} levels or number more than {MAX_SUBMODULES}; refused")]
    TooManySubmodules,

    #[error("cannot read {what} {path}: {reason}", path = path.display())]
    Epoch {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

impl Failure for SourceError {
    fn exit(&self) -> Exit {
        use SourceError::*;
        match self {
            BadRepoUrl { .. } | BadTagName { .. } | BadCommitId { .. } | CheckoutExists { .. } => {
                Exit::Usage
            }
            Io { .. } | GitUnavailable { .. } | Git { .. } | Epoch { .. } => Exit::Incomplete,
            TagSignature { source, .. } => match source.exit() {
                // A pin that does not parse is a usage error; everything else about
                // the signature means the tag is not authentic.
                Exit::Usage => Exit::Usage,
                _ => Exit::Authenticity,
            },
            Lightweight { .. }
            | NotATagObject { .. }
            | ObjectHashMismatch { .. }
            | Sha1Collision { .. }
            | MalformedTag { .. }
            | TagNameMismatch { .. }
            | NotACommit { .. }
            | CommitMismatch { .. }
            | Unsigned { .. }
            | UnsupportedSignature { .. }
            | CheckoutMismatch { .. }
            | TooManySubmodules => Exit::Authenticity,
        }
    }
}

/// Parses a repository location given as text: a URL, refusing anything git could
/// read as an option.
pub fn repo_url(input: &str) -> Result<Url, SourceError> {
    let bad = |reason| SourceError::BadRepoUrl {
        url: Untrusted::new(input.as_bytes()),
        reason,
    };
    if input.starts_with('-') {
        return Err(bad("it starts with '-', which git would read as an option"));
    }
    let url = Url::parse(input).map_err(|_| bad("it is not a URL"))?;
    check_repo_url(&url)?;
    Ok(url)
}

/// Where git should fetch from: a local path for `file:` URLs (git reads bundles only
/// by path), else the URL itself. Refuses transports that run commands (`ext::`) and
/// hosts or users that an ssh client would read as options.
fn check_repo_url(url: &Url) -> Result<std::ffi::OsString, SourceError> {
    let bad = |reason| SourceError::BadRepoUrl {
        url: Untrusted::new(url.as_str().as_bytes()),
        reason,
    };
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|()| bad("it is not a local absolute path"))?;
            Ok(path.into_os_string())
        }
        "https" | "http" | "git" | "ssh" => {
            let host = url.host_str().unwrap_or("");
            if host.is_empty() {
                return Err(bad("it has no host"));
            }
            if host.starts_with('-') || url.username().starts_with('-') {
                return Err(bad(
                    "its host or user starts with '-', which ssh would read as an option",
                ));
            }
            Ok(url.as_str().into())
        }
        _ => Err(bad(
            "only https, http, git, ssh and file URLs are supported",
        )),
    }
}

/// A tag name git accepts and cannot read as an option (the rules of
/// `git check-ref-format`, a little stricter).
fn check_tag_name(tag: &str) -> Result<(), SourceError> {
    let bad_char = |c: char| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c);
    let ok = !tag.is_empty()
        && tag.len() <= 200
        && !tag.starts_with(['-', '.', '/'])
        && !tag.ends_with(['.', '/'])
        && !tag.ends_with(".lock")
        && !tag.contains("..")
        && !tag.contains("@{")
        && !tag.contains("//")
        && !tag.contains("/.")
        && tag != "@"
        && !tag.chars().any(bad_char);
    if ok {
        Ok(())
    } else {
        Err(SourceError::BadTagName {
            tag: Untrusted::new(tag.as_bytes()),
        })
    }
}

/// Fetches `src.repo` at `src.tag` into `work_dir/source`, verifies the tag's signature
/// against `signers` (pinned primary fingerprints) with the certificate `cert`, checks
/// that it names `src.commit` when recorded, and checks out that commit (detached) with
/// its submodules. On any failure the half-made checkout is removed.
pub fn fetch_source(
    src: &SourceRef,
    signers: &[String],
    cert: &[u8],
    work_dir: &Path,
) -> Result<Checkout, SourceError> {
    let remote = check_repo_url(&src.repo)?;
    check_tag_name(&src.tag)?;
    if let Some(c) = &src.commit {
        if !tag::is_object_id(c) {
            return Err(SourceError::BadCommitId {
                commit: Untrusted::new(c.as_bytes()),
            });
        }
    }
    let dir = prepare_dir(work_dir)?;
    let local = src.repo.scheme() == "file";
    let result = fetch_into(src, &remote, signers, cert, &dir, local);
    if result.is_err() {
        // Unverified source is not left behind for anyone to build by mistake.
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// `work_dir/source`, made empty and absolute.
fn prepare_dir(work_dir: &Path) -> Result<PathBuf, SourceError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { what, path, source }
    };
    std::fs::create_dir_all(work_dir).map_err(io("create work directory", work_dir))?;
    let work_dir = std::path::absolute(work_dir).map_err(io("resolve", work_dir))?;
    let dir = work_dir.join("source");
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                // Our own earlier checkout is replaced; anything else is left alone.
                if !dir.join(".git").join(MARKER).is_file() {
                    return Err(SourceError::CheckoutExists { path: dir });
                }
                std::fs::remove_dir_all(&dir).map_err(io("remove earlier checkout", &dir))?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read", &dir)(e)),
    }
    Ok(dir)
}

fn fetch_into(
    src: &SourceRef,
    remote: &OsStr,
    signers: &[String],
    cert: &[u8],
    dir: &Path,
    local: bool,
) -> Result<Checkout, SourceError> {
    let tag_name = src.tag.as_str();
    let git = git::init(dir, local)?;
    let marker = dir.join(".git").join(MARKER);
    std::fs::write(
        &marker,
        "made by verify-release; replaced on the next run\n",
    )
    .map_err(|source| SourceError::Io {
        what: "write",
        path: marker,
        source,
    })?;
    let refname = format!("refs/tags/{tag_name}");
    // Only the tag and what it reaches: full history (Tails' build reads it), no other refs.
    git.run_showing_progress(
        &format!("fetch tag {tag_name}"),
        &[
            OsStr::new("fetch"),
            OsStr::new("--no-tags"),
            OsStr::new("--no-recurse-submodules"),
            OsStr::new("--"),
            remote,
            OsStr::new(&format!("+{refname}:{refname}")),
        ],
    )?;
    let oid = git.line(
        "resolve the tag",
        ["rev-parse", "--verify", "--end-of-options", &refname],
    )?;
    let (kind, raw) = git.read_object(&oid, tag::MAX_TAG_OBJECT)?;
    match kind.as_str() {
        "tag" => {}
        "commit" | "tree" | "blob" => {
            return Err(SourceError::Lightweight {
                tag: tag_name.into(),
                kind,
            })
        }
        _ => {
            return Err(SourceError::NotATagObject {
                tag: tag_name.into(),
                kind,
            })
        }
    }
    let signed = verify_tag(tag_name, &oid, &raw, src.commit.as_deref(), signers, cert)?;
    let commit = signed.object.clone();

    git.run(
        "check out the tagged commit",
        ["checkout", "--quiet", "--detach", &commit, "--"],
    )?;
    let head = git.line("read HEAD", ["rev-parse", "--verify", "HEAD"])?;
    if head != commit {
        return Err(SourceError::CheckoutMismatch {
            what: "HEAD".into(),
            expected: commit,
            found: head,
        });
    }
    let tree = git.line(
        "read the commit's tree",
        [
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{commit}^{{tree}}"),
        ],
    )?;
    git.run(
        "fetch submodules",
        [
            "submodule",
            "--quiet",
            "update",
            "--init",
            "--recursive",
            "--checkout",
        ],
    )?;
    let mut submodules = Vec::new();
    list_submodules(&git, &commit, Path::new(""), 0, &mut submodules)?;
    Ok(Checkout {
        path: dir.to_path_buf(),
        tag: tag_name.into(),
        tag_object: oid,
        commit,
        tree,
        tagger: signed.tagger,
        tag_message: signed.message,
        signer: signed.signer,
        submodules,
    })
}

/// A tag object whose signature verified.
#[derive(Debug, Clone)]
pub struct SignedTag {
    /// The commit the tag names.
    pub object: String,
    pub tagger: Option<Untrusted>,
    pub message: Untrusted,
    pub signer: Authenticity,
}

/// Checks a raw tag object: its bytes hash to `oid`, it is named `tag_name`, names a
/// commit (`expected_commit` when given), and carries a signature by the pinned key.
pub fn verify_tag(
    tag_name: &str,
    oid: &str,
    raw: &[u8],
    expected_commit: Option<&str>,
    signers: &[String],
    cert: &[u8],
) -> Result<SignedTag, SourceError> {
    let actual =
        tag::object_id("tag", raw, oid.len() == 64).map_err(|_| SourceError::Sha1Collision {
            tag: tag_name.into(),
        })?;
    if actual != oid {
        return Err(SourceError::ObjectHashMismatch {
            tag: tag_name.into(),
            expected: oid.into(),
            actual,
        });
    }
    let parsed = tag::parse(raw, tag_name)?;
    if parsed.name.as_bytes() != tag_name.as_bytes() {
        return Err(SourceError::TagNameMismatch {
            tag: tag_name.into(),
            found: parsed.name,
        });
    }
    if parsed.kind.as_bytes() != b"commit" {
        return Err(SourceError::NotACommit {
            tag: tag_name.into(),
            kind: parsed.kind,
        });
    }
    if let Some(expected) = expected_commit {
        if parsed.object != expected {
            return Err(SourceError::CommitMismatch {
                tag: tag_name.into(),
                expected: expected.into(),
                found: parsed.object,
            });
        }
    }
    let Some(signature) = &parsed.signature else {
        return Err(SourceError::Unsigned {
            tag: tag_name.into(),
        });
    };
    let sig_error = |source| SourceError::TagSignature {
        tag: tag_name.into(),
        source,
    };
    let verifier = Verifier::new(cert, signers, signature).map_err(sig_error)?;
    let signer = verify_detached(&verifier, &parsed.payload).map_err(sig_error)?;
    Ok(SignedTag {
        object: parsed.object,
        tagger: parsed.tagger,
        message: parsed.message,
        signer,
    })
}

/// Lists the submodules recorded in `commit`'s tree (gitlinks), checks each is checked
/// out at the recorded commit, and recurses into it.
fn list_submodules(
    git: &git::Git,
    commit: &str,
    prefix: &Path,
    depth: usize,
    out: &mut Vec<Submodule>,
) -> Result<(), SourceError> {
    let listing = git.run(
        "list submodules",
        [
            "ls-tree",
            "-r",
            "-z",
            "--full-tree",
            "--end-of-options",
            commit,
        ],
    )?;
    for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        // "<mode> <type> <id>\t<path>"
        let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let meta = String::from_utf8_lossy(&entry[..tab]);
        let mut fields = meta.split(' ');
        if fields.next() != Some("160000") {
            continue;
        }
        let sub_commit = fields.nth(1).unwrap_or("").to_owned();
        if depth >= MAX_SUBMODULE_DEPTH || out.len() >= MAX_SUBMODULES {
            return Err(SourceError::TooManySubmodules);
        }
        let rel = bytes_path(&entry[tab + 1..]);
        let sub = git::Git {
            dir: git.dir.join(&rel),
            allow_file_submodules: git.allow_file_submodules,
        };
        let full = prefix.join(&rel);
        let head = sub.line("read a submodule's HEAD", ["rev-parse", "--verify", "HEAD"])?;
        if head != sub_commit {
            return Err(SourceError::CheckoutMismatch {
                what: format!("submodule {}", full.display()),
                expected: sub_commit,
                found: head,
            });
        }
        out.push(Submodule {
            path: Untrusted::new(full.as_os_str().as_encoded_bytes()),
            commit: sub_commit.clone(),
        });
        list_submodules(&sub, &sub_commit, &full, depth + 1, out)?;
    }
    Ok(())
}

#[cfg(unix)]
fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_urls_that_git_or_ssh_would_read_as_options_are_refused() {
        for bad in [
            "-uhttps://example.org/x.git",
            "--upload-pack=touch /tmp/x",
            "ssh://-oProxyCommand=touch%20x/repo",
            "ssh://-user@host/repo",
            "ext::sh -c touch% /tmp/pwned",
            "fd::17",
            "git:no-host",
        ] {
            let err = repo_url(bad).unwrap_err();
            assert!(
                matches!(err, SourceError::BadRepoUrl { .. }),
                "{bad}: {err}"
            );
            assert_eq!(err.exit(), Exit::Usage);
        }
        for good in [
            "https://gitlab.tails.boum.org/tails/tails.git",
            "file:///srv/x.bundle",
        ] {
            repo_url(good).unwrap();
        }
        let local = check_repo_url(&Url::parse("file:///srv/x.bundle").unwrap()).unwrap();
        assert_eq!(local, "/srv/x.bundle");
    }

    #[test]
    fn tag_names_follow_git_rules() {
        for good in ["3.3", "1.0", "v1.2.3-rc1", "release/4.0"] {
            check_tag_name(good).unwrap();
        }
        for bad in [
            "",
            "-f",
            "--upload-pack=x",
            "a..b",
            "a b",
            "a:b",
            "x.lock",
            "a\nb",
            "@",
            "a/",
            ".x",
        ] {
            assert!(check_tag_name(bad).is_err(), "{bad:?}");
        }
    }
}
