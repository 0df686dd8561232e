//! The compare stage's parsers (ISO 9660 + system area + SquashFS localisation, content
//! summary) on arbitrary bytes: the input is split in two "images", which are parsed,
//! compared tree against tree, and located at a spread of offsets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cut = data
        .first()
        .map(|&b| b as usize * data.len() / 256)
        .unwrap_or(0);
    let (a, b) = data.split_at(cut.min(data.len()));
    let len = data.len() as u64;
    let offsets: Vec<u64> = (0..32).map(|i| len * i / 32).collect();
    let _ = verify_release::compare::locate_in_memory(a, b, &offsets);
    let _ = verify_release::compare::locate_in_memory(data, data, &offsets);
});
