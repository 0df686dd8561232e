//! The report of `verify-release VERSION`: what was verified, how, and the verdict.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::authenticate::Authenticity;
use crate::exit::Exit;
use crate::rebuild::Verdict;
use crate::release::Release;
use crate::report::authenticate::AuthReport;
use crate::report::Render;
use crate::untrusted::Untrusted;

/// Everything the verify job found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub release: Release,
    /// The verified image (in the cache, or the user's own file).
    pub image_path: PathBuf,
    /// Where its bytes came from.
    pub origin: String,
    pub authenticity: Authenticity,
    pub authenticate_seconds: f64,
    /// The rebuild verdict; `None` when only authenticity was asked for.
    pub rebuild: Option<Verdict>,
}

impl Render for VerifyReport {
    fn command(&self) -> &'static str {
        "verify"
    }

    fn exit(&self) -> Exit {
        match &self.rebuild {
            Some(v) if !v.identical => Exit::Differs,
            _ => Exit::Verified,
        }
    }

    fn human(&self) -> String {
        let r = &self.release;
        let mut text = format!(
            "{} {}: authentic\n",
            Untrusted::new(r.project.as_bytes()),
            Untrusted::new(r.version.as_bytes())
        );
        let auth = AuthReport {
            file: self.image_path.clone(),
            authenticity: self.authenticity.clone(),
        };
        for line in crate::report::Render::human(&auth).lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
        match &self.rebuild {
            None => text.push_str("  not rebuilt (--no-rebuild)\n"),
            Some(v) => text.push_str(&rebuild_text(v)),
        }
        text
    }

    fn json(&self) -> Value {
        json!({
            "release": {
                "project": self.release.project,
                "version": self.release.version,
                "image": self.release.image.file_name,
                "signers": self.release.signers,
                "backend": self.release.backend,
                "source": self.release.source,
            },
            "image": {
                "path": Untrusted::new(self.image_path.as_os_str().as_encoded_bytes()),
                "origin": self.origin,
            },
            "authenticity": self.authenticity,
            "rebuild": self.rebuild,
            "timings": { "authenticate_seconds": self.authenticate_seconds },
            "verdict": match &self.rebuild {
                None => "authentic",
                Some(v) if v.identical => "reproducible",
                Some(_) => "differs",
            },
        })
    }
}

/// The rebuild part of the human report.
fn rebuild_text(v: &Verdict) -> String {
    let c = &v.source;
    let mut text = format!(
        "{}: rebuilt from tag {} (tag object {}, commit {}, tree {})\n",
        if v.identical {
            "reproducible"
        } else {
            "DIFFERS"
        },
        Untrusted::new(c.tag.as_bytes()),
        short(&c.tag_object),
        short(&c.commit),
        short(&c.tree),
    );
    text.push_str(&format!(
        "  tag signed by {} ({}) at {}\n",
        c.signer
            .signer_uid
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "(no user ID)".into()),
        c.signer.signing_key_fingerprint,
        c.signer.signature_time
    ));
    text.push_str(&format!(
        "  SOURCE_DATE_EPOCH {}, built with {}\n",
        v.source_date_epoch, v.builder
    ));
    text.push_str(&format!(
        "  rebuilt image {} bytes, sha256 {}\n",
        v.rebuilt.size, v.rebuilt.sha256
    ));
    for line in crate::report::Render::human(&v.comparison).lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    let sig = &v.official_signature_over_rebuilt;
    if sig.verified {
        text.push_str("  the official signature verifies over the rebuilt image\n");
    } else {
        text.push_str(&format!(
            "  the official signature does not verify over the rebuilt image: {}\n",
            sig.error.as_deref().unwrap_or("unknown reason")
        ));
    }
    if v.kept {
        text.push_str(&format!(
            "  work directory kept: {}\n",
            Untrusted::new(v.work_dir.as_os_str().as_encoded_bytes())
        ));
    }
    text
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
