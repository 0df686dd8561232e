//! The download cache: verified files by content, and partial downloads.
//!
//! ```text
//! <cache>/sha256/<hex>/<file name>   verified files, named by their SHA-256
//! <cache>/partial/<key>.part         bytes received so far (never trusted)
//! <cache>/partial/<key>.meta         the URL they came from and its validator
//! ```
//! Nothing under `sha256/` is trusted either: every use runs it through a verifier.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Expected;

/// How many directories of `sha256/` are looked at when the digest is not known.
const MAX_SCAN: usize = 4096;
/// How many cached copies with the right name are tried when the digest is not known.
const MAX_CANDIDATES: usize = 4;
/// Metadata files are tiny; anything bigger is not ours.
const MAX_META: u64 = 16 * 1024;

/// The cache directory `$XDG_CACHE_HOME/verify-release`, else `~/.cache/verify-release`.
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// The XDG rule: a relative or empty `XDG_CACHE_HOME` is ignored.
fn cache_dir_from(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute(xdg).or_else(|| absolute(home).map(|h| h.join(".cache")))?;
    Some(base.join("verify-release"))
}

/// A file name is used as a path component: it must be one plain name.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Self {
        Cache { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a verified file with this digest lives.
    pub fn entry_path(&self, sha256: &[u8; 32], name: &str) -> PathBuf {
        self.root
            .join("sha256")
            .join(hex::encode(sha256))
            .join(name)
    }

    /// Cached copies that might be the wanted file: the one at its digest when the
    /// digest is known; otherwise a few files of that name (and size, when known).
    pub fn candidates(&self, name: &str, expected: &Expected) -> Vec<PathBuf> {
        let fits = |p: &Path| match fs::symlink_metadata(p) {
            Ok(m) => m.is_file() && expected.size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        };
        if let Some(sha) = &expected.sha256 {
            let p = self.entry_path(sha, name);
            return if fits(&p) { vec![p] } else { vec![] };
        }
        let Ok(dir) = fs::read_dir(self.root.join("sha256")) else {
            return vec![];
        };
        let mut found: Vec<PathBuf> = dir
            .take(MAX_SCAN)
            .filter_map(Result::ok)
            .filter(|e| digest_of_dir(&e.path()).is_some())
            .map(|e| e.path().join(name))
            .filter(|p| fits(p))
            .collect();
        found.sort();
        found.truncate(MAX_CANDIDATES);
        found
    }

    /// The partial download for this file, keyed by its name and what is expected of
    /// it, so that a part of one release is never resumed as another.
    pub fn part(&self, name: &str, expected: &Expected) -> Part {
        let mut h = Sha256::new();
        h.update(b"verify-release part v1\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        if let Some(size) = expected.size {
            h.update(size.to_string().as_bytes());
        }
        h.update(b"\0");
        if let Some(sha) = &expected.sha256 {
            h.update(hex::encode(sha).as_bytes());
        }
        let key = hex::encode(&h.finalize()[..16]);
        let dir = self.root.join("partial");
        Part {
            path: dir.join(format!("{key}.part")),
            meta: dir.join(format!("{key}.meta")),
            dir,
        }
    }

    /// Moves a verified part to its place under `sha256/`.
    pub fn publish(&self, part: &Part, sha256: &[u8; 32], name: &str) -> io::Result<PathBuf> {
        let dest = self.entry_path(sha256, name);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::rename(&part.path, &dest)?;
        let _ = fs::remove_file(&part.meta);
        Ok(dest)
    }
}

/// The digest a `sha256/<hex>` directory claims for its content.
pub fn digest_of_dir(dir: &Path) -> Option<[u8; 32]> {
    let name = dir.file_name()?.to_str()?;
    if name.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(name, &mut out).ok()?;
    Some(out)
}

/// A partial download and its metadata file.
#[derive(Debug, Clone)]
pub struct Part {
    pub dir: PathBuf,
    pub path: PathBuf,
    pub meta: PathBuf,
}

/// What makes a resumed download safe to splice: the server must still serve the
/// same representation, which `If-Range` asks it to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validator {
    ETag(String),
    LastModified(String),
}

impl Validator {
    pub fn header_value(&self) -> &str {
        match self {
            Validator::ETag(v) | Validator::LastModified(v) => v,
        }
    }
}

/// What was stored beside a part: where its bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub url: String,
    pub validator: Option<Validator>,
}

impl Part {
    /// Removes the part and its metadata; a missing file is fine.
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(&self.meta);
    }

    /// The length of the part on disk, if there is one.
    pub fn len(&self) -> Option<u64> {
        fs::symlink_metadata(&self.path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    pub fn read_meta(&self) -> Option<Meta> {
        let mut text = String::new();
        fs::File::open(&self.meta)
            .ok()?
            .take(MAX_META)
            .read_to_string(&mut text)
            .ok()?;
        let mut lines = text.lines();
        let url = lines.next()?.strip_prefix("url ")?.to_string();
        let validator = match lines.next() {
            Some(l) => match l.split_once(' ') {
                Some(("etag", v)) => Some(Validator::ETag(v.to_string())),
                Some(("last-modified", v)) => Some(Validator::LastModified(v.to_string())),
                _ => return None,
            },
            None => None,
        };
        Some(Meta { url, validator })
    }

    pub fn write_meta(&self, meta: &Meta) -> io::Result<()> {
        let mut text = format!("url {}\n", meta.url);
        match &meta.validator {
            Some(Validator::ETag(v)) => text.push_str(&format!("etag {v}\n")),
            Some(Validator::LastModified(v)) => text.push_str(&format!("last-modified {v}\n")),
            None => {}
        }
        fs::write(&self.meta, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(size: Option<u64>, sha: Option<[u8; 32]>) -> Expected {
        Expected { size, sha256: sha }
    }

    #[test]
    fn file_names_must_be_plain() {
        assert!(valid_file_name("tails-amd64-3.3.iso"));
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(!valid_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn parts_differ_per_expectation_and_meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let a = cache.part("a.iso", &expected(Some(10), None));
        let b = cache.part("a.iso", &expected(Some(11), None));
        assert_ne!(a.path, b.path);
        fs::create_dir_all(&a.dir).unwrap();
        let meta = Meta {
            url: "http://127.0.0.1:1/a.iso".into(),
            validator: Some(Validator::ETag("\"abc def\"".into())),
        };
        a.write_meta(&meta).unwrap();
        assert_eq!(a.read_meta(), Some(meta));
        fs::write(&a.meta, "garbage").unwrap();
        assert_eq!(a.read_meta(), None);
    }

    #[test]
    fn candidates_by_digest_or_by_name_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let sha = [7u8; 32];
        let p = cache.entry_path(&sha, "a.iso");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, b"12345").unwrap();
        assert_eq!(
            cache.candidates("a.iso", &expected(None, Some(sha))),
            vec![p.clone()]
        );
        assert!(cache
            .candidates("a.iso", &expected(None, Some([8; 32])))
            .is_empty());
        assert_eq!(
            cache.candidates("a.iso", &expected(Some(5), None)),
            vec![p.clone()]
        );
        assert!(cache
            .candidates("a.iso", &expected(Some(6), None))
            .is_empty());
        assert!(cache.candidates("b.iso", &expected(None, None)).is_empty());
        assert_eq!(digest_of_dir(p.parent().unwrap()), Some(sha));
    }

    #[test]
    fn default_dir_follows_xdg_then_home() {
        let v = |s: &str| Some(OsString::from(s));
        assert_eq!(
            cache_dir_from(v("/x/cache"), v("/home/u")),
            Some(PathBuf::from("/x/cache/verify-release"))
        );
        assert_eq!(
            cache_dir_from(v("relative"), v("/home/u")),
            Some(PathBuf::from("/home/u/.cache/verify-release"))
        );
        assert_eq!(
            cache_dir_from(v(""), v("/home/u")),
            Some(PathBuf::from("/home/u/.cache/verify-release"))
        );
        assert_eq!(cache_dir_from(None, None), None);
    }
}
