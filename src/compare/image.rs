//! One image, parsed for localisation: an ISO 9660 (with its system area, any copy of
//! the volume at a partition offset, and the SquashFS files inside it), a bare
//! SquashFS, or a format we do not know (plain byte offsets then).

use super::iso_layout::{IsoFile, IsoVolume};
use super::location::{Location, Place};
use super::source::Source;
use super::squashfs_layout::{is_squashfs, SquashLayout};
use super::system_area::{Partition, SystemArea};
use crate::untrusted::Untrusted;

/// At most this many SquashFS files inside one ISO are parsed.
const MAX_SQUASHFS: usize = 8;
/// At most this many ISO files are probed for a SquashFS magic.
const MAX_PROBES: usize = 1 << 16;

/// An ISO file that holds a SquashFS, parsed.
#[derive(Debug)]
pub struct Inner {
    pub path: Vec<u8>,
    pub layout: SquashLayout,
}

#[derive(Debug, Default)]
pub struct ImageLayout {
    /// "iso9660", "squashfs" or "unknown".
    pub format: &'static str,
    system: Option<SystemArea>,
    /// The main volume first, then copies found at partition starts.
    volumes: Vec<(Option<Partition>, IsoVolume)>,
    pub inner: Vec<Inner>,
    pub bare: Option<SquashLayout>,
    pub notes: Vec<String>,
}

impl ImageLayout {
    pub fn parse(src: &Source) -> ImageLayout {
        let mut img = ImageLayout {
            format: "unknown",
            ..ImageLayout::default()
        };
        let head = src.read_upto(0, 4).unwrap_or_default();
        if is_squashfs(&head) {
            match SquashLayout::parse(src, 0, src.size) {
                Ok(l) => {
                    img.format = "squashfs";
                    img.notes.extend(l.notes.iter().cloned());
                    img.bare = Some(l);
                }
                Err(e) => img.notes.push(format!("squashfs: {e}")),
            }
            return img;
        }
        let main = match IsoVolume::parse(src, 0) {
            Ok(v) => v,
            Err(e) => {
                if src.size > 32768 + 6 {
                    img.notes.push(format!("not parsed as ISO 9660: {e}"));
                }
                return img;
            }
        };
        img.format = "iso9660";
        let system = SystemArea::parse(src);
        img.notes.extend(main.notes.iter().cloned());
        img.volumes.push((None, main));
        // xorriso's -partition_offset writes a second volume at the partition start.
        for p in &system.partitions {
            if p.start == 0
                || img
                    .volumes
                    .iter()
                    .any(|(q, _)| q.as_ref().map(|q| q.start) == Some(p.start))
            {
                continue;
            }
            if let Ok(v) = IsoVolume::parse(src, p.start) {
                img.volumes.push((Some(p.clone()), v));
            }
        }
        img.system = Some(system);
        img.find_squashfs(src);
        img
    }

    fn find_squashfs(&mut self, src: &Source) {
        let files = &self.volumes[0].1.files;
        for f in files
            .iter()
            .filter(|f| !f.meta.is_dir && f.size >= 96)
            .take(MAX_PROBES)
        {
            if self.inner.len() >= MAX_SQUASHFS {
                break;
            }
            let Some(&(start, _)) = f.extents.first() else {
                continue;
            };
            let contiguous = f.extents.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0);
            let head = src.read(start, 4).unwrap_or_default();
            if !is_squashfs(&head) {
                continue;
            }
            if !contiguous {
                self.notes.push(format!(
                    "{}: SquashFS in non-contiguous extents, not parsed",
                    Untrusted::new(f.path.clone())
                ));
                continue;
            }
            match SquashLayout::parse(src, start, f.size) {
                Ok(l) => {
                    for n in &l.notes {
                        self.notes
                            .push(format!("{}: {n}", Untrusted::new(f.path.clone())));
                    }
                    self.inner.push(Inner {
                        path: f.path.clone(),
                        layout: l,
                    });
                }
                Err(e) => self
                    .notes
                    .push(format!("{}: {e}", Untrusted::new(f.path.clone()))),
            }
        }
    }

    /// The files of the main ISO 9660 tree (empty for other formats).
    pub fn iso_files(&self) -> &[IsoFile] {
        self.volumes
            .first()
            .map(|v| v.1.files.as_slice())
            .unwrap_or(&[])
    }

    /// The SquashFS layouts with the name they are known by ("" for a bare one).
    pub fn squashfs(&self) -> Vec<(Vec<u8>, &SquashLayout)> {
        let mut out: Vec<(Vec<u8>, &SquashLayout)> = self
            .inner
            .iter()
            .map(|i| (i.path.clone(), &i.layout))
            .collect();
        if let Some(b) = &self.bare {
            out.push((Vec::new(), b));
        }
        out
    }

    /// What lives at byte `off` of this image.
    pub fn locate(&self, src: &Source, off: u64) -> Location {
        if off >= src.size {
            return Location::past_end();
        }
        if let Some(sq) = &self.bare {
            return Location::new(sq.locate(off).unwrap_or(Place::Padding {
                what: "after the SquashFS and its padding".into(),
            }));
        }
        if self.volumes.is_empty() {
            return Location::unknown("unknown format");
        }
        Location {
            places: self.locate_iso(src, off),
        }
    }

    fn locate_iso(&self, src: &Source, off: u64) -> Vec<Place> {
        if let Some(p) = self.system.as_ref().and_then(|s| s.locate(off)) {
            return vec![p];
        }
        let in_partition = |part: &Option<Partition>, p: Place| match part {
            Some(q) => vec![
                Place::Partition {
                    table: q.table.into(),
                    index: q.index,
                    offset: off - q.start,
                },
                p,
            ],
            None => vec![p],
        };
        for (part, vol) in &self.volumes {
            if let Some(p) = vol.locate_structure(src, off) {
                return in_partition(part, p);
            }
        }
        for (_, vol) in &self.volumes {
            if let Some((fi, foff, also)) = vol.locate_file(off) {
                let f = &vol.files[fi];
                let mut places = vec![Place::FileData {
                    path: Untrusted::new(f.path.clone()),
                    offset: foff,
                    size: f.size,
                    also,
                }];
                let start = f.extents.first().map(|e| e.0);
                if let Some(inner) = self.inner.iter().find(|i| Some(i.layout.base) == start) {
                    places.push(inner.layout.locate(foff).unwrap_or(Place::Padding {
                        what: "after the SquashFS padding, inside the file".into(),
                    }));
                }
                return places;
            }
        }
        for (part, vol) in &self.volumes {
            if let Some(p) = vol.locate_boot_image(off) {
                return in_partition(part, p);
            }
        }
        let parts = self
            .system
            .as_ref()
            .map(|s| s.partitions.as_slice())
            .unwrap_or(&[]);
        let main_end = self.volumes[0].1.volume_end;
        if off >= main_end {
            if let Some(q) = parts
                .iter()
                .find(|q| off >= q.start && off - q.start < q.len)
            {
                return vec![Place::Partition {
                    table: q.table.into(),
                    index: q.index,
                    offset: off - q.start,
                }];
            }
            return vec![Place::Padding {
                what: "after the end of the ISO 9660 volume".into(),
            }];
        }
        vec![Place::Padding {
            what: "unallocated or padding block of the ISO 9660 volume".into(),
        }]
    }
}
