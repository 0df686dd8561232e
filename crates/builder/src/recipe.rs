//! `release.toml`: what to build, read strictly (unknown keys are errors, paths must
//! stay inside the source tree). The keys are documented in docs/recipe.md.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// A parsed, validated recipe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub format: u32,
    pub source_date_epoch: i64,
    pub image: Image,
    #[serde(default)]
    pub squashfs: Vec<Squashfs>,
    pub boot: Option<Boot>,
}

/// `[image]`: the ISO image and its identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// File name of the built image (no directories).
    pub output: String,
    /// `-V`
    pub volume_id: String,
    /// Directory, relative to the source root, that becomes the image's root.
    pub tree: String,
    /// `-A`
    pub application_id: Option<String>,
    /// `-p`
    pub preparer_id: Option<String>,
    /// `-publisher`
    pub publisher_id: Option<String>,
}

/// `[[squashfs]]`: one SquashFS file made from a tree and placed in the image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Squashfs {
    /// Directory relative to the source root.
    pub tree: String,
    /// Where the file lands inside the image.
    pub path: String,
    /// "xz" or "gzip".
    pub compression: String,
    /// `-b`; mksquashfs's default (131072) when absent.
    pub block_size: Option<u32>,
}

/// `[boot]`: El Torito, and optionally the isohybrid MBR/GPT.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// `-b`: path inside the image.
    pub bios_image: String,
    /// `-c`: path inside the image.
    pub catalog: String,
    /// `-e`: path inside the image.
    pub efi_image: Option<String>,
    /// `-isohybrid-mbr`: path relative to the source root.
    pub isohybrid_mbr: Option<String>,
}

/// Why a recipe cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read recipe {path}: {source} (a source tree needs release.toml at its root)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recipe {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Largest recipe accepted; real ones are a few hundred bytes.
const MAX_RECIPE_BYTES: u64 = 64 * 1024;

impl Recipe {
    /// Reads `<source_dir>/release.toml`.
    pub fn load(source_dir: &Path) -> Result<Recipe, RecipeError> {
        let path = source_dir.join("release.toml");
        let read = |source| RecipeError::Read {
            path: path.clone(),
            source,
        };
        // Open without blocking (a fifo named release.toml must not hang the build),
        // then insist on a regular file and read at most the limit: a symlink to
        // /dev/zero must not turn into an unbounded read.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(read)?;
        let meta = file.metadata().map_err(read)?;
        if !meta.is_file() {
            return Err(RecipeError::Invalid {
                path,
                message: "it is not a regular file".into(),
            });
        }
        if meta.len() > MAX_RECIPE_BYTES {
            return Err(RecipeError::Invalid {
                path,
                message: format!("{} bytes is too large for a recipe", meta.len()),
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_RECIPE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        if bytes.len() as u64 > MAX_RECIPE_BYTES {
            return Err(RecipeError::Invalid {
                path,
                message: "it grew past the recipe size limit while being read".into(),
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| RecipeError::Invalid {
            path: path.clone(),
            message: "it is not UTF-8 text".into(),
        })?;
        Recipe::parse(&text).map_err(|message| RecipeError::Invalid { path, message })
    }

    /// Parses and validates recipe text.
    pub fn parse(text: &str) -> Result<Recipe, String> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        recipe.validate()?;
        Ok(recipe)
    }

    fn validate(&self) -> Result<(), String> {
        if !crate::SUPPORTED_FORMATS.contains(&self.format) {
            return Err(format!(
                "format {} is not supported (this builder makes formats {:?}); upgrade verify-release",
                self.format,
                crate::SUPPORTED_FORMATS
            ));
        }
        if !(0..=i64::from(u32::MAX)).contains(&self.source_date_epoch) {
            return Err(format!(
                "source_date_epoch {} is outside what SquashFS can record (0 to {})",
                self.source_date_epoch,
                u32::MAX
            ));
        }
        let img = &self.image;
        if img.output.is_empty()
            || img.output.contains('/')
            || img.output == "."
            || img.output == ".."
            || img.output.contains('\0')
        {
            return Err(format!(
                "image.output {:?} must be a plain file name",
                img.output
            ));
        }
        check_id("image.volume_id", &img.volume_id, 32)?;
        if img.volume_id.is_empty() {
            return Err("image.volume_id must not be empty".into());
        }
        for (key, v) in [
            ("image.application_id", &img.application_id),
            ("image.preparer_id", &img.preparer_id),
            ("image.publisher_id", &img.publisher_id),
        ] {
            if let Some(v) = v {
                check_id(key, v, 128)?;
            }
        }
        relative_path("image.tree", &img.tree)?;
        let mut seen = Vec::new();
        for (i, s) in self.squashfs.iter().enumerate() {
            relative_path(&format!("squashfs[{i}].tree"), &s.tree)?;
            let inner = relative_path(&format!("squashfs[{i}].path"), &s.path)?;
            if seen.contains(&inner) {
                return Err(format!("squashfs[{i}].path {:?} is used twice", s.path));
            }
            seen.push(inner);
            if !matches!(s.compression.as_str(), "xz" | "gzip") {
                return Err(format!(
                    "squashfs[{i}].compression {:?} is not supported (use \"xz\" or \"gzip\")",
                    s.compression
                ));
            }
            if let Some(b) = s.block_size {
                if !b.is_power_of_two() || !(4096..=1_048_576).contains(&b) {
                    return Err(format!(
                        "squashfs[{i}].block_size {b} must be a power of two from 4096 to 1048576"
                    ));
                }
            }
        }
        if let Some(b) = &self.boot {
            relative_path("boot.bios_image", &b.bios_image)?;
            relative_path("boot.catalog", &b.catalog)?;
            if let Some(e) = &b.efi_image {
                relative_path("boot.efi_image", e)?;
            }
            if let Some(m) = &b.isohybrid_mbr {
                relative_path("boot.isohybrid_mbr", m)?;
            }
        }
        Ok(())
    }
}

/// Identifiers go into fixed-size fields: printable ASCII only, bounded length.
fn check_id(key: &str, v: &str, max: usize) -> Result<(), String> {
    if v.len() > max || !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(format!(
            "{key} {v:?} must be at most {max} printable ASCII characters"
        ));
    }
    Ok(())
}

/// A path that stays inside its root: relative, no `..`, not empty.
pub fn relative_path(key: &str, p: &str) -> Result<PathBuf, String> {
    let path = Path::new(p);
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "{key} {p:?} must be a relative path without `..` (it may not leave the source tree)"
                ))
            }
        }
    }
    if clean.as_os_str().is_empty() || p.contains('\0') {
        return Err(format!("{key} {p:?} must name something inside the tree"));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"
format = 1
source_date_epoch = 1510631607
[image]
output = "demo-amd64-1.0.iso"
volume_id = "DEMO_1_0"
tree = "binary"
[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "xz"
"#;

    #[test]
    fn parses_the_documented_keys() {
        let r = Recipe::parse(DEMO).unwrap();
        assert_eq!(r.source_date_epoch, 1510631607);
        assert_eq!(r.squashfs[0].block_size, None);
        assert!(r.boot.is_none());
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for (from, to, needle) in [
            ("format = 1", "format = 2", "format 2 is not supported"),
            ("tree = \"chroot\"", "tree = \"../etc\"", "without `..`"),
            ("tree = \"binary\"", "tree = \"/\"", "without `..`"),
            ("\"xz\"", "\"zstd\"", "not supported"),
            (
                "output = \"demo-amd64-1.0.iso\"",
                "output = \"../x.iso\"",
                "plain file name",
            ),
            (
                "volume_id = \"DEMO_1_0\"",
                "volume_id = \"DEMO_1_0_WITH_A_NAME_LONGER_THAN_32\"",
                "at most 32",
            ),
            (
                "compression = \"xz\"",
                "compression = \"xz\"\nblock_size = 1000",
                "power of two",
            ),
            ("format = 1", "format = 1\nextra = true", "unknown field"),
            (
                "source_date_epoch = 1510631607",
                "source_date_epoch = -1",
                "outside",
            ),
        ] {
            let text = DEMO.replace(from, to);
            let err = Recipe::parse(&text).unwrap_err();
            assert!(err.contains(needle), "{to}: {err}");
        }
    }
}
