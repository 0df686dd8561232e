//! The first 32 KiB of a hybrid ISO: MBR, GPT (and its backup at the end), APM.
//!
//! Small parsing of our own for localisation: it keeps where each table and field lies,
//! which a reader that only returns values does not need to.

use super::location::Place;
use super::source::{field_name, le32, le64, Source};

/// The ISO 9660 system area: 16 sectors of 2 KiB.
pub const SYSTEM_AREA: u64 = 32768;
const MAX_GPT_ENTRIES: u64 = 1024;

/// A partition from the MBR or the GPT, in image bytes.
#[derive(Debug, Clone)]
pub struct Partition {
    pub table: &'static str,
    pub index: u32,
    pub start: u64,
    pub len: u64,
}

#[derive(Debug, Clone)]
struct Gpt {
    header: u64,
    entries: u64,
    entry_size: u64,
    count: u64,
}

/// What was found in the system area and where.
#[derive(Debug, Clone, Default)]
pub struct SystemArea {
    mbr: bool,
    gpt: Option<Gpt>,
    gpt_backup: Option<Gpt>,
    /// APM block size and number of map entries.
    apm: Option<(u64, u64)>,
    pub partitions: Vec<Partition>,
}

const MBR_FIELDS: &[(usize, usize, &str)] = &[
    (0, 440, "boot code"),
    (440, 4, "disk signature"),
    (444, 2, "reserved"),
    (510, 2, "boot signature 55 AA"),
];
const MBR_ENTRY_FIELDS: &[(usize, usize, &str)] = &[
    (0, 1, "status"),
    (1, 3, "CHS of first sector"),
    (4, 1, "partition type"),
    (5, 3, "CHS of last sector"),
    (8, 4, "first LBA"),
    (12, 4, "sector count"),
];
const GPT_HEADER_FIELDS: &[(usize, usize, &str)] = &[
    (0, 8, "signature"),
    (8, 4, "revision"),
    (12, 4, "header size"),
    (16, 4, "header CRC32"),
    (20, 4, "reserved"),
    (24, 8, "current LBA"),
    (32, 8, "backup LBA"),
    (40, 8, "first usable LBA"),
    (48, 8, "last usable LBA"),
    (56, 16, "disk GUID"),
    (72, 8, "partition entries LBA"),
    (80, 4, "number of partition entries"),
    (84, 4, "partition entry size"),
    (88, 4, "partition entries CRC32"),
];
const GPT_ENTRY_FIELDS: &[(usize, usize, &str)] = &[
    (0, 16, "type GUID"),
    (16, 16, "partition GUID"),
    (32, 8, "first LBA"),
    (40, 8, "last LBA"),
    (48, 8, "attributes"),
    (56, 72, "name"),
];

fn read_gpt(src: &Source, at: u64) -> Option<Gpt> {
    let h = src.read(at, 92).ok()?;
    if &h[..8] != b"EFI PART" {
        return None;
    }
    let entries = le64(&h, 72).ok()?.checked_mul(512)?;
    let count = u64::from(le32(&h, 80).ok()?).min(MAX_GPT_ENTRIES);
    let entry_size = u64::from(le32(&h, 84).ok()?);
    if !(128..=4096).contains(&entry_size) {
        return None;
    }
    Some(Gpt {
        header: at,
        entries,
        entry_size,
        count,
    })
}

impl SystemArea {
    pub fn parse(src: &Source) -> SystemArea {
        let mut sa = SystemArea::default();
        let Ok(mbr) = src.read(0, 512) else {
            return sa;
        };
        sa.mbr = mbr[510] == 0x55 && mbr[511] == 0xaa;
        if sa.mbr {
            for i in 0..4 {
                let e = &mbr[446 + 16 * i..462 + 16 * i];
                let start = u64::from(le32(e, 8).unwrap_or(0)) * 512;
                let len = u64::from(le32(e, 12).unwrap_or(0)) * 512;
                if e[4] != 0 && len > 0 {
                    sa.partitions.push(Partition {
                        table: "MBR",
                        index: i as u32 + 1,
                        start,
                        len,
                    });
                }
            }
        }
        sa.gpt = read_gpt(src, 512);
        if let Some(g) = &sa.gpt {
            if let Ok(h) = src.read(g.header, 92) {
                let backup = le64(&h, 32).unwrap_or(0).saturating_mul(512);
                sa.gpt_backup = read_gpt(src, backup).filter(|b| b.header != g.header);
            }
            sa.read_gpt_partitions(src);
        }
        if &mbr[..2] == b"ER" {
            let bs = u64::from(u16::from_be_bytes([mbr[2], mbr[3]]));
            if (512..=4096).contains(&bs) {
                let count = src
                    .read(bs, 8)
                    .ok()
                    .filter(|e| &e[..2] == b"PM")
                    .map(|e| u64::from(u32::from_be_bytes([e[4], e[5], e[6], e[7]])))
                    .unwrap_or(0)
                    .min(64);
                sa.apm = Some((bs, count));
            }
        }
        sa
    }

    fn read_gpt_partitions(&mut self, src: &Source) {
        let Some(g) = self.gpt.clone() else { return };
        let Ok(table) = src.read(g.entries, g.count * g.entry_size) else {
            return;
        };
        for i in 0..g.count {
            let e = &table[(i * g.entry_size) as usize..];
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let first = le64(e, 32).unwrap_or(0);
            let last = le64(e, 40).unwrap_or(0);
            if last < first {
                continue;
            }
            self.partitions.push(Partition {
                table: "GPT",
                index: i as u32 + 1,
                start: first.saturating_mul(512),
                len: (last - first + 1).saturating_mul(512),
            });
        }
    }

    /// The place of `off` when it lies in one of these tables, else `None`.
    pub fn locate(&self, off: u64) -> Option<Place> {
        let place = |part: String, field: Option<String>| Some(Place::SystemArea { part, field });
        for (which, g) in [
            ("GPT header", &self.gpt),
            ("backup GPT header", &self.gpt_backup),
        ] {
            let Some(g) = g else { continue };
            if off >= g.header && off < g.header + 512 {
                let field = field_name(GPT_HEADER_FIELDS, (off - g.header) as usize)
                    .unwrap_or_else(|| "reserved".into());
                return place(which.into(), Some(field));
            }
            let table_len = g.count * g.entry_size;
            if off >= g.entries && off < g.entries + table_len {
                let rel = off - g.entries;
                let index = rel / g.entry_size + 1;
                let field = field_name(GPT_ENTRY_FIELDS, (rel % g.entry_size) as usize)
                    .unwrap_or_else(|| "reserved".into());
                let table = if which.starts_with("backup") {
                    "backup GPT"
                } else {
                    "GPT"
                };
                return place(format!("{table} partition entry {index}"), Some(field));
            }
        }
        if self.mbr && off < 512 {
            let o = off as usize;
            if (446..510).contains(&o) {
                let i = (o - 446) / 16;
                let field = field_name(MBR_ENTRY_FIELDS, (o - 446) % 16);
                return place(format!("MBR partition entry {}", i + 1), field);
            }
            return place("MBR".into(), field_name(MBR_FIELDS, o));
        }
        if let Some((bs, count)) = self.apm {
            if off < bs {
                return place("APM driver descriptor map".into(), None);
            }
            if off < bs * (count + 1) {
                return place(format!("APM partition map entry {}", off / bs), None);
            }
        }
        if off < SYSTEM_AREA {
            let part = if self.mbr {
                "boot code after the MBR (isohybrid)"
            } else {
                "unused"
            };
            return place(part.into(), None);
        }
        None
    }
}
