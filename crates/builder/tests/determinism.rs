//! The same recipe gives the same bytes whatever the build environment: umask, TZ,
//! LANG/LC_ALL, current directory, checkout path, checkout mtimes and permissions,
//! directory creation (readdir) order and the SquashFS writer's thread count.
//!
//! umask, TZ, locale and the working directory are process-wide, so each build runs in
//! a child process: this test binary re-run on its `child_build` helper, started through
//! `sh -c 'umask …; cd …; exec …'` with its own environment.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;

const EPOCH: i64 = 1_262_304_000; // 2010-01-01

/// A source with everything the builder does: xz and gzip SquashFS, BIOS + EFI + hybrid.
fn source(src: &Path) {
    mixed_tree(&src.join("binary"), 21, 1, 131072);
    fs::create_dir_all(src.join("binary/isolinux")).unwrap();
    fs::copy(
        "/usr/lib/ISOLINUX/isolinux.bin",
        src.join("binary/isolinux/isolinux.bin"),
    )
    .expect("/usr/lib/ISOLINUX/isolinux.bin (apt-get install -y isolinux)");
    fs::copy("/usr/lib/ISOLINUX/isohdpfx.bin", src.join("isohdpfx.bin"))
        .expect("/usr/lib/ISOLINUX/isohdpfx.bin (apt-get install -y isolinux)");
    let mut r = Rng::new(5);
    put(&src.join("binary/boot/grub/efi.img"), &r.bytes(64 * 1024));
    mixed_tree(&src.join("chroot"), 22, 1, 65536);
    mixed_tree(&src.join("extra"), 23, 1, 131072);
    recipe(
        src,
        &format!(
            r#"format = 1
source_date_epoch = {EPOCH}

[image]
output = "det.iso"
volume_id = "DETERMINISM"
tree = "binary"

[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "xz"
block_size = 65536

[[squashfs]]
tree = "extra"
path = "live/extra.squashfs"
compression = "gzip"

[boot]
bios_image = "isolinux/isolinux.bin"
catalog = "isolinux/boot.cat"
efi_image = "boot/grub/efi.img"
isohybrid_mbr = "isohdpfx.bin"
"#
        ),
    );
}

/// Copies `from` to `to` creating entries in reverse name order (so a file system that
/// lists small directories in creation order lists them differently), keeping hard
/// links, symlinks and permissions.
fn copy_reversed(from: &Path, to: &Path, links: &mut Vec<(u64, u64, std::path::PathBuf)>) {
    fs::create_dir_all(to).unwrap();
    let mut names: Vec<_> = fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names.reverse();
    for name in names {
        let (src, dst) = (from.join(&name), to.join(&name));
        let meta = fs::symlink_metadata(&src).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if meta.is_dir() {
            copy_reversed(&src, &dst, links);
            fs::set_permissions(&dst, meta.permissions()).unwrap();
        } else if let Some((_, _, first)) = links
            .iter()
            .find(|(d, i, _)| (*d, *i) == (meta.dev(), meta.ino()))
        {
            fs::hard_link(first, &dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
            links.push((meta.dev(), meta.ino(), dst));
        }
    }
}

/// Runs `child_build` in a child process with the given shell prefix and environment.
fn build_in_child(shell: &str, env: &[(&str, &str)], src: &str, out: &str, threads: usize) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "{shell} && exec \"$0\" --exact child_build --ignored --nocapture --test-threads 1"
        ))
        .arg(&exe)
        .env_remove("TZ")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env("BUILDER_CHILD_SOURCE", src)
        .env("BUILDER_CHILD_OUTPUT", out)
        .env("BUILDER_CHILD_THREADS", threads.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("child build done"),
        "child build failed ({shell}, {env:?}):\n{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Helper run by [`same_bytes_whatever_the_environment`] in a child process; does
/// nothing when run on its own.
#[test]
#[ignore = "helper: run in a child process by same_bytes_whatever_the_environment"]
fn child_build() {
    let (Some(src), Some(out)) = (
        std::env::var_os("BUILDER_CHILD_SOURCE"),
        std::env::var_os("BUILDER_CHILD_OUTPUT"),
    ) else {
        eprintln!("child_build: nothing to do outside its parent test");
        return;
    };
    let threads = std::env::var("BUILDER_CHILD_THREADS")
        .ok()
        .and_then(|t| t.parse().ok());
    let opts = builder::BuildOptions { threads };
    builder::build_with(Path::new(&src), Path::new(&out), &opts, &mut |_, _, _| {})
        .unwrap_or_else(|e| panic!("build failed: {e}"));
    println!("child build done");
}

#[test]
fn same_bytes_whatever_the_environment() {
    let work = tmp();
    let a = work.path().join("a/src");
    source(&a);
    // The second checkout: elsewhere, created in another order, other modes and mtimes.
    let b = work.path().join("some/much/deeper/checkout path/src");
    copy_reversed(&a, &b, &mut Vec::new());
    let script = "find . -exec touch -h -d '1999-12-31 23:59:59' {} + && \
                  find chroot -type f -name '*.conf' -exec touch -d '2031-05-05 05:05' {} + && \
                  chmod -R go-rwx chroot extra && chmod 0444 binary/README.txt && \
                  chmod 0711 binary/docs";
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&b)
        .status()
        .unwrap();
    assert!(ok.success());
    fs::create_dir_all(work.path().join("out")).unwrap();

    let out_a = work.path().join("out/a.iso");
    build_in_child(
        &format!("umask 022 && cd '{}'", work.path().display()),
        &[("TZ", "UTC"), ("LC_ALL", "C"), ("LANG", "C")],
        a.to_str().unwrap(),
        out_a.to_str().unwrap(),
        1,
    );
    // Relative paths from another working directory, a strict umask, a far time zone,
    // a Turkish locale (its case rules differ), and several compression threads.
    build_in_child(
        &format!(
            "umask 077 && cd '{}'",
            work.path().join("some/much").display()
        ),
        &[
            ("TZ", "Pacific/Chatham"),
            ("LANG", "tr_TR.UTF-8"),
            ("LC_ALL", "tr_TR.UTF-8"),
        ],
        "deeper/checkout path/src",
        "../../out/b.iso",
        3,
    );
    let out_b = work.path().join("out/b.iso");
    assert_same_image(&out_b, &out_a);
    // And the default thread count, in this process.
    let out_c = work.path().join("out/c.iso");
    ours(&b, &out_c);
    assert_same_image(&out_c, &out_a);
    assert_eq!(
        listing(&work.path().join("out")),
        ["a.iso", "b.iso", "c.iso"]
    );
}
