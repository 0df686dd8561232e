//! Whole recipes against the real tools: for each recipe, the builder's image must be
//! byte for byte what mksquashfs 4.5.1 + xorriso 1.5.4 make with the command lines of
//! docs/recipe.md on a staged copy of the same source tree (tests/common/mod.rs).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

const EPOCH: i64 = 1_700_000_000;

fn head(output: &str, volume: &str, extra: &str) -> String {
    format!(
        "format = 1\nsource_date_epoch = {EPOCH}\n\n[image]\noutput = \"{output}\"\n\
         volume_id = \"{volume}\"\ntree = \"binary\"\n{extra}\n"
    )
}

const LIVE_SQUASHFS: &str = r#"
[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "gzip"
"#;

/// Builds `source` both ways and compares; also checks nothing but the image is left
/// in the output folder.
fn check(source: &Path, work: &Path) {
    let out_dir = work.join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let ours_path = out_dir.join("ours.iso");
    let built = ours(source, &ours_path);
    let oracle_dir = work.join("oracle");
    fs::create_dir_all(&oracle_dir).unwrap();
    let theirs = work.join("theirs.iso");
    oracle_build(source, &oracle_dir, &theirs);
    assert_same_image(&ours_path, &theirs);
    assert_eq!(built.size, fs::metadata(&theirs).unwrap().len());
    // The hash computed while writing is the hash of the file on disk.
    assert_eq!(
        (built.size, built.sha256),
        builder::hash_file(&ours_path).unwrap()
    );
    assert_eq!(listing(&out_dir), ["ours.iso"], "scratch files left behind");
}

/// The image tree of the boot cases: isolinux's real boot loader and a config.
fn boot_tree(binary: &Path) {
    mixed_tree(binary, 11, 1, 131072);
    fs::create_dir_all(binary.join("isolinux")).unwrap();
    fs::copy(
        "/usr/lib/ISOLINUX/isolinux.bin",
        binary.join("isolinux/isolinux.bin"),
    )
    .expect("/usr/lib/ISOLINUX/isolinux.bin (apt-get install -y isolinux)");
    put(
        &binary.join("isolinux/isolinux.cfg"),
        b"default live\nlabel live\n  kernel /live/vmlinuz\n",
    );
}

/// A small FAT image made by mkfs.vfat, the shape of live-build's efi.img.
fn efi_image(path: &Path) {
    need("mkfs.vfat");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("mkfs.vfat")
        .args(["-C", "-i", "12345678", "-n", "EFIBOOT"])
        .arg(path)
        .arg("1440")
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .output()
        .expect("mkfs.vfat runs");
    assert!(
        status.status.success(),
        "mkfs.vfat failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn gzip_and_xz_squashfs_with_custom_block_sizes() {
    let work = tmp();
    let src = work.path().join("src");
    mixed_tree(&src.join("binary"), 1, 1, 131072);
    mixed_tree(&src.join("chroot"), 2, 2, 262144);
    mixed_tree(&src.join("extra"), 3, 1, 16384);
    // A stale, executable file already at a squashfs path, hard-linked to another name:
    // mksquashfs -noappend rewrites it in place, so both names get the new content and
    // the mode stays.
    put(&src.join("binary/live/filesystem.squashfs"), b"stale\n");
    chmod(&src.join("binary/live/filesystem.squashfs"), 0o755);
    fs::hard_link(
        src.join("binary/live/filesystem.squashfs"),
        src.join("binary/live/also-the-squashfs"),
    )
    .unwrap();
    recipe(
        &src,
        &(head(
            "a.iso",
            "ORACLE_A",
            "application_id = \"oracle test a\"\npreparer_id = \"builder tests\"\n\
             publisher_id = \"verify-release developers\"",
        ) + r#"
[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "xz"
block_size = 262144

[[squashfs]]
tree = "extra"
path = "live/modules/extra.squashfs"
compression = "gzip"
block_size = 16384
"#),
    );
    check(&src, work.path());
}

#[test]
fn bios_boot_image_and_catalog() {
    let work = tmp();
    let src = work.path().join("src");
    boot_tree(&src.join("binary"));
    mixed_tree(&src.join("chroot"), 4, 1, 131072);
    recipe(
        &src,
        &(head("b.iso", "ORACLE_B", "") + LIVE_SQUASHFS
            + "\n[boot]\nbios_image = \"isolinux/isolinux.bin\"\ncatalog = \"isolinux/boot.cat\"\n"),
    );
    check(&src, work.path());
}

#[test]
fn bios_and_efi_boot_images() {
    let work = tmp();
    let src = work.path().join("src");
    boot_tree(&src.join("binary"));
    efi_image(&src.join("binary/boot/grub/efi.img"));
    mixed_tree(&src.join("chroot"), 5, 1, 131072);
    recipe(
        &src,
        &(head("c.iso", "ORACLE_C", "publisher_id = \"oracle c\"") + LIVE_SQUASHFS
            + "\n[boot]\nbios_image = \"isolinux/isolinux.bin\"\ncatalog = \"isolinux/boot.cat\"\n\
               efi_image = \"boot/grub/efi.img\"\n"),
    );
    check(&src, work.path());
}

/// live-build's whole flag set: BIOS + EFI + isohybrid MBR with GPT, partition offset 16.
#[test]
fn isohybrid_live_build_flag_set() {
    let work = tmp();
    let src = work.path().join("src");
    boot_tree(&src.join("binary"));
    efi_image(&src.join("binary/boot/grub/efi.img"));
    mixed_tree(&src.join("chroot"), 6, 1, 131072);
    fs::copy("/usr/lib/ISOLINUX/isohdpfx.bin", src.join("isohdpfx.bin"))
        .expect("/usr/lib/ISOLINUX/isohdpfx.bin (apt-get install -y isolinux)");
    recipe(
        &src,
        &(head(
            "d.iso",
            "DEBIAN_LIVE",
            "application_id = \"Debian Live\"\npublisher_id = \"Debian Live project\"",
        ) + r#"
[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "xz"

[boot]
bios_image = "isolinux/isolinux.bin"
catalog = "isolinux/boot.cat"
efi_image = "boot/grub/efi.img"
isohybrid_mbr = "isohdpfx.bin"
"#),
    );
    check(&src, work.path());
}

/// xorriso copies at most 32 KiB of an `-isohybrid-mbr` template into the system area
/// and takes shorter ones as they are, even empty (then writes its MBR fields over
/// them): the builder must do the same for every length.
#[test]
fn isohybrid_mbr_templates_of_any_length() {
    let isohdpfx = fs::read("/usr/lib/ISOLINUX/isohdpfx.bin")
        .expect("/usr/lib/ISOLINUX/isohdpfx.bin (apt-get install -y isolinux)");
    let mut long = isohdpfx.clone();
    long.extend(Rng::new(9).bytes(40_000 - long.len()));
    for template in [Vec::new(), isohdpfx[..300].to_vec(), long] {
        let work = tmp();
        let src = work.path().join("src");
        fs::create_dir_all(src.join("binary/isolinux")).unwrap();
        fs::copy(
            "/usr/lib/ISOLINUX/isolinux.bin",
            src.join("binary/isolinux/isolinux.bin"),
        )
        .expect("/usr/lib/ISOLINUX/isolinux.bin (apt-get install -y isolinux)");
        put(&src.join("binary/README.txt"), b"hybrid\n");
        put(&src.join("mbr.bin"), &template);
        recipe(
            &src,
            &(head("e.iso", "ORACLE_E", "")
                + "\n[boot]\nbios_image = \"isolinux/isolinux.bin\"\n\
                   catalog = \"isolinux/boot.cat\"\nisohybrid_mbr = \"mbr.bin\"\n"),
        );
        check(&src, work.path());
    }
}
