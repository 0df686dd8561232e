//! Downloading over http(s): the client, redirects, ranges and resuming.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use url::Url;

use super::cache::{Meta, Part, Validator};
use super::error::{chain, Failed, FetchError, SetupError, SmallFetchError};
use super::stream::{pump, Done, Limit, PumpError, Tee, BLOCK};
use super::verify::Verify;
use super::{cache_err, FetchOptions, Fetcher, Request, Stop, VerifierFactory};
use crate::progress::Progress;
use crate::untrusted::Untrusted;

/// More hops than any sane mirror network needs.
pub const MAX_REDIRECTS: usize = 10;

/// How often one source is tried again in a row (after an interrupted transfer that
/// made progress, or a range answer that forces a restart).
const TRIES_PER_SOURCE: usize = 4;

/// A redirect that is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    #[error("refused a redirect from https to {to}; hint: the server tried to downgrade to plain http, use an https mirror")]
    Downgrade { to: Untrusted },
    #[error("refused a redirect to {to}: only http and https are followed")]
    Scheme { to: Untrusted },
    #[error("refused to follow more than {MAX_REDIRECTS} redirects")]
    TooMany,
}

/// Whether to follow a redirect to `next`, given the URLs requested so far in the
/// chain (the first one included). Once https, always https.
pub fn check_redirect(previous: &[Url], next: &Url) -> Result<(), RedirectRefused> {
    let to = || Untrusted::new(next.as_str());
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectRefused::TooMany);
    }
    match next.scheme() {
        "https" => Ok(()),
        "http" if previous.iter().any(|u| u.scheme() == "https") => {
            Err(RedirectRefused::Downgrade { to: to() })
        }
        "http" => Ok(()),
        _ => Err(RedirectRefused::Scheme { to: to() }),
    }
}

/// The client: our redirect rule, no content decoding, timeouts from the options.
/// (In reqwest's blocking client, `timeout` bounds each wait: for the response head
/// and for every read of the body, which makes it an idle timeout.)
pub(super) fn client(opts: &FetchOptions) -> Result<Client, SetupError> {
    Client::builder()
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.read_timeout)
        .redirect(Policy::custom(|attempt| {
            match check_redirect(attempt.previous(), attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        }))
        .user_agent(concat!("verify-release/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SetupError::Client { detail: chain(&e) })
}

/// What the server said about the range it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete` (complete `*` = unknown).
    Range {
        first: u64,
        last: u64,
        complete: Option<u64>,
    },
    /// `bytes */complete`, sent with 416.
    Unsatisfied { complete: u64 },
}

pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?.trim_start();
    let (range, complete) = rest.split_once('/')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if range.trim() == "*" {
        return Some(ContentRange::Unsatisfied {
            complete: number(complete)?,
        });
    }
    let (first, last) = range.split_once('-')?;
    let (first, last) = (number(first)?, number(last)?);
    let complete = match complete.trim() {
        "*" => None,
        c => Some(number(c)?),
    };
    if last < first || complete.is_some_and(|c| last >= c) {
        return None;
    }
    Some(ContentRange::Range {
        first,
        last,
        complete,
    })
}

/// The validator to send back in `If-Range`: a strong ETag, else Last-Modified.
fn validator(headers: &HeaderMap) -> Option<Validator> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::ETAG) {
        Some(tag) if tag.starts_with('"') => Some(Validator::ETag(tag.to_string())),
        _ => text(header::LAST_MODIFIED).map(|d| Validator::LastModified(d.to_string())),
    }
}

fn request_failure<E>(e: &reqwest::Error, opts: &FetchOptions) -> Failed<E> {
    if e.is_timeout() {
        let (what, limit) = if e.is_connect() {
            ("no connection", opts.connect_timeout)
        } else {
            ("no response", opts.read_timeout)
        };
        Failed::Timeout {
            detail: format!("{what} within {}", seconds(limit)),
        }
    } else {
        Failed::Transport { detail: chain(e) }
    }
}

fn read_failure<E>(e: &io::Error, opts: &FetchOptions) -> Failed<E> {
    let timed_out = e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout);
    if timed_out {
        Failed::Timeout {
            detail: format!("no data within {}", seconds(opts.read_timeout)),
        }
    } else {
        Failed::Transport {
            detail: format!("the transfer broke off: {}", chain(e)),
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// How one request ended, when it did not deliver.
enum Step<E> {
    Stop(Stop<E>),
    /// The range answer does not fit the part: start again without a range.
    Restart,
    /// The transfer broke off; `progressed` says whether bytes were added to the part.
    Interrupted {
        failure: Failed<E>,
        progressed: bool,
    },
}

impl<E> From<Stop<E>> for Step<E> {
    fn from(s: Stop<E>) -> Self {
        Step::Stop(s)
    }
}

fn failed<E>(f: Failed<E>) -> Step<E> {
    Step::Stop(Stop::Source(f))
}

fn fatal<E>(e: FetchError<E>) -> Step<E> {
    Step::Stop(Stop::Fatal(e))
}

/// Where a resumed download starts and the validator that guards the splice.
struct Resume {
    offset: u64,
    validator: Validator,
}

impl Fetcher {
    /// Tries one URL, resuming and retrying it while that makes progress.
    pub(super) fn try_http<V: Verify + ?Sized>(
        &self,
        url: &Url,
        req: &Request,
        part: &Part,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
    ) -> Result<Done<V::Output>, Stop<V::Error>> {
        let mut allow_resume = true;
        let mut last = None;
        for _ in 0..TRIES_PER_SOURCE {
            let resume = if allow_resume {
                resume_point(part, url, req)
            } else {
                None
            };
            match self.http_once(url, req, part, resume, new_verifier, progress) {
                Ok(done) => return Ok(done),
                Err(Step::Stop(stop)) => return Err(stop),
                Err(Step::Restart) => {
                    allow_resume = false;
                    last = Some(Failed::Protocol {
                        detail: "the server's answers to range requests kept changing".into(),
                    });
                }
                Err(Step::Interrupted {
                    failure,
                    progressed,
                }) => {
                    if !progressed {
                        return Err(Stop::Source(failure));
                    }
                    allow_resume = true;
                    last = Some(failure);
                }
            }
        }
        Err(Stop::Source(last.unwrap_or(Failed::Protocol {
            detail: "gave up".into(),
        })))
    }

    /// One GET, possibly a ranged one.
    fn http_once<V: Verify + ?Sized>(
        &self,
        url: &Url,
        req: &Request,
        part: &Part,
        resume: Option<Resume>,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
    ) -> Result<Done<V::Output>, Step<V::Error>> {
        let mut get = self
            .client
            .get(url.clone())
            .header(header::ACCEPT_ENCODING, "identity");
        if let Some(r) = &resume {
            get = get
                .header(header::RANGE, format!("bytes={}-", r.offset))
                .header(header::IF_RANGE, r.validator.header_value());
        }
        let response = get
            .send()
            .map_err(|e| failed(request_failure(&e, &self.opts)))?;
        let limit = Limit::new(&req.expected, self.opts.max_size);
        let offset = match (response.status(), &resume) {
            (StatusCode::OK, _) => 0,
            (StatusCode::PARTIAL_CONTENT, Some(r)) => {
                check_partial(&response, r.offset, req, limit)?;
                r.offset
            }
            (StatusCode::RANGE_NOT_SATISFIABLE, Some(r)) => {
                return self.unsatisfiable(&response, r.offset, req, part, new_verifier, progress);
            }
            (StatusCode::PARTIAL_CONTENT, None) => {
                return Err(failed(Failed::Protocol {
                    detail: "partial content for a request without a range".into(),
                }))
            }
            (status, _) => {
                return Err(failed(Failed::Status {
                    code: status.to_string(),
                }))
            }
        };
        check_announced_length(&response, offset, req, limit)?;
        let mut out = if offset == 0 {
            start_part(part, url, response.headers())?
        } else {
            continue_part(part, offset)?
        };
        let verifier = new_verifier().map_err(|e| fatal(FetchError::Verifier(e)))?;
        let mut tee = Tee::new(verifier, limit, progress);
        let mut buf = vec![0u8; BLOCK];
        if offset > 0 {
            feed_part(part, &mut tee, &mut buf)?;
        }
        let mut body = response;
        let pumped = pump(
            &mut body as &mut dyn Read,
            &mut tee,
            Some(&mut out),
            &mut buf,
        );
        let result = match pumped {
            Ok(()) => tee.finish(&req.expected).map_err(failed),
            Err(PumpError::Read(e)) => {
                let failure = read_failure(&e, &self.opts);
                // Without a validator the bytes cannot be spliced safely later.
                let resumable = part.read_meta().is_some_and(|m| m.validator.is_some());
                if !resumable {
                    part.discard();
                    return Err(failed(failure));
                }
                let _ = out.sync_data();
                return Err(Step::Interrupted {
                    failure,
                    progressed: tee.total() > offset,
                });
            }
            Err(PumpError::Rejected(f)) => Err(failed(f)),
            Err(PumpError::Write(e)) => Err(fatal(cache_err("write", &part.path)(e))),
        };
        let result = result.and_then(|done| {
            out.sync_all()
                .map_err(|e| fatal(cache_err("write", &part.path)(e)))?;
            Ok(done)
        });
        if result.is_err() {
            part.discard();
        }
        result
    }

    /// 416 to `bytes=<offset>-`: if the server's file is exactly as long as the part,
    /// the part is complete and only needs verifying; otherwise it is stale.
    fn unsatisfiable<V: Verify + ?Sized>(
        &self,
        response: &Response,
        offset: u64,
        req: &Request,
        part: &Part,
        new_verifier: VerifierFactory<'_, V>,
        progress: &Progress,
    ) -> Result<Done<V::Output>, Step<V::Error>> {
        let complete = response
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_content_range);
        if complete != Some(ContentRange::Unsatisfied { complete: offset }) {
            return Err(Step::Restart);
        }
        let limit = Limit::new(&req.expected, self.opts.max_size);
        let verifier = new_verifier().map_err(|e| fatal(FetchError::Verifier(e)))?;
        let mut tee = Tee::new(verifier, limit, progress);
        let mut buf = vec![0u8; BLOCK];
        feed_part(part, &mut tee, &mut buf)?;
        let result = tee.finish(&req.expected).map_err(failed);
        if result.is_err() {
            part.discard();
        }
        result
    }
}

/// Resume only a part of this very URL whose server gave a validator.
fn resume_point(part: &Part, url: &Url, req: &Request) -> Option<Resume> {
    let len = part.len().filter(|l| *l > 0)?;
    if req.expected.size.is_some_and(|s| len >= s) {
        return None;
    }
    let meta = part.read_meta().filter(|m| m.url == url.as_str())?;
    Some(Resume {
        offset: len,
        validator: meta.validator?,
    })
}

/// A 206 must continue exactly where the part ends, up to the end of the file.
fn check_partial<E>(
    response: &Response,
    offset: u64,
    req: &Request,
    limit: Limit,
) -> Result<(), Step<E>> {
    let range = response
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range);
    let Some(ContentRange::Range {
        first,
        last,
        complete,
    }) = range
    else {
        return Err(failed(Failed::Protocol {
            detail: "partial content without a usable Content-Range".into(),
        }));
    };
    if first != offset {
        return Err(Step::Restart);
    }
    if let (Some(size), Some(complete)) = (req.expected.size, complete) {
        if size != complete {
            return Err(failed(Failed::SizeMismatch {
                expected: size,
                actual: complete,
            }));
        }
    }
    if complete.is_some_and(|c| last + 1 != c) {
        return Err(failed(Failed::Protocol {
            detail: format!("asked for bytes {offset} to the end, got {first}-{last}"),
        }));
    }
    if last >= limit.bytes {
        return Err(failed(Failed::AnnouncedTooLarge {
            announced: last.saturating_add(1),
            limit: limit.bytes,
            limit_is_expected_size: limit.is_expected_size,
        }));
    }
    Ok(())
}

/// Refuses a body announced longer than the file may be (or, for a whole body of a
/// file of known size, a different length), before reading any of it.
fn check_announced_length<E>(
    response: &Response,
    offset: u64,
    req: &Request,
    limit: Limit,
) -> Result<(), Step<E>> {
    let Some(length) = response.content_length() else {
        return Ok(());
    };
    let announced = offset.saturating_add(length);
    if announced > limit.bytes {
        return Err(failed(Failed::AnnouncedTooLarge {
            announced,
            limit: limit.bytes,
            limit_is_expected_size: limit.is_expected_size,
        }));
    }
    match req.expected.size {
        Some(size) if announced != size => Err(failed(Failed::SizeMismatch {
            expected: size,
            actual: announced,
        })),
        _ => Ok(()),
    }
}

/// A fresh part for a whole body, with the URL and validator recorded beside it.
fn start_part<E>(part: &Part, url: &Url, headers: &HeaderMap) -> Result<File, Step<E>> {
    let out = File::create(&part.path).map_err(|e| fatal(cache_err("create", &part.path)(e)))?;
    let meta = Meta {
        url: url.as_str().to_string(),
        validator: validator(headers),
    };
    part.write_meta(&meta)
        .map_err(|e| fatal(cache_err("write", &part.meta)(e)))?;
    Ok(out)
}

/// The part, opened to append, after checking it is still as long as when the
/// range was asked for.
fn continue_part<E>(part: &Part, offset: u64) -> Result<File, Step<E>> {
    let out = OpenOptions::new()
        .append(true)
        .open(&part.path)
        .map_err(|e| fatal(cache_err("open", &part.path)(e)))?;
    let len = out
        .metadata()
        .map_err(|e| fatal(cache_err("read", &part.path)(e)))?
        .len();
    if len != offset {
        return Err(Step::Restart);
    }
    Ok(out)
}

/// The bytes already on disk go through the verifier first.
fn feed_part<V: Verify + ?Sized>(
    part: &Part,
    tee: &mut Tee<'_, V>,
    buf: &mut [u8],
) -> Result<(), Step<V::Error>> {
    let mut file = File::open(&part.path).map_err(|e| fatal(cache_err("open", &part.path)(e)))?;
    match pump(&mut file, tee, None, buf) {
        Ok(()) => Ok(()),
        Err(PumpError::Read(e) | PumpError::Write(e)) => {
            Err(fatal(cache_err("read", &part.path)(e)))
        }
        Err(PumpError::Rejected(f)) => {
            part.discard();
            Err(failed(f))
        }
    }
}

pub(super) fn fetch_small(
    client: &Client,
    url: &Url,
    max_bytes: u64,
) -> Result<Vec<u8>, SmallFetchError> {
    let shown = || Untrusted::new(url.as_str());
    let response = client
        .get(url.clone())
        .header(header::ACCEPT_ENCODING, "identity")
        .send()
        .map_err(|e| SmallFetchError::Transport {
            url: shown(),
            detail: chain(&e),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(SmallFetchError::Status {
            url: shown(),
            code: status.to_string(),
        });
    }
    let too_large = || SmallFetchError::TooLarge {
        url: shown(),
        limit: max_bytes,
    };
    if response.content_length().is_some_and(|l| l > max_bytes) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    response
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| SmallFetchError::Transport {
            url: shown(),
            detail: chain(&e),
        })?;
    if out.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_never_redirects_to_http() {
        let e = check_redirect(&[u("https://a.example/x")], &u("http://b.example/x")).unwrap_err();
        assert!(matches!(e, RedirectRefused::Downgrade { .. }));
        assert!(
            e.to_string().contains("from https to http://b.example/x"),
            "{e}"
        );
        // Not even later in the chain.
        let chain = [u("https://a.example/x"), u("https://b.example/y")];
        assert!(check_redirect(&chain, &u("http://c.example/z")).is_err());
    }

    #[test]
    fn other_redirects_follow_until_the_limit() {
        assert_eq!(
            check_redirect(&[u("http://a.example/")], &u("http://b.example/")),
            Ok(())
        );
        assert_eq!(
            check_redirect(&[u("http://a.example/")], &u("https://b.example/")),
            Ok(())
        );
        assert_eq!(
            check_redirect(&[u("https://a.example/")], &u("https://b.example/")),
            Ok(())
        );
        assert!(matches!(
            check_redirect(&[u("http://a.example/")], &u("file:///etc/passwd")),
            Err(RedirectRefused::Scheme { .. })
        ));
        let long: Vec<Url> = (0..=MAX_REDIRECTS)
            .map(|i| u(&format!("http://a.example/{i}")))
            .collect();
        assert_eq!(
            check_redirect(&long, &u("http://a.example/end")),
            Err(RedirectRefused::TooMany)
        );
    }

    #[test]
    fn parses_content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some(ContentRange::Range {
                first: 100,
                last: 199,
                complete: Some(200)
            })
        );
        assert_eq!(
            parse_content_range("bytes 0-9/*"),
            Some(ContentRange::Range {
                first: 0,
                last: 9,
                complete: None
            })
        );
        assert_eq!(
            parse_content_range("bytes */42"),
            Some(ContentRange::Unsatisfied { complete: 42 })
        );
        for bad in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "items 0-1/2",
            "bytes -1-2/3",
            "bytes 1-2",
            "bytes */*",
            "bytes +1-2/3",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn prefers_a_strong_etag_as_validator() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LAST_MODIFIED,
            "Tue, 14 Nov 2017 10:00:00 GMT".parse().unwrap(),
        );
        assert!(matches!(validator(&h), Some(Validator::LastModified(_))));
        h.insert(header::ETAG, "W/\"weak\"".parse().unwrap());
        assert!(matches!(validator(&h), Some(Validator::LastModified(_))));
        h.insert(header::ETAG, "\"strong\"".parse().unwrap());
        assert_eq!(validator(&h), Some(Validator::ETag("\"strong\"".into())));
        assert_eq!(validator(&HeaderMap::new()), None);
    }
}
