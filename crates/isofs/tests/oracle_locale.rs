//! The recipe runs xorriso with `LC_ALL=C` (testdata/demo/make-demo.sh does): libisofs
//! then converts names from ASCII, so every byte of 0x80 or more — each byte of a UTF-8
//! sequence — becomes its own `_` in the ISO 9660 and Joliet names, while Rock Ridge
//! keeps the bytes. The demo release's first difference (byte 47296, the ISO record of
//! `docs/Grüße.txt`: `GR____E.TXT` there, `GR__E.TXT` from a writer that assumed UTF-8)
//! came from this; this test rebuilds that situation on a generated tree.
mod common;
use common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

fn raw(root: &std::path::Path, name: &[u8], data: &[u8]) {
    std::fs::write(root.join(OsStr::from_bytes(name)), data).unwrap();
}

#[test]
fn non_ascii_names_are_mapped_byte_by_byte_like_xorriso_in_the_c_locale() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    // the demo's shape: a long name, a non-ASCII name among many, a big file elsewhere
    write_file(&t, "docs/Grüße.txt", b"hallo\n");
    for i in 0..30 {
        write_file(
            &t,
            &format!("docs/page{i:02}.html"),
            &vec![b'p'; 100 + i * 30],
        );
    }
    write_file(&t, "docs/index.html", b"<html/>\n");
    write_file(&t, "live/filesystem.squashfs", &vec![0x33u8; 200_000]);
    write_file(&t, "README.txt", b"readme\n");
    let long = format!("{}end.txt", "a-very-long-file-name-for-joliet-".repeat(4));
    write_file(&t, &long, b"long\n");
    let n = t.join("n");
    std::fs::create_dir_all(&n).unwrap();
    // 2-, 3- and 4-byte UTF-8 sequences, stray bytes that are not UTF-8
    raw(&n, "é.txt".as_bytes(), b"1");
    raw(&n, "名前.txt".as_bytes(), b"2");
    raw(&n, "emoji-😀.md".as_bytes(), b"3");
    raw(&n, b"latin1-\xe9t\xe9.txt", b"4");
    raw(&n, b"\xff\xfe", b"5");
    // names that collide only after the byte mapping
    raw(&n, "Gr__e.txt".as_bytes(), b"6");
    raw(&n, "Grüe.txt".as_bytes(), b"7");
    raw(&n, "Grße.txt".as_bytes(), b"8");
    // a long non-ASCII name: Joliet's 103-unit cut counts bytes, not characters
    let long_utf8 = format!("{}-{}.text", "ü".repeat(40), "x".repeat(30));
    raw(&n, long_utf8.as_bytes(), b"9");
    std::fs::create_dir_all(t.join("dir-ünï")).unwrap();
    write_file(&t, "dir-ünï/f", b"f");
    symlink("../dir-ünï/f", n.join("link-→")).unwrap();
    touch_all(&t, 1735689600);
    let mut o = opts("DEMO_1_0", 1735689600);
    o.application_id = Some("verify-release démo".into());
    o.publisher_id = Some("ünïcode publisher".into());
    check(&t, &o, None);
}
