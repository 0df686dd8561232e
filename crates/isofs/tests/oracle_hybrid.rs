//! Level 4: isohybrid MBR with `-partition_offset 16` (second descriptor set and tree
//! copies), and the GPT of `-isohybrid-gpt-basdat`, compared byte for byte with
//! xorriso 1.5.4 using Debian's isohdpfx.bin and isolinux.bin and an EFI image made
//! by mkfs.vfat.
mod common;
use common::*;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

const ISOLINUX: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";

fn read_tool_file(p: &str) -> Vec<u8> {
    std::fs::read(p)
        .unwrap_or_else(|e| panic!("{p} is required (apt-get install -y isolinux): {e}"))
}

/// A FAT image of `kib` KiB made by mkfs.vfat (dosfstools).
fn fat_image(path: &Path, kib: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let st = Command::new("mkfs.vfat")
        .args(["-C", "-i", "12345678", "-n", "EFIBOOT"])
        .arg(path)
        .arg(kib.to_string())
        .output()
        .unwrap_or_else(|e| panic!("mkfs.vfat is required (apt-get install -y dosfstools): {e}"));
    assert!(
        st.status.success(),
        "mkfs.vfat failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// A small live-build-like binary tree.
fn live_tree(t: &Path, efi: Option<u32>) {
    write_file(t, "isolinux/isolinux.bin", &read_tool_file(ISOLINUX));
    write_file(t, "isolinux/isolinux.cfg", b"default live\n");
    write_file(t, "live/filesystem.squashfs", &vec![0x5au8; 70_000]);
    write_file(t, "live/vmlinuz", &vec![1u8; 5000]);
    write_file(t, "live/empty", b"");
    symlink("vmlinuz", t.join("live/vmlinuz-link")).unwrap();
    if let Some(kib) = efi {
        fat_image(&t.join("boot/grub/efi.img"), kib);
    }
}

fn hybrid_opts(vol: &str, epoch: i64, efi: bool) -> isofs::IsoOptions {
    let mut o = opts(vol, epoch);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        efi.then_some("boot/grub/efi.img"),
        Some(read_tool_file(ISOHDPFX)),
    ));
    o
}

fn mbr() -> Option<&'static Path> {
    Some(Path::new(ISOHDPFX))
}

#[test]
fn bios_efi_hybrid_mbr_and_gpt_match_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, Some(1440));
    touch_all(&t, 1700000000);
    check(&t, &hybrid_opts("HYBRID", 1700000000, true), mbr());
}

#[test]
fn bios_only_hybrid_mbr_matches_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, None);
    touch_all(&t, 1600000000);
    check(&t, &hybrid_opts("BIOS_HYBRID", 1600000000, false), mbr());
}

#[test]
fn odd_sized_efi_image_and_big_trees_match_xorriso() {
    // An EFI image that is not a whole number of 2048-byte blocks (the GPT counts
    // whole blocks, the MBR whole 512-byte sectors), directories with continuation
    // areas (their CE addresses are partition-relative in the second copy) and
    // enough data to need more than one cylinder of padding decisions.
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, None);
    let efi: Vec<u8> = (0..5 * 2048 + 700u32).map(|i| (i % 253) as u8).collect();
    write_file(&t, "boot/grub/efi.img", &efi);
    for i in 0..40 {
        write_file(&t, &format!("ce/{}{i:03}", "c".repeat(180)), b"x");
    }
    for i in 0..200 {
        write_file(&t, &format!("wide/file-{i:04}.bin"), &vec![i as u8; i * 97]);
    }
    write_file(&t, "big.bin", &vec![3u8; 3 << 20]);
    touch_all(&t, 1735689600);
    let mut o = hybrid_opts("ODD_EFI", 1735689600, true);
    o.application_id = Some("hybrid test".into());
    check(&t, &o, mbr());
}

#[test]
fn hybrid_images_of_many_sizes_match_xorriso() {
    // image sizes around cylinder (1 MiB) boundaries: the alignment padding varies
    for (i, extra) in [0usize, 1, 2048 * 40, 2048 * 41 + 1].iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t");
        live_tree(&t, Some(64));
        write_file(&t, "pad.bin", &vec![7u8; *extra]);
        touch_all(&t, 1700000000 + i as i64);
        check(
            &t,
            &hybrid_opts("SIZES", 1700000000 + i as i64, true),
            mbr(),
        );
    }
}

#[test]
fn image_over_one_gib_gets_xorriso_geometry_and_alignment() {
    // Past 1 GiB, 64 heads × 32 sectors × 1024 cylinders no longer cover the image:
    // libisofs picks 65 heads here, which changes the CHS values and the cylinder
    // (65 × 32 × 512 bytes) the image is padded to. A sparse file keeps this cheap.
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, Some(64));
    let big = t.join("live/big.squashfs");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((1 << 30) + 12_345_678)
        .unwrap();
    touch_all(&t, 1700000000);
    let o = hybrid_opts("BIG", 1700000000, true);
    let exp = d.path().join("x.iso");
    xorriso_to_file(&t, &exp, &o, mbr());
    let got = d.path().join("ours.iso");
    let tree = fstree::Tree::scan(&t).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&got).unwrap());
    isofs::write(&tree, &mut f, &o, &mut |_, _| {}).unwrap();
    drop(f);
    assert_same_files(&exp, &got);
}
