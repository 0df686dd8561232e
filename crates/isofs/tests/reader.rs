//! The reader checked against xorriso's own `report_lba` and isoinfo's listing,
//! and fed mutated images (it must return errors, never panic, and stay bounded).
mod common;
use common::*;
use isofs::read::Image;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::process::Command;

fn sample_image() -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    write_file(&t, "a/f.txt", b"hello\n");
    write_file(&t, "empty", b"");
    write_file(&t, "big.bin", &vec![3u8; 10000]);
    write_file(&t, &format!("d/{}", "long".repeat(40)), b"long name");
    std::os::unix::fs::symlink("a/f.txt", t.join("ln")).unwrap();
    std::fs::hard_link(t.join("a/f.txt"), t.join("hard")).unwrap();
    touch_all(&t, 1700000000);
    let mut o = opts("READER", 1700000000);
    o.boot = None;
    ours(&t, &o)
}

#[test]
fn reader_agrees_with_xorriso_report_lba_and_isoinfo() {
    require_tool("xorriso");
    let img = sample_image();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.iso");
    std::fs::write(&p, &img).unwrap();
    let parsed = Image::parse(&mut std::io::Cursor::new(&img)).unwrap();
    let ours: BTreeMap<String, (u32, u32)> = parsed
        .tree_files("iso")
        .filter(|f| !f.is_dir)
        .map(|f| (f.path.clone(), (f.lba, f.size)))
        .collect();
    // xorriso: "File data lba:  0 ,  33 ,  1 ,  6 , '/a/f.txt'"
    let out = Command::new("xorriso")
        .args(["-indev"])
        .arg(&p)
        .args(["-find", "/", "-exec", "report_lba"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut n = 0;
    for line in text.lines().filter(|l| l.starts_with("File data lba:")) {
        let parts: Vec<&str> = line["File data lba:".len()..]
            .split(',')
            .map(|s| s.trim())
            .collect();
        let lba: u32 = parts[1].parse().unwrap();
        let size: u32 = parts[3].parse().unwrap();
        let path = parts[4].trim_matches('\'').to_string();
        assert_eq!(ours.get(&path), Some(&(lba, size)), "{path}");
        n += 1;
    }
    assert!(n >= 5, "xorriso reported only {n} files:\n{text}");
    // isoinfo -l -R: "[     33 00]  hard"
    require_tool("isoinfo");
    let out = Command::new("isoinfo")
        .args(["-l", "-R", "-i"])
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut dir = String::new();
    let mut m = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Directory listing of ") {
            dir = rest.trim_end_matches('/').to_string();
            continue;
        }
        let Some(close) = line.find(']') else {
            continue;
        };
        let Some(open) = line.find('[') else { continue };
        let lba: u32 = line[open + 1..close]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let name = line[close + 1..]
            .trim()
            .split(" -> ")
            .next()
            .unwrap()
            .to_string();
        if name == "." || name == ".." || line.starts_with('d') {
            continue;
        }
        let path = format!("{dir}/{name}");
        assert_eq!(ours.get(&path).map(|e| e.0), Some(lba), "{path}");
        m += 1;
    }
    assert!(m >= 5, "isoinfo listed only {m} files:\n{text}");
    // Joliet tree has the same files except the symlink
    assert!(parsed.tree_files("joliet").any(|f| f.path == "/a/f.txt"));
    assert!(!parsed.tree_files("joliet").any(|f| f.path == "/ln"));
}

#[test]
fn describe_names_structures() {
    let img = sample_image();
    let parsed = Image::parse(&mut std::io::Cursor::new(&img)).unwrap();
    assert!(parsed
        .describe(16 * 2048 + 830)
        .contains("volume modification date"));
    let f = parsed
        .tree_files("iso")
        .find(|f| f.path == "/big.bin")
        .unwrap();
    let d = parsed.describe(f.lba as u64 * 2048 + 100);
    assert!(d.contains("/big.bin") && d.ends_with("at byte 100"), "{d}");
    assert!(parsed.describe(100).contains("system area"));
}

#[test]
fn truncated_and_looping_images_are_errors() {
    let img = sample_image();
    for cut in [0usize, 100, 16 * 2048, 17 * 2048 + 7, 20 * 2048] {
        assert!(
            Image::parse(&mut std::io::Cursor::new(&img[..cut])).is_err(),
            "cut {cut}"
        );
    }
    // make the first subdirectory of the root point back at the root
    let parsed = Image::parse(&mut std::io::Cursor::new(&img)).unwrap();
    let root = parsed
        .files
        .iter()
        .find(|f| f.path == "/" && f.tree == "iso")
        .unwrap()
        .lba;
    let a = parsed
        .files
        .iter()
        .find(|f| f.path == "/a" && f.tree == "iso")
        .unwrap()
        .lba;
    let mut bad = img.clone();
    let base = a as usize * 2048;
    // "." record of /a is first; change its child dir records: point "/a" itself back at root
    let rootdir = root as usize * 2048;
    let mut pos = rootdir;
    loop {
        let len = bad[pos] as usize;
        assert!(len > 0);
        if u32::from_le_bytes(bad[pos + 2..pos + 6].try_into().unwrap()) == a {
            bad[pos + 2..pos + 6].copy_from_slice(&root.to_le_bytes());
            break;
        }
        pos += len;
    }
    let _ = base;
    let e = Image::parse(&mut std::io::Cursor::new(&bad)).unwrap_err();
    assert!(e.to_string().contains("loop"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn mutated_images_never_panic(muts in proptest::collection::vec((16usize * 2048..40 * 2048, any::<u8>()), 1..40)) {
        static IMG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let base = IMG.get_or_init(sample_image);
        let mut img = base.clone();
        for (off, b) in muts {
            if off < img.len() {
                img[off] = b;
            }
        }
        let r = Image::parse(&mut std::io::Cursor::new(&img));
        if let Ok(i) = r {
            let _ = i.describe(0);
            prop_assert!(i.regions.len() < 5_000_000);
        }
    }
}

/// A small hybrid image (isohybrid MBR, GPT, second descriptor set) from our writer.
fn hybrid_sample() -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    let isolinux = std::fs::read("/usr/lib/ISOLINUX/isolinux.bin")
        .expect("/usr/lib/ISOLINUX/isolinux.bin is required (apt-get install -y isolinux)");
    let mbr = std::fs::read("/usr/lib/ISOLINUX/isohdpfx.bin")
        .expect("/usr/lib/ISOLINUX/isohdpfx.bin is required (apt-get install -y isolinux)");
    write_file(&t, "isolinux/isolinux.bin", &isolinux);
    write_file(&t, "efi.img", &vec![0xefu8; 4 * 2048]);
    write_file(&t, &format!("d/{}", "long".repeat(40)), b"long name");
    touch_all(&t, 1700000000);
    let mut o = opts("HYB", 1700000000);
    o.boot = Some(boot(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
        Some("efi.img"),
        Some(mbr),
    ));
    ours(&t, &o)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn mutated_hybrid_images_never_panic(muts in proptest::collection::vec((0usize..60 * 2048, any::<u8>()), 1..40)) {
        static IMG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let base = IMG.get_or_init(hybrid_sample);
        let mut img = base.clone();
        for (off, b) in muts {
            if off < img.len() {
                img[off] = b;
            }
        }
        if let Ok(i) = Image::parse(&mut std::io::Cursor::new(&img)) {
            let _ = i.describe(0);
            prop_assert!(i.regions.len() < 5_000_000);
        }
    }
}

#[test]
fn hybrid_sample_parses_with_both_descriptor_sets() {
    let img = hybrid_sample();
    let parsed = Image::parse(&mut std::io::Cursor::new(&img)).unwrap();
    assert_eq!(parsed.partition_offset, Some(16));
    let h = parsed.gpt_header.as_ref().unwrap();
    assert!(h.header_crc_ok && h.entries_crc_ok && h.backup_ok);
    // a broken backup GPT is noticed, not fatal
    let mut bad = img.clone();
    let n = bad.len();
    bad[n - 512 + 40] ^= 1;
    let p = Image::parse(&mut std::io::Cursor::new(&bad)).unwrap();
    assert!(!p.gpt_header.unwrap().backup_ok);
}
