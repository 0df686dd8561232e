//! Mutated and truncated images must give errors, never panics or runaway memory.
mod common;

use std::io::Cursor;

use common::*;
use proptest::prelude::*;
use squashfs::read::Image;
use squashfs::Compression;

fn exercise(bytes: Vec<u8>) {
    let Ok(mut image) = Image::open(Cursor::new(bytes)) else {
        return;
    };
    let Ok(entries) = image.entries() else {
        return;
    };
    let map = image.data_map(&entries);
    for e in &entries {
        let _ = image.read_file(&e.inode, &mut std::io::sink(), 16 << 20);
        if let Some(b) = e.inode.blocks.first() {
            let _ = map.locate(b.offset);
        }
    }
    for off in [0, 100, 5000, 1 << 20] {
        let _ = map.locate(off);
    }
}

fn seed_image(comp: Compression) -> Vec<u8> {
    static GZIP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    static XZ: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let cell = match comp {
        Compression::Gzip => &GZIP,
        Compression::Xz => &XZ,
    };
    cell.get_or_init(|| build_seed(comp)).clone()
}

fn build_seed(comp: Compression) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(&p.join("a/b/c"), &text(9000, 1));
    write(&p.join("a/small"), b"tiny");
    write(&p.join("z"), &[0u8; 5000]);
    std::os::unix::fs::symlink("a/small", p.join("s")).unwrap();
    for i in 0..20 {
        write(&p.join(format!("many/{i}")), &text(50 + i, i as u64));
    }
    ours(p, comp, 4096, 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mutated_gzip_images_do_not_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12)) {
        let mut img = seed_image(Compression::Gzip);
        for (i, v) in flips {
            let at = i.index(img.len());
            img[at] = v;
        }
        exercise(img);
    }

    #[test]
    fn mutated_xz_metadata_does_not_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut img = seed_image(Compression::Xz);
        // aim at the superblock and the tables, where the structure lives
        let sb = squashfs::Superblock::decode(img[..96].try_into().unwrap());
        let from = sb.inode_table_start as usize;
        for (n, (i, v)) in flips.into_iter().enumerate() {
            let at = if n % 2 == 0 { i.index(96) } else { from + i.index(img.len() - from) };
            img[at] = v;
        }
        exercise(img);
    }

    #[test]
    fn truncated_images_do_not_panic(cut in any::<prop::sample::Index>()) {
        let mut img = seed_image(Compression::Gzip);
        let at = cut.index(img.len());
        img.truncate(at);
        exercise(img);
    }
}
