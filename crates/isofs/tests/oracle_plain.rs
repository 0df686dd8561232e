//! Level 2: ISO 9660 + Rock Ridge + Joliet without boot, compared byte for byte
//! with xorriso 1.5.4.
mod common;
use common::*;
use std::os::unix::fs::symlink;

#[test]
fn small_tree_matches_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    write_file(&t, "a/f.txt", b"hello\n");
    write_file(&t, "empty", b"");
    std::fs::create_dir_all(t.join("a/b")).unwrap();
    symlink("f.txt", t.join("a/link")).unwrap();
    std::fs::hard_link(t.join("a/f.txt"), t.join("hard")).unwrap();
    touch_all(&t, 1700000000);
    check(&t, &opts("TESTVOL", 1700000000), None);
}
