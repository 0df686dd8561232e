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

/// Output of a partitioning tool run on `iso` (LC_ALL=C), with `input` on stdin.
fn tool(cmd: &str, args: &[&str], iso: &Path, input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .arg(iso)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} is required (apt-get install -y fdisk gdisk): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fields after "<label> :" on each line starting with `label`.
fn fields<'a>(text: &'a str, label: &str) -> Vec<Vec<&'a str>> {
    text.lines()
        .filter(|l| l.starts_with(label))
        .filter_map(|l| l.split_once(':'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn reader_parses_hybrid_mbr_gpt_and_partition_trees_like_xorriso_fdisk_gdisk() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    live_tree(&t, Some(1440));
    touch_all(&t, 1700000000);
    let iso = d.path().join("x.iso");
    xorriso_to_file(&t, &iso, &hybrid_opts("HYBRID", 1700000000, true), mbr());
    let img = isofs::read::Image::parse(&mut std::fs::File::open(&iso).unwrap()).unwrap();

    // xorriso's own view of the system area
    require_tool("xorriso");
    let o = Command::new("xorriso")
        .arg("-indev")
        .arg(&iso)
        .args(["-report_system_area", "plain"])
        .output()
        .unwrap();
    let rep = String::from_utf8_lossy(&o.stdout).into_owned();
    let mbr_rows = fields(&rep, "MBR partition      ");
    assert_eq!(mbr_rows.len(), img.mbr.len(), "{rep}");
    for (row, p) in mbr_rows.iter().zip(&img.mbr) {
        assert_eq!(row[0], p.index.to_string(), "{rep}");
        assert_eq!(row[1], format!("0x{:02x}", p.status), "{rep}");
        assert_eq!(row[2], format!("0x{:02x}", p.ptype), "{rep}");
        assert_eq!(row[3], p.start_lba.to_string(), "{rep}");
        assert_eq!(row[4], p.sectors.to_string(), "{rep}");
    }
    assert_eq!(
        fields(&rep, "Partition offset   "),
        vec![vec![img.partition_offset.unwrap().to_string().as_str()]]
    );
    let h = img.gpt_header.as_ref().expect("a GPT header");
    assert!(h.header_crc_ok && h.entries_crc_ok && h.backup_ok, "{h:?}");
    assert_eq!(
        fields(&rep, "GPT disk GUID      "),
        vec![vec![hex(&h.disk_guid).as_str()]]
    );
    assert_eq!(
        fields(&rep, "GPT lba range      "),
        vec![vec![
            h.first_usable.to_string().as_str(),
            h.last_usable.to_string().as_str(),
            h.backup_lba.to_string().as_str()
        ]]
    );
    assert_eq!(
        fields(&rep, "GPT entry array    ")[0][..2],
        [
            h.entries_lba.to_string().as_str(),
            h.entry_count.to_string().as_str()
        ]
    );
    let names = fields(&rep, "GPT partname local ");
    let guids = fields(&rep, "GPT partition GUID ");
    let types = fields(&rep, "GPT type GUID      ");
    let flags = fields(&rep, "GPT partition flags");
    let ranges = fields(&rep, "GPT start and size ");
    assert_eq!(img.gpt.len(), 2, "{:?}", img.gpt);
    for (i, p) in img.gpt.iter().enumerate() {
        assert_eq!(
            names[i],
            [p.index.to_string().as_str(), p.name.as_str()],
            "{rep}"
        );
        assert_eq!(guids[i][1], hex(&p.guid), "{rep}");
        assert_eq!(types[i][1], hex(&p.type_guid), "{rep}");
        assert_eq!(flags[i][1], format!("0x{:016x}", p.flags), "{rep}");
        assert_eq!(
            ranges[i][1..],
            [
                p.first_lba.to_string().as_str(),
                (p.last_lba - p.first_lba + 1).to_string().as_str()
            ],
            "{rep}"
        );
    }

    // fdisk: the MBR ("x.iso1 * 64 4095 4032 2M 0 Empty") and its disk identifier
    let f = tool("fdisk", &["-l"], &iso, "");
    assert!(
        f.contains(&format!("Disk identifier: 0x{:08x}", img.mbr_id.unwrap())),
        "{f}"
    );
    for p in &img.mbr {
        let dev = format!("{}{}", iso.display(), p.index);
        let row = f
            .lines()
            .find(|l| l.starts_with(&dev))
            .unwrap_or_else(|| panic!("{dev} not in {f}"));
        let mut w: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(w[1] == "*", p.bootable, "{row}");
        if w[1] == "*" {
            w.remove(1);
        }
        assert_eq!(w[1], p.start_lba.to_string(), "{row}");
        assert_eq!(w[2], (p.start_lba + p.sectors - 1).to_string(), "{row}");
        assert_eq!(w[3], p.sectors.to_string(), "{row}");
        assert_eq!(w[5], format!("{:x}", p.ptype), "{row}");
    }

    // gdisk (answering "use the GPT"): a valid GPT with the same entries
    let g = tool("gdisk", &["-l"], &iso, "2\n");
    assert!(g.contains("Found valid MBR and GPT"), "{g}");
    for p in &img.gpt {
        let row = format!("{:>4} {:>15} {:>15}", p.index, p.first_lba, p.last_lba);
        assert!(
            g.contains(&row) && g.contains(&p.name),
            "{row:?} not in {g}"
        );
    }
    assert!(g.contains(&format!(
        "First usable sector is {}, last usable sector is {}",
        h.first_usable, h.last_usable
    )));

    // the second descriptor set and tree copies are named
    let part = img.partition_offset.unwrap() as u64;
    let pvd2 = (part + 16) * 2048;
    assert!(
        img.describe(pvd2)
            .starts_with("partition set: primary volume descriptor"),
        "{}",
        img.describe(pvd2)
    );
    let root2 = img
        .tree_files("iso (partition)")
        .find(|f| f.path == "/")
        .expect("partition tree root");
    assert!(img
        .describe(root2.lba as u64 * 2048)
        .contains("iso (partition) directory records of /"));
    let jroot2 = img
        .tree_files("joliet (partition)")
        .find(|f| f.path == "/")
        .unwrap();
    assert!(img
        .describe(jroot2.lba as u64 * 2048)
        .contains("joliet (partition) directory records of /"));
    // both copies list the same files at the same (absolute) extents
    let files = |tree: &str| -> Vec<(String, u32, u32)> {
        let mut v: Vec<_> = img
            .tree_files(tree)
            .filter(|f| !f.is_dir)
            .map(|f| (f.path.clone(), f.lba, f.size))
            .collect();
        v.sort();
        v
    };
    assert_eq!(files("iso"), files("iso (partition)"));
    assert_eq!(files("joliet"), files("joliet (partition)"));
    assert!(files("iso").len() >= 5);
    let end = img.size - 512;
    assert!(
        img.describe(end).starts_with("backup GPT header"),
        "{}",
        img.describe(end)
    );
    assert!(img.describe(1024).starts_with("GPT partition entries"));
}

#[test]
fn long_mbr_templates_match_xorriso() {
    // xorriso copies up to 32 KiB of the template into the system area; what the MBR
    // fields and the GPT do not overwrite stays.
    let d = tempfile::tempdir().unwrap();
    let mut tpl = read_tool_file(ISOHDPFX);
    tpl.extend((0..20_000u32).map(|i| (i % 251) as u8 | 1));
    let tpl_path = d.path().join("long-template.bin");
    std::fs::write(&tpl_path, &tpl).unwrap();
    for efi in [false, true] {
        let t = d.path().join(format!("t{efi}"));
        live_tree(&t, efi.then_some(64));
        touch_all(&t, 1700000000);
        let mut o = hybrid_opts("TEMPLATE", 1700000000, efi);
        o.boot.as_mut().unwrap().isohybrid_mbr = Some(tpl.clone());
        check(&t, &o, Some(&tpl_path));
    }
}
