//! Hostile images: a small xorriso ISO holding a mksquashfs image, mutated and cut at
//! random, must always parse to some answer (best-effort or "unknown"), never panic or
//! allocate without bound.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;
use verify_release::compare::locate_in_memory;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (apt-get install -y xorriso squashfs-tools)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (iso bytes, squashfs bytes), made once.
fn images() -> &'static (Vec<u8>, Vec<u8>) {
    static I: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    I.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let inner = d.join("inner");
        for sub in ["a/b/c", "d"] {
            std::fs::create_dir_all(inner.join(sub)).unwrap();
        }
        for i in 0..40u32 {
            let body: Vec<u8> = (0..(i * 997 % 20000))
                .map(|k| (k * 7 + i) as u8 % 50 + 32)
                .collect();
            let sub = if i % 2 == 0 { "a/b/c" } else { "d" };
            std::fs::write(inner.join(sub).join(format!("f{i}")), body).unwrap();
        }
        std::fs::write(inner.join("big"), vec![7u8; 300_000]).unwrap();
        std::os::unix::fs::symlink("big", inner.join("link")).unwrap();
        let outer = d.join("outer");
        std::fs::create_dir_all(outer.join("live")).unwrap();
        let sq = outer.join("live/filesystem.squashfs");
        run(Command::new("mksquashfs").arg(&inner).arg(&sq).args([
            "-noappend",
            "-quiet",
            "-comp",
            "gzip",
            "-b",
            "4096",
        ]));
        std::fs::write(outer.join("readme"), b"readme\n").unwrap();
        let iso = d.join("x.iso");
        run(Command::new("xorriso")
            .args(["-as", "mkisofs", "-R", "-J", "-quiet", "-o"])
            .arg(&iso)
            .arg(&outer));
        (read(&iso), read(&sq))
    })
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// Offsets worth locating: the mutated ones, and a spread over the image.
fn offsets(len: usize, flips: &[(usize, u8)]) -> Vec<u64> {
    let mut v: Vec<u64> = flips.iter().map(|f| f.0 as u64).collect();
    v.extend((0..16).map(|i| (len as u64 * i) / 16));
    v.push(len as u64 + 10);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Mutations in the ISO's descriptors, directories and the SquashFS tables.
    #[test]
    fn mutated_iso_never_panics(flips in proptest::collection::vec((0usize..1 << 20, any::<u8>()), 1..40)) {
        let (iso, _) = images();
        let mut m = iso.clone();
        let flips: Vec<(usize, u8)> = flips.into_iter().map(|(o, x)| (o % m.len(), x)).collect();
        for &(o, x) in &flips {
            m[o] ^= x | 1;
        }
        let locs = locate_in_memory(iso, &m, &offsets(m.len(), &flips));
        prop_assert!(!locs.is_empty());
        for (a, b) in &locs {
            prop_assert!(!a.places.is_empty() && !b.places.is_empty());
        }
    }

    /// Metadata-dense spots of a bare SquashFS: superblock and the tables at the end.
    #[test]
    fn mutated_squashfs_never_panics(flips in proptest::collection::vec((0usize..4096, any::<u8>(), any::<bool>()), 1..24)) {
        let (_, sq) = images();
        let mut m = sq.clone();
        let len = m.len();
        let flips: Vec<(usize, u8)> = flips
            .into_iter()
            .map(|(o, x, tail)| (if tail { len - 1 - (o % len) } else { o % len }, x))
            .collect();
        for &(o, x) in &flips {
            m[o] ^= x | 1;
        }
        let _ = locate_in_memory(sq, &m, &offsets(len, &flips));
        let _ = locate_in_memory(&m, &m, &offsets(len, &flips));
    }

    #[test]
    fn truncated_images_never_panic(cut in 0usize..1 << 20) {
        let (iso, sq) = images();
        let c = cut % iso.len();
        let _ = locate_in_memory(iso, &iso[..c], &offsets(c, &[]));
        let c = cut % sq.len();
        let _ = locate_in_memory(&sq[..c], sq, &offsets(c, &[]));
    }
}

#[test]
fn unmutated_images_locate_files() {
    let (iso, sq) = images();
    // The SquashFS file inside the ISO: its magic's place is a file, then the superblock.
    let at = iso
        .windows(4)
        .position(|w| w == b"hsqs")
        .expect("the ISO holds the SquashFS") as u64;
    let locs = locate_in_memory(iso, iso, &[at]);
    let text = locs[0].0.to_string();
    assert!(
        text.starts_with("/live/filesystem.squashfs, byte 0 of the file"),
        "{text}"
    );
    assert!(text.ends_with("SquashFS superblock, magic"), "{text}");
    let locs = locate_in_memory(sq, sq, &[20]);
    assert_eq!(locs[0].0.to_string(), "SquashFS superblock, compression id");
}
