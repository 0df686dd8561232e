//! Running a recipe: stage the trees, write each SquashFS, write the image.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use fstree::{Node, NodeKind, Tree};
use sha2::{Digest, Sha256};

use crate::recipe::{relative_path, Recipe, RecipeError};

/// Which part of the build a progress report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The n-th `[[squashfs]]` section, with its path inside the image.
    Squashfs { index: usize, path: String },
    /// The ISO image.
    Image,
}

/// Progress callback: stage, bytes done, bytes in all for that stage.
pub type Progress<'a> = &'a mut dyn FnMut(&Stage, u64, u64);

/// What a build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub path: PathBuf,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub source_date_epoch: i64,
    /// Recipe format the image was built to.
    pub format: u32,
    /// Each SquashFS made, with its path inside the image and its size.
    pub squashfs: Vec<BuiltSquashfs>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuiltSquashfs {
    pub path: String,
    pub size: u64,
}

/// Why a build failed. Nothing is left at the output path when it does.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error(
        "{key} {path} is not inside the source tree {root} (check for symlinks leaving the tree)"
    )]
    Escapes {
        key: String,
        path: PathBuf,
        root: PathBuf,
    },
    #[error("{key} {path} does not exist (check the recipe path and the checkout)")]
    Missing { key: String, path: PathBuf },
    #[error("the output folder {path} does not exist; create it or choose another --output")]
    OutputFolder { path: PathBuf },
    #[error("the output {output} is inside {key} {tree}; write the image outside the trees the recipe stages")]
    OutputInTree {
        output: PathBuf,
        key: String,
        tree: PathBuf,
    },
    #[error("cannot stage {path}: {source}")]
    Scan {
        path: PathBuf,
        #[source]
        source: fstree::ScanError,
    },
    #[error("{key} {path:?} is not a regular file in the image tree (it names a file inside image.tree, after the squashfs files are placed)")]
    BootFile { key: String, path: String },
    #[error("cannot place {path} in the image tree: {source}")]
    Place {
        path: String,
        #[source]
        source: fstree::InsertError,
    },
    #[error("{key} {path} is not a regular file")]
    NotAFile { key: String, path: PathBuf },
    #[error("squashfs path {path} is a symlink in the image tree; mksquashfs would write through it (remove the symlink)")]
    SquashfsOnSymlink { path: String },
    #[error("cannot write the squashfs {path}: {source}")]
    Squashfs {
        path: String,
        #[source]
        source: squashfs::WriteError,
    },
    #[error("cannot write the image {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: isofs::WriteError,
    },
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How to run a build. None of these settings changes the bytes of the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Compression threads of the SquashFS writer; `None` = one per available core
    /// (what mksquashfs does). Tests set it to show the output does not depend on it.
    pub threads: Option<usize>,
}

/// Builds the recipe of `source_dir` into `output` with the default [`BuildOptions`].
/// The image is written to `<output>.part` and renamed into place only when complete;
/// intermediate SquashFS files live in a scratch folder next to it that is removed
/// whatever happens.
pub fn build(source_dir: &Path, output: &Path, progress: Progress) -> Result<Built, BuildError> {
    build_with(source_dir, output, &BuildOptions::default(), progress)
}

/// [`build`] with explicit options.
pub fn build_with(
    source_dir: &Path,
    output: &Path,
    options: &BuildOptions,
    progress: Progress,
) -> Result<Built, BuildError> {
    let recipe = Recipe::load(source_dir)?;
    let root = fs::canonicalize(source_dir).map_err(io(source_dir))?;
    check_output(&recipe, &root, output)?;
    let scratch = scratch_dir(output)?;
    let result = build_in(&recipe, &root, output, &scratch, options, progress);
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// The output's folder must exist and lie outside every tree the recipe stages:
/// otherwise the scratch folder (or a previous image) would end up inside the image.
fn check_output(recipe: &Recipe, root: &Path, output: &Path) -> Result<(), BuildError> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let folder = fs::canonicalize(parent).map_err(|_| BuildError::OutputFolder {
        path: parent.to_path_buf(),
    })?;
    let mut trees = vec![("image.tree".to_owned(), recipe.image.tree.as_str())];
    for (i, sq) in recipe.squashfs.iter().enumerate() {
        trees.push((format!("squashfs[{i}].tree"), sq.tree.as_str()));
    }
    for (key, rel) in trees {
        let tree = inside(root, &key, rel)?;
        if folder.starts_with(&tree) {
            return Err(BuildError::OutputInTree {
                output: output.to_path_buf(),
                key,
                tree,
            });
        }
    }
    Ok(())
}

fn scratch_dir(output: &Path) -> Result<PathBuf, BuildError> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    // A fresh name each time: two builds in one process (or a leftover of a killed
    // run) never share or delete each other's scratch folder.
    let dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.build-"))
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    Ok(dir.keep())
}

fn build_in(
    recipe: &Recipe,
    root: &Path,
    output: &Path,
    scratch: &Path,
    options: &BuildOptions,
    progress: Progress,
) -> Result<Built, BuildError> {
    let epoch = recipe.source_date_epoch;
    let image_root = inside(root, "image.tree", &recipe.image.tree)?;
    let mut image_tree = stage(&image_root, epoch)?;
    let template = Node {
        kind: NodeKind::File {
            source: PathBuf::new(),
            size: 0,
        },
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: epoch,
        nlink: 1,
    };

    let mut made = Vec::new();
    for (index, sq) in recipe.squashfs.iter().enumerate() {
        let tree = stage(
            &inside(root, &format!("squashfs[{index}].tree"), &sq.tree)?,
            epoch,
        )?;
        let file = scratch.join(format!("squashfs-{index}"));
        let compression = match sq.compression.as_str() {
            "gzip" => squashfs::Compression::Gzip,
            _ => squashfs::Compression::Xz,
        };
        let mut opts = squashfs::Options::new(compression, epoch as u32);
        if let Some(b) = sq.block_size {
            opts.block_size = b;
        }
        if let Some(t) = options.threads {
            opts.threads = t.max(1);
        }
        let stage_id = Stage::Squashfs {
            index,
            path: sq.path.clone(),
        };
        let mut out = File::create(&file).map_err(io(&file))?;
        let summary = squashfs::write(&tree, &mut out, &opts, &mut |d, t| {
            progress(&stage_id, d, t)
        })
        .map_err(|source| BuildError::Squashfs {
            path: sq.path.clone(),
            source,
        })?;
        // No fsync: the file is scratch, read back by the ISO writer and then deleted.
        drop(out);
        place_squashfs(
            &mut image_tree,
            &sq.path,
            file,
            summary.image_size,
            &template,
        )?;
        made.push(BuiltSquashfs {
            path: sq.path.clone(),
            size: summary.image_size,
        });
    }

    let boot = match &recipe.boot {
        None => None,
        Some(b) => Some(boot_options(b, root, &image_tree)?),
    };
    let opts = isofs::IsoOptions {
        volume_id: recipe.image.volume_id.clone(),
        application_id: recipe.image.application_id.clone(),
        preparer_id: recipe.image.preparer_id.clone(),
        publisher_id: recipe.image.publisher_id.clone(),
        modification_time: epoch,
        boot,
    };
    let part = part_path(output);
    let result = write_image(&image_tree, &part, &opts, progress);
    let (size, sha256) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
    };
    fs::rename(&part, output).map_err(|e| {
        let _ = fs::remove_file(&part);
        io(output)(e)
    })?;
    Ok(Built {
        path: output.to_path_buf(),
        size,
        sha256,
        source_date_epoch: epoch,
        format: recipe.format,
        squashfs: made,
    })
}

/// Puts a freshly made SquashFS at `path` in the image tree the way mksquashfs
/// `-noappend` does on the staged tree: a regular file already there is rewritten in
/// place (same inode: its mode and its other hard-linked names stay, and they all show
/// the new content); otherwise a new file (mode 0644) is created with missing parents.
/// A symlink there is refused: mksquashfs would write through it, possibly outside the
/// tree.
fn place_squashfs(
    tree: &mut Tree,
    path: &str,
    source: PathBuf,
    size: u64,
    template: &Node,
) -> Result<(), BuildError> {
    if let Some(id) = tree.lookup(path) {
        match &tree.node(id).kind {
            NodeKind::File { .. } => {
                let node = &mut tree.nodes[id];
                node.kind = NodeKind::File { source, size };
                node.mtime = template.mtime;
                return Ok(());
            }
            NodeKind::Symlink { .. } => {
                return Err(BuildError::SquashfsOnSymlink { path: path.into() })
            }
            NodeKind::Dir { .. } => {}
        }
    }
    tree.insert_file(path, source, size, template)
        .map(|_| ())
        .map_err(|source| BuildError::Place {
            path: path.into(),
            source,
        })
}

fn part_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Writes the image and hashes the bytes on their way out (the ISO writer writes
/// strictly in order), so the image is not read back.
fn write_image(
    tree: &Tree,
    part: &Path,
    opts: &isofs::IsoOptions,
    progress: Progress,
) -> Result<(u64, String), BuildError> {
    let file = File::create(part).map_err(io(part))?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        pos: 0,
    };
    isofs::write(tree, &mut out, opts, &mut |d, t| {
        progress(&Stage::Image, d, t)
    })
    .map_err(|source| BuildError::Image {
        path: part.to_path_buf(),
        source,
    })?;
    let HashingWriter { inner, hasher, pos } = out;
    let file = inner.into_inner().map_err(|e| io(part)(e.into_error()))?;
    // Durable before it is renamed into place and reported.
    file.sync_all().map_err(io(part))?;
    Ok((pos, hex(&hasher.finalize())))
}

/// A sequential sink that hashes what it passes on. It answers "where am I" but
/// refuses any real seek: if a writer ever needed one, the hash would be wrong, so
/// the build fails loudly instead.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    pos: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Seek for HashingWriter<W> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match to {
            SeekFrom::Current(0) => Ok(self.pos),
            SeekFrom::Start(p) if p == self.pos => Ok(self.pos),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the image writer tried to seek; the builder hashes a sequential stream (builder bug)",
            )),
        }
    }
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and SHA-256 (lower-case hex) of a file, read in 1 MiB blocks. The builder
/// hashes while writing; this is for images made elsewhere (an external build, tests).
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex(&h.finalize())))
}

/// Scans a tree and applies the recipe's staging rules.
fn stage(dir: &Path, epoch: i64) -> Result<Tree, BuildError> {
    let mut tree = Tree::scan(dir).map_err(|source| BuildError::Scan {
        path: dir.to_path_buf(),
        source,
    })?;
    tree.normalize(epoch);
    Ok(tree)
}

/// `root/rel`, refusing anything that resolves outside `root`.
fn inside(root: &Path, key: &str, rel: &str) -> Result<PathBuf, BuildError> {
    let clean = relative_path(key, rel).map_err(|message| {
        BuildError::Recipe(RecipeError::Invalid {
            path: root.join("release.toml"),
            message,
        })
    })?;
    let joined = root.join(&clean);
    let real = fs::canonicalize(&joined).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BuildError::Missing {
            key: key.into(),
            path: joined.clone(),
        },
        _ => io(&joined)(e),
    })?;
    if !real.starts_with(root) {
        return Err(BuildError::Escapes {
            key: key.into(),
            path: joined,
            root: root.to_path_buf(),
        });
    }
    Ok(real)
}

fn boot_options(
    b: &crate::recipe::Boot,
    root: &Path,
    tree: &Tree,
) -> Result<isofs::BootOptions, BuildError> {
    let regular = |key: &str, p: &str| match tree.lookup(p).map(|id| &tree.node(id).kind) {
        Some(NodeKind::File { .. }) => Ok(()),
        _ => Err(BuildError::BootFile {
            key: key.into(),
            path: p.into(),
        }),
    };
    regular("boot.bios_image", &b.bios_image)?;
    if let Some(e) = &b.efi_image {
        regular("boot.efi_image", e)?;
    }
    let isohybrid_mbr = match &b.isohybrid_mbr {
        None => None,
        Some(m) => {
            let path = inside(root, "boot.isohybrid_mbr", m)?;
            // Non-blocking open: a fifo must be refused, not waited on.
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map_err(io(&path))?;
            if !file.metadata().map_err(io(&path))?.is_file() {
                return Err(BuildError::NotAFile {
                    key: "boot.isohybrid_mbr".into(),
                    path,
                });
            }
            // xorriso copies at most the 32 KiB system area of a longer template.
            let mut bytes = Vec::new();
            file.take(32 * 1024)
                .read_to_end(&mut bytes)
                .map_err(io(&path))?;
            Some(bytes)
        }
    };
    Ok(isofs::BootOptions {
        bios_image: b.bios_image.clone(),
        catalog: b.catalog.clone(),
        efi_image: b.efi_image.clone(),
        isohybrid_mbr,
    })
}
