//! The `authenticate` command's report.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::Render;
use crate::authenticate::Authenticity;
use crate::exit::Exit;
use crate::untrusted::Untrusted;

/// A file found authentic: the file and what vouches for it.
#[derive(Debug, Clone)]
pub struct AuthReport {
    pub file: PathBuf,
    pub authenticity: Authenticity,
}

impl AuthReport {
    fn file_name(&self) -> Untrusted {
        Untrusted::new(self.file.as_os_str().as_encoded_bytes())
    }
}

/// `A490 D0F4 D311 A415 3E2B  B7CA DBB8 02B2 58AC D84F`, the way people compare them.
fn spaced(fpr: &str) -> String {
    let groups: Vec<&str> = fpr
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or("?"))
        .collect();
    let half = groups.len() / 2;
    if groups.len() == 10 {
        format!("{}  {}", groups[..half].join(" "), groups[half..].join(" "))
    } else {
        groups.join(" ")
    }
}

impl Render for AuthReport {
    fn command(&self) -> &'static str {
        "authenticate"
    }

    fn exit(&self) -> Exit {
        Exit::Verified
    }

    fn human(&self) -> String {
        let a = &self.authenticity;
        let uid = a
            .signer_uid
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "(no user ID)".into());
        let size_note = if a.size_checked {
            "matches the published size"
        } else {
            "no published size given"
        };
        let sha_note = if a.sha256_checked {
            "matches the published digest"
        } else {
            "no published digest given"
        };
        let signing = if a.signing_key_fingerprint == a.primary_fingerprint {
            "the primary key itself".to_string()
        } else {
            format!("subkey {}", spaced(&a.signing_key_fingerprint))
        };
        format!(
            "authentic: {file}\n\
             \x20 signed by    {uid}\n\
             \x20 primary key  {primary} (pinned)\n\
             \x20 signing key  {signing}, {algo}\n\
             \x20 signed at    {time} ({hash})\n\
             \x20 size         {size} bytes ({size_note})\n\
             \x20 sha256       {sha} ({sha_note})\n",
            file = self.file_name(),
            primary = spaced(&a.primary_fingerprint),
            algo = a.pubkey_algorithm,
            time = a.signature_time,
            hash = a.hash_algorithm,
            size = a.size,
            sha = a.sha256,
        )
    }

    fn json(&self) -> Value {
        json!({
            "file": self.file_name(),
            "authenticity": self.authenticity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> AuthReport {
        AuthReport {
            file: PathBuf::from("tails-amd64-3.3.iso"),
            authenticity: Authenticity {
                primary_fingerprint: "A490D0F4D311A4153E2BB7CADBB802B258ACD84F".into(),
                signing_key_fingerprint: "BA2C222F44AC00ED9899389398FEC6BC752A3DB6".into(),
                signer_uid: Some(Untrusted::new(
                    b"Tails \x1b[2Jdevelopers <tails@boum.org>".to_vec(),
                )),
                signature_time: "2017-11-14T04:20:28Z".into(),
                signature_unix_time: 1_510_633_228,
                hash_algorithm: "SHA512".into(),
                pubkey_algorithm: "RSA-4096".into(),
                size: 1_217_341_440,
                sha256: "5ac6b8a563a999701aa394a0761ba3e29d5a964537549e5b4a81b2abf12a1c09".into(),
                size_checked: true,
                sha256_checked: false,
            },
        }
    }

    #[test]
    fn human_text_names_signer_keys_and_escapes_the_uid() {
        let text = report().human();
        assert_eq!(
            text,
            "authentic: tails-amd64-3.3.iso\n\
             \x20 signed by    Tails \\u{1b}[2Jdevelopers <tails@boum.org>\n\
             \x20 primary key  A490 D0F4 D311 A415 3E2B  B7CA DBB8 02B2 58AC D84F (pinned)\n\
             \x20 signing key  subkey BA2C 222F 44AC 00ED 9899  3893 98FE C6BC 752A 3DB6, RSA-4096\n\
             \x20 signed at    2017-11-14T04:20:28Z (SHA512)\n\
             \x20 size         1217341440 bytes (matches the published size)\n\
             \x20 sha256       5ac6b8a563a999701aa394a0761ba3e29d5a964537549e5b4a81b2abf12a1c09 (no published digest given)\n"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn json_fields_are_the_documented_ones() {
        let v = report().json();
        assert_eq!(v["file"], "tails-amd64-3.3.iso");
        let a = &v["authenticity"];
        let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "hash_algorithm",
                "primary_fingerprint",
                "pubkey_algorithm",
                "sha256",
                "sha256_checked",
                "signature_time",
                "signature_unix_time",
                "signer_uid",
                "signing_key_fingerprint",
                "size",
                "size_checked"
            ]
        );
        assert_eq!(
            a["signer_uid"],
            "Tails \\u{1b}[2Jdevelopers <tails@boum.org>"
        );
        assert_eq!(a["size"], 1_217_341_440u64);
        assert_eq!(a["sha256_checked"], false);
    }
}
