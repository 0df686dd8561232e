//! Level 3 (El Torito) compared byte for byte with xorriso 1.5.4, using Debian's
//! isolinux.bin (level 4 is in oracle_hybrid.rs).
mod common;
use common::*;
use std::path::Path;

const ISOLINUX: &str = "/usr/lib/ISOLINUX/isolinux.bin";

fn isolinux() -> Vec<u8> {
    std::fs::read(ISOLINUX)
        .unwrap_or_else(|e| panic!("{ISOLINUX} is required (apt-get install -y isolinux): {e}"))
}

/// A tree like live-build's binary stage makes (small).
fn live_tree(t: &Path, efi: bool) {
    write_file(t, "isolinux/isolinux.bin", &isolinux());
    write_file(t, "isolinux/isolinux.cfg", b"default live\n");
    write_file(t, "live/filesystem.squashfs", &vec![0x5au8; 70_000]);
    write_file(t, "live/vmlinuz", &vec![1u8; 5000]);
    if efi {
        // any few-sector file will do: xorriso does not parse it
        let img: Vec<u8> = (0..4 * 2048u32).map(|i| (i % 251) as u8).collect();
        write_file(t, "EFI/boot/efi.img", &img);
    }
}

#[test]
fn bios_boot_with_info_table_matches_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, false);
    touch_all(&t, 1700000000);
    let mut o = opts("BOOTVOL", 1700000000);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        None,
        None,
    ));
    check(&t, &o, None);
}

#[test]
fn bios_and_efi_boot_matches_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, true);
    touch_all(&t, 1700000000);
    let mut o = opts("EFIVOL", 1700000000);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        Some("EFI/boot/efi.img"),
        None,
    ));
    check(&t, &o, None);
}

#[test]
fn boot_images_come_first_whatever_their_names() {
    // libisofs weighs El Torito images 2 (the catalog 1000000000): their contents
    // come before files that sort earlier by path, like /a/x and /big.bin here.
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, true);
    write_file(&t, "a/x", b"x");
    write_file(&t, "big.bin", &vec![3u8; 100_000]);
    touch_all(&t, 1700000000);
    let mut o = opts("WEIGHTS", 1700000000);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        Some("EFI/boot/efi.img"),
        None,
    ));
    check(&t, &o, None);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        None,
        None,
    ));
    check(&t, &o, None);
}

#[test]
fn bad_names_and_missing_boot_files_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    write_file(&t, "f", b"x");
    // no file system holds a 300-byte name, but a tree built in memory can
    let mut tree = fstree::Tree::scan(&t).unwrap();
    let root = tree.root;
    if let fstree::NodeKind::Dir { entries } = &mut tree.nodes[root].kind {
        entries[0].name = vec![b'n'; 300];
    }
    let mut out = std::io::Cursor::new(Vec::new());
    let e = isofs::write(&tree, &mut out, &opts("X", 0), &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("longer than 255 bytes"), "{e}");

    let t2 = d.path().join("t2");
    write_file(&t2, "isolinux/isolinux.cfg", b"x");
    let tree = fstree::Tree::scan(&t2).unwrap();
    let mut o = opts("X", 0);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        None,
        None,
    ));
    let e = isofs::write(&tree, &mut out, &o, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");

    // an empty EFI image: xorriso fails ("invalid file as boot image"), so do we
    let t3 = d.path().join("t3");
    live_tree(&t3, false);
    write_file(&t3, "efi.img", b"");
    let tree = fstree::Tree::scan(&t3).unwrap();
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        Some("efi.img"),
        None,
    ));
    let e = isofs::write(&tree, &mut out, &o, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("EFI boot image is empty"), "{e}");
}
