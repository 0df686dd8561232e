//! On-disk constants and the superblock of SquashFS 4.0 (all fields little-endian).

/// "hsqs" read as a little-endian u32.
pub const MAGIC: u32 = 0x7371_7368;
/// Size of the superblock at offset 0.
pub const SUPERBLOCK_SIZE: usize = 96;
/// Uncompressed size of one metadata block.
pub const METADATA_SIZE: usize = 8192;
/// Set in a metadata block's 16-bit header when the block is stored uncompressed.
pub const META_UNCOMPRESSED: u16 = 1 << 15;
/// Set in a data block or fragment size word when the block is stored uncompressed.
pub const DATA_UNCOMPRESSED: u32 = 1 << 24;
/// Fragment index of a file without a fragment.
pub const NO_FRAGMENT: u32 = 0xffff_ffff;
/// xattr index of an inode without extended attributes.
pub const NO_XATTR: u32 = 0xffff_ffff;
/// Table start of an absent table.
pub const NO_TABLE: u64 = 0xffff_ffff_ffff_ffff;
/// Longest name a directory entry can hold.
pub const MAX_NAME: usize = 256;
/// Most distinct uids and gids an image can hold.
pub const MAX_IDS: usize = 65536;

/// Basic inode types (the ones directory entries use).
pub const DIR_TYPE: u16 = 1;
pub const FILE_TYPE: u16 = 2;
pub const SYMLINK_TYPE: u16 = 3;
pub const BLKDEV_TYPE: u16 = 4;
pub const CHRDEV_TYPE: u16 = 5;
pub const FIFO_TYPE: u16 = 6;
pub const SOCKET_TYPE: u16 = 7;
/// Extended inode types.
pub const LDIR_TYPE: u16 = 8;
pub const LREG_TYPE: u16 = 9;
pub const LSYMLINK_TYPE: u16 = 10;
pub const LBLKDEV_TYPE: u16 = 11;
pub const LCHRDEV_TYPE: u16 = 12;
pub const LFIFO_TYPE: u16 = 13;
pub const LSOCKET_TYPE: u16 = 14;

/// Superblock flag bits (as mksquashfs sets them).
pub const FLAG_DUPLICATES: u16 = 1 << 6;
pub const FLAG_EXPORTABLE: u16 = 1 << 7;
pub const FLAG_NO_XATTRS: u16 = 1 << 9;
pub const FLAG_COMP_OPTS: u16 = 1 << 10;

/// The 96-byte superblock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Superblock {
    pub magic: u32,
    pub inodes: u32,
    pub mkfs_time: u32,
    pub block_size: u32,
    pub fragments: u32,
    pub compression: u16,
    pub block_log: u16,
    pub flags: u16,
    pub no_ids: u16,
    pub major: u16,
    pub minor: u16,
    pub root_inode: u64,
    pub bytes_used: u64,
    pub id_table_start: u64,
    pub xattr_id_table_start: u64,
    pub inode_table_start: u64,
    pub directory_table_start: u64,
    pub fragment_table_start: u64,
    pub lookup_table_start: u64,
}

impl Superblock {
    pub fn encode(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = Vec::with_capacity(SUPERBLOCK_SIZE);
        for v in [
            self.magic,
            self.inodes,
            self.mkfs_time,
            self.block_size,
            self.fragments,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.compression,
            self.block_log,
            self.flags,
            self.no_ids,
            self.major,
            self.minor,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.root_inode,
            self.bytes_used,
            self.id_table_start,
            self.xattr_id_table_start,
            self.inode_table_start,
            self.directory_table_start,
            self.fragment_table_start,
            self.lookup_table_start,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let mut out = [0u8; SUPERBLOCK_SIZE];
        out.copy_from_slice(&b);
        out
    }

    pub fn decode(b: &[u8; SUPERBLOCK_SIZE]) -> Superblock {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u64_at = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(x)
        };
        Superblock {
            magic: u32_at(0),
            inodes: u32_at(4),
            mkfs_time: u32_at(8),
            block_size: u32_at(12),
            fragments: u32_at(16),
            compression: u16_at(20),
            block_log: u16_at(22),
            flags: u16_at(24),
            no_ids: u16_at(26),
            major: u16_at(28),
            minor: u16_at(30),
            root_inode: u64_at(32),
            bytes_used: u64_at(40),
            id_table_start: u64_at(48),
            xattr_id_table_start: u64_at(56),
            inode_table_start: u64_at(64),
            directory_table_start: u64_at(72),
            fragment_table_start: u64_at(80),
            lookup_table_start: u64_at(88),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_round_trips() {
        let sb = Superblock {
            magic: MAGIC,
            inodes: 7,
            mkfs_time: 1_700_000_000,
            block_size: 131072,
            fragments: 2,
            compression: 4,
            block_log: 17,
            flags: 0x2c0,
            no_ids: 1,
            major: 4,
            minor: 0,
            root_inode: 0x1234_0056,
            bytes_used: 9999,
            id_table_start: 1,
            xattr_id_table_start: NO_TABLE,
            inode_table_start: 3,
            directory_table_start: 4,
            fragment_table_start: 5,
            lookup_table_start: 6,
        };
        let bytes = sb.encode();
        assert_eq!(&bytes[0..4], b"hsqs");
        assert_eq!(Superblock::decode(&bytes), sb);
    }
}
