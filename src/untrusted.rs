//! Strings that came from an attacker (OpenPGP user IDs, file names read from images,
//! HTTP headers) are wrapped so that printing them can never drive the terminal.

use std::fmt;

/// Bytes from an untrusted source. `Display` escapes control characters, invalid
/// UTF-8 and backslashes, so the result is always one printable line.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Untrusted(Vec<u8>);

impl Untrusted {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Untrusted(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The escaped form, as `Display` prints it.
    pub fn escaped(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() || is_bidi_control(c) => {
                        out.push_str(&c.escape_unicode().to_string())
                    }
                    c => out.push(c),
                }
            }
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
}

/// Bidirectional overrides can make a string read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.escaped())
    }
}

impl fmt::Debug for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Untrusted({:?})", self.escaped())
    }
}

impl serde::Serialize for Untrusted {
    /// JSON carries the escaped form too: a consumer may print it as is.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.escaped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bad_utf8() {
        let u = Untrusted::new(b"Tails \x1b[31mdevelopers\x07 <t@x>\xff\\".to_vec());
        assert_eq!(
            u.to_string(),
            "Tails \\u{1b}[31mdevelopers\\u{7} <t@x>\\xff\\\\"
        );
    }

    #[test]
    fn keeps_plain_unicode_and_escapes_bidi() {
        assert_eq!(Untrusted::new("Zoë".as_bytes()).to_string(), "Zoë");
        assert_eq!(
            Untrusted::new("a\u{202e}b".as_bytes()).to_string(),
            "a\\u{202e}b"
        );
    }
}
