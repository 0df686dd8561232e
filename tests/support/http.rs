//! A loopback HTTP/1.1 server for tests, able to misbehave on purpose.
//!
//! It binds 127.0.0.1:0, answers each connection (in its own thread) with one scripted [`Reply`] and closes
//! it, records every request head, and stops by itself: when dropped, after
//! [`MAX_CONNECTIONS`] connections, or after [`LIFETIME`], whichever comes first.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const MAX_CONNECTIONS: usize = 64;
pub const LIFETIME: Duration = Duration::from_secs(60);
const MAX_HEAD: usize = 64 * 1024;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer, and how to misbehave while doing it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The Content-Length to announce; `None` sends none (the body ends when the
    /// connection closes).
    pub content_length: Option<u64>,
    /// Close the connection after this many body bytes.
    pub cut_after: Option<usize>,
    /// Wait this long before sending anything (the status line included).
    pub stall_before_head: Option<Duration>,
    /// After this many body bytes, wait this long.
    pub stall_in_body: Option<(usize, Duration)>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        let body = body.into();
        Reply {
            status,
            headers: Vec::new(),
            content_length: Some(body.len() as u64),
            body,
            cut_after: None,
            stall_before_head: None,
            stall_in_body: None,
        }
    }

    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, body)
    }

    pub fn status(status: u16) -> Reply {
        Reply::new(status, format!("status {status}\n"))
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::new(status, Vec::new()).header("Location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn announce(mut self, length: Option<u64>) -> Reply {
        self.content_length = length;
        self
    }

    pub fn cut_after(mut self, bytes: usize) -> Reply {
        self.cut_after = Some(bytes);
        self
    }

    pub fn stall_before_head(mut self, d: Duration) -> Reply {
        self.stall_before_head = Some(d);
        self
    }

    pub fn stall_in_body(mut self, after_bytes: usize, d: Duration) -> Reply {
        self.stall_in_body = Some((after_bytes, d));
        self
    }

    /// How many body bytes this reply puts on the wire.
    pub fn bytes_sent(&self) -> usize {
        self.cut_after
            .map_or(self.body.len(), |n| n.min(self.body.len()))
    }
}

type Handler = Box<dyn FnMut(&Recorded) -> Reply + Send>;

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(Recorded, usize)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl FnMut(&Recorded) -> Reply + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), log.clone());
        let handler: Handler = Box::new(handler);
        let thread = std::thread::spawn(move || serve(listener, handler, s, l));
        Server {
            addr,
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port><path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests seen so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// How many body bytes were put on the wire for each request, in order.
    pub fn body_bytes_sent(&self) -> Vec<usize> {
        self.log.lock().unwrap().iter().map(|(_, n)| *n).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    handler: Handler,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(Recorded, usize)>>>,
) {
    let handler = Arc::new(Mutex::new(handler));
    let started = Instant::now();
    let mut connections = Vec::new();
    while connections.len() < MAX_CONNECTIONS
        && started.elapsed() < LIFETIME
        && !stop.load(Ordering::SeqCst)
    {
        match listener.accept() {
            Ok((stream, _)) => {
                let (handler, stop, log) = (handler.clone(), stop.clone(), log.clone());
                connections.push(std::thread::spawn(move || {
                    connection(stream, &handler, &stop, &log)
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => break,
        }
    }
    for c in connections {
        let _ = c.join();
    }
}

/// One connection, one request, one reply (each in its own thread, so that a
/// stalled reply does not hold up the next request).
fn connection(
    stream: TcpStream,
    handler: &Mutex<Handler>,
    stop: &AtomicBool,
    log: &Mutex<Vec<(Recorded, usize)>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Some(request) = read_head(&stream) else {
        return;
    };
    let reply = {
        let mut h = handler.lock().unwrap();
        let reply = h(&request);
        log.lock().unwrap().push((request, reply.bytes_sent()));
        reply
    };
    answer(stream, &reply, stop);
}

/// Reads up to the blank line ending the head; no body is expected (GET only).
fn read_head(mut stream: &TcpStream) -> Option<Recorded> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Recorded {
        method,
        path,
        headers,
    })
}

/// Sleeps in small steps so that dropping the server never waits long.
fn pause(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn answer(mut stream: TcpStream, reply: &Reply, stop: &AtomicBool) {
    if let Some(d) = reply.stall_before_head {
        pause(d, stop);
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = reply.content_length {
        head.push_str(&format!("Content-Length: {n}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let body = &reply.body[..reply.bytes_sent()];
    let (first, rest) = match reply.stall_in_body {
        Some((n, _)) => body.split_at(n.min(body.len())),
        None => (body, &[][..]),
    };
    if stream.write_all(first).is_err() {
        return;
    }
    if let Some((_, d)) = reply.stall_in_body {
        let _ = stream.flush();
        pause(d, stop);
    }
    let _ = stream.write_all(rest);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Let the client read everything before the socket goes away.
    let mut sink = [0u8; 1024];
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// A handler serving `content` at every path like a good static file server: with
/// `ETag`, and honouring `Range: bytes=N-` guarded by `If-Range`.
pub fn serve_bytes(content: Vec<u8>, etag: &'static str) -> impl FnMut(&Recorded) -> Reply + Send {
    move |req| ranged_reply(&content, etag, req)
}

/// The reply a good server gives to `req` for `content`.
pub fn ranged_reply(content: &[u8], etag: &str, req: &Recorded) -> Reply {
    let whole = || Reply::ok(content.to_vec()).header("ETag", etag);
    let Some(range) = req.header("Range") else {
        return whole();
    };
    if req.header("If-Range").is_some_and(|v| v != etag) {
        return whole();
    }
    let start = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        Some(s) if s < content.len() => Reply::new(206, content[s..].to_vec())
            .header("ETag", etag)
            .header(
                "Content-Range",
                &format!("bytes {s}-{}/{}", content.len() - 1, content.len()),
            ),
        Some(_) => Reply::new(416, Vec::new())
            .header("Content-Range", &format!("bytes */{}", content.len())),
        None => whole(),
    }
}
