//! The report of `verify-release VERSION`: what was verified, how, and the verdict.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::authenticate::Authenticity;
use crate::exit::Exit;
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
    pub rebuild: Option<Value>,
}

impl Render for VerifyReport {
    fn command(&self) -> &'static str {
        "verify"
    }

    fn exit(&self) -> Exit {
        match self.rebuild.as_ref().and_then(|r| r["identical"].as_bool()) {
            Some(false) => Exit::Differs,
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
        if self.rebuild.is_none() {
            text.push_str("  not rebuilt (--no-rebuild)\n");
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
        })
    }
}
