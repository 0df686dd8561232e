//! Where bytes can come from: an http(s) URL, a `file://` URL or a plain local path.

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::exit::{Exit, Failure};
use crate::untrusted::Untrusted;

/// One place to fetch a file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Http(Url),
    Local(PathBuf),
}

/// A source string or a mirror path that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot use {text} as a download source: {reason}; hint: give an http(s):// or file:// URL or a local path")]
pub struct BadSource {
    pub text: Untrusted,
    pub reason: &'static str,
}

impl Failure for BadSource {
    /// Sources come from the command line (`--mirror`) or from a catalog the user chose.
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

impl Source {
    /// `http://` and `https://` URLs, `file://` URLs, or anything without a URL scheme
    /// (taken as a local path).
    pub fn parse(text: &str) -> Result<Source, BadSource> {
        let bad = |reason| BadSource {
            text: Untrusted::new(text),
            reason,
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        match Url::parse(text) {
            Ok(url) => match url.scheme() {
                "http" | "https" => {
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(bad("the URL has no host"));
                    }
                    Ok(Source::Http(url))
                }
                "file" => url
                    .to_file_path()
                    .map(Source::Local)
                    .map_err(|()| bad("the file:// URL does not name a local absolute path")),
                // A one-letter scheme is a Windows drive letter: a path.
                s if s.len() == 1 => Ok(Source::Local(PathBuf::from(text))),
                _ => Err(bad("only http, https and file URLs are supported")),
            },
            Err(_) if text.contains("://") => Err(bad("the URL does not parse")),
            Err(_) => Ok(Source::Local(PathBuf::from(text))),
        }
    }

    /// The source for `relative` under a mirror base (a URL or directory that holds
    /// the same tree as the release's own server). `relative` is split on `/`; each
    /// piece is percent-encoded as needed, and `..`, `.` or empty pieces are refused.
    pub fn under_mirror(base: &str, relative: &str) -> Result<Source, BadSource> {
        let segments = relative_segments(relative).ok_or_else(|| BadSource {
            text: Untrusted::new(relative),
            reason: "a mirror path must be relative, without '..', '.', '\\' or empty parts",
        })?;
        match Source::parse(base)? {
            Source::Http(mut url) => {
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(BadSource {
                        text: Untrusted::new(base),
                        reason: "a mirror base URL cannot have a query or fragment",
                    });
                }
                let cannot_be_base = BadSource {
                    text: Untrusted::new(base),
                    reason: "the URL cannot be a base",
                };
                url.path_segments_mut()
                    .map_err(|()| cannot_be_base)?
                    .pop_if_empty()
                    .extend(segments);
                Ok(Source::Http(url))
            }
            Source::Local(dir) => Ok(Source::Local(
                segments.into_iter().fold(dir, |p, s| p.join(s)),
            )),
        }
    }

    /// The path of a local source.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Source::Local(p) => Some(p),
            Source::Http(_) => None,
        }
    }
}

fn relative_segments(relative: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = relative.split('/').collect();
    let ok = segments
        .iter()
        .all(|s| !s.is_empty() && *s != "." && *s != ".." && !s.contains(['\\', '\0']));
    ok.then_some(segments)
}

impl fmt::Display for Source {
    /// URLs are shown as parsed (percent-encoded, so printable); paths are escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Http(url) => write!(f, "{}", Untrusted::new(url.as_str())),
            Source::Local(p) => write!(f, "{}", Untrusted::new(p.as_os_str().as_encoded_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_paths() {
        assert!(matches!(
            Source::parse("https://example.org/a.iso"),
            Ok(Source::Http(_))
        ));
        assert_eq!(
            Source::parse("file:///srv/m/a.iso"),
            Ok(Source::Local(PathBuf::from("/srv/m/a.iso")))
        );
        assert_eq!(
            Source::parse("./m/a.iso"),
            Ok(Source::Local(PathBuf::from("./m/a.iso")))
        );
        assert_eq!(
            Source::parse("/m/a.iso"),
            Ok(Source::Local(PathBuf::from("/m/a.iso")))
        );
        let e = Source::parse("ftp://example.org/a").unwrap_err();
        assert!(e.to_string().contains("only http, https and file"), "{e}");
        assert!(Source::parse("").is_err());
        assert!(Source::parse("http://").is_err());
    }

    #[test]
    fn joins_mirror_paths() {
        let s = Source::under_mirror("https://m.example/tails", "stable/t 1/a.iso").unwrap();
        assert_eq!(s.to_string(), "https://m.example/tails/stable/t%201/a.iso");
        let s = Source::under_mirror("https://m.example/tails/", "a.iso").unwrap();
        assert_eq!(s.to_string(), "https://m.example/tails/a.iso");
        let s = Source::under_mirror("/srv/mirror", "x/a.iso").unwrap();
        assert_eq!(s, Source::Local(PathBuf::from("/srv/mirror/x/a.iso")));
        for bad in ["../a.iso", "/a.iso", "x//a.iso", "x/./a", "a\\b", ""] {
            assert!(
                Source::under_mirror("https://m.example/", bad).is_err(),
                "{bad}"
            );
        }
        assert!(Source::under_mirror("https://m.example/?q=1", "a").is_err());
    }

    #[test]
    fn display_escapes_control_characters_in_paths() {
        let s = Source::Local(PathBuf::from("/tmp/a\x1b[31m.iso"));
        assert_eq!(s.to_string(), "/tmp/a\\u{1b}[31m.iso");
    }
}
