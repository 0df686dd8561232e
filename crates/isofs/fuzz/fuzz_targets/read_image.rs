//! `cargo +nightly fuzz run read_image` (from crates/isofs): the reader must turn any
//! bytes into an image description or an error, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = isofs::read::Image::parse(&mut std::io::Cursor::new(data)) {
        let _ = img.describe(data.len() as u64 / 2);
    }
});
