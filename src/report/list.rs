//! `verify-release list`: the releases known, built in and from a catalog.

use serde_json::{json, Value};

use crate::exit::Exit;
use crate::release::Listing;
use crate::report::Render;
use crate::untrusted::Untrusted;

pub struct ListReport {
    pub releases: Vec<Listing>,
}

impl Render for ListReport {
    fn command(&self) -> &'static str {
        "list"
    }

    fn exit(&self) -> Exit {
        Exit::Verified
    }

    fn human(&self) -> String {
        let mut text = String::new();
        for r in &self.releases {
            text.push_str(&format!(
                "{:<8} {:<14} {:<10} {}\n",
                Untrusted::new(r.project.as_bytes()).to_string(),
                Untrusted::new(r.version.as_bytes()).to_string(),
                if r.sha256_known { "sha256" } else { "-" },
                Untrusted::new(r.source.as_bytes())
            ));
        }
        text.push_str(
            "Any Tails version can be verified by number; those listed carry a published size and SHA-256.\n",
        );
        text
    }

    fn json(&self) -> Value {
        json!({ "releases": self.releases })
    }
}
