//! Debug aid: `mksqfs <dir> <out> <gzip|xz> [block_size] [threads]` builds an image
//! of `dir` the way the oracle tests do (uid/gid 0, SOURCE_DATE_EPOCH from the env).
use std::fs::File;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: mksqfs <dir> <out> <gzip|xz> [block_size] [threads]");
        std::process::exit(2);
    }
    let comp = match args[3].as_str() {
        "gzip" => squashfs::Compression::Gzip,
        "xz" => squashfs::Compression::Xz,
        other => {
            eprintln!("unknown compression {other}");
            std::process::exit(2);
        }
    };
    let epoch: u32 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut tree = match fstree::Tree::scan(std::path::Path::new(&args[1])) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for n in &mut tree.nodes {
        n.uid = 0;
        n.gid = 0;
    }
    let mut opts = squashfs::Options::new(comp, epoch);
    if let Some(b) = args.get(4) {
        opts.block_size = b.parse().unwrap_or(131072);
    }
    if let Some(t) = args.get(5) {
        opts.threads = t.parse().unwrap_or(1);
    }
    let mut out = match File::create(&args[2]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot create {}: {e}", args[2]);
            std::process::exit(1);
        }
    };
    match squashfs::write(&tree, &mut out, &opts, &mut |_, _| {}) {
        Ok(s) => println!("{} bytes, {} inodes", s.image_size, s.superblock.inodes),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
