//! The system area of an isohybrid image as xorriso 1.5.4 writes it for
//! `-isohybrid-mbr <template> -partition_offset 16 [-isohybrid-gpt-basdat]`:
//! the MBR template with the isohybrid fields and partition table, and (when the EFI
//! image is marked as GPT basic data) a GPT whose primary header and entries live in
//! the system area and whose backup fills the last 16 blocks of the image.
//!
//! The rules (from libisofs 1.5.4's isohybrid and GPT code, checked byte for byte in
//! tests/oracle_hybrid.rs):
//! * MBR: the template (at most 32 KiB) is copied to the system area, then byte 432
//!   gets the BIOS image's 512-byte LBA (64-bit), byte 440 a disk signature (CRC-32 of
//!   the 16-digit volume "uuid"), byte 446 the table: entry 1 bootable, from LBA 64
//!   (block 16) to the end of the image, type 0x17 — or 0x00 when a GPT exists, and
//!   then entry 2 describes the EFI image (type 0xEF, CHS `fe ff ff`).
//! * CHS values use 32 sectors per head and 64 heads per cylinder unless the image
//!   is larger than 1 GiB; then more heads (or 63 sectors per head) are chosen so that
//!   1024 cylinders cover the image, and the image is padded to whole cylinders.
//! * GPT: header at LBA 1, 248 entries from LBA 2; entry "ISOHybrid" (basic data)
//!   from LBA 64 to the last usable LBA, entry "ISOHybrid1" (basic data) = the EFI
//!   image in whole 2048-byte blocks; attributes bit 0 and bit 60. The disk GUID is
//!   the volume uuid digits with the centiseconds moved to bytes 9–10 and the version
//!   4 / variant bits set; partition GUIDs are the disk GUID with a counter (1, 2)
//!   XORed into bytes 9–12.

use crate::susp::BLOCK;

/// Bytes of the system area (blocks 0–15).
pub const SYSTEM_AREA: usize = 16 * BLOCK;
/// First 512-byte sector of the GPT entry array.
const GPT_PART_START: u64 = 2;
/// Entries that fit between LBA 2 and the end of the system area.
const GPT_ENTRIES: u32 = ((64 - GPT_PART_START) * 4) as u32;
/// 2048-byte blocks the backup GPT (entries + header) takes at the end of the image.
pub const GPT_BACKUP_BLOCKS: u32 = ((GPT_ENTRIES / 4 + 1) * 512).div_ceil(BLOCK as u32);
/// The partition offset of `-partition_offset 16`, in 2048-byte blocks.
pub const PARTITION_OFFSET: u32 = 16;

const BASIC_DATA: [u8; 16] = [
    0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7,
];
const GPT_FLAGS: u64 = (1 << 60) | 1;

/// Disk geometry used for CHS addresses and cylinder alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub heads_per_cyl: u32,
    pub secs_per_head: u32,
}

impl Geometry {
    fn cyl_bytes(self) -> u64 {
        self.heads_per_cyl as u64 * self.secs_per_head as u64 * 512
    }
}

/// CRC-32 (IEEE 802.3, the one GPT uses).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// Smallest heads-per-cylinder count with `secs` sectors per head that lets 1024
/// cylinders cover `image_bytes`, kept even / a multiple of 4 as libisofs wants; None
/// if it would exceed 255.
fn heads_for(image_bytes: u64, secs: u64) -> Option<u32> {
    let hd_blocks = image_bytes / 512;
    let mut hpc = hd_blocks / secs / 1024;
    if hpc * secs * 1024 < hd_blocks {
        hpc += 1;
    }
    if secs % 4 == 0 {
    } else if secs % 2 == 0 {
        hpc += hpc % 2;
    } else if hpc % 4 != 0 {
        hpc += 4 - hpc % 4;
    }
    (hpc <= 255).then_some(hpc as u32)
}

/// The geometry and the number of padding blocks libisofs chooses for an image of
/// `blocks` 2048-byte blocks (everything: data, tail padding and backup GPT).
pub fn align(blocks: u64) -> (Geometry, u64) {
    let mut g = Geometry {
        heads_per_cyl: 64,
        secs_per_head: 32,
    };
    let size = blocks * BLOCK as u64;
    if g.cyl_bytes() * 1024 < size {
        match heads_for(size, 32) {
            Some(h) => g.heads_per_cyl = h,
            None => {
                g.secs_per_head = 63;
                g.heads_per_cyl = heads_for(size, 63).unwrap_or(255);
            }
        }
    }
    let cyl = g.cyl_bytes();
    if size > cyl * 1024 {
        // libisofs gives up aligning ("exceeds 1024 cylinders")
        return (g, 0);
    }
    let padded = size.div_ceil(cyl) * cyl;
    (g, (padded - size).div_ceil(BLOCK as u64))
}

/// (cylinder, head, sector) bytes of a 512-byte LBA, clamped at cylinder 1023.
fn chs(lba: u64, g: Geometry) -> [u8; 3] {
    let per_cyl = g.heads_per_cyl as u64 * g.secs_per_head as u64;
    let mut cyl = lba / per_cyl;
    let rest = lba - cyl * per_cyl;
    let mut head = rest / g.secs_per_head as u64;
    let mut sec = rest - head * g.secs_per_head as u64 + 1;
    if cyl >= 1024 {
        cyl = 1023;
        head = g.heads_per_cyl as u64 - 1;
        sec = g.secs_per_head as u64;
    }
    [
        head as u8,
        (sec as u8) | (((cyl & 0x300) >> 2) as u8),
        (cyl & 0xff) as u8,
    ]
}

/// What the system area describes.
#[derive(Debug, Clone)]
pub struct Layout<'a> {
    pub template: &'a [u8],
    /// The 16 digits of the volume "uuid" (SOURCE_DATE_EPOCH as YYYYMMDDhhmmss00).
    pub uuid: [u8; 16],
    /// Block of the BIOS boot image (the first El Torito image).
    pub bios_block: u32,
    /// Block and byte size of the EFI image when it is marked as GPT basic data.
    pub efi: Option<(u32, u64)>,
    /// Image size in blocks (the volume space size of the first descriptor set).
    pub total_blocks: u32,
    pub geometry: Geometry,
}

fn disk_guid(uuid: &[u8; 16]) -> [u8; 16] {
    let mut g = [0u8; 16];
    g[..9].copy_from_slice(&uuid[..9]);
    g[9..11].copy_from_slice(&uuid[14..16]);
    g[11..16].copy_from_slice(&uuid[9..14]);
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

fn utf16le_name(name: &str) -> [u8; 72] {
    let mut out = [0u8; 72];
    for (i, b) in name.bytes().take(36).enumerate() {
        out[2 * i] = b;
    }
    out
}

struct GptEntry {
    start: u64,
    end: u64,
    name: &'static str,
}

impl Layout<'_> {
    fn hd_blocks(&self) -> u64 {
        self.total_blocks as u64 * 4
    }

    /// The 512-byte LBA after the backup GPT's entries (where the area ends).
    fn backup_end_lba(&self) -> u64 {
        (self.total_blocks as u64 - GPT_BACKUP_BLOCKS as u64) * 4
    }

    fn gpt_entries(&self) -> Vec<GptEntry> {
        let Some((block, size)) = self.efi else {
            return Vec::new();
        };
        let cap = self.backup_end_lba();
        let overall_end = self.hd_blocks().min(cap);
        let efi_start = block as u64 * 4;
        let efi_end = (efi_start + (size / BLOCK as u64) * 4).min(cap);
        // sorted by start; the EFI image always lies after block 16
        vec![
            GptEntry {
                start: PARTITION_OFFSET as u64 * 4,
                end: overall_end - 1,
                name: "ISOHybrid",
            },
            GptEntry {
                start: efi_start,
                end: efi_end.saturating_sub(1),
                name: "ISOHybrid1",
            },
        ]
    }

    /// Blocks 0–15 of the image.
    pub fn system_area(&self) -> Vec<u8> {
        let mut sa = vec![0u8; SYSTEM_AREA];
        let n = self.template.len().min(SYSTEM_AREA);
        sa[..n].copy_from_slice(&self.template[..n]);
        let has_gpt = self.efi.is_some();
        if has_gpt {
            self.write_gpt(&mut sa);
        }
        self.write_mbr(&mut sa, has_gpt);
        sa
    }

    fn write_mbr(&self, sa: &mut [u8], has_gpt: bool) {
        let g = self.geometry;
        sa[432..440].copy_from_slice(&(self.bios_block as u64 * 4).to_le_bytes());
        sa[440..444].copy_from_slice(&crc32(&self.uuid).to_le_bytes());
        sa[444..446].fill(0);
        sa[446..510].fill(0);
        // entry 1: the ISO 9660 partition from block 16 to the end
        let start = PARTITION_OFFSET as u64 * 4;
        let secs = self.hd_blocks().min(0xffff_fffc);
        let end = secs - 1;
        let e = &mut sa[446..462];
        e[0] = 0x80;
        e[1..4].copy_from_slice(&chs(start, g));
        e[4] = if has_gpt { 0x00 } else { 0x17 };
        e[5..8].copy_from_slice(&chs(end, g));
        e[8..12].copy_from_slice(&(start as u32).to_le_bytes());
        e[12..16].copy_from_slice(&((end - start + 1) as u32).to_le_bytes());
        // entry 2: the EFI image, as the GPT mentions it
        if let (true, Some((block, size))) = (has_gpt, self.efi) {
            let e = &mut sa[462..478];
            e[0] = 0;
            e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
            e[4] = 0xef;
            e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
            e[8..12].copy_from_slice(&(block.wrapping_mul(4)).to_le_bytes());
            e[12..16].copy_from_slice(&(size.div_ceil(512) as u32).to_le_bytes());
        }
        sa[510] = 0x55;
        sa[511] = 0xaa;
    }

    fn write_gpt(&self, sa: &mut [u8]) {
        let guid = disk_guid(&self.uuid);
        let arr = GPT_PART_START as usize * 512;
        let arr_len = GPT_ENTRIES as usize * 128;
        sa[arr..arr + arr_len].fill(0);
        for (i, e) in self.gpt_entries().iter().enumerate() {
            let mut part = guid;
            let counter = (i + 1) as u32;
            for (k, b) in counter.to_le_bytes().iter().enumerate() {
                part[9 + k] ^= b;
            }
            let o = arr + 128 * i;
            sa[o..o + 16].copy_from_slice(&BASIC_DATA);
            sa[o + 16..o + 32].copy_from_slice(&part);
            sa[o + 32..o + 40].copy_from_slice(&e.start.to_le_bytes());
            sa[o + 40..o + 48].copy_from_slice(&e.end.to_le_bytes());
            sa[o + 48..o + 56].copy_from_slice(&GPT_FLAGS.to_le_bytes());
            sa[o + 56..o + 128].copy_from_slice(&utf16le_name(e.name));
        }
        let arr_crc = crc32(&sa[arr..arr + arr_len]);
        let back_lba = self.total_blocks as u64 * 4 - 1;
        let h = &mut sa[512..1024];
        h.fill(0);
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&[0, 0, 1, 0]);
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&1u64.to_le_bytes());
        h[32..40].copy_from_slice(&back_lba.to_le_bytes());
        h[40..48].copy_from_slice(&(GPT_PART_START + GPT_ENTRIES as u64 / 4).to_le_bytes());
        h[48..56].copy_from_slice(&(back_lba - GPT_ENTRIES as u64 / 4 - 1).to_le_bytes());
        h[56..72].copy_from_slice(&guid);
        h[72..80].copy_from_slice(&GPT_PART_START.to_le_bytes());
        h[80..84].copy_from_slice(&GPT_ENTRIES.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&arr_crc.to_le_bytes());
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    }

    /// The last [`GPT_BACKUP_BLOCKS`] blocks of the image: a zero sector, the copy of
    /// the entry array, and the backup header (own and other LBA swapped, entries
    /// LBA pointing at the copy). `sa` is what [`Layout::system_area`] returned.
    pub fn backup_gpt(&self, sa: &[u8]) -> Vec<u8> {
        let len = GPT_BACKUP_BLOCKS as usize * BLOCK;
        let mut out = vec![0u8; len];
        let head = len - 512;
        out[head..].copy_from_slice(&sa[512..1024]);
        let (own, other) = (
            sa[512 + 24..512 + 32].to_vec(),
            sa[512 + 32..512 + 40].to_vec(),
        );
        out[head + 24..head + 32].copy_from_slice(&other);
        out[head + 32..head + 40].copy_from_slice(&own);
        let entries_lba = self.total_blocks as u64 * 4 - 1 - GPT_ENTRIES as u64 / 4;
        out[head + 72..head + 80].copy_from_slice(&entries_lba.to_le_bytes());
        out[head + 16..head + 20].fill(0);
        let crc = crc32(&out[head..head + 92]);
        out[head + 16..head + 20].copy_from_slice(&crc.to_le_bytes());
        let arr = GPT_PART_START as usize * 512;
        let arr_len = GPT_ENTRIES as usize * 128;
        out[head - arr_len..head].copy_from_slice(&sa[arr..arr + arr_len]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn geometry_grows_past_one_gib() {
        let (g, pad) = align(1008);
        assert_eq!(
            g,
            Geometry {
                heads_per_cyl: 64,
                secs_per_head: 32
            }
        );
        assert_eq!(pad, 16);
        // 1.5 GiB: 1024 cylinders of 64 heads no longer suffice
        let (g, _) = align(3 * 256 * 1024);
        assert_eq!(g.secs_per_head, 32);
        assert_eq!(g.heads_per_cyl, 96);
        // 6 GiB: beyond 255 heads of 32 sectors, so 63 sectors per head and a
        // multiple of 4 heads
        let (g, _) = align(3 * 1024 * 1024);
        assert_eq!(g.secs_per_head, 63);
        assert_eq!(g.heads_per_cyl, 196);
        // beyond 255 heads of 63 sectors: 255 heads, no alignment
        let (g, pad) = align(5 * 1024 * 1024 + 1);
        assert_eq!((g.heads_per_cyl, g.secs_per_head, pad), (255, 63, 0));
    }

    #[test]
    fn chs_clamps_at_cylinder_1023() {
        let g = Geometry {
            heads_per_cyl: 64,
            secs_per_head: 32,
        };
        assert_eq!(chs(64, g), [2, 1, 0]);
        assert_eq!(chs(4095, g), [63, 32, 1]);
        assert_eq!(chs(1 << 30, g), [63, 32 | 0xc0, 0xff]);
    }
}
