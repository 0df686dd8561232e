//! The fetch stage against real loopback HTTP servers (tests/support/http.rs): the
//! cache, resuming, mirrors, refusing wrong or too many bytes, redirects, timeouts,
//! local sources. The verifier is a real SHA-256 check.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::http::{ranged_reply, serve_bytes, Reply, Server};
use verify_release::exit::{Exit, Failure};
use verify_release::fetch::{
    DigestMismatch, Expected, FetchError, FetchOptions, Fetched, Fetcher, Origin, Request,
    Sha256Check, Source, Verify,
};

const NAME: &str = "image-1.0.iso";
const ETAG: &str = "\"v1\"";

/// Deterministic, incompressible-looking test content.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

struct Env {
    _dir: tempfile::TempDir,
    cache: PathBuf,
    fetcher: Fetcher,
}

fn env_with(read_timeout: Duration) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut opts = FetchOptions::new(cache.clone());
    opts.read_timeout = read_timeout;
    opts.connect_timeout = Duration::from_secs(5);
    let fetcher = Fetcher::new(opts).unwrap();
    Env {
        _dir: dir,
        cache,
        fetcher,
    }
}

fn env() -> Env {
    env_with(Duration::from_secs(10))
}

fn request(sources: &[String], expected: Expected) -> Request {
    Request {
        file_name: NAME.to_string(),
        sources: sources.iter().map(|s| Source::parse(s).unwrap()).collect(),
        expected,
    }
}

fn exact(data: &[u8]) -> Expected {
    Expected {
        size: Some(data.len() as u64),
        sha256: Some(sha(data)),
    }
}

/// Fetches with a fresh `Sha256Check` of `good` per attempt; returns how many
/// verifiers were made.
fn fetch(
    env: &Env,
    req: &Request,
    good: &[u8],
) -> (Result<Fetched<[u8; 32]>, FetchError<DigestMismatch>>, usize) {
    let digest = sha(good);
    let mut made = 0;
    let mut new_verifier = || {
        made += 1;
        Ok(Box::new(Sha256Check::new(digest)))
    };
    let r = env.fetcher.fetch_verified(req, &mut new_verifier);
    (r, made)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_nothing_kept(cache: &Path) {
    assert_eq!(
        files_under(cache),
        Vec::<PathBuf>::new(),
        "nothing may stay in the cache"
    );
}

#[test]
fn happy_path_lands_in_the_content_addressed_cache_and_is_reverified_on_reuse() {
    let data = content(300_000, 1);
    let server = Server::start(serve_bytes(data.clone(), ETAG));
    let env = env();
    let req = request(&[server.url("/d/image-1.0.iso")], exact(&data));

    let (got, made) = fetch(&env, &req, &data);
    let got = got.unwrap();
    let want = env
        .cache
        .join("sha256")
        .join(hex::encode(sha(&data)))
        .join(NAME);
    assert_eq!(got.path, want);
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert_eq!(
        (got.size, got.sha256, got.verified),
        (data.len() as u64, sha(&data), sha(&data))
    );
    assert!(matches!(got.origin, Origin::Source(Source::Http(_))));
    assert_eq!(made, 1);
    assert_eq!(
        files_under(&env.cache.join("partial")),
        Vec::<PathBuf>::new()
    );

    // Reuse: no request, but a verifier still reads the cached copy.
    let (again, made) = fetch(&env, &req, &data);
    let again = again.unwrap();
    assert_eq!((again.origin, again.path), (Origin::Cache, want));
    assert_eq!(made, 1);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_corrupted_cached_copy_is_caught_removed_and_downloaded_again() {
    let data = content(50_000, 2);
    let server = Server::start(serve_bytes(data.clone(), ETAG));
    let env = env();
    let req = request(&[server.url("/image-1.0.iso")], exact(&data));
    let first = fetch(&env, &req, &data).0.unwrap();
    let mut bad = data.clone();
    bad[40_000] ^= 1;
    fs::write(&first.path, &bad).unwrap();

    let (got, made) = fetch(&env, &req, &data);
    let got = got.unwrap();
    assert!(matches!(got.origin, Origin::Source(_)));
    assert_eq!(
        made, 2,
        "the cached copy and the download each got a verifier"
    );
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert!(
        got.earlier_failures[0].starts_with("cached copy "),
        "{:?}",
        got.earlier_failures
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_dropped_connection_is_resumed_with_range_and_if_range() {
    let data = content(400_000, 3);
    let cut = 150_000;
    let body = data.clone();
    let mut n = 0;
    let server = Server::start(move |req| {
        n += 1;
        if n == 1 {
            Reply::ok(body.clone()).header("ETag", ETAG).cut_after(cut)
        } else {
            ranged_reply(&body, ETAG, req)
        }
    });
    let env = env();
    // Only the verifier knows the digest: it must see every byte exactly once.
    let req = request(
        &[server.url("/image-1.0.iso")],
        Expected {
            size: Some(data.len() as u64),
            sha256: None,
        },
    );
    let (got, made) = fetch(&env, &req, &data);
    let got = got.unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert_eq!(made, 2);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("Range"), None);
    assert_eq!(
        reqs[1].header("Range"),
        Some(format!("bytes={cut}-").as_str())
    );
    assert_eq!(reqs[1].header("If-Range"), Some(ETAG));
    assert_eq!(server.body_bytes_sent(), vec![cut, data.len() - cut]);
    assert_eq!(
        files_under(&env.cache.join("partial")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_part_left_by_a_failed_run_is_resumed_by_the_next_run() {
    let data = content(200_000, 4);
    let body = data.clone();
    let mut n = 0;
    let server = Server::start(move |req| {
        n += 1;
        match n {
            1 => Reply::ok(body.clone())
                .header("Last-Modified", "Tue, 14 Nov 2017 10:00:00 GMT")
                .cut_after(80_000),
            2 => Reply::status(503),
            // Honours If-Range against its Last-Modified date.
            _ => ranged_reply(&body, "Tue, 14 Nov 2017 10:00:00 GMT", req),
        }
    });
    let env = env();
    let req = request(&[server.url("/image-1.0.iso")], exact(&data));
    let (first, _) = fetch(&env, &req, &data);
    let e = first.unwrap_err();
    assert_eq!(e.exit(), Exit::Incomplete, "{e}");
    assert!(e.to_string().contains("http status 503"), "{e}");
    assert_eq!(
        files_under(&env.cache.join("partial")).len(),
        2,
        "part and its metadata stay"
    );

    let got = fetch(&env, &req, &data).0.unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].header("Range"), Some("bytes=80000-"));
    assert_eq!(server.body_bytes_sent()[2], data.len() - 80_000);
}

#[test]
fn retries_of_one_source_are_bounded_even_while_they_progress() {
    let data = content(100_000, 22);
    let body = data.clone();
    let server = Server::start(move |req| ranged_reply(&body, ETAG, req).cut_after(10_000));
    let env = env();
    let e = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap_err();
    assert_eq!(e.exit(), Exit::Incomplete, "{e}");
    assert!(e.to_string().contains("the transfer broke off"), "{e}");
    let ranges: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.header("Range").map(str::to_string))
        .collect();
    assert_eq!(
        ranges,
        [
            None,
            Some("bytes=10000-".into()),
            Some("bytes=20000-".into()),
            Some("bytes=30000-".into())
        ]
    );
    assert_eq!(
        files_under(&env.cache.join("partial")).len(),
        2,
        "kept for the next run"
    );
}

#[test]
fn a_broken_transfer_without_a_validator_is_not_kept() {
    let data = content(50_000, 23);
    let body = data.clone();
    let server = Server::start(move |_| Reply::ok(body.clone()).cut_after(20_000));
    let env = env();
    let e = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap_err();
    assert_eq!(e.exit(), Exit::Incomplete, "{e}");
    assert_eq!(server.requests().len(), 1, "nothing to resume from safely");
    assert_nothing_kept(&env.cache);
}

#[test]
fn a_partial_answer_starting_elsewhere_makes_the_download_start_over() {
    let data = content(80_000, 24);
    let body = data.clone();
    let mut n = 0;
    let server = Server::start(move |req| {
        n += 1;
        match n {
            1 => Reply::ok(body.clone())
                .header("ETag", ETAG)
                .cut_after(30_000),
            // Claims to resume, but from the wrong place.
            2 => Reply::new(206, body[10_000..].to_vec()).header(
                "Content-Range",
                &format!("bytes 10000-79999/{}", body.len()),
            ),
            _ => ranged_reply(&body, ETAG, req),
        }
    });
    let env = env();
    let got = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].header("Range"), Some("bytes=30000-"));
    assert_eq!(reqs[2].header("Range"), None);
}

#[test]
fn a_server_that_ignores_range_makes_the_download_start_over() {
    let data = content(120_000, 5);
    let body = data.clone();
    let mut n = 0;
    let server = Server::start(move |_req| {
        n += 1;
        let whole = Reply::ok(body.clone()).header("ETag", ETAG);
        if n == 1 {
            whole.cut_after(70_000)
        } else {
            whole
        }
    });
    let env = env();
    let req = request(
        &[server.url("/image-1.0.iso")],
        Expected {
            size: Some(data.len() as u64),
            sha256: None,
        },
    );
    let got = fetch(&env, &req, &data).0.unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("Range"),
        Some("bytes=70000-"),
        "it asked to resume"
    );
    assert_eq!(
        server.body_bytes_sent()[1],
        data.len(),
        "and got the whole body"
    );
}

#[test]
fn range_not_satisfiable_means_the_part_is_complete_when_the_lengths_agree() {
    // Size unknown: the client cannot tell the part is complete until the server says so.
    let data = content(90_000, 6);
    let body = data.clone();
    let mut n = 0;
    let server = Server::start(move |req| {
        n += 1;
        if n == 1 {
            // Announces more than it sends: the transfer looks interrupted.
            Reply::ok(body.clone())
                .header("ETag", ETAG)
                .announce(Some(body.len() as u64 + 10))
        } else {
            ranged_reply(&body, ETAG, req)
        }
    });
    let env = env();
    let req = request(&[server.url("/image-1.0.iso")], Expected::default());
    let (got, made) = fetch(&env, &req, &data);
    let got = got.unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert_eq!(made, 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("Range"), Some("bytes=90000-"));
    assert_eq!(server.body_bytes_sent()[1], 0);
}

#[test]
fn range_not_satisfiable_for_a_stale_part_restarts_from_zero() {
    let data = content(60_000, 7);
    let body = data.clone();
    let mut n = 0;
    let server = Server::start(move |_req| {
        n += 1;
        match n {
            1 => Reply::ok(body.clone())
                .header("ETag", ETAG)
                .cut_after(30_000),
            2 => Reply::new(416, Vec::new()).header("Content-Range", "bytes */20000"),
            _ => Reply::ok(body.clone()).header("ETag", ETAG),
        }
    });
    let env = env();
    let req = request(&[server.url("/image-1.0.iso")], exact(&data));
    let got = fetch(&env, &req, &data).0.unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].header("Range"), Some("bytes=30000-"));
    assert_eq!(reqs[2].header("Range"), None, "restarted without a range");
}

#[test]
fn a_mirror_that_answers_404_is_skipped_for_the_next() {
    let data = content(10_000, 8);
    let missing = Server::start(|_| Reply::status(404));
    let good = Server::start(serve_bytes(data.clone(), ETAG));
    let env = env();
    let sources = [missing.url("/m/image-1.0.iso"), good.url("/image-1.0.iso")];
    let req = request(&sources, exact(&data));
    let got = fetch(&env, &req, &data).0.unwrap();
    assert_eq!(
        got.origin,
        Origin::Source(Source::parse(&sources[1]).unwrap())
    );
    assert_eq!(got.earlier_failures.len(), 1);
    assert!(
        got.earlier_failures[0].contains("http status 404"),
        "{:?}",
        got.earlier_failures
    );
    assert_eq!(fs::read(&got.path).unwrap(), data);
}

#[test]
fn wrong_bytes_are_an_authenticity_failure_and_leave_nothing_behind() {
    let data = content(70_000, 9);
    let mut evil = data.clone();
    evil[12_345] ^= 0x80;
    let missing = Server::start(|_| Reply::status(404));
    let liar = Server::start(serve_bytes(evil, ETAG));
    let env = env();
    let sources = [missing.url("/image-1.0.iso"), liar.url("/image-1.0.iso")];
    let req = request(&sources, exact(&data));
    let e = fetch(&env, &req, &data).0.unwrap_err();
    assert_eq!(e.exit(), Exit::Authenticity, "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&sources[0]) && text.contains("http status 404"),
        "{text}"
    );
    assert!(
        text.contains(&sources[1]) && text.contains("sha256 mismatch"),
        "{text}"
    );
    assert_nothing_kept(&env.cache);
}

#[test]
fn network_failures_only_are_incomplete_and_every_url_is_named() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/image-1.0.iso", l.local_addr().unwrap())
    };
    let broken = Server::start(|_| Reply::status(500));
    let env = env();
    let sources = [closed.clone(), broken.url("/image-1.0.iso")];
    let data = content(100, 10);
    let e = fetch(&env, &request(&sources, exact(&data)), &data)
        .0
        .unwrap_err();
    assert_eq!(e.exit(), Exit::Incomplete);
    let text = e.to_string();
    assert!(
        text.starts_with("could not fetch image-1.0.iso; every source failed:"),
        "{text}"
    );
    assert!(text.contains(&closed), "{text}");
    assert!(text.contains("http status 500"), "{text}");
    assert!(text.contains("hint:"), "{text}");
}

#[test]
fn a_content_length_larger_than_expected_is_refused_before_the_body() {
    let data = content(5_000, 11);
    let mut longer = data.clone();
    longer.extend_from_slice(b"appended");
    let server = Server::start(serve_bytes(longer, ETAG));
    let env = env();
    let e = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("announced 5008 bytes, more than the 5000 expected"),
        "{e}"
    );
    assert_eq!(e.exit(), Exit::Authenticity);
    assert_nothing_kept(&env.cache);
}

#[test]
fn a_body_growing_past_the_expected_size_is_cut_off() {
    let data = content(300_000, 12);
    let mut longer = data.clone();
    longer.extend(content(500_000, 13));
    // No Content-Length: only counting can catch it.
    let server = Server::start(move |_| Reply::ok(longer.clone()).announce(None));
    let env = env();
    let e = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("body grew past the 300000 bytes expected"),
        "{e}"
    );
    assert_eq!(e.exit(), Exit::Authenticity);
    assert_nothing_kept(&env.cache);
}

#[test]
fn without_a_known_size_the_configured_cap_applies() {
    let data = content(3_000, 14);
    let server = Server::start(serve_bytes(data.clone(), ETAG));
    let dir = tempfile::tempdir().unwrap();
    let mut opts = FetchOptions::new(dir.path().to_path_buf());
    opts.max_size = 2_000;
    let fetcher = Fetcher::new(opts).unwrap();
    let req = request(&[server.url("/x")], Expected::default());
    let mut mk = || Ok(Box::new(Sha256Check::new(sha(&data))));
    let e = fetcher.fetch_verified(&req, &mut mk).unwrap_err();
    assert!(e.to_string().contains("more than the 2000 expected"), "{e}");
    assert_eq!(
        e.exit(),
        Exit::Incomplete,
        "a cap is not a fact about the release"
    );
}

#[test]
fn bytes_sent_past_the_announced_length_are_ignored() {
    let data = content(8_000, 15);
    let mut longer = data.clone();
    longer.extend_from_slice(&[0xee; 4_000]);
    let server = Server::start(move |_| Reply::ok(longer.clone()).announce(Some(8_000)));
    let env = env();
    let got = fetch(
        &env,
        &request(&[server.url("/x")], Expected::default()),
        &data,
    )
    .0
    .unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
}

#[test]
fn an_http_redirect_to_http_is_followed() {
    let data = content(4_000, 16);
    let body = data.clone();
    let server = Server::start(move |req| {
        if req.path == "/old/image-1.0.iso" {
            Reply::redirect(302, "/new/image-1.0.iso")
        } else {
            ranged_reply(&body, ETAG, req)
        }
    });
    let env = env();
    let got = fetch(
        &env,
        &request(&[server.url("/old/image-1.0.iso")], exact(&data)),
        &data,
    )
    .0
    .unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), data);
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/old/image-1.0.iso", "/new/image-1.0.iso"]);
}

#[test]
fn a_stalled_server_times_out_quickly_as_incomplete() {
    let data = content(1_000, 17);
    let server =
        Server::start(move |_| Reply::ok(vec![0; 1_000]).stall_before_head(Duration::from_secs(8)));
    let env = env_with(Duration::from_secs(1));
    let started = Instant::now();
    let e = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(e.exit(), Exit::Incomplete);
    assert!(
        e.to_string().contains("timed out (no response within 1 s)"),
        "{e}"
    );
}

#[test]
fn a_server_stalling_mid_body_times_out_and_the_part_is_kept_for_later() {
    let data = content(100_000, 18);
    let body = data.clone();
    let server = Server::start(move |req| {
        // The resumed request stalls before its first byte.
        let stall_at = if req.header("Range").is_some() {
            0
        } else {
            10_000
        };
        ranged_reply(&body, ETAG, req).stall_in_body(stall_at, Duration::from_secs(8))
    });
    let env = env_with(Duration::from_secs(1));
    let started = Instant::now();
    let e = fetch(&env, &request(&[server.url("/x")], exact(&data)), &data)
        .0
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(e.exit(), Exit::Incomplete);
    assert!(e.to_string().contains("no data within 1 s"), "{e}");
    // The first try made progress, so it was resumed once; the resumed try stalled
    // without progress and the source was given up.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("Range"), Some("bytes=10000-"));
    assert_eq!(files_under(&env.cache.join("partial")).len(), 2);
}

#[test]
fn file_urls_and_plain_paths_are_sources() {
    let data = content(20_000, 19);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("mirror").join(NAME);
    fs::create_dir_all(local.parent().unwrap()).unwrap();
    fs::write(&local, &data).unwrap();
    let file_url = url::Url::from_file_path(&local).unwrap().to_string();

    for source in [file_url, local.to_str().unwrap().to_string()] {
        let env = env();
        let got = fetch(
            &env,
            &request(std::slice::from_ref(&source), exact(&data)),
            &data,
        )
        .0
        .unwrap();
        assert_eq!(
            got.origin,
            Origin::Source(Source::Local(local.clone())),
            "{source}"
        );
        assert!(
            got.path.starts_with(env.cache.join("sha256")),
            "copied into the cache"
        );
        assert_eq!(fs::read(&got.path).unwrap(), data);
    }

    let mirror = Source::under_mirror(dir.path().join("mirror").to_str().unwrap(), NAME).unwrap();
    assert_eq!(mirror, Source::Local(local.clone()));

    // A local copy with other bytes is refused like a download would be.
    let mut other = data.clone();
    other[0] ^= 1;
    fs::write(&local, &other).unwrap();
    let env = env();
    let e = fetch(
        &env,
        &request(&[local.to_str().unwrap().into()], exact(&data)),
        &data,
    )
    .0
    .unwrap_err();
    assert_eq!(e.exit(), Exit::Authenticity, "{e}");
    assert_nothing_kept(&env.cache);
}

#[test]
fn a_local_image_is_verified_in_place() {
    let data = content(5_000_000, 20);
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("mine.iso");
    fs::write(&image, &data).unwrap();
    let env = env();
    let mut mk = || Ok(Box::new(Sha256Check::new(sha(&data))));
    let got = env
        .fetcher
        .verify_local(&image, &exact(&data), &mut mk)
        .unwrap();
    assert_eq!(
        (got.path.as_path(), got.origin, got.size),
        (image.as_path(), Origin::Local, 5_000_000)
    );
    assert_nothing_kept(&env.cache);

    let mut mk = || Ok(Box::new(Sha256Check::new([0; 32])));
    let e = env
        .fetcher
        .verify_local(&image, &Expected::default(), &mut mk)
        .unwrap_err();
    assert_eq!(e.exit(), Exit::Authenticity, "{e}");
    assert!(
        e.to_string()
            .contains("mine.iso was rejected: verification failed"),
        "{e}"
    );

    let e = env
        .fetcher
        .verify_local(
            &dir.path().join("absent.iso"),
            &Expected::default(),
            &mut mk,
        )
        .unwrap_err();
    assert_eq!(e.exit(), Exit::Incomplete, "{e}");
    assert!(e.to_string().contains("absent.iso"), "{e}");
}

/// The verifier may be a trait object, which is how the authenticate stage plugs in.
#[test]
fn a_boxed_dyn_verifier_works() {
    type Dyn = dyn Verify<Output = [u8; 32], Error = DigestMismatch>;
    let data = content(1_000, 21);
    let server = Server::start(serve_bytes(data.clone(), ETAG));
    let env = env();
    let digest = sha(&data);
    let mut mk = || Ok(Box::new(Sha256Check::new(digest)) as Box<Dyn>);
    let got = env
        .fetcher
        .fetch_verified(&request(&[server.url("/x")], Expected::default()), &mut mk)
        .unwrap();
    assert_eq!(got.verified, digest);
}

#[test]
fn small_files_are_fetched_into_memory_with_a_cap() {
    let sig = b"-----BEGIN PGP SIGNATURE-----\n...\n".to_vec();
    let server = Server::start(serve_bytes(sig.clone(), ETAG));
    let env = env();
    assert_eq!(
        env.fetcher
            .fetch_small(&server.url("/a.sig"), 1 << 20)
            .unwrap(),
        sig
    );
    let e = env
        .fetcher
        .fetch_small(&server.url("/a.sig"), 10)
        .unwrap_err();
    assert!(e.to_string().contains("larger than 10 bytes"), "{e}");
    // Without a Content-Length the cap still holds.
    let big = Server::start(|_| Reply::ok(vec![b'x'; 5_000]).announce(None));
    let e = env.fetcher.fetch_small(&big.url("/k"), 4_096).unwrap_err();
    assert!(e.to_string().contains("larger than 4096 bytes"), "{e}");
    let missing = Server::start(|_| Reply::status(404));
    let e = env
        .fetcher
        .fetch_small(&missing.url("/k"), 4_096)
        .unwrap_err();
    assert_eq!(e.exit(), Exit::Incomplete);
    assert!(e.to_string().contains("http status 404"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("key.asc");
    fs::write(&p, b"key").unwrap();
    assert_eq!(
        env.fetcher.fetch_small(p.to_str().unwrap(), 3).unwrap(),
        b"key"
    );
    assert!(env.fetcher.fetch_small(p.to_str().unwrap(), 2).is_err());
}

#[test]
fn hostile_file_names_are_refused() {
    let env = env();
    let mut req = request(&[], Expected::default());
    for bad in ["../escape", "a/b", "", ".."] {
        req.file_name = bad.to_string();
        let e = fetch(&env, &req, b"").0.unwrap_err();
        assert!(matches!(e, FetchError::BadFileName { .. }), "{bad}: {e}");
    }
}
