//! A bounded reader for ISO 9660 images: system area (MBR, GPT, APM), volume
//! descriptors, path tables, ISO and Joliet directory trees (Rock Ridge names via NM
//! and CE), the El Torito catalog; every structure becomes a [`Region`] so a caller
//! can say what lives at any byte offset.
//!
//! Hostile input is expected: every size is checked against the image size and fixed
//! limits, directories are visited once (loops are errors), work is bounded.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};

const BLOCK: u64 = 2048;
/// Most directory records / regions we accept (bounds memory and time).
const MAX_ENTRIES: usize = 4_000_000;
/// Largest directory extent we read.
const MAX_DIR_BYTES: u32 = 64 << 20;
const MAX_DEPTH: usize = 1024;
/// Most continuation areas followed for one record.
const MAX_CE_HOPS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an ISO 9660 image: {0}")]
    NotIso(&'static str),
    #[error("corrupt image: {what} at byte {offset}")]
    Corrupt { what: String, offset: u64 },
    #[error("image too complex: more than {0} entries; refusing to go on")]
    TooMany(usize),
}

fn corrupt(what: impl Into<String>, offset: u64) -> ReadError {
    ReadError::Corrupt {
        what: what.into(),
        offset,
    }
}

/// A byte range of the image and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub len: u64,
    pub what: String,
}

/// One volume descriptor with its named fields.
#[derive(Debug, Clone)]
pub struct VolumeDescriptor {
    pub block: u32,
    pub kind: u8,
    pub name: &'static str,
}

/// A file (or directory) found in a tree, with its extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExtent {
    /// "/path/name" (Rock Ridge name when present, for the ISO tree).
    pub path: String,
    pub lba: u32,
    pub size: u32,
    pub is_dir: bool,
    /// "iso" or "joliet"
    pub tree: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrPartition {
    pub index: u8,
    pub bootable: bool,
    /// The status byte (0x80 = bootable).
    pub status: u8,
    pub ptype: u8,
    /// (head, sector | cylinder high bits, cylinder low bits) of the first and last sector.
    pub chs_start: [u8; 3],
    pub chs_end: [u8; 3],
    pub start_lba: u32,
    pub sectors: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartition {
    pub index: u32,
    pub type_guid: [u8; 16],
    /// Unique partition GUID (bytes as stored).
    pub guid: [u8; 16],
    pub first_lba: u64,
    pub last_lba: u64,
    pub flags: u64,
    pub name: String,
}

/// The primary GPT header (LBA 1) and what checking it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    /// Disk GUID (bytes as stored).
    pub disk_guid: [u8; 16],
    pub first_usable: u64,
    pub last_usable: u64,
    /// LBA of the backup header.
    pub backup_lba: u64,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    /// The header CRC-32 matches.
    pub header_crc_ok: bool,
    /// The CRC-32 of the entry array matches.
    pub entries_crc_ok: bool,
    /// A backup header exists at `backup_lba`, names LBA 1 as its partner, and its
    /// entry array (at the place it names) equals the primary one.
    pub backup_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub platform: u8,
    pub media: u8,
    pub load_sectors: u16,
    pub lba: u32,
}

/// What the reader found.
#[derive(Debug, Clone, Default)]
pub struct Image {
    pub size: u64,
    pub mbr: Vec<MbrPartition>,
    /// MBR disk signature (bytes 440–443), when an MBR is present.
    pub mbr_id: Option<u32>,
    pub gpt: Vec<GptPartition>,
    pub gpt_header: Option<GptHeader>,
    /// Block where a second volume descriptor set starts (`-partition_offset`), whose
    /// addresses count from the partition start; its trees are listed as "iso
    /// (partition)" and "joliet (partition)" with absolute extents.
    pub partition_offset: Option<u32>,
    pub apm_entries: u32,
    pub descriptors: Vec<VolumeDescriptor>,
    pub volume_id: String,
    pub files: Vec<FileExtent>,
    pub boot_entries: Vec<BootEntry>,
    pub regions: Vec<Region>,
}

/// Field offsets in a primary / supplementary volume descriptor.
pub const VD_FIELDS: &[(usize, usize, &str)] = &[
    (0, 1, "type"),
    (1, 5, "standard identifier"),
    (6, 1, "version"),
    (8, 32, "system identifier"),
    (40, 32, "volume identifier"),
    (80, 8, "volume space size"),
    (88, 32, "escape sequences"),
    (120, 4, "volume set size"),
    (124, 4, "volume sequence number"),
    (128, 4, "logical block size"),
    (132, 8, "path table size"),
    (140, 4, "L path table location"),
    (144, 4, "optional L path table location"),
    (148, 4, "M path table location"),
    (152, 4, "optional M path table location"),
    (156, 34, "root directory record"),
    (190, 128, "volume set identifier"),
    (318, 128, "publisher identifier"),
    (446, 128, "data preparer identifier"),
    (574, 128, "application identifier"),
    (702, 37, "copyright file identifier"),
    (739, 37, "abstract file identifier"),
    (776, 37, "bibliographic file identifier"),
    (813, 17, "volume creation date"),
    (830, 17, "volume modification date"),
    (847, 17, "volume expiration date"),
    (864, 17, "volume effective date"),
    (881, 1, "file structure version"),
    (883, 512, "application use"),
];

struct Src<'r, R: Read + Seek> {
    r: &'r mut R,
    size: u64,
}

impl<R: Read + Seek> Src<'_, R> {
    fn read(&mut self, off: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        if off.checked_add(len as u64).is_none_or(|e| e > self.size) {
            return Err(corrupt(
                format!("{len} bytes beyond the end of the image"),
                off,
            ));
        }
        self.r.seek(SeekFrom::Start(off))?;
        let mut v = vec![0u8; len];
        self.r.read_exact(&mut v)?;
        Ok(v)
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The CRC-32 of a GPT header (bytes 0..size with the CRC field zeroed) matches.
fn gpt_header_crc_ok(h: &[u8]) -> bool {
    let size = le32(&h[12..16]) as usize;
    if !(92..=512).contains(&size) || size > h.len() {
        return false;
    }
    let mut copy = h[..size].to_vec();
    copy[16..20].fill(0);
    crate::hybrid::crc32(&copy) == le32(&h[16..20])
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]))
}

impl Image {
    /// Parses the image read from `r` (its full length is taken from the end).
    pub fn parse<R: Read + Seek>(r: &mut R) -> Result<Image, ReadError> {
        let size = r.seek(SeekFrom::End(0))?;
        let mut src = Src { r, size };
        let mut img = Image {
            size,
            ..Default::default()
        };
        if size < 17 * BLOCK {
            return Err(ReadError::NotIso("shorter than 17 blocks"));
        }
        img.system_area(&mut src)?;
        img.descriptors(&mut src)?;
        img.regions.sort_by_key(|r| (r.start, r.len));
        Ok(img)
    }

    fn region(&mut self, start: u64, len: u64, what: String) -> Result<(), ReadError> {
        if self.regions.len() >= MAX_ENTRIES {
            return Err(ReadError::TooMany(MAX_ENTRIES));
        }
        self.regions.push(Region { start, len, what });
        Ok(())
    }

    fn system_area<R: Read + Seek>(&mut self, src: &mut Src<R>) -> Result<(), ReadError> {
        let sa = src.read(0, 16 * BLOCK as usize)?;
        if sa.iter().all(|&b| b == 0) {
            self.region(0, 16 * BLOCK, "system area (zeros)".into())?;
            return Ok(());
        }
        self.region(0, 440, "system area: MBR boot code".into())?;
        if sa[510] == 0x55 && sa[511] == 0xaa {
            self.mbr_id = Some(le32(&sa[440..444]));
            self.region(440, 6, "system area: MBR disk signature".into())?;
            for i in 0..4 {
                let e = &sa[446 + 16 * i..446 + 16 * (i + 1)];
                self.region(
                    446 + 16 * i as u64,
                    16,
                    format!("system area: MBR partition entry {}", i + 1),
                )?;
                if e.iter().any(|&b| b != 0) {
                    self.mbr.push(MbrPartition {
                        index: i as u8 + 1,
                        bootable: e[0] == 0x80,
                        status: e[0],
                        chs_start: [e[1], e[2], e[3]],
                        chs_end: [e[5], e[6], e[7]],
                        ptype: e[4],
                        start_lba: le32(&e[8..12]),
                        sectors: le32(&e[12..16]),
                    });
                }
            }
            self.region(510, 2, "system area: MBR signature".into())?;
        }
        // GPT header at 512
        if &sa[512..520] == b"EFI PART" {
            self.region(512, 92, "system area: GPT header".into())?;
            let h = &sa[512..1024];
            let entries_lba = le64(&h[72..]);
            let count = le32(&h[80..]).min(1024);
            let esize = le32(&h[84..]).clamp(128, 1024) as u64;
            let start = entries_lba.saturating_mul(512);
            let len = (count as u64).saturating_mul(esize);
            let mut header = GptHeader {
                disk_guid: h[56..72].try_into().unwrap_or([0; 16]),
                first_usable: le64(&h[40..]),
                last_usable: le64(&h[48..]),
                backup_lba: le64(&h[32..]),
                entries_lba,
                entry_count: le32(&h[80..]),
                entry_size: le32(&h[84..]),
                header_crc_ok: gpt_header_crc_ok(h),
                entries_crc_ok: false,
                backup_ok: false,
            };
            if start.saturating_add(len) <= src.size && len > 0 {
                let ents = src.read(start, len as usize)?;
                header.entries_crc_ok = crate::hybrid::crc32(&ents) == le32(&h[88..]);
                header.backup_ok = self.backup_gpt(src, &header, &ents)?;
                self.region(start, len, "GPT partition entries".into())?;
                for i in 0..count as usize {
                    let e = &ents[i * esize as usize..(i + 1) * esize as usize];
                    if e[..16].iter().all(|&b| b == 0) {
                        continue;
                    }
                    let name: Vec<u16> = e[56..128]
                        .chunks(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .take_while(|&u| u != 0)
                        .collect();
                    self.gpt.push(GptPartition {
                        index: i as u32 + 1,
                        type_guid: e[..16].try_into().unwrap_or([0; 16]),
                        guid: e[16..32].try_into().unwrap_or([0; 16]),
                        first_lba: le64(&e[32..]),
                        last_lba: le64(&e[40..]),
                        flags: le64(&e[48..]),
                        name: String::from_utf16_lossy(&name),
                    });
                }
            }
            self.gpt_header = Some(header);
        }
        // Apple Partition Map: block size 2048, entries at 2048*k with "PM"
        if &sa[0..2] == b"ER" || &sa[2048..2050] == b"PM" {
            let mut k = 1;
            while k < 16 && &sa[k * 2048..k * 2048 + 2] == b"PM" {
                self.apm_entries += 1;
                self.region(k as u64 * 2048, 2048, format!("system area: APM entry {k}"))?;
                k += 1;
            }
        }
        self.region(0, 16 * BLOCK, "system area".into())?;
        Ok(())
    }

    /// Checks the backup GPT named by the primary header; records its regions.
    fn backup_gpt<R: Read + Seek>(
        &mut self,
        src: &mut Src<R>,
        primary: &GptHeader,
        entries: &[u8],
    ) -> Result<bool, ReadError> {
        let Some(off) = primary.backup_lba.checked_mul(512) else {
            return Ok(false);
        };
        if off < 1024 || off.saturating_add(512) > src.size {
            return Ok(false);
        }
        let h = src.read(off, 512)?;
        if &h[..8] != b"EFI PART" || !gpt_header_crc_ok(&h) || le64(&h[32..]) != 1 {
            return Ok(false);
        }
        self.region(off, 92, "backup GPT header".into())?;
        let start = le64(&h[72..]).saturating_mul(512);
        let len = entries.len() as u64;
        if start.saturating_add(len) > src.size || start < 1024 {
            return Ok(false);
        }
        let copy = src.read(start, len as usize)?;
        self.region(start, len, "backup GPT partition entries".into())?;
        Ok(copy == entries && le32(&h[88..]) == crate::hybrid::crc32(entries))
    }

    /// Reads one volume descriptor set from `first` on; returns (PVD, Joliet SVD,
    /// boot catalog block).
    #[allow(clippy::type_complexity)]
    fn descriptor_set<R: Read + Seek>(
        &mut self,
        src: &mut Src<R>,
        first: u32,
        part: bool,
    ) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>, Option<u32>), ReadError> {
        let mut block = first;
        let mut pvd = None;
        let mut svd = None;
        let mut boot_cat = None;
        loop {
            let off = block as u64 * BLOCK;
            if off + BLOCK > src.size || block > first + 64 {
                return Err(ReadError::NotIso("no volume descriptor set terminator"));
            }
            let vd = src.read(off, BLOCK as usize)?;
            if &vd[1..6] != b"CD001" {
                if block == first {
                    return Err(ReadError::NotIso("no CD001 at block 16"));
                }
                return Err(corrupt("volume descriptor without CD001", off));
            }
            let joliet = &vd[88..91] == b"%/E" || &vd[88..91] == b"%/@" || &vd[88..91] == b"%/C";
            let (name, kind) = match (vd[0], part) {
                (0, false) => ("boot record (El Torito)", 0),
                (0, true) => ("partition set: boot record", 0),
                (1, false) => ("primary volume descriptor", 1),
                (1, true) => ("partition set: primary volume descriptor", 1),
                (2, false) if joliet => ("Joliet supplementary volume descriptor", 2),
                (2, true) if joliet => ("partition set: Joliet supplementary volume descriptor", 2),
                (2, _) => ("supplementary volume descriptor", 2),
                (255, false) => ("volume descriptor set terminator", 255),
                (255, true) => ("partition set: volume descriptor set terminator", 255),
                _ => ("volume descriptor", vd[0]),
            };
            self.descriptors
                .push(VolumeDescriptor { block, kind, name });
            if kind == 1 || kind == 2 {
                for (o, l, f) in VD_FIELDS {
                    self.region(off + *o as u64, *l as u64, format!("{name}: {f}"))?;
                }
            }
            self.region(off, BLOCK, name.to_string())?;
            match kind {
                1 if pvd.is_none() => pvd = Some(vd),
                2 if svd.is_none() && joliet => svd = Some(vd),
                0 if &vd[7..30] == b"EL TORITO SPECIFICATION" => boot_cat = Some(le32(&vd[71..75])),
                255 => break,
                _ => {}
            }
            block += 1;
        }
        Ok((pvd, svd, boot_cat))
    }

    fn descriptors<R: Read + Seek>(&mut self, src: &mut Src<R>) -> Result<(), ReadError> {
        let (pvd, svd, boot_cat) = self.descriptor_set(src, 16, false)?;
        let pvd = pvd.ok_or(ReadError::NotIso("no primary volume descriptor"))?;
        self.volume_id = String::from_utf8_lossy(&pvd[40..72]).trim_end().to_string();
        self.path_tables(&pvd, "ISO", 0)?;
        self.walk(src, &pvd, false, 0, "iso")?;
        if let Some(svd) = svd {
            self.path_tables(&svd, "Joliet", 0)?;
            self.walk(src, &svd, true, 0, "joliet")?;
        }
        if let Some(base) = self.find_partition_set(src)? {
            self.partition_offset = Some(base);
            let (pvd, svd, _) = self.descriptor_set(src, base + 16, true)?;
            if let Some(pvd) = pvd {
                self.path_tables(&pvd, "partition ISO", base)?;
                self.walk(src, &pvd, false, base, "iso (partition)")?;
            }
            if let Some(svd) = svd {
                self.path_tables(&svd, "partition Joliet", base)?;
                self.walk(src, &svd, true, base, "joliet (partition)")?;
            }
        }
        if let Some(cat) = boot_cat {
            self.catalog(src, cat)?;
        }
        self.file_regions()?;
        Ok(())
    }

    /// The block of a partition (from the MBR) that holds a second ISO 9660
    /// superblock, as `-partition_offset` makes.
    fn find_partition_set<R: Read + Seek>(
        &mut self,
        src: &mut Src<R>,
    ) -> Result<Option<u32>, ReadError> {
        for p in self.mbr.clone() {
            if p.start_lba % 4 != 0 || p.start_lba < 64 {
                continue;
            }
            let base = p.start_lba / 4;
            let off = (base as u64 + 16) * BLOCK;
            if off + BLOCK > src.size {
                continue;
            }
            let vd = src.read(off, 8)?;
            if vd[0] == 1 && &vd[1..6] == b"CD001" {
                return Ok(Some(base));
            }
        }
        Ok(None)
    }

    fn path_tables(&mut self, vd: &[u8], which: &str, base: u32) -> Result<(), ReadError> {
        let size = le32(&vd[132..136]) as u64;
        let l = le32(&vd[140..144]) as u64 + base as u64;
        let m = u32::from_be_bytes([vd[148], vd[149], vd[150], vd[151]]) as u64 + base as u64;
        for (pos, kind) in [(l, "L"), (m, "M")] {
            let start = pos * BLOCK;
            if size > 0 && start.saturating_add(size) <= self.size {
                self.region(start, size, format!("{which} path table ({kind})"))?;
            }
        }
        Ok(())
    }

    fn walk<R: Read + Seek>(
        &mut self,
        src: &mut Src<R>,
        vd: &[u8],
        joliet: bool,
        base: u32,
        tree: &'static str,
    ) -> Result<(), ReadError> {
        let root = &vd[156..190];
        let lba = le32(&root[2..6]).saturating_add(base);
        let len = le32(&root[10..14]);
        let mut seen: HashSet<u32> = HashSet::new();
        // directories may overlap; never read more than twice the image (+ slack)
        let mut budget = src
            .size
            .saturating_mul(2)
            .saturating_add(MAX_DIR_BYTES as u64);
        let mut stack = vec![("".to_string(), lba, len, 0usize)];
        self.files.push(FileExtent {
            path: "/".into(),
            lba,
            size: len,
            is_dir: true,
            tree,
        });
        while let Some((path, lba, len, depth)) = stack.pop() {
            if !seen.insert(lba) {
                return Err(corrupt(
                    format!("directory {path}/ is reached twice (loop)"),
                    lba as u64 * BLOCK,
                ));
            }
            if depth > MAX_DEPTH {
                return Err(corrupt("directories nested too deep", lba as u64 * BLOCK));
            }
            if len > MAX_DIR_BYTES {
                return Err(corrupt(
                    format!("directory {path}/ claims {len} bytes"),
                    lba as u64 * BLOCK,
                ));
            }
            let off = lba as u64 * BLOCK;
            budget = budget
                .checked_sub(len as u64)
                .ok_or_else(|| corrupt("directories overlap too much", off))?;
            let data = src.read(off, len as usize)?;
            let label = if path.is_empty() {
                "/".to_string()
            } else {
                path.clone()
            };
            self.region(
                off,
                len as u64,
                format!("{tree} directory records of {label}"),
            )?;
            let mut pos = 0usize;
            let mut idx = 0usize;
            while pos < data.len() {
                let rl = data[pos] as usize;
                if rl == 0 {
                    pos = (pos / BLOCK as usize + 1) * BLOCK as usize;
                    continue;
                }
                if rl < 34 || pos + rl > data.len() {
                    return Err(corrupt("bad directory record length", off + pos as u64));
                }
                let rec = &data[pos..pos + rl];
                let lfi = rec[32] as usize;
                if 33 + lfi > rl {
                    return Err(corrupt(
                        "file identifier overruns its record",
                        off + pos as u64,
                    ));
                }
                let elba = le32(&rec[2..6]).saturating_add(base);
                let esize = le32(&rec[10..14]);
                let is_dir = rec[25] & 2 != 0;
                idx += 1;
                if idx > 2 {
                    let raw = &rec[33..33 + lfi];
                    let mut name = if joliet {
                        let u: Vec<u16> = raw
                            .chunks(2)
                            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                            .collect();
                        String::from_utf16_lossy(&u)
                    } else {
                        let s = String::from_utf8_lossy(raw).into_owned();
                        s.strip_suffix(";1").map(|x| x.to_string()).unwrap_or(s)
                    };
                    if !joliet {
                        let su_start = 33 + lfi + (1 - lfi % 2);
                        if su_start < rl {
                            if let Some(n) = self.rr_name(src, &rec[su_start..], base)? {
                                name = n;
                            }
                        }
                    }
                    let p = format!("{path}/{name}");
                    if self.files.len() >= MAX_ENTRIES {
                        return Err(ReadError::TooMany(MAX_ENTRIES));
                    }
                    self.files.push(FileExtent {
                        path: p.clone(),
                        lba: elba,
                        size: esize,
                        is_dir,
                        tree,
                    });
                    if is_dir {
                        stack.push((p, elba, esize, depth + 1));
                    }
                }
                pos += rl;
            }
        }
        Ok(())
    }

    /// Rock Ridge NM name from a system use area, following CE.
    fn rr_name<R: Read + Seek>(
        &mut self,
        src: &mut Src<R>,
        su: &[u8],
        base: u32,
    ) -> Result<Option<String>, ReadError> {
        let mut name: Vec<u8> = Vec::new();
        let mut found = false;
        let mut area = su.to_vec();
        let mut hops = 0;
        loop {
            let mut next = None;
            let mut p = 0usize;
            while p + 4 <= area.len() {
                let l = area[p + 2] as usize;
                if l < 4 || p + l > area.len() {
                    break;
                }
                let f = &area[p..p + l];
                match &f[..2] {
                    b"NM" if l >= 5 => {
                        found = true;
                        name.extend_from_slice(&f[5..]);
                    }
                    b"CE" if l >= 28 => {
                        let blk = le32(&f[4..8]) as u64 + base as u64;
                        let off = le32(&f[12..16]) as u64;
                        let len = le32(&f[20..24]) as u64;
                        if len > BLOCK || off >= BLOCK {
                            return Err(corrupt("bad CE entry", blk * BLOCK));
                        }
                        next = Some((blk * BLOCK + off, len));
                    }
                    b"ST" => break,
                    _ => {}
                }
                p += l;
            }
            match next {
                Some((o, l)) => {
                    hops += 1;
                    if hops > MAX_CE_HOPS {
                        return Err(corrupt("too many chained continuation areas", o));
                    }
                    area = src.read(o, l as usize)?;
                    self.region(o, l, "Rock Ridge continuation area".into())?;
                }
                None => break,
            }
        }
        Ok(found.then(|| String::from_utf8_lossy(&name).into_owned()))
    }

    fn catalog<R: Read + Seek>(&mut self, src: &mut Src<R>, lba: u32) -> Result<(), ReadError> {
        let off = lba as u64 * BLOCK;
        let c = src.read(off, BLOCK as usize)?;
        self.region(off, BLOCK, "El Torito boot catalog".into())?;
        if c[0] != 1 || c[30] != 0x55 || c[31] != 0xaa {
            return Err(corrupt("bad El Torito validation entry", off));
        }
        let mut platform = c[1];
        let mut p = 32usize;
        let mut section_left = 1u32;
        while p + 32 <= c.len() {
            let e = &c[p..p + 32];
            match e[0] {
                0x88 | 0x00 if section_left > 0 => {
                    if e[0] == 0x88 || e[8..12] != [0, 0, 0, 0] {
                        self.boot_entries.push(BootEntry {
                            platform,
                            media: e[1],
                            load_sectors: u16::from_le_bytes([e[6], e[7]]),
                            lba: le32(&e[8..12]),
                        });
                    }
                    section_left -= 1;
                }
                0x90 | 0x91 => {
                    platform = e[1];
                    section_left = u16::from_le_bytes([e[2], e[3]]) as u32;
                }
                _ => break,
            }
            p += 32;
        }
        for (i, b) in self.boot_entries.clone().iter().enumerate() {
            let len = b.load_sectors as u64 * 512;
            self.region(
                b.lba as u64 * BLOCK,
                len.max(1),
                format!(
                    "El Torito boot image {} (platform {:#x})",
                    i + 1,
                    b.platform
                ),
            )?;
        }
        Ok(())
    }

    fn file_regions(&mut self) -> Result<(), ReadError> {
        let files: Vec<FileExtent> = self
            .files
            .iter()
            .filter(|f| !f.is_dir && f.size > 0)
            .cloned()
            .collect();
        let mut seen = HashSet::new();
        for f in files {
            if seen.insert((f.lba, f.size)) {
                self.region(
                    f.lba as u64 * BLOCK,
                    f.size as u64,
                    format!("file data of {}", f.path),
                )?;
            }
        }
        Ok(())
    }

    /// What lives at `offset`: the most specific region, with the position inside it.
    pub fn describe(&self, offset: u64) -> String {
        let best = self
            .regions
            .iter()
            .filter(|r| offset >= r.start && offset < r.start + r.len.max(1))
            .min_by_key(|r| r.len);
        match best {
            Some(r) => format!("{} at byte {}", r.what, offset - r.start),
            None if offset >= self.size => "beyond the end of the image".into(),
            None => "unused space (padding)".into(),
        }
    }

    /// Files of one tree ("iso" or "joliet").
    pub fn tree_files<'a>(&'a self, tree: &'a str) -> impl Iterator<Item = &'a FileExtent> + 'a {
        self.files.iter().filter(move |f| f.tree == tree)
    }
}
