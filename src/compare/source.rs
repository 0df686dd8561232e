//! Bounded random-access reads from an image, for the parsers.
//!
//! Every read is checked against the file size and a per-read cap, so a hostile length
//! field can neither read past the end nor allocate without bound.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Largest single read a parser may ask for (a directory, a metadata table block, a
/// fragment block). Larger requests are refused as corrupt.
pub const MAX_READ: u64 = 64 << 20;

/// Why a structure could not be read; turned into a best-effort "unknown" location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

pub type PResult<T> = Result<T, ParseError>;

pub fn bad<T>(msg: impl Into<String>) -> PResult<T> {
    Err(ParseError(msg.into()))
}

/// What the parsers read from: an open file, or bytes in memory (fuzzing, tests).
enum Backing<'a> {
    File(&'a File),
    Bytes(&'a [u8]),
}

/// An image opened for the parsers, with its size.
pub struct Source<'a> {
    backing: Backing<'a>,
    pub size: u64,
}

impl<'a> Source<'a> {
    pub fn new(file: &'a File, size: u64) -> Self {
        Source {
            backing: Backing::File(file),
            size,
        }
    }

    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        Source {
            backing: Backing::Bytes(bytes),
            size: bytes.len() as u64,
        }
    }

    /// Exactly `len` bytes at `off`, or an error when that is past the end or too big.
    pub fn read(&self, off: u64, len: u64) -> PResult<Vec<u8>> {
        if len > MAX_READ {
            return bad(format!("refusing a {len}-byte read at offset {off}"));
        }
        let end = off
            .checked_add(len)
            .ok_or_else(|| ParseError(format!("offset overflow at {off}")))?;
        if end > self.size {
            return bad(format!(
                "structure at offset {off} ({len} bytes) runs past the end of the image ({})",
                self.size
            ));
        }
        match self.backing {
            Backing::File(f) => {
                let mut buf = vec![0u8; len as usize];
                f.read_exact_at(&mut buf, off)
                    .map_err(|e| ParseError(format!("read at offset {off}: {e}")))?;
                Ok(buf)
            }
            Backing::Bytes(b) => Ok(b[off as usize..end as usize].to_vec()),
        }
    }

    /// Like [`read`](Self::read) but shortened at the end of the file.
    pub fn read_upto(&self, off: u64, len: u64) -> PResult<Vec<u8>> {
        let len = len.min(self.size.saturating_sub(off));
        self.read(off, len)
    }
}

/// Little-endian integer helpers on slices that may be short (hostile input).
pub fn le16(b: &[u8], at: usize) -> PResult<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| ParseError(format!("truncated 16-bit field at {at}")))
}

pub fn le32(b: &[u8], at: usize) -> PResult<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| ParseError(format!("truncated 32-bit field at {at}")))
}

pub fn le64(b: &[u8], at: usize) -> PResult<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
        .ok_or_else(|| ParseError(format!("truncated 64-bit field at {at}")))
}

/// Finds the named field holding byte `at` in a table of (offset, length, name).
pub fn field_name(table: &[(usize, usize, &str)], at: usize) -> Option<String> {
    table
        .iter()
        .find(|(o, l, _)| at >= *o && at < o + l)
        .map(|(_, _, n)| (*n).to_string())
}
