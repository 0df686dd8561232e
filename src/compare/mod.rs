//! The compare stage: are two images identical, and if not, where do they differ and
//! what lives there — in both images, whose layouts may differ.
//!
//! One streaming byte pass ([`bytes`]) finds the differing regions; the images are then
//! parsed (ISO 9660 with its system area, and SquashFS found inside it or given bare) to
//! say what each region is ([`location`]), and the two trees are compared file by file
//! ([`content`]) without extracting anything. `--diffoscope` hands the few differing
//! inner files to diffoscope ([`diffoscope`]).
//!
//! The ISO 9660 and SquashFS parsing used here (`iso_layout`, `system_area`,
//! `squashfs_layout`) is the compare stage's own: it records where structures and fields
//! lie, which the image crates' readers do not expose. Decompression is the squashfs
//! crate's.

pub mod bytes;
pub mod content;
pub mod diffoscope;
mod image;
mod iso_layout;
pub mod location;
mod source;
mod squashfs_layout;
mod system_area;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use content::ScopeSummary;
pub use diffoscope::DiffoscopeReport;
pub use location::{Location, Place};

use crate::exit::{Exit, Failure};
use crate::untrusted::Untrusted;
use image::ImageLayout;
use source::Source;

/// What to compute besides the byte comparison.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// How many differing regions are reported (each located in both images).
    pub max_regions: usize,
    /// Run diffoscope on the differing inner files.
    pub diffoscope: bool,
    /// Wall-clock budget for all diffoscope runs together.
    pub diffoscope_budget: Duration,
    /// At most this many files are handed to diffoscope.
    pub diffoscope_files: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            max_regions: 10,
            diffoscope: false,
            diffoscope_budget: Duration::from_secs(120),
            diffoscope_files: 3,
        }
    }
}

/// One of the two images.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub path: Untrusted,
    pub size: u64,
    /// "iso9660", "squashfs" or "unknown" (not parsed when the images are identical).
    pub format: &'static str,
    /// What could not be parsed (best effort: locations there are "unknown").
    pub notes: Vec<String>,
}

/// The first differing byte and what lives there in each image.
#[derive(Debug, Clone, Serialize)]
pub struct FirstDifference {
    pub offset: u64,
    /// `null` when this image ends before `offset`.
    pub official_byte: Option<u8>,
    pub rebuilt_byte: Option<u8>,
    pub official_location: Location,
    pub rebuilt_location: Location,
}

/// A run of differences (merging rule: docs/report.md, section "compare").
#[derive(Debug, Clone, Serialize)]
pub struct Region {
    pub start: u64,
    pub length: u64,
    pub differing_bytes: u64,
    /// The region is the tail of the longer image.
    pub beyond_end: bool,
    pub official_location: Location,
    pub rebuilt_location: Location,
}

/// The result of comparing two images; the pipeline reuses it for the rebuild verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub identical: bool,
    pub official: ImageInfo,
    pub rebuilt: ImageInfo,
    pub sizes_equal: bool,
    pub first_difference: Option<FirstDifference>,
    /// Differing bytes within the common length (a size difference is not counted).
    pub differing_bytes: u64,
    pub regions_total: u64,
    /// The first `max_regions` regions.
    pub regions: Vec<Region>,
    /// Equal runs shorter than this many bytes do not split a region.
    pub merge_gap: u64,
    /// The trees compared file by file (empty when identical or not parsed).
    pub content: Vec<ScopeSummary>,
    pub diffoscope: Option<DiffoscopeReport>,
}

impl Comparison {
    pub fn exit(&self) -> Exit {
        if self.identical {
            Exit::Verified
        } else {
            Exit::Differs
        }
    }
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read the {which} image {path} (check the path and its permissions)")]
    Io {
        which: &'static str,
        path: Untrusted,
        #[source]
        source: io::Error,
    },
}

impl Failure for CompareError {
    fn exit(&self) -> Exit {
        Exit::Incomplete
    }
}

fn path_label(p: &Path) -> Untrusted {
    Untrusted::new(p.as_os_str().as_encoded_bytes().to_vec())
}

/// Compares two image files byte for byte and says what lives where they differ.
pub fn compare_files(
    official: &Path,
    rebuilt: &Path,
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    let io_err = |which: &'static str, path: &PathBuf| {
        let path = path_label(path);
        move |source: io::Error| CompareError::Io {
            which,
            path,
            source,
        }
    };
    let (pa, pb) = (official.to_path_buf(), rebuilt.to_path_buf());
    let diff = bytes::diff_files(official, rebuilt).map_err(|(side, e)| match side {
        bytes::Side::A => io_err("official", &pa)(e),
        bytes::Side::B => io_err("rebuilt", &pb)(e),
    })?;
    let mut cmp = Comparison {
        identical: diff.identical(),
        official: ImageInfo {
            path: path_label(official),
            size: diff.size_a,
            format: "unknown",
            notes: Vec::new(),
        },
        rebuilt: ImageInfo {
            path: path_label(rebuilt),
            size: diff.size_b,
            format: "unknown",
            notes: Vec::new(),
        },
        sizes_equal: diff.size_a == diff.size_b,
        first_difference: None,
        differing_bytes: diff.differing_bytes,
        regions_total: diff.regions_total,
        regions: Vec::new(),
        merge_gap: bytes::MERGE_GAP,
        content: Vec::new(),
        diffoscope: None,
    };
    if cmp.identical {
        return Ok(cmp);
    }
    let fa = File::open(official).map_err(io_err("official", &pa))?;
    let fb = File::open(rebuilt).map_err(io_err("rebuilt", &pb))?;
    let src_a = Source::new(&fa, diff.size_a);
    let src_b = Source::new(&fb, diff.size_b);
    let la = ImageLayout::parse(&src_a);
    let lb = ImageLayout::parse(&src_b);
    cmp.official.format = la.format;
    cmp.rebuilt.format = lb.format;
    cmp.official.notes = la.notes.clone();
    cmp.rebuilt.notes = lb.notes.clone();
    if let Some((offset, a, b)) = diff.first {
        cmp.first_difference = Some(FirstDifference {
            offset,
            official_byte: a,
            rebuilt_byte: b,
            official_location: la.locate(&src_a, offset),
            rebuilt_location: lb.locate(&src_b, offset),
        });
    }
    cmp.regions = diff
        .regions
        .iter()
        .take(opts.max_regions)
        .map(|r| Region {
            start: r.start,
            length: r.len,
            differing_bytes: r.differing,
            beyond_end: r.beyond_end,
            official_location: la.locate(&src_a, r.start),
            rebuilt_location: lb.locate(&src_b, r.start),
        })
        .collect();
    let pair = content::Pair {
        src_a: &src_a,
        src_b: &src_b,
        diff: &diff,
    };
    cmp.content = content::summarize(&pair, &la, &lb);
    if opts.diffoscope {
        cmp.diffoscope = Some(diffoscope::run(&pair, &la, &lb, &cmp.content, opts));
    }
    Ok(cmp)
}

/// The `compare` command: options from the command line, then [`compare_files`].
pub fn run_cli(
    args: &crate::cli::CompareArgs,
    _out: &crate::cli::OutputArgs,
) -> Result<Comparison, CompareError> {
    let opts = CompareOptions {
        max_regions: args.max_regions,
        diffoscope: args.diffoscope,
        ..CompareOptions::default()
    };
    compare_files(&args.official, &args.rebuilt, &opts)
}

/// Parses `official` and `rebuilt` as images held in memory and locates every offset in
/// `offsets` in both, then compares their trees: the whole parsing side of the compare
/// stage without files, for fuzzing and robustness tests. Never panics on any input.
#[doc(hidden)]
pub fn locate_in_memory(
    official: &[u8],
    rebuilt: &[u8],
    offsets: &[u64],
) -> Vec<(Location, Location)> {
    let src_a = Source::from_bytes(official);
    let src_b = Source::from_bytes(rebuilt);
    let la = ImageLayout::parse(&src_a);
    let lb = ImageLayout::parse(&src_b);
    let mut a = official;
    let diff = bytes::diff_readers(&mut a, rebuilt, official.len() as u64, rebuilt.len() as u64)
        .unwrap_or_default();
    let pair = content::Pair {
        src_a: &src_a,
        src_b: &src_b,
        diff: &diff,
    };
    let _ = content::summarize(&pair, &la, &lb);
    offsets
        .iter()
        .map(|&o| (la.locate(&src_a, o), lb.locate(&src_b, o)))
        .collect()
}
