//! Catalog files: TOML descriptions of releases of projects other than Tails (and of
//! the bundled demo release). The format is documented in docs/catalog.md.
//!
//! Relative locations resolve against the catalog's own location, so a catalog shipped
//! next to its files works offline.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use super::version::Version;
use super::{Artifact, Backend, EpochRule, Release, ResolveError, SourceRef};

/// The catalog format this build understands.
pub const FORMAT: u32 = 1;

/// Largest catalog file accepted; a catalog is a few kilobytes.
const MAX_CATALOG_BYTES: u64 = 1 << 20;

/// A parsed catalog and where it came from.
#[derive(Debug)]
pub struct Catalog {
    path: PathBuf,
    base: Url,
    doc: Doc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    format: u32,
    project: String,
    #[serde(default)]
    signers: Vec<String>,
    #[serde(default)]
    cert: OneOrMany,
    #[serde(default)]
    mirrors: Vec<String>,
    #[serde(default, rename = "release")]
    releases: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    version: String,
    image: OneOrMany,
    signature: OneOrMany,
    size: Option<u64>,
    sha256: Option<String>,
    #[serde(default)]
    signers: Vec<String>,
    #[serde(default)]
    cert: OneOrMany,
    #[serde(default)]
    backend: Option<BackendName>,
    source: Option<SourceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    repo: String,
    tag: String,
    commit: Option<String>,
    #[serde(default)]
    source_date_epoch: Option<EpochEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EpochEntry {
    Fixed(i64),
    Named(String),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum BackendName {
    Embedded,
    Tails,
    None,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::None => vec![],
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl Catalog {
    /// Reads and checks a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, ResolveError> {
        let read_err = |source| ResolveError::ReadCatalog {
            path: path.to_path_buf(),
            source,
        };
        let abs = std::path::absolute(path).map_err(read_err)?;
        let meta = std::fs::metadata(&abs).map_err(read_err)?;
        if meta.len() > MAX_CATALOG_BYTES {
            return Err(bad(
                path,
                format!("{} bytes is too large for a catalog", meta.len()),
            ));
        }
        let text = std::fs::read_to_string(&abs).map_err(read_err)?;
        let doc: Doc = toml::from_str(&text).map_err(|e| bad(path, e.message().to_owned()))?;
        if doc.format != FORMAT {
            return Err(bad(
                path,
                format!(
                    "format {} is not supported (this verify-release reads format {FORMAT}); upgrade verify-release",
                    doc.format
                ),
            ));
        }
        let base = Url::from_file_path(&abs)
            .map_err(|()| bad(path, "cannot turn the catalog path into a URL".into()))?;
        let catalog = Catalog {
            path: path.to_path_buf(),
            base,
            doc,
        };
        // Validate every entry now, so a broken catalog is reported whatever is asked.
        catalog.releases()?;
        Ok(catalog)
    }

    /// Every release of the catalog, resolved.
    pub fn releases(&self) -> Result<Vec<Release>, ResolveError> {
        self.doc.releases.iter().map(|e| self.resolve(e)).collect()
    }

    /// The release `version`.
    pub fn release(&self, version: &str) -> Result<Release, ResolveError> {
        let entry = self
            .doc
            .releases
            .iter()
            .find(|e| e.version == version)
            .ok_or_else(|| ResolveError::UnknownVersion {
                version: version.into(),
                hint: format!(
                    " in catalog {} (it lists: {})",
                    self.path.display(),
                    self.doc
                        .releases
                        .iter()
                        .map(|e| e.version.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        self.resolve(entry)
    }

    fn resolve(&self, e: &Entry) -> Result<Release, ResolveError> {
        let err = |m: String| bad(&self.path, format!("release {:?}: {m}", e.version));
        if e.version.is_empty()
            || e.version.len() > 64
            || !e
                .version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~+-".contains(&b))
        {
            return Err(err(
                "versions may hold only letters, digits and . _ ~ + -".into()
            ));
        }
        let _ = Version::parse(&e.version); // ordering only; free-form versions are allowed
        let image_urls = self.urls(&e.image.items()).map_err(&err)?;
        let file_name = image_urls
            .first()
            .and_then(|u| u.path_segments()?.next_back().map(str::to_owned))
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .ok_or_else(|| {
                err("`image` needs at least one location ending in a file name".into())
            })?;
        let signature_urls = self.urls(&e.signature.items()).map_err(&err)?;
        if signature_urls.is_empty() {
            return Err(err("`signature` needs at least one location".into()));
        }
        let signers = if e.signers.is_empty() {
            &self.doc.signers
        } else {
            &e.signers
        };
        let signers = signers
            .iter()
            .map(|s| {
                normalize_fingerprint(s).ok_or_else(|| {
                    err(format!(
                        "{s:?} is not a v4 or v6 fingerprint (40 or 64 hex digits)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if signers.is_empty() {
            return Err(err(
                "no `signers`: a release must pin at least one primary-key fingerprint".into(),
            ));
        }
        let cert = if e.cert.items().is_empty() {
            self.doc.cert.items()
        } else {
            e.cert.items()
        };
        let cert_urls = self.urls(&cert).map_err(&err)?;
        let sha256 = match &e.sha256 {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(h.to_ascii_lowercase())
            }
            Some(h) => return Err(err(format!("sha256 {h:?} is not 64 hex digits"))),
            None => None,
        };
        let source = e
            .source
            .as_ref()
            .map(|s| self.source(s))
            .transpose()
            .map_err(&err)?;
        let backend = match (e.backend, &source) {
            (Some(BackendName::Embedded), _) => Backend::Embedded,
            (Some(BackendName::Tails), _) => Backend::Tails,
            (Some(BackendName::None), _) | (None, None) => Backend::None,
            (None, Some(_)) => Backend::Embedded,
        };
        if backend != Backend::None && source.is_none() {
            return Err(err(
                "a rebuild backend needs a [release.source] section".into()
            ));
        }
        let mut image_urls = image_urls;
        let mut signature_urls = signature_urls;
        for m in self.doc.mirrors.iter().rev() {
            let base = self
                .url(&format!("{}/", m.trim_end_matches('/')))
                .map_err(&err)?;
            let sig_name = signature_urls[0]
                .path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or_default()
                .to_owned();
            image_urls.insert(0, base.join(&file_name).map_err(|x| err(x.to_string()))?);
            signature_urls.insert(0, base.join(&sig_name).map_err(|x| err(x.to_string()))?);
        }
        Ok(Release {
            project: self.doc.project.clone(),
            version: e.version.clone(),
            image: Artifact {
                file_name,
                urls: image_urls,
                size: e.size,
                sha256,
            },
            signature_urls,
            signers,
            cert_urls,
            source,
            backend,
        })
    }

    fn source(&self, s: &SourceEntry) -> Result<SourceRef, String> {
        if s.tag.is_empty()
            || s.tag.starts_with('-')
            || s.tag.contains("..")
            || s.tag.bytes().any(|b| b.is_ascii_control() || b == b' ')
        {
            return Err(format!("tag {:?} is not a valid git tag name", s.tag));
        }
        let commit = match &s.commit {
            Some(c)
                if (c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(c.to_ascii_lowercase())
            }
            Some(c) => return Err(format!("commit {c:?} is not a full hex object id")),
            None => None,
        };
        let source_date_epoch = match &s.source_date_epoch {
            None => EpochRule::Recipe,
            Some(EpochEntry::Fixed(n)) if *n >= 0 => EpochRule::Fixed(*n),
            Some(EpochEntry::Fixed(n)) => return Err(format!("source_date_epoch {n} is negative")),
            Some(EpochEntry::Named(n)) if n == "recipe" => EpochRule::Recipe,
            Some(EpochEntry::Named(n)) if n == "debian-changelog" => EpochRule::DebianChangelog,
            Some(EpochEntry::Named(n)) => {
                return Err(format!(
                "source_date_epoch {n:?}: expected an integer, \"recipe\" or \"debian-changelog\""
            ))
            }
        };
        Ok(SourceRef {
            repo: self.url(&s.repo)?,
            tag: s.tag.clone(),
            commit,
            source_date_epoch,
        })
    }

    fn urls(&self, items: &[&str]) -> Result<Vec<Url>, String> {
        items.iter().map(|i| self.url(i)).collect()
    }

    /// An absolute URL, or a location relative to the catalog file.
    fn url(&self, s: &str) -> Result<Url, String> {
        let url = match Url::parse(s) {
            Ok(u) => u,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                self.base.join(s).map_err(|e| format!("{s:?}: {e}"))?
            }
            Err(e) => return Err(format!("{s:?}: {e}")),
        };
        match url.scheme() {
            "http" | "https" | "file" => Ok(url),
            other => Err(format!("{s:?}: the {other} scheme is not supported (use http, https, file or a relative path)")),
        }
    }
}

/// Upper-case hex without spaces, when `s` is a 40- or 64-digit fingerprint.
pub fn normalize_fingerprint(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    ((hex.len() == 40 || hex.len() == 64) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_uppercase())
}

fn bad(path: &Path, message: String) -> ResolveError {
    ResolveError::BadCatalog {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const GOOD: &str = r#"
format = 1
project = "Demo"
signers = ["a490 d0f4 d311 a415 3e2b  b7ca dbb8 02b2 58ac d84f"]
cert = "keys/demo.asc"

[[release]]
version = "1.0"
image = ["releases/demo-1.0.iso", "https://example.org/demo-1.0.iso"]
signature = "releases/demo-1.0.iso.sig"
size = 10
sha256 = "5AC6B8A563A999701AA394A0761BA3E29D5A964537549E5B4A81B2ABF12A1C09"

[release.source]
repo = "source/demo.bundle"
tag = "1.0"
"#;

    #[test]
    fn relative_locations_resolve_against_the_catalog() {
        let (dir, path) = write(GOOD);
        let r = Catalog::load(&path).unwrap().release("1.0").unwrap();
        let base = Url::from_directory_path(std::fs::canonicalize(dir.path()).unwrap()).unwrap();
        assert_eq!(r.image.urls[0], base.join("releases/demo-1.0.iso").unwrap());
        assert_eq!(r.image.urls[1].as_str(), "https://example.org/demo-1.0.iso");
        assert_eq!(r.image.file_name, "demo-1.0.iso");
        assert_eq!(r.signers, ["A490D0F4D311A4153E2BB7CADBB802B258ACD84F"]);
        assert_eq!(r.cert_urls[0], base.join("keys/demo.asc").unwrap());
        assert_eq!(r.backend, Backend::Embedded);
        assert_eq!(r.source.unwrap().source_date_epoch, EpochRule::Recipe);
        assert_eq!(
            r.image.sha256.as_deref(),
            Some("5ac6b8a563a999701aa394a0761ba3e29d5a964537549e5b4a81b2abf12a1c09")
        );
    }

    #[test]
    fn unknown_version_lists_what_is_there() {
        let (_d, path) = write(GOOD);
        let err = Catalog::load(&path).unwrap().release("2.0").unwrap_err();
        assert!(err.to_string().contains("it lists: 1.0"), "{err}");
    }

    #[test]
    fn refuses_bad_catalogs() {
        for (text, needle) in [
            (
                GOOD.replace("format = 1", "format = 2"),
                "format 2 is not supported",
            ),
            (GOOD.replace("signers = [", "signerz = ["), "unknown field"),
            (
                GOOD.replace("a490 d0f4", "a490"),
                "not a v4 or v6 fingerprint",
            ),
            (GOOD.replace("5AC6B8", "XX"), "not 64 hex digits"),
            (
                GOOD.replace("tag = \"1.0\"", "tag = \"--upload-pack=x\""),
                "not a valid git tag",
            ),
            (
                GOOD.replace("releases/demo-1.0.iso.sig", "ftp://x/y.sig"),
                "ftp scheme is not supported",
            ),
            ("not toml [".to_owned(), "catalog"),
        ] {
            let (_d, path) = write(&text);
            let err = Catalog::load(&path).unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn fingerprints_normalize() {
        assert_eq!(
            normalize_fingerprint("a490 D0F4 D311 A415 3E2B  B7CA DBB8 02B2 58AC D84F").as_deref(),
            Some("A490D0F4D311A4153E2BB7CADBB802B258ACD84F")
        );
        assert!(normalize_fingerprint("A490").is_none());
    }

    proptest::proptest! {
        /// Hostile catalogs: any text, and the real one with bytes cut out, give a
        /// result or an error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let (_d, path) = write(&text);
            let _ = Catalog::load(&path).and_then(|c| c.release("1.0"));
        }

        #[test]
        fn mangled_catalogs_never_panic(cut in 0usize..600, len in 0usize..40, junk in "[\\[\\]=\"a-z0-9 \n.]{0,12}") {
            let mut text = GOOD.to_owned();
            let start = cut.min(text.len());
            let end = (start + len).min(text.len());
            if text.is_char_boundary(start) && text.is_char_boundary(end) {
                text.replace_range(start..end, &junk);
            }
            let (_d, path) = write(&text);
            let _ = Catalog::load(&path).and_then(|c| c.release("1.0"));
        }
    }
}
