//! The bundled demo release and the real binary, as the end-to-end tests use them.

use std::path::{Path, PathBuf};
use std::process::Output;

/// testdata/demo.
pub fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo")
}

/// The demo catalog's path, as a command-line argument.
pub fn catalog() -> String {
    demo().join("catalog.toml").display().to_string()
}

/// The one JSON document a `--json` run printed on stdout.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
