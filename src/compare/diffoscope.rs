//! `--diffoscope`: the few files whose content differs are written to a private
//! temporary directory (inner SquashFS files decompressed block by block) and handed to
//! diffoscope with a time budget. Its absence is reported, not an error.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::content::{Pair, ScopeSummary, Stream};
use super::image::ImageLayout;
use super::source::{PResult, ParseError, Source};
use super::CompareOptions;
use crate::untrusted::Untrusted;

/// Largest file extracted for diffoscope.
const MAX_EXTRACT: u64 = 256 << 20;
/// Most output kept per file.
const MAX_OUTPUT: u64 = 64 << 10;

/// What diffoscope said about one file.
#[derive(Debug, Clone, Serialize)]
pub struct DiffoscopeFile {
    /// The SquashFS holding the file ("/" for the ISO tree itself).
    pub scope: Untrusted,
    pub path: Untrusted,
    /// `ran`, `timed_out`, `failed` or `skipped`.
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub output: String,
    pub truncated: bool,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffoscopeReport {
    /// `ran`, `not_installed` or `nothing_to_compare`.
    pub status: &'static str,
    pub program: Option<String>,
    pub files: Vec<DiffoscopeFile>,
}

/// Finds an executable `diffoscope` on PATH.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("diffoscope"))
        .find(|p| p.is_file())
}

pub fn run(
    pair: &Pair,
    a: &ImageLayout,
    b: &ImageLayout,
    scopes: &[ScopeSummary],
    opts: &CompareOptions,
) -> DiffoscopeReport {
    let Some(program) = find() else {
        return DiffoscopeReport {
            status: "not_installed",
            program: None,
            files: Vec::new(),
        };
    };
    // Inner SquashFS files first: they are what a reader wants to see.
    let inner_paths: Vec<Vec<u8>> = a.inner.iter().map(|i| i.path.clone()).collect();
    let mut picks: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for s in scopes.iter().filter(|s| s.format == "squashfs") {
        for n in &s.content_differs.names {
            picks.push((s.scope.as_bytes().to_vec(), n.as_bytes().to_vec()));
        }
    }
    for s in scopes.iter().filter(|s| s.format == "iso9660") {
        for n in &s.content_differs.names {
            if !inner_paths.iter().any(|p| p.as_slice() == n.as_bytes()) {
                picks.push((b"/".to_vec(), n.as_bytes().to_vec()));
            }
        }
    }
    picks.truncate(opts.diffoscope_files);
    if picks.is_empty() {
        return DiffoscopeReport {
            status: "nothing_to_compare",
            program: Some(program.display().to_string()),
            files: Vec::new(),
        };
    }
    let deadline = Instant::now() + opts.diffoscope_budget;
    let files = picks
        .iter()
        .map(|(scope, path)| one(&program, pair, a, b, scope, path, deadline))
        .collect();
    DiffoscopeReport {
        status: "ran",
        program: Some(program.display().to_string()),
        files,
    }
}

/// A private directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let base = std::env::temp_dir();
        for i in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let p = base.join(format!(
                "verify-release-diff.{}.{nanos}.{i}",
                std::process::id()
            ));
            if fs::create_dir(&p).is_ok() {
                return Ok(TempDir(p));
            }
        }
        Err(std::io::Error::other("cannot create a temporary directory"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn one(
    program: &Path,
    pair: &Pair,
    a: &ImageLayout,
    b: &ImageLayout,
    scope: &[u8],
    path: &[u8],
    deadline: Instant,
) -> DiffoscopeFile {
    let mut rep = DiffoscopeFile {
        scope: Untrusted::new(scope.to_vec()),
        path: Untrusted::new(path.to_vec()),
        status: "skipped",
        exit_code: None,
        output: String::new(),
        truncated: false,
        message: None,
    };
    if Instant::now() >= deadline {
        rep.message = Some("time budget spent".into());
        return rep;
    }
    let dir = match TempDir::new() {
        Ok(d) => d,
        Err(e) => {
            rep.status = "failed";
            rep.message = Some(e.to_string());
            return rep;
        }
    };
    // The same safe base name on both sides, so diffoscope's headers line up.
    let base: String = path
        .rsplit(|&c| c == b'/')
        .next()
        .map(|n| {
            Untrusted::new(n.to_vec())
                .escaped()
                .replace(['/', '\\'], "_")
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "file".into());
    let mut out_paths = Vec::new();
    for (side, layout, src) in [("official", a, pair.src_a), ("rebuilt", b, pair.src_b)] {
        let d = dir.0.join(side);
        let p = d.join(&base);
        let res = fs::create_dir(&d)
            .map_err(|e| ParseError(e.to_string()))
            .and_then(|_| extract(layout, src, scope, path, &p));
        if let Err(e) = res {
            rep.status = "failed";
            rep.message = Some(format!("extracting the {side} file: {e}"));
            return rep;
        }
        out_paths.push(p);
    }
    let out_file = dir.0.join("diffoscope.txt");
    let Ok(stdout) = File::create(&out_file) else {
        rep.status = "failed";
        return rep;
    };
    let child = Command::new(program)
        .arg("--text")
        .arg("-")
        .arg("--no-progress")
        .args(&out_paths)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            rep.status = "failed";
            rep.message = Some(format!("cannot run diffoscope: {e}"));
            return rep;
        }
    };
    rep.status = "ran";
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                rep.exit_code = st.code();
                break;
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                rep.status = "timed_out";
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                rep.status = "failed";
                rep.message = Some(e.to_string());
                break;
            }
        }
    }
    if let Ok(f) = File::open(&out_file) {
        let mut text = Vec::new();
        let _ = f.take(MAX_OUTPUT + 1).read_to_end(&mut text);
        rep.truncated = text.len() as u64 > MAX_OUTPUT;
        text.truncate(MAX_OUTPUT as usize);
        // diffoscope prints file content: keep it printable.
        rep.output = String::from_utf8_lossy(&text)
            .lines()
            .map(|l| Untrusted::new(l.as_bytes().to_vec()).escaped())
            .collect::<Vec<_>>()
            .join("\n");
    }
    rep
}

/// Writes one file's content (an ISO file, or a file inside one of its SquashFS) to `to`.
fn extract(
    layout: &ImageLayout,
    src: &Source,
    scope: &[u8],
    path: &[u8],
    to: &Path,
) -> PResult<()> {
    let mut out = File::create(to).map_err(|e| ParseError(e.to_string()))?;
    if scope == b"/" && layout.format == "iso9660" {
        let f = layout
            .iso_files()
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| ParseError("file not found".into()))?;
        if f.size > MAX_EXTRACT {
            return Err(ParseError(format!("file larger than {MAX_EXTRACT} bytes")));
        }
        for &(start, len) in &f.extents {
            let mut done = 0;
            while done < len {
                let n = (len - done).min(1 << 20);
                out.write_all(&src.read(start + done, n)?)
                    .map_err(|e| ParseError(e.to_string()))?;
                done += n;
            }
        }
        return Ok(());
    }
    let sq = layout
        .squashfs()
        .into_iter()
        .find(|(p, _)| p.as_slice() == scope || (p.is_empty() && scope == b"/"))
        .map(|(_, l)| l)
        .ok_or_else(|| ParseError("SquashFS not found".into()))?;
    let f = sq
        .files
        .iter()
        .find(|f| f.path == path)
        .ok_or_else(|| ParseError("file not found".into()))?;
    Stream::new(sq, src, f).copy_to(&mut out, MAX_EXTRACT)?;
    Ok(())
}
