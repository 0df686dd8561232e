//! Feeds arbitrary bytes to the reader: it must return errors, never panic.
//! Run with `cargo +nightly fuzz run read_image` from crates/squashfs.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use squashfs::read::Image;

fuzz_target!(|data: &[u8]| {
    let Ok(mut image) = Image::open(Cursor::new(data.to_vec())) else {
        return;
    };
    let Ok(entries) = image.entries() else {
        return;
    };
    let map = image.data_map(&entries);
    for e in &entries {
        let _ = image.read_file(&e.inode, &mut std::io::sink(), 1 << 20);
    }
    let _ = map.locate(data.len() as u64 / 2);
});
