//! What the builder refuses, and how: a clear error naming the offending path or key,
//! nothing at the output path, no `.part` file and no scratch folder left behind.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const RECIPE: &str = r#"format = 1
source_date_epoch = 1600000000

[image]
output = "x.iso"
volume_id = "REFUSALS"
tree = "binary"

[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "gzip"
"#;

const BOOT: &str = r#"
[boot]
bios_image = "isolinux/isolinux.bin"
catalog = "isolinux/boot.cat"
"#;

/// A tiny valid source: `binary` with a fake boot loader, `chroot` with a few files.
fn source(work: &Path) -> PathBuf {
    let src = work.join("src");
    put(&src.join("binary/README.txt"), b"readme\n");
    put(&src.join("binary/isolinux/isolinux.bin"), &[0x90u8; 2048]);
    put(&src.join("chroot/etc/hostname"), b"demo\n");
    put(&src.join("chroot/usr/bin/tool"), b"#!/bin/sh\n");
    recipe(&src, RECIPE);
    src
}

/// Builds into an empty `out` folder, expects a failure whose message contains every
/// needle, and checks the folder is still empty. Returns the message.
fn refused(src: &Path, work: &Path, needles: &[&str]) -> String {
    let out_dir = work.join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("x.iso");
    let err = match builder::build(src, &out, &mut |_, _, _| {}) {
        Ok(b) => panic!("build succeeded ({} bytes), expected {needles:?}", b.size),
        Err(e) => e,
    };
    // The whole chain, as the CLI prints it.
    let mut msg = err.to_string();
    let mut cur: &dyn std::error::Error = &err;
    while let Some(s) = cur.source() {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        cur = s;
    }
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} does not mention {n:?}");
    }
    assert!(!msg.contains("panicked"), "{msg}");
    eprintln!("refused: {msg}");
    assert_eq!(
        listing(&out_dir),
        Vec::<String>::new(),
        "left behind after: {msg}"
    );
    msg
}

fn sh(dir: &Path, script: &str) {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_valid_source_builds() {
    // The baseline the refusals below alter: it must build.
    let work = tmp();
    let src = source(work.path());
    recipe(&src, &(RECIPE.to_owned() + BOOT));
    let out = work.path().join("ok.iso");
    let built = ours(&src, &out);
    assert_eq!(built.size, fs::metadata(&out).unwrap().len());
}

#[test]
fn fifo_in_a_tree() {
    let work = tmp();
    let src = source(work.path());
    sh(&src, "mkfifo chroot/etc/the-fifo");
    refused(&src, work.path(), &["chroot/etc/the-fifo", "fifo"]);
}

#[test]
fn socket_in_a_tree() {
    let work = tmp();
    let src = source(work.path());
    let _listener = std::os::unix::net::UnixListener::bind(src.join("binary/the-socket")).unwrap();
    refused(&src, work.path(), &["binary/the-socket", "socket"]);
}

#[test]
fn device_nodes_in_a_tree() {
    let work = tmp();
    let src = source(work.path());
    // The tests run as root (CI and the dev container): mknod must work.
    sh(&src, "mknod chroot/etc/null-dev c 1 3");
    refused(&src, work.path(), &["chroot/etc/null-dev", "device"]);
    fs::remove_file(src.join("chroot/etc/null-dev")).unwrap();
    sh(&src, "mknod binary/loop-dev b 7 0");
    refused(&src, work.path(), &["binary/loop-dev", "device"]);
}

#[test]
fn recipe_paths_with_dot_dot() {
    let work = tmp();
    let src = source(work.path());
    fs::create_dir_all(work.path().join("outside")).unwrap();
    for (from, to, key) in [
        ("tree = \"binary\"", "tree = \"../outside\"", "image.tree"),
        (
            "tree = \"chroot\"",
            "tree = \"chroot/../../outside\"",
            "squashfs[0].tree",
        ),
        (
            "catalog = \"isolinux/boot.cat\"",
            "catalog = \"../boot.cat\"",
            "boot.catalog",
        ),
        (
            "isolinux/isolinux.bin\"",
            "/etc/passwd\"",
            "boot.bios_image",
        ),
    ] {
        recipe(&src, &(RECIPE.to_owned() + BOOT).replace(from, to));
        refused(
            &src,
            work.path(),
            &["release.toml", key, "leave the source tree"],
        );
    }
}

#[test]
fn recipe_paths_through_symlinks_leaving_the_tree() {
    let work = tmp();
    let src = source(work.path());
    put(&work.path().join("outside/etc/passwd"), b"root:x:0:0\n");
    std::os::unix::fs::symlink("../outside", src.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(work.path().join("outside"), src.join("abs")).unwrap();
    for (from, to, key) in [
        ("tree = \"binary\"", "tree = \"elsewhere\"", "image.tree"),
        (
            "tree = \"chroot\"",
            "tree = \"abs/etc\"",
            "squashfs[0].tree",
        ),
    ] {
        recipe(&src, &RECIPE.replace(from, to));
        refused(&src, work.path(), &[key, "not inside the source tree"]);
    }
    // A symlinked MBR template pointing out of the tree.
    std::os::unix::fs::symlink("/usr/lib/ISOLINUX/isohdpfx.bin", src.join("mbr.bin")).unwrap();
    recipe(
        &src,
        &(RECIPE.to_owned() + BOOT + "isohybrid_mbr = \"mbr.bin\"\n"),
    );
    refused(&src, work.path(), &["boot.isohybrid_mbr", "mbr.bin"]);
    // A symlink that stays inside the tree is fine.
    fs::remove_file(src.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("binary", src.join("elsewhere")).unwrap();
    recipe(
        &src,
        &RECIPE.replace("tree = \"binary\"", "tree = \"elsewhere\""),
    );
    ours(&src, &work.path().join("fine.iso"));
}

#[test]
fn boot_images_missing_or_not_files() {
    let work = tmp();
    let src = source(work.path());
    let with_boot = RECIPE.to_owned() + BOOT;
    recipe(
        &src,
        &with_boot.replace("isolinux/isolinux.bin", "isolinux/missing.bin"),
    );
    refused(
        &src,
        work.path(),
        &["boot.bios_image", "isolinux/missing.bin"],
    );
    recipe(
        &src,
        &with_boot.replace("isolinux/isolinux.bin", "isolinux"),
    );
    refused(&src, work.path(), &["boot.bios_image", "\"isolinux\""]);
    // A symlink is not a boot image either.
    std::os::unix::fs::symlink("isolinux.bin", src.join("binary/isolinux/link.bin")).unwrap();
    recipe(
        &src,
        &with_boot.replace("isolinux/isolinux.bin", "isolinux/link.bin"),
    );
    refused(&src, work.path(), &["boot.bios_image", "isolinux/link.bin"]);
    recipe(
        &src,
        &(with_boot.clone() + "efi_image = \"boot/efi.img\"\n"),
    );
    refused(&src, work.path(), &["boot.efi_image", "boot/efi.img"]);
    recipe(
        &src,
        &(with_boot.clone() + "isohybrid_mbr = \"no-such-mbr.bin\"\n"),
    );
    refused(
        &src,
        work.path(),
        &["boot.isohybrid_mbr", "no-such-mbr.bin", "does not exist"],
    );
    fs::create_dir(src.join("mbr-dir")).unwrap();
    recipe(&src, &(with_boot.clone() + "isohybrid_mbr = \"mbr-dir\"\n"));
    refused(&src, work.path(), &["mbr-dir", "not a regular file"]);
    sh(&src, "mkfifo mbr-fifo");
    recipe(&src, &(with_boot + "isohybrid_mbr = \"mbr-fifo\"\n"));
    refused(&src, work.path(), &["mbr-fifo", "not a regular file"]);
}

/// Sizes and names the formats cannot hold: ext4 itself stops names at 255 bytes (the
/// writers' own limit), so the reachable case is a file of 4 GiB or more, which ISO 9660
/// can only hold as a multi-extent file that this writer does not make. A sparse file
/// keeps the test cheap; the refusal must come before any byte is read.
#[test]
fn file_too_large_for_iso_9660() {
    let work = tmp();
    let src = source(work.path());
    let big = fs::File::create(src.join("binary/huge.img")).unwrap();
    big.set_len(4 << 30).unwrap();
    let started = std::time::Instant::now();
    refused(&src, work.path(), &["huge.img", "4 GiB"]);
    assert!(
        started.elapsed().as_secs() < 30,
        "the refusal read the file first"
    );
}

#[test]
fn squashfs_paths_that_cannot_be_placed() {
    let work = tmp();
    let src = source(work.path());
    recipe(
        &src,
        &RECIPE.replace("live/filesystem.squashfs", "isolinux"),
    );
    refused(&src, work.path(), &["isolinux", "directory"]);
    recipe(
        &src,
        &RECIPE.replace("live/filesystem.squashfs", "README.txt/inner.squashfs"),
    );
    refused(&src, work.path(), &["README.txt", "not a directory"]);
    std::os::unix::fs::symlink("/tmp/somewhere", src.join("binary/out.squashfs")).unwrap();
    recipe(
        &src,
        &RECIPE.replace("live/filesystem.squashfs", "out.squashfs"),
    );
    refused(&src, work.path(), &["out.squashfs", "symlink"]);
    // A symlinked folder on the way: mkdir -p and mksquashfs would follow it.
    std::os::unix::fs::symlink("/tmp", src.join("binary/live")).unwrap();
    recipe(&src, RECIPE);
    refused(
        &src,
        work.path(),
        &["live/filesystem.squashfs", "not a directory"],
    );
}

#[test]
fn recipe_errors_name_release_toml() {
    let work = tmp();
    let src = source(work.path());
    for (text, needle) in [
        ("format = 1\n", "missing field"),
        ("this is not toml", "release.toml"),
        (&RECIPE.replace("format = 1", "format = 9"), "format 9"),
        (&RECIPE.replace("gzip", "lz4"), "squashfs[0].compression"),
        (
            &(RECIPE.to_owned() + "block_size = 12345\n"),
            "squashfs[0].block_size",
        ),
        (&RECIPE.replace("[image]", "[image]\ncolour = 1"), "colour"),
        (
            &RECIPE.replace("REFUSALS", "VOLUME ID THAT IS FAR TOO LONG FOR ISO"),
            "image.volume_id",
        ),
        (&RECIPE.replace("REFUSALS", "Grüße"), "image.volume_id"),
    ] {
        recipe(&src, text);
        refused(&src, work.path(), &["release.toml", needle]);
    }
    // Not UTF-8, not a regular file, too large, absent.
    put(&src.join("release.toml"), b"format = 1\n\xff\xfe\n");
    refused(&src, work.path(), &["release.toml", "UTF-8"]);
    fs::remove_file(src.join("release.toml")).unwrap();
    sh(&src, "mkfifo release.toml");
    refused(&src, work.path(), &["release.toml", "not a regular file"]);
    fs::remove_file(src.join("release.toml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", src.join("release.toml")).unwrap();
    refused(&src, work.path(), &["release.toml", "not a regular file"]);
    fs::remove_file(src.join("release.toml")).unwrap();
    put(&src.join("release.toml"), &vec![b'#'; 100_000]);
    refused(&src, work.path(), &["release.toml", "too large"]);
    fs::remove_file(src.join("release.toml")).unwrap();
    refused(&src, work.path(), &["release.toml", "needs release.toml"]);
    refused(
        &work.path().join("no-such-source"),
        work.path(),
        &["no-such-source"],
    );
}

#[test]
fn missing_trees_are_named() {
    let work = tmp();
    let src = source(work.path());
    recipe(
        &src,
        &RECIPE.replace("tree = \"chroot\"", "tree = \"nope\""),
    );
    refused(&src, work.path(), &["nope"]);
    recipe(
        &src,
        &RECIPE.replace("tree = \"chroot\"", "tree = \"binary/README.txt\""),
    );
    refused(&src, work.path(), &["README.txt", "not a directory"]);
}

#[test]
fn output_inside_a_staged_tree_or_in_a_missing_folder() {
    let work = tmp();
    let src = source(work.path());
    for (out, needle) in [
        (src.join("binary/x.iso"), "inside image.tree"),
        (src.join("chroot/etc/x.iso"), "inside squashfs[0].tree"),
        (work.path().join("no/such/folder/x.iso"), "does not exist"),
    ] {
        let err = builder::build(&src, &out, &mut |_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!out.exists());
    }
    assert!(!work.path().join("no").exists());
    assert_eq!(listing(&src.join("binary")), ["README.txt", "isolinux"]);
    assert_eq!(listing(&src.join("chroot/etc")), ["hostname"]);
}
