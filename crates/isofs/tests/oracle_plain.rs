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

fn chmod(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn names_long_nonascii_and_colliding_match_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    let long70 = format!("{}.txt", "n".repeat(70));
    let long120 = format!("{}.data", "L".repeat(120));
    let long200 = "x".repeat(200);
    let long255 = format!("{}.ext", "y".repeat(251));
    for n in [
        long70.as_str(),
        &long120,
        &long200,
        &long255,
        "Ünïcödé-名前.txt",
        "a.txt",
        "A.TXT",
        "a.Txt",
        "noext",
        "trailing.",
        ".hidden",
        "many.dots.in.name.tar.gz",
        "spaces and;semi:colon*?.md",
        "abcdefghijklmnopqrstuvwxyz0123456789.longextension",
        "abcdefghijklmnopqrstuvwxyz0123456789.c",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEG",
    ] {
        write_file(&t, &format!("d/{n}"), n.as_bytes());
    }
    std::fs::create_dir_all(t.join("dir.with.dots")).unwrap();
    std::fs::create_dir_all(t.join(format!("{}dir", "D".repeat(110)))).unwrap();
    std::fs::create_dir_all(t.join(format!("{}dis", "D".repeat(110)))).unwrap();
    write_file(&t, "exec.sh", b"#!/bin/sh\n");
    chmod(&t.join("exec.sh"), 0o750);
    write_file(&t, "secret", b"s");
    chmod(&t.join("secret"), 0o600);
    symlink(format!("../d/{long200}"), t.join("longlink")).unwrap();
    symlink(
        "/".to_string() + &"p/".repeat(200),
        t.join("manycomponents"),
    )
    .unwrap();
    symlink("./../x/./y/", t.join("dots")).unwrap();
    touch_all(&t, 1600000000);
    check(&t, &opts("Long Names", 1600000000), None);
}

#[test]
fn deep_wide_and_sizes_match_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    let mut deep = String::from("deep");
    for i in 0..12 {
        deep.push_str(&format!("/level{i}"));
    }
    write_file(&t, &format!("{deep}/leaf"), b"leaf");
    for i in 0..300 {
        write_file(
            &t,
            &format!("wide/file-with-a-longish-name-{i:04}.bin"),
            &vec![i as u8; i * 37],
        );
    }
    // long names make many continuation areas in one directory
    for i in 0..60 {
        write_file(&t, &format!("ce/{}{i:03}", "c".repeat(180)), b"x");
    }
    write_file(&t, "big", &vec![7u8; 3 * 2048 + 5]);
    write_file(&t, "exact", &vec![9u8; 4096]);
    touch_all(&t, 1234567890);
    check(&t, &opts("DEEP_WIDE", 1234567890), None);
}

#[test]
fn mtimes_other_than_epoch_and_ids_match_xorriso() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    write_file(&t, "old", b"old");
    write_file(&t, "sub/new", b"new");
    touch_all(&t, 1500000000);
    let st = std::process::Command::new("touch")
        .args(["-h", "-d", "@1000000000"])
        .arg(t.join("old"))
        .status()
        .unwrap();
    assert!(st.success());
    let mut o = opts("IDS", 1700000000);
    o.application_id = Some("my app 1.0".into());
    o.preparer_id = Some("prep, lower-case".into());
    o.publisher_id = Some("Publisher <x@y>".into());
    check(&t, &o, None);
}

#[test]
fn several_epochs_match_xorriso() {
    for epoch in [0i64, 946684800, 2147483648, 4102444800] {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t");
        write_file(&t, "f", b"f");
        write_file(&t, "s/g", b"");
        touch_all(&t, epoch);
        check(&t, &opts("EPOCHS", epoch), None);
    }
}
