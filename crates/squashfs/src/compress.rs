//! The two codecs, called exactly the way mksquashfs 4.5.1 calls them.
//!
//! Byte identity with mksquashfs depends on these calls: xz goes through liblzma's
//! one-shot `lzma_stream_buffer_encode` (single block whose header records both sizes,
//! CRC32 check, LZMA2 at preset 6 with the dictionary set to the block size for data
//! and to 8 KiB for metadata); gzip is a zlib stream from `deflateInit2(level 9,
//! window 15, memLevel 8, default strategy)`, reset before every block. Output that
//! would not fit in the caller's limit is reported as "did not compress", which the
//! writer turns into a stored (uncompressed) block.

use std::ffi::c_void;
use std::mem::MaybeUninit;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

/// Which codec an image uses. The numbers are the superblock's compression ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zlib streams (superblock id 1), as `-comp gzip`.
    Gzip,
    /// xz streams (superblock id 4), as `-comp xz`.
    Xz,
}

impl Compression {
    /// Superblock compression id.
    pub fn id(self) -> u16 {
        match self {
            Compression::Gzip => 1,
            Compression::Xz => 4,
        }
    }

    /// The codec for a superblock compression id, if we support it.
    pub fn from_id(id: u16) -> Option<Compression> {
        match id {
            1 => Some(Compression::Gzip),
            4 => Some(Compression::Xz),
            _ => None,
        }
    }

    /// Name as mksquashfs spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
        }
    }
}

/// A codec failure that is not "output too big" (which is not an error).
#[derive(Debug, thiserror::Error)]
#[error("{codec} compressor failed with code {code}")]
pub struct CodecError {
    pub codec: &'static str,
    pub code: i64,
}

/// One compressor instance; each thread owns one.
pub(crate) struct Compressor {
    kind: Compression,
    /// Dictionary size for xz (block size for data, 8 KiB for metadata).
    dict_size: u32,
    zlib: Option<Compress>,
}

impl Compressor {
    /// A compressor for data blocks and fragments (`dict_size` = block size).
    pub(crate) fn new(kind: Compression, dict_size: u32) -> Compressor {
        let zlib = match kind {
            Compression::Gzip => Some(Compress::new(flate2::Compression::new(9), true)),
            Compression::Xz => None,
        };
        Compressor {
            kind,
            dict_size,
            zlib,
        }
    }

    /// Compresses `input`; `Ok(None)` when the result would exceed `limit` bytes.
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        limit: usize,
    ) -> Result<Option<Vec<u8>>, CodecError> {
        match self.kind {
            Compression::Xz => xz_compress(input, self.dict_size, limit),
            Compression::Gzip => {
                let z = self
                    .zlib
                    .get_or_insert_with(|| Compress::new(flate2::Compression::new(9), true));
                zlib_compress(z, input, limit)
            }
        }
    }
}

fn xz_compress(input: &[u8], dict_size: u32, limit: usize) -> Result<Option<Vec<u8>>, CodecError> {
    use liblzma_sys as l;
    let mut opt = MaybeUninit::<l::lzma_options_lzma>::zeroed();
    // SAFETY: lzma_lzma_preset fills the whole options structure it is given; a zeroed
    // structure is a valid starting point (all fields are integers or raw pointers).
    let failed = unsafe { l::lzma_lzma_preset(opt.as_mut_ptr(), l::LZMA_PRESET_DEFAULT) };
    if failed != 0 {
        return Err(CodecError {
            codec: "xz",
            code: -1,
        });
    }
    // SAFETY: initialised by zeroing and by lzma_lzma_preset above.
    let mut opt = unsafe { opt.assume_init() };
    opt.dict_size = dict_size;
    let mut filters = [
        l::lzma_filter {
            id: l::LZMA_FILTER_LZMA2,
            options: &mut opt as *mut l::lzma_options_lzma as *mut c_void,
        },
        l::lzma_filter {
            id: l::LZMA_VLI_UNKNOWN,
            options: std::ptr::null_mut(),
        },
    ];
    let mut out = vec![0u8; limit];
    let mut out_pos: usize = 0;
    // SAFETY: the filter chain is terminated by LZMA_VLI_UNKNOWN and points at `opt`,
    // which outlives the call; input and output pointers come with their true lengths.
    let ret = unsafe {
        l::lzma_stream_buffer_encode(
            filters.as_mut_ptr(),
            l::LZMA_CHECK_CRC32,
            std::ptr::null(),
            input.as_ptr(),
            input.len(),
            out.as_mut_ptr(),
            &mut out_pos,
            out.len(),
        )
    };
    match ret {
        l::LZMA_OK => {
            out.truncate(out_pos);
            Ok(Some(out))
        }
        l::LZMA_BUF_ERROR => Ok(None),
        code => Err(CodecError {
            codec: "xz",
            code: code as i64,
        }),
    }
}

fn zlib_compress(
    z: &mut Compress,
    input: &[u8],
    limit: usize,
) -> Result<Option<Vec<u8>>, CodecError> {
    z.reset();
    let mut out = vec![0u8; limit];
    match z.compress(input, &mut out, FlushCompress::Finish) {
        Ok(Status::StreamEnd) => {
            out.truncate(z.total_out() as usize);
            Ok(Some(out))
        }
        Ok(_) => Ok(None),
        Err(_) => Err(CodecError {
            codec: "gzip",
            code: -2,
        }),
    }
}

/// Why a stored block could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("{codec} data is corrupt")]
    Corrupt { codec: &'static str },
    #[error("{codec} data expands beyond {limit} bytes")]
    TooBig { codec: &'static str, limit: usize },
}

/// Decompresses one block, refusing output larger than `limit`.
pub fn decompress(
    kind: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    match kind {
        Compression::Gzip => {
            let mut z = Decompress::new(true);
            let mut out = vec![0u8; limit];
            match z.decompress(input, &mut out, FlushDecompress::Finish) {
                Ok(Status::StreamEnd) => {
                    out.truncate(z.total_out() as usize);
                    Ok(out)
                }
                Ok(_) => {
                    if z.total_out() as usize >= limit {
                        Err(DecompressError::TooBig {
                            codec: "gzip",
                            limit,
                        })
                    } else {
                        Err(DecompressError::Corrupt { codec: "gzip" })
                    }
                }
                Err(_) => Err(DecompressError::Corrupt { codec: "gzip" }),
            }
        }
        Compression::Xz => {
            use liblzma_sys as l;
            let mut out = vec![0u8; limit];
            let mut memlimit: u64 = 64 << 20;
            let mut in_pos = 0usize;
            let mut out_pos = 0usize;
            // SAFETY: pointers come with their true lengths; liblzma writes at most
            // `out.len()` bytes and reads at most `input.len()` bytes.
            let ret = unsafe {
                l::lzma_stream_buffer_decode(
                    &mut memlimit,
                    0,
                    std::ptr::null(),
                    input.as_ptr(),
                    &mut in_pos,
                    input.len(),
                    out.as_mut_ptr(),
                    &mut out_pos,
                    out.len(),
                )
            };
            match ret {
                l::LZMA_OK if in_pos == input.len() => {
                    out.truncate(out_pos);
                    Ok(out)
                }
                l::LZMA_BUF_ERROR if out_pos == limit => {
                    Err(DecompressError::TooBig { codec: "xz", limit })
                }
                _ => Err(DecompressError::Corrupt { codec: "xz" }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_codecs() {
        let data: Vec<u8> = (0..20000u32).map(|i| (i % 251) as u8).collect();
        for kind in [Compression::Gzip, Compression::Xz] {
            let mut c = Compressor::new(kind, 131072);
            let packed = c.compress(&data, 131072).unwrap().unwrap();
            assert!(packed.len() < data.len());
            assert_eq!(decompress(kind, &packed, 131072).unwrap(), data);
            assert!(decompress(kind, &packed, 100).is_err());
        }
    }

    #[test]
    fn reports_overflow_as_none() {
        let data: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for kind in [Compression::Gzip, Compression::Xz] {
            let mut c = Compressor::new(kind, 8192);
            assert!(c.compress(&data, 100).unwrap().is_none());
        }
    }
}
