//! Byte identity with mksquashfs 4.5.1 on small trees.
mod common;

use common::*;
use squashfs::Compression::{Gzip, Xz};

#[test]
fn tiny_tree() {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("a.txt"), b"hello\n");
    write(&d.path().join("sub/b.txt"), b"world\n");
    std::fs::create_dir(d.path().join("empty")).unwrap();
    std::os::unix::fs::symlink("a.txt", d.path().join("link")).unwrap();
    check(d.path(), Gzip, 131072, 1);
    check(d.path(), Xz, 131072, 1);
}
