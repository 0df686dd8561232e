//! Metadata blocks: the inode and directory tables and the small indexed tables.
//!
//! A metadata table is a run of blocks, each a 16-bit little-endian header (stored
//! size, bit 15 set when stored uncompressed) followed by at most 8 KiB of data. An
//! object's reference is (offset of its block inside the table << 16) | offset inside
//! the uncompressed block. Objects may straddle blocks.

use crate::compress::{CodecError, Compressor};
use crate::format::{METADATA_SIZE, META_UNCOMPRESSED};

/// Compresses one metadata block (≤ 8 KiB) and appends header + payload to `out`.
pub(crate) fn push_block(
    comp: &mut Compressor,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match comp.compress(data, METADATA_SIZE)? {
        Some(packed) if !packed.is_empty() && packed.len() < data.len() => {
            out.extend_from_slice(&(packed.len() as u16).to_le_bytes());
            out.extend_from_slice(&packed);
        }
        _ => {
            out.extend_from_slice(&(data.len() as u16 | META_UNCOMPRESSED).to_le_bytes());
            out.extend_from_slice(data);
        }
    }
    Ok(())
}

/// A metadata table being built in memory (inode table, directory table).
pub(crate) struct MetaTable {
    /// Finished blocks, as they go on disk.
    pub(crate) packed: Vec<u8>,
    /// Bytes not yet put in a block.
    pub(crate) pending: Vec<u8>,
}

impl MetaTable {
    pub(crate) fn new() -> MetaTable {
        MetaTable {
            packed: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Packs every full 8 KiB block that is pending.
    pub(crate) fn flush_full(&mut self, comp: &mut Compressor) -> Result<(), CodecError> {
        while self.pending.len() >= METADATA_SIZE {
            let rest = self.pending.split_off(METADATA_SIZE);
            let block = std::mem::replace(&mut self.pending, rest);
            push_block(comp, &block, &mut self.packed)?;
        }
        Ok(())
    }

    /// Current position as (block start in table, offset in block).
    pub(crate) fn position(&self) -> (u64, u32) {
        (self.packed.len() as u64, self.pending.len() as u32)
    }

    /// Appends an object and returns its reference; full blocks are packed first,
    /// so the reference names the block the object starts in.
    pub(crate) fn add(&mut self, bytes: &[u8], comp: &mut Compressor) -> Result<u64, CodecError> {
        self.flush_full(comp)?;
        let (block, offset) = self.position();
        self.pending.extend_from_slice(bytes);
        Ok((block << 16) | offset as u64)
    }

    /// Packs what is left (the last block may be short) and returns the table bytes.
    pub(crate) fn finish(mut self, comp: &mut Compressor) -> Result<Vec<u8>, CodecError> {
        self.flush_full(comp)?;
        if !self.pending.is_empty() {
            let block = std::mem::take(&mut self.pending);
            push_block(comp, &block, &mut self.packed)?;
        }
        Ok(self.packed)
    }
}

/// Lays out an indexed table (fragment, export, id tables): the data in metadata
/// blocks, then an array of u64 positions of those blocks. Returns the bytes to write
/// at `at` and the offset (relative to `at`) of the position array, which is what the
/// superblock records.
pub(crate) fn indexed_table(
    data: &[u8],
    at: u64,
    comp: &mut Compressor,
) -> Result<(Vec<u8>, u64), CodecError> {
    let mut out = Vec::new();
    let mut starts = Vec::new();
    for chunk in data.chunks(METADATA_SIZE) {
        starts.push(at + out.len() as u64);
        push_block(comp, chunk, &mut out)?;
    }
    let list_at = out.len() as u64;
    for s in starts {
        out.extend_from_slice(&s.to_le_bytes());
    }
    Ok((out, list_at))
}

/// One directory's listing, built the way mksquashfs groups entries: a new header
/// starts when 256 entries share one, when the inode's metadata block changes, when
/// the inode number would not fit the signed 16-bit delta, or when the bytes since the
/// last index point would pass 8 KiB (which also records a directory index entry).
pub(crate) struct DirListing {
    pub(crate) buf: Vec<u8>,
    entry_count: u32,
    header_at: Option<usize>,
    start_block: u32,
    inode_number: u32,
    index_from: usize,
    /// (offset of the header in `buf`, name of its first entry).
    pub(crate) index: Vec<(u32, Vec<u8>)>,
}

impl DirListing {
    pub(crate) fn new() -> DirListing {
        DirListing {
            buf: Vec::new(),
            entry_count: 256,
            header_at: None,
            start_block: 0,
            inode_number: 0,
            index_from: 0,
            index: Vec::new(),
        }
    }

    fn patch_header(&mut self) {
        if let Some(at) = self.header_at {
            self.buf[at..at + 4].copy_from_slice(&(self.entry_count - 1).to_le_bytes());
            self.buf[at + 4..at + 8].copy_from_slice(&self.start_block.to_le_bytes());
            self.buf[at + 8..at + 12].copy_from_slice(&self.inode_number.to_le_bytes());
        }
    }

    /// Adds one entry; `name` is 1..=256 bytes (checked by the caller).
    pub(crate) fn add(&mut self, inode_ref: u64, inode_number: u32, name: &[u8], kind: u16) {
        let start_block = (inode_ref >> 16) as u32;
        let offset = (inode_ref & 0xffff) as u16;
        let size = name.len();
        let delta = inode_number as i64 - self.inode_number as i64;
        let past_index =
            |s: &DirListing| s.header_at.is_some() && s.buf.len() + 8 + size - s.index_from > 8192;
        if self.entry_count == 256
            || start_block != self.start_block
            || past_index(self)
            || !(-32768..=32767).contains(&delta)
        {
            if self.header_at.is_some() {
                if past_index(self) {
                    self.index.push((self.buf.len() as u32, name.to_vec()));
                    self.index_from = self.buf.len();
                }
                self.patch_header();
            }
            self.header_at = Some(self.buf.len());
            self.start_block = start_block;
            self.entry_count = 0;
            self.inode_number = inode_number;
            self.buf.extend_from_slice(&[0u8; 12]);
        }
        let delta = (inode_number as i64 - self.inode_number as i64) as i16;
        self.buf.extend_from_slice(&offset.to_le_bytes());
        self.buf.extend_from_slice(&delta.to_le_bytes());
        self.buf.extend_from_slice(&kind.to_le_bytes());
        self.buf
            .extend_from_slice(&((size - 1) as u16).to_le_bytes());
        self.buf.extend_from_slice(name);
        self.entry_count += 1;
    }

    /// Completes the last header and returns the listing bytes and index entries.
    pub(crate) fn finish(mut self) -> (Vec<u8>, Vec<(u32, Vec<u8>)>) {
        self.patch_header();
        (self.buf, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Compression;

    #[test]
    fn references_name_the_starting_block() {
        let mut c = Compressor::new(Compression::Gzip, 8192);
        let mut t = MetaTable::new();
        let r0 = t.add(&[1u8; 5000], &mut c).unwrap();
        let r1 = t.add(&[2u8; 5000], &mut c).unwrap();
        let r2 = t.add(&[3u8; 10], &mut c).unwrap();
        assert_eq!(r0, 0);
        assert_eq!(r1, 5000);
        // the first 8 KiB block was packed before the third object went in
        assert_eq!(r2 >> 16, t.packed.len() as u64);
        assert_eq!(r2 & 0xffff, 10000 - 8192);
    }

    #[test]
    fn listing_starts_a_header_per_256_entries() {
        let mut d = DirListing::new();
        for i in 0..300u32 {
            d.add(0, i + 1, format!("n{i:04}").as_bytes(), 2);
        }
        let (buf, index) = d.finish();
        assert!(index.is_empty());
        // two headers of 12 bytes, 300 entries of 8 + 5 bytes
        assert_eq!(buf.len(), 2 * 12 + 300 * 13);
        assert_eq!(u32::from_le_bytes(buf[0..4].try_into().unwrap()), 255);
    }
}
