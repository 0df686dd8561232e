//! Resolve: a version (and maybe a catalog) → everything needed to fetch, authenticate
//! and rebuild that release.
//!
//! Tails is built in ([`tails`]); other projects, and the bundled demo release, are
//! described by a catalog file ([`catalog`], documented in docs/catalog.md).

pub mod catalog;
pub mod tails;
pub mod version;

use std::path::{Path, PathBuf};

use serde::Serialize;
use url::Url;

use crate::exit::{Exit, Failure};

/// One release, resolved: where its files are and whom to trust.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// Project name, e.g. "Tails".
    pub project: String,
    pub version: String,
    pub image: Artifact,
    /// Where the detached OpenPGP signature of the image can be found, in order.
    pub signature_urls: Vec<Url>,
    /// Primary-key fingerprints (upper-case hex) allowed to sign this release.
    pub signers: Vec<String>,
    /// Where the signing key (OpenPGP certificate) can be fetched, in order.
    pub cert_urls: Vec<Url>,
    pub source: Option<SourceRef>,
    pub backend: Backend,
}

/// A file to download, with what is published about it.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub file_name: String,
    /// Locations to try, in order.
    pub urls: Vec<Url>,
    pub size: Option<u64>,
    /// Published SHA-256, lower-case hex.
    pub sha256: Option<String>,
}

/// The source a release is built from.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRef {
    /// A git URL, or a file URL of a repository or git bundle.
    pub repo: Url,
    pub tag: String,
    /// The commit the signed tag must point at, when the catalog records it.
    pub commit: Option<String>,
    /// How SOURCE_DATE_EPOCH is found for the rebuild.
    pub source_date_epoch: EpochRule,
}

/// Where SOURCE_DATE_EPOCH comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "value")]
pub enum EpochRule {
    /// `source_date_epoch` in the tree's release.toml.
    Recipe,
    /// The date of the top entry of debian/changelog (Tails).
    DebianChangelog,
    /// A fixed value recorded in the catalog.
    Fixed(i64),
}

/// How a release is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// crates/builder runs the release.toml recipe of the checked-out tree.
    Embedded,
    /// Tails' own build system (rake build under Vagrant + libvirt).
    Tails,
    /// The project publishes no way to rebuild: authenticate only.
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown release {version:?}{hint}")]
    UnknownVersion { version: String, hint: String },
    #[error("{version:?} is not a release version (expected numbers separated by dots, e.g. 3.3)")]
    BadVersion { version: String },
    #[error("cannot read catalog {path}: {source}")]
    ReadCatalog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog {path} is not valid: {message}")]
    BadCatalog { path: PathBuf, message: String },
    #[error("mirror {url:?} is not a usable base URL: {message}")]
    BadMirror { url: String, message: String },
}

impl Failure for ResolveError {
    fn exit(&self) -> Exit {
        match self {
            ResolveError::ReadCatalog { .. } => Exit::Incomplete,
            _ => Exit::Usage,
        }
    }
}

/// Finds `version` in the catalog when one is given, else among Tails releases.
/// `mirrors` are base URLs tried before the release's own locations.
pub fn resolve(
    version: &str,
    catalog: Option<&Path>,
    mirrors: &[String],
) -> Result<Release, ResolveError> {
    let mut release = match catalog {
        Some(path) => {
            let catalog = catalog::Catalog::load(path)?;
            catalog.release(version)?
        }
        None => tails::release(version)?,
    };
    add_mirrors(&mut release, mirrors)?;
    Ok(release)
}

/// Every release known: Tails' own facts and the catalog's entries.
pub fn list(catalog: Option<&Path>) -> Result<Vec<Listing>, ResolveError> {
    let mut out: Vec<Listing> = tails::KNOWN
        .iter()
        .map(|k| Listing {
            project: "Tails".into(),
            version: k.version.into(),
            source: "built in".into(),
            sha256_known: true,
        })
        .collect();
    if let Some(path) = catalog {
        let catalog = catalog::Catalog::load(path)?;
        for r in catalog.releases()? {
            out.push(Listing {
                project: r.project,
                version: r.version,
                source: path.display().to_string(),
                sha256_known: r.image.sha256.is_some(),
            });
        }
    }
    Ok(out)
}

/// A line of `verify-release list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub project: String,
    pub version: String,
    /// "built in", or the catalog the release came from.
    pub source: String,
    pub sha256_known: bool,
}

/// Puts `mirror/<file name>` in front of the image and signature locations.
pub fn add_mirrors(release: &mut Release, mirrors: &[String]) -> Result<(), ResolveError> {
    let sig_name = release
        .signature_urls
        .first()
        .and_then(|u| u.path_segments()?.next_back().map(str::to_owned))
        .filter(|n| !n.is_empty());
    for mirror in mirrors.iter().rev() {
        let base = mirror_base(mirror)?;
        let bad = |message: String| ResolveError::BadMirror {
            url: mirror.clone(),
            message,
        };
        let image = base
            .join(&release.image.file_name)
            .map_err(|e| bad(e.to_string()))?;
        release.image.urls.insert(0, image);
        if let Some(name) = &sig_name {
            let sig = base.join(name).map_err(|e| bad(e.to_string()))?;
            release.signature_urls.insert(0, sig);
        }
    }
    Ok(())
}

/// A mirror given as a URL or a local directory, as a base URL ending in `/`.
fn mirror_base(mirror: &str) -> Result<Url, ResolveError> {
    let parsed = match Url::parse(mirror) {
        Ok(url) => url,
        Err(_) => {
            let path = std::path::absolute(mirror).map_err(|e| ResolveError::BadMirror {
                url: mirror.into(),
                message: e.to_string(),
            })?;
            Url::from_directory_path(&path).map_err(|()| ResolveError::BadMirror {
                url: mirror.into(),
                message: "not an absolute directory path".into(),
            })?
        }
    };
    if !matches!(parsed.scheme(), "http" | "https" | "file") {
        return Err(ResolveError::BadMirror {
            url: mirror.into(),
            message: "only http, https and file URLs are supported".into(),
        });
    }
    let mut base = parsed;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_go_first_and_keep_file_names() {
        let r = resolve("3.3", None, &["https://m.example/tails".into()]).unwrap();
        assert_eq!(
            r.image.urls[0].as_str(),
            "https://m.example/tails/tails-amd64-3.3.iso"
        );
        assert_eq!(
            r.signature_urls[0].as_str(),
            "https://m.example/tails/tails-amd64-3.3.iso.sig"
        );
    }

    #[test]
    fn mirror_must_be_http_or_file() {
        let err = resolve("3.3", None, &["ftp://m.example/".into()]).unwrap_err();
        assert!(
            err.to_string().contains("only http, https and file"),
            "{err}"
        );
        assert_eq!(err.exit(), Exit::Usage);
    }
}
