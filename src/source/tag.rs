//! A git tag object, read from its raw bytes: its header fields, and the split between
//! the signed payload and the signature block git appends to the message.
//!
//! git signs a tag by running the signer over the whole object as it stands before the
//! signature is added (headers, blank line, message) and appending the armored signature
//! to the message. So the payload is every byte before the last signature block, and the
//! signature is that block to the end of the object.

use sha2::Digest;

use super::SourceError;
use crate::untrusted::Untrusted;

/// A tag object larger than this is not a release tag (Tails' are under 1 KiB).
pub const MAX_TAG_OBJECT: usize = 1 << 20;

const PGP_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----\n";
const SSH_BEGIN: &[u8] = b"-----BEGIN SSH SIGNATURE-----\n";
const X509_BEGIN: &[u8] = b"-----BEGIN SIGNED MESSAGE-----\n";

/// The parsed header and the signature split of one tag object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagObject {
    /// The object the tag names (hex, as written in the tag).
    pub object: String,
    /// The named object's type, e.g. `commit`.
    pub kind: Untrusted,
    /// The tag's own name.
    pub name: Untrusted,
    /// The `tagger` line's value, when there is one (very old tags have none).
    pub tagger: Option<Untrusted>,
    /// The message, without the signature.
    pub message: Untrusted,
    /// The signed bytes: the object up to the signature block.
    pub payload: Vec<u8>,
    /// The armored OpenPGP signature block, when the tag carries one.
    pub signature: Option<Vec<u8>>,
}

/// How a tag object is signed, judged from its last signature block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigKind {
    Pgp,
    Ssh,
    X509,
}

/// Parses a raw tag object (what `git cat-file tag` prints) and splits off its
/// signature. `tag` is only used in error messages.
pub fn parse(raw: &[u8], tag: &str) -> Result<TagObject, SourceError> {
    let malformed = |reason: &str| SourceError::MalformedTag {
        tag: tag.to_owned(),
        reason: reason.to_owned(),
    };
    if raw.len() > MAX_TAG_OBJECT {
        return Err(malformed("the tag object is larger than 1 MiB"));
    }
    let (head, body) = match find(raw, b"\n\n") {
        Some(i) => (&raw[..i], &raw[i + 2..]),
        // A tag with an empty message ends its headers with one newline.
        None if raw.ends_with(b"\n") => (&raw[..raw.len() - 1], &raw[raw.len()..]),
        None => return Err(malformed("no end of headers")),
    };
    let mut object = None;
    let mut kind = None;
    let mut name = None;
    let mut tagger = None;
    for (i, line) in head.split(|&b| b == b'\n').enumerate() {
        let (key, value) = match line.iter().position(|&b| b == b' ') {
            Some(sp) => (&line[..sp], &line[sp + 1..]),
            None => (line, &b""[..]),
        };
        // The first three headers have a fixed order in every tag git writes.
        let slot = match (i, key) {
            (0, b"object") => &mut object,
            (1, b"type") => &mut kind,
            (2, b"tag") => &mut name,
            (3, b"tagger") => &mut tagger,
            (0..=2, _) => return Err(malformed("headers are not object, type, tag")),
            _ => continue,
        };
        *slot = Some(value.to_vec());
    }
    let object = object.ok_or_else(|| malformed("no object header"))?;
    let object = String::from_utf8(object)
        .ok()
        .filter(|o| is_object_id(o))
        .ok_or_else(|| malformed("the object header is not a hex object id"))?;
    let kind = kind.ok_or_else(|| malformed("no type header"))?;
    let name = name.ok_or_else(|| malformed("no tag header"))?;

    let (message, signature) = match last_signature(body) {
        None => (body, None),
        Some((at, SigKind::Pgp)) => (&body[..at], Some(body[at..].to_vec())),
        Some((_, SigKind::Ssh)) => {
            return Err(SourceError::UnsupportedSignature {
                tag: tag.to_owned(),
                kind: "an SSH signature",
            })
        }
        Some((_, SigKind::X509)) => {
            return Err(SourceError::UnsupportedSignature {
                tag: tag.to_owned(),
                kind: "an X.509 (gpgsm) signature",
            })
        }
    };
    let payload_len = raw.len() - body.len() + message.len();
    Ok(TagObject {
        object,
        kind: Untrusted::new(kind),
        name: Untrusted::new(name),
        tagger: tagger.map(Untrusted::new),
        message: Untrusted::new(message),
        payload: raw[..payload_len].to_vec(),
        signature,
    })
}

/// Where the last signature block of a message starts, and its kind. A block starts
/// at the beginning of a line.
fn last_signature(body: &[u8]) -> Option<(usize, SigKind)> {
    let mut best: Option<(usize, SigKind)> = None;
    for (marker, kind) in [
        (PGP_BEGIN, SigKind::Pgp),
        (SSH_BEGIN, SigKind::Ssh),
        (X509_BEGIN, SigKind::X509),
    ] {
        let mut from = 0;
        while let Some(i) = find(&body[from..], marker) {
            let at = from + i;
            let starts_line = at == 0 || body[at - 1] == b'\n';
            if starts_line && best.is_none_or(|(b, _)| at > b) {
                best = Some((at, kind));
            }
            from = at + 1;
        }
    }
    best
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A full object id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The id git gives an object of type `kind` with these bytes: the hash of
/// `"<kind> <len>\0"` followed by the bytes, SHA-1 or SHA-256 by the id's length.
pub fn object_id(kind: &str, bytes: &[u8], sha256: bool) -> Result<String, Sha1Collision> {
    let header = format!("{kind} {}\0", bytes.len());
    if sha256 {
        let mut h = sha2::Sha256::new();
        h.update(header.as_bytes());
        h.update(bytes);
        Ok(hex::encode(h.finalize()))
    } else {
        sha1(&[header.as_bytes(), bytes])
    }
}

/// SHA-1 of the concatenation of `parts`, as git computes object ids. SHA-1 is weak
/// against chosen-prefix collisions, so this uses the collision-detecting variant git
/// itself uses: an object crafted to collide is refused rather than trusted.
fn sha1(parts: &[&[u8]]) -> Result<String, Sha1Collision> {
    let mut h = sha1collisiondetection::Sha1CD::default();
    for p in parts {
        h.update(p);
    }
    h.finalize_cd()
        .map(|d| hex::encode(d.as_slice()))
        .map_err(|_| Sha1Collision)
}

/// The bytes hashed carry the marks of a SHA-1 collision attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha1Collision;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_known_digests() {
        assert_eq!(
            sha1(&[b"abc"]).unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let a = vec![b'a'; 1000];
        assert_eq!(sha1(&[&a[..3], &a[3..700], &a[700..]]), sha1(&[&a]));
        // git's empty blob, in both object formats.
        assert_eq!(
            object_id("blob", b"", false).unwrap(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            object_id("blob", b"", true).unwrap(),
            "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"
        );
    }

    const SIGNED: &[u8] = b"object 80b918a3fdb62325085e12783639e85b6ec6a256\ntype commit\ntag 1.0\ntagger A <a@x> 1 +0000\n\nmsg\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";

    #[test]
    fn splits_a_signed_tag() {
        let t = parse(SIGNED, "1.0").unwrap();
        assert_eq!(t.object, "80b918a3fdb62325085e12783639e85b6ec6a256");
        assert_eq!(t.kind.as_bytes(), b"commit");
        assert_eq!(t.name.as_bytes(), b"1.0");
        assert_eq!(t.tagger.unwrap().as_bytes(), b"A <a@x> 1 +0000");
        assert_eq!(t.message.as_bytes(), b"msg\n");
        let sig = t.signature.unwrap();
        assert!(sig.starts_with(PGP_BEGIN));
        assert_eq!([&t.payload[..], &sig[..]].concat(), SIGNED);
    }

    #[test]
    fn unsigned_tag_has_no_signature_and_marker_must_start_a_line() {
        let raw = b"object 80b918a3fdb62325085e12783639e85b6ec6a256\ntype commit\ntag 1.0\n\nsee x-----BEGIN PGP SIGNATURE-----\n";
        let t = parse(raw, "1.0").unwrap();
        assert!(t.signature.is_none());
        assert_eq!(t.payload, raw);
    }

    #[test]
    fn refuses_ssh_and_x509_signatures() {
        for (marker, word) in [(SSH_BEGIN, "SSH"), (X509_BEGIN, "X.509")] {
            let raw = [
                &b"object 80b918a3fdb62325085e12783639e85b6ec6a256\ntype commit\ntag 1.0\n\nm\n"[..],
                marker,
                b"x\n",
            ]
            .concat();
            let err = parse(&raw, "1.0").unwrap_err();
            assert!(err.to_string().contains(word), "{err}");
            assert_eq!(
                crate::exit::Failure::exit(&err),
                crate::exit::Exit::Authenticity
            );
        }
    }

    #[test]
    fn refuses_malformed_headers() {
        for raw in [
            &b"type commit\nobject 80b918a3fdb62325085e12783639e85b6ec6a256\ntag 1.0\n\n"[..],
            b"object nothex\ntype commit\ntag 1.0\n\n",
            b"object 80b918a3fdb62325085e12783639e85b6ec6a256",
            b"",
        ] {
            let err = parse(raw, "1.0").unwrap_err();
            assert!(matches!(err, SourceError::MalformedTag { .. }), "{err}");
        }
        let big = vec![b'a'; MAX_TAG_OBJECT + 1];
        assert!(parse(&big, "1.0").is_err());
    }
}
