//! Times each stage of a build (for scripts/bench-build.sh and profiling): prints, on
//! stderr, when each stage started and how long it took, then the image's SHA-256.
//!
//! Usage: cargo run --release -p builder --example stage-times -- SOURCE_DIR OUTPUT [THREADS]

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: stage-times SOURCE_DIR OUTPUT [THREADS]");
        std::process::exit(2);
    }
    let threads = args.get(3).and_then(|t| t.parse().ok());
    let started = Instant::now();
    let mut current: Option<(builder::Stage, Instant)> = None;
    let mut first_report = None;
    let opts = builder::BuildOptions { threads };
    let result = builder::build_with(
        &PathBuf::from(&args[1]),
        &PathBuf::from(&args[2]),
        &opts,
        &mut |stage, _done, _total| {
            first_report.get_or_insert_with(|| started.elapsed());
            if current.as_ref().is_none_or(|(s, _)| s != stage) {
                if let Some((s, t)) = current.take() {
                    eprintln!("{:>8.2}s  {s:?}", t.elapsed().as_secs_f64());
                }
                current = Some((stage.clone(), Instant::now()));
            }
        },
    );
    if let Some((s, t)) = current {
        eprintln!("{:>8.2}s  {s:?} (incl. hashing)", t.elapsed().as_secs_f64());
    }
    if let Some(f) = first_report {
        eprintln!(
            "{:>8.2}s  before the first progress report (recipe, scan)",
            f.as_secs_f64()
        );
    }
    eprintln!("{:>8.2}s  total", started.elapsed().as_secs_f64());
    match result {
        Ok(b) => println!("{}  {}", b.sha256, b.path.display()),
        Err(e) => {
            eprintln!("stage-times: {e}");
            std::process::exit(4);
        }
    }
}
