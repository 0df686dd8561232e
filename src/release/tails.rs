//! Tails, built in: where each release's files live, by era, and whom to trust.
//!
//! The rules (from Tails' own repository, see docs/catalog.md):
//! - images are `tails-i386-V.iso` before 3.0 and `tails-amd64-V.iso` from 3.0;
//!   USB images `tails-amd64-V.img` exist from 3.12;
//! - the download host was `dl.amnesia.boum.org` (plain http, signature checked anyway)
//!   until early 2022 and `download.tails.net` since; only the newest release stays on
//!   the `stable` tree, older ones move to the Tor Project's archive (also mirrored on
//!   the kernel.org mirror network);
//! - detached signatures lived under `tails.boum.org/torrents/files/` and, from 5.14,
//!   under `tails.net/torrents/files/`; release directories also carry them.

use url::Url;

use super::version::Version;
use super::{Artifact, Backend, EpochRule, Release, ResolveError, SourceRef};

/// The pinned primary-key fingerprint of the Tails signing key.
pub const SIGNING_KEY: &str = "A490D0F4D311A4153E2BB7CADBB802B258ACD84F";

/// Where Tails' source lives; release tags are named after the version.
pub const SOURCE_REPO: &str = "https://gitlab.tails.boum.org/tails/tails.git";

/// Facts published for particular releases (image size and SHA-256, tag commit, and
/// the date of the top debian/changelog entry, which is the build's SOURCE_DATE_EPOCH).
pub struct Known {
    pub version: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    pub commit: &'static str,
    pub source_date_epoch: i64,
    pub changelog_date: &'static str,
}

/// Releases whose facts we carry; from their signed image description files and tags.
pub const KNOWN: &[Known] = &[Known {
    version: "3.3",
    size: 1_217_341_440,
    sha256: "5ac6b8a563a999701aa394a0761ba3e29d5a964537549e5b4a81b2abf12a1c09",
    commit: "e8e5791b60f09a0d313416dc97a4758e4e3f821c",
    source_date_epoch: 1_510_631_607,
    changelog_date: "Tue, 14 Nov 2017 04:53:27 +0100",
}];

/// Which image of a release: the ISO (all releases) or the USB image (from 3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Iso,
    Img,
}

/// The Tails release `version`, its ISO image.
pub fn release(version: &str) -> Result<Release, ResolveError> {
    release_of_kind(version, ImageKind::Iso)
}

/// The Tails release `version`, with the chosen image kind.
pub fn release_of_kind(version: &str, kind: ImageKind) -> Result<Release, ResolveError> {
    let v = Version::parse(version).ok_or_else(|| ResolveError::BadVersion {
        version: version.into(),
    })?;
    if !v.at_least(0, 1) || v.numbers[0] == 0 && v.numbers.get(1) == Some(&0) {
        return Err(unknown(version));
    }
    let arch = if v.at_least(3, 0) { "amd64" } else { "i386" };
    let ext = match kind {
        ImageKind::Iso => "iso",
        ImageKind::Img if v.at_least(3, 12) => "img",
        ImageKind::Img => {
            return Err(ResolveError::UnknownVersion {
                version: version.into(),
                hint: " as a USB image: Tails publishes .img images from 3.12 on; use the ISO"
                    .into(),
            })
        }
    };
    let dir = format!("tails-{arch}-{version}");
    let file = format!("{dir}.{ext}");
    let sig = format!("{file}.sig");
    let new_host = v.at_least(4, 26);

    let mut image = Vec::new();
    let mut signature = Vec::new();
    let mut dirs = Vec::new();
    if new_host {
        dirs.push(format!("https://download.tails.net/tails/stable/{dir}/"));
    }
    dirs.push(format!(
        "https://archive.torproject.org/amnesia.boum.org/tails/stable/{dir}/"
    ));
    dirs.push(format!(
        "https://mirrors.edge.kernel.org/tails/stable/{dir}/"
    ));
    if !new_host {
        dirs.push(format!("http://dl.amnesia.boum.org/tails/stable/{dir}/"));
    }
    if v.at_least(5, 14) {
        signature.push(format!("https://tails.net/torrents/files/{sig}"));
    } else {
        signature.push(format!("https://tails.boum.org/torrents/files/{sig}"));
        signature.push(format!("https://tails.net/torrents/files/{sig}"));
    }
    for d in &dirs {
        image.push(format!("{d}{file}"));
        signature.push(format!("{d}{sig}"));
    }
    let known = KNOWN
        .iter()
        .find(|k| k.version == version && kind == ImageKind::Iso);
    Ok(Release {
        project: "Tails".into(),
        version: version.into(),
        image: Artifact {
            file_name: file,
            urls: parse_all(&image),
            size: known.map(|k| k.size),
            sha256: known.map(|k| k.sha256.to_owned()),
        },
        signature_urls: parse_all(&signature),
        signers: vec![SIGNING_KEY.into()],
        cert_urls: parse_all(&[
            "https://tails.net/tails-signing.key".to_owned(),
            "https://tails.boum.org/tails-signing.key".to_owned(),
        ]),
        source: Some(SourceRef {
            repo: Url::parse(SOURCE_REPO).expect("constant URL parses"),
            tag: version.into(),
            commit: KNOWN
                .iter()
                .find(|k| k.version == version)
                .map(|k| k.commit.to_owned()),
            source_date_epoch: EpochRule::DebianChangelog,
        }),
        backend: Backend::Tails,
    })
}

fn unknown(version: &str) -> ResolveError {
    ResolveError::UnknownVersion {
        version: version.into(),
        hint: ": Tails versions start at 0.1; for another project pass --catalog FILE".into(),
    }
}

fn parse_all(urls: &[String]) -> Vec<Url> {
    // Built from a validated version and constant hosts: always valid URLs.
    urls.iter().filter_map(|u| Url::parse(u).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_3_3_facts() {
        let r = release("3.3").unwrap();
        assert_eq!(r.image.file_name, "tails-amd64-3.3.iso");
        assert_eq!(r.image.size, Some(1_217_341_440));
        assert_eq!(
            r.image.urls[0].as_str(),
            "https://archive.torproject.org/amnesia.boum.org/tails/stable/tails-amd64-3.3/tails-amd64-3.3.iso"
        );
        assert!(r.image.urls.iter().any(|u| u.as_str()
            == "http://dl.amnesia.boum.org/tails/stable/tails-amd64-3.3/tails-amd64-3.3.iso"));
        assert_eq!(
            r.signature_urls[0].as_str(),
            "https://tails.boum.org/torrents/files/tails-amd64-3.3.iso.sig"
        );
        assert_eq!(r.signers, [SIGNING_KEY]);
        let src = r.source.unwrap();
        assert_eq!(src.tag, "3.3");
        assert_eq!(
            src.commit.as_deref(),
            Some("e8e5791b60f09a0d313416dc97a4758e4e3f821c")
        );
        assert_eq!(src.source_date_epoch, EpochRule::DebianChangelog);
    }

    #[test]
    fn eras() {
        assert_eq!(
            release("2.12").unwrap().image.file_name,
            "tails-i386-2.12.iso"
        );
        let new = release("6.0").unwrap();
        assert!(new.image.urls[0]
            .as_str()
            .starts_with("https://download.tails.net/"));
        assert!(new.image.size.is_none() && new.image.sha256.is_none());
        assert!(!new.image.urls.iter().any(|u| u.scheme() == "http"));
        assert_eq!(
            new.signature_urls[0].as_str(),
            "https://tails.net/torrents/files/tails-amd64-6.0.iso.sig"
        );
        assert_eq!(
            release_of_kind("3.12", ImageKind::Img)
                .unwrap()
                .image
                .file_name,
            "tails-amd64-3.12.img"
        );
        assert!(release_of_kind("3.11", ImageKind::Img).is_err());
    }

    #[test]
    fn refuses_bad_versions() {
        assert!(matches!(
            release("../x"),
            Err(ResolveError::BadVersion { .. })
        ));
        assert!(matches!(
            release("0.0"),
            Err(ResolveError::UnknownVersion { .. })
        ));
    }
}
