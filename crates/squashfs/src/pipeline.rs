//! Reading file contents and compressing data blocks, on several threads when asked.
//!
//! Files are read in the order the writer will lay them out; every block becomes a
//! job with a sequence number, worker threads compress jobs, and the writer takes the
//! results strictly in sequence order. A fixed number of tokens bounds how many jobs
//! are in flight, so memory stays at a few blocks per thread whatever the tree size.
//! The bytes produced do not depend on the number of threads.
//!
//! Full fragment blocks, which the writer assembles from small files, go to the same
//! workers (see [`Frags`]); the writer takes them back in fragment order, so it can
//! keep packing small files while earlier fragment blocks are being compressed.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use crate::compress::{Compression, Compressor};
use crate::format::DATA_UNCOMPRESSED;
use crate::write::WriteError;

pub(crate) type Digest = [u8; 32];

/// A regular file whose content goes into the image.
pub(crate) struct FileJob {
    pub(crate) source: PathBuf,
    pub(crate) size: u64,
}

/// What the writer gets for each piece of a file, in order.
pub(crate) enum Unit {
    /// A file of size 0.
    Empty,
    /// A whole file smaller than the block size (fragment material).
    Small {
        data: Vec<u8>,
        zero: bool,
        digest: Digest,
        alloc: u64,
    },
    /// One block of a file at least one block long.
    Block(BlockOut),
}

pub(crate) struct BlockOut {
    /// Bytes read from the file for this block.
    pub(crate) read_size: u32,
    /// Size word for the block list: 0 for a sparse block.
    pub(crate) c_byte: u32,
    /// Bytes as stored on disk (empty for a sparse block).
    pub(crate) stored: Vec<u8>,
    pub(crate) digest: Digest,
    /// Bytes the source file occupies on its disk (st_blocks × 512).
    pub(crate) alloc: u64,
}

enum JobKind {
    Empty,
    Small(Vec<u8>),
    Block(Vec<u8>),
}

struct Job {
    kind: JobKind,
    alloc: u64,
}

/// What a worker is given: a piece of a file (with its sequence number), or a full
/// fragment block (with its fragment index).
enum Work {
    Unit(u64, Result<Job, WriteError>),
    Fragment(u32, Vec<u8>),
}

/// A compressed fragment block: its size word and the bytes to store.
pub(crate) struct FragOut {
    pub(crate) c_byte: u32,
    pub(crate) stored: Vec<u8>,
}

/// Compresses a full fragment block; it is stored raw when that is not smaller.
pub(crate) fn compress_fragment(
    buf: Vec<u8>,
    comp: &mut Compressor,
    block_size: usize,
) -> Result<FragOut, WriteError> {
    Ok(match comp.compress(&buf, block_size)? {
        Some(p) if !p.is_empty() && p.len() < buf.len() => FragOut {
            c_byte: p.len() as u32,
            stored: p,
        },
        _ => FragOut {
            c_byte: buf.len() as u32 | DATA_UNCOMPRESSED,
            stored: buf,
        },
    })
}

/// Fragment blocks on their way through the workers, handed back in index order.
pub(crate) struct Frags {
    /// Set when there are no worker threads: blocks are compressed on submission.
    inline: Option<Compressor>,
    to_workers: Option<SyncSender<Work>>,
    from_workers: Option<Receiver<(u32, Result<FragOut, WriteError>)>>,
    /// Results that arrived before their turn.
    ready: BTreeMap<u32, Result<FragOut, WriteError>>,
    /// Indices submitted and not yet taken, oldest first.
    queued: VecDeque<u32>,
    /// At most this many blocks are submitted and not yet taken.
    limit: usize,
    block_size: usize,
}

impl Frags {
    /// Blocks submitted and not yet taken.
    pub(crate) fn in_flight(&self) -> usize {
        self.queued.len()
    }

    /// True when `submit` would go over the memory bound: take one first.
    pub(crate) fn full(&self) -> bool {
        self.queued.len() >= self.limit
    }

    /// Hands a full fragment block over for compression.
    pub(crate) fn submit(&mut self, index: u32, data: Vec<u8>) -> Result<(), WriteError> {
        if let Some(comp) = &mut self.inline {
            let out = compress_fragment(data, comp, self.block_size);
            self.ready.insert(index, out);
        } else {
            let tx = self
                .to_workers
                .as_ref()
                .ok_or(WriteError::Internal("fragment workers are gone"))?;
            tx.send(Work::Fragment(index, data))
                .map_err(|_| WriteError::Internal("fragment workers stopped"))?;
        }
        self.queued.push_back(index);
        Ok(())
    }

    /// Whether the oldest submitted block is already compressed.
    pub(crate) fn oldest_ready(&mut self) -> bool {
        let Some(&want) = self.queued.front() else {
            return false;
        };
        if let Some(rx) = &self.from_workers {
            while let Ok((i, out)) = rx.try_recv() {
                self.ready.insert(i, out);
            }
        }
        self.ready.contains_key(&want)
    }

    /// Takes the oldest submitted block, waiting for it if needed.
    pub(crate) fn take(&mut self) -> Option<Result<(u32, FragOut), WriteError>> {
        let want = self.queued.pop_front()?;
        loop {
            if let Some(out) = self.ready.remove(&want) {
                return Some(out.map(|o| (want, o)));
            }
            let Some(rx) = &self.from_workers else {
                return Some(Err(WriteError::Internal("fragment result missing")));
            };
            match rx.recv() {
                Ok((i, out)) => {
                    self.ready.insert(i, out);
                }
                Err(_) => return Some(Err(WriteError::Internal("fragment workers stopped"))),
            }
        }
    }
}

/// What the writer reads from: file pieces in order, and the fragment compressor.
pub(crate) struct Feed<'f> {
    units: Box<dyn FnMut() -> Result<Unit, WriteError> + 'f>,
    pub(crate) frags: Frags,
}

impl Feed<'_> {
    /// The next piece of file data, in layout order.
    pub(crate) fn unit(&mut self) -> Result<Unit, WriteError> {
        (self.units)()
    }
}

/// Reads the files in order, one job at a time.
struct Producer<'a> {
    files: &'a [FileJob],
    next_file: usize,
    current: Option<OpenFile>,
    block_size: usize,
}

struct OpenFile {
    file: File,
    path: PathBuf,
    remaining: u64,
    alloc: u64,
}

pub(crate) fn is_zero(data: &[u8]) -> bool {
    data.iter().all(|&b| b == 0)
}

pub(crate) fn digest(data: &[u8]) -> Digest {
    Sha256::digest(data).into()
}

fn read_err(path: &std::path::Path, source: std::io::Error) -> WriteError {
    WriteError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads exactly `len` bytes, or reports that the file changed under us.
pub(crate) fn read_block(
    file: &mut File,
    path: &std::path::Path,
    len: usize,
    expected: u64,
) -> Result<Vec<u8>, WriteError> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(WriteError::Changed {
                    path: path.to_path_buf(),
                    expected,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(path, e)),
        }
    }
    Ok(buf)
}

/// Checks that nothing follows the expected end of the file.
pub(crate) fn expect_eof(
    file: &mut File,
    path: &std::path::Path,
    expected: u64,
) -> Result<(), WriteError> {
    let mut one = [0u8; 1];
    loop {
        match file.read(&mut one) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(WriteError::Changed {
                    path: path.to_path_buf(),
                    expected,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(path, e)),
        }
    }
}

/// Opens a file and checks its size is still the one the tree recorded.
pub(crate) fn open_checked(path: &std::path::Path, size: u64) -> Result<(File, u64), WriteError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let meta = file.metadata().map_err(|e| read_err(path, e))?;
    if !meta.is_file() || meta.len() != size {
        return Err(WriteError::Changed {
            path: path.to_path_buf(),
            expected: size,
        });
    }
    Ok((file, meta.blocks().saturating_mul(512)))
}

impl Producer<'_> {
    fn next_job(&mut self) -> Option<Result<Job, WriteError>> {
        loop {
            if let Some(cur) = &mut self.current {
                let len = cur.remaining.min(self.block_size as u64) as usize;
                let size = self.files[self.next_file - 1].size;
                let data = match read_block(&mut cur.file, &cur.path, len, size) {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                cur.remaining -= len as u64;
                let alloc = cur.alloc;
                if cur.remaining == 0 {
                    let done = self.current.take();
                    if let Some(mut done) = done {
                        if let Err(e) = expect_eof(&mut done.file, &done.path, size) {
                            return Some(Err(e));
                        }
                    }
                }
                return Some(Ok(Job {
                    kind: JobKind::Block(data),
                    alloc,
                }));
            }
            let job = self.files.get(self.next_file)?;
            self.next_file += 1;
            let (mut file, alloc) = match open_checked(&job.source, job.size) {
                Ok(f) => f,
                Err(e) => return Some(Err(e)),
            };
            if job.size == 0 {
                if let Err(e) = expect_eof(&mut file, &job.source, 0) {
                    return Some(Err(e));
                }
                return Some(Ok(Job {
                    kind: JobKind::Empty,
                    alloc,
                }));
            }
            if job.size < self.block_size as u64 {
                let data = match read_block(&mut file, &job.source, job.size as usize, job.size)
                    .and_then(|d| expect_eof(&mut file, &job.source, job.size).map(|_| d))
                {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                return Some(Ok(Job {
                    kind: JobKind::Small(data),
                    alloc,
                }));
            }
            self.current = Some(OpenFile {
                file,
                path: job.source.clone(),
                remaining: job.size,
                alloc,
            });
        }
    }
}

/// Compresses one data block the way mksquashfs's deflator threads do.
pub(crate) fn compress_block(
    data: Vec<u8>,
    comp: &mut Compressor,
    block_size: usize,
    alloc: u64,
) -> Result<BlockOut, WriteError> {
    let read_size = data.len() as u32;
    if is_zero(&data) {
        return Ok(BlockOut {
            read_size,
            c_byte: 0,
            stored: Vec::new(),
            digest: [0u8; 32],
            alloc,
        });
    }
    let (c_byte, stored) = match comp.compress(&data, block_size)? {
        Some(p) if !p.is_empty() && p.len() < data.len() => (p.len() as u32, p),
        _ => (read_size | DATA_UNCOMPRESSED, data),
    };
    let digest = digest(&stored);
    Ok(BlockOut {
        read_size,
        c_byte,
        stored,
        digest,
        alloc,
    })
}

fn process(job: Job, comp: &mut Compressor, block_size: usize) -> Result<Unit, WriteError> {
    Ok(match job.kind {
        JobKind::Empty => Unit::Empty,
        JobKind::Small(data) => {
            let zero = is_zero(&data);
            let digest = digest(&data);
            Unit::Small {
                data,
                zero,
                digest,
                alloc: job.alloc,
            }
        }
        JobKind::Block(data) => Unit::Block(compress_block(data, comp, block_size, job.alloc)?),
    })
}

/// Runs `consume` with a function that yields the units of `files` in order.
pub(crate) fn run<R>(
    files: &[FileJob],
    kind: Compression,
    block_size: u32,
    threads: usize,
    consume: impl FnOnce(&mut Feed<'_>) -> Result<R, WriteError>,
) -> Result<R, WriteError> {
    let bs = block_size as usize;
    let mut producer = Producer {
        files,
        next_file: 0,
        current: None,
        block_size: bs,
    };
    if threads <= 1 {
        let mut comp = Compressor::new(kind, block_size);
        let next = move || match producer.next_job() {
            Some(job) => process(job?, &mut comp, bs),
            None => Err(WriteError::Internal("file data ended early")),
        };
        let mut feed = Feed {
            units: Box::new(next),
            frags: Frags {
                inline: Some(Compressor::new(kind, block_size)),
                to_workers: None,
                from_workers: None,
                ready: BTreeMap::new(),
                queued: VecDeque::new(),
                limit: 1,
                block_size: bs,
            },
        };
        return consume(&mut feed);
    }
    let workers = threads.min(64);
    let cap = workers * 2 + 2;
    std::thread::scope(|s| {
        let (job_tx, job_rx) = sync_channel::<Work>(cap);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = channel::<(u64, Result<Unit, WriteError>)>();
        let (frag_tx, frag_rx) = channel::<(u32, Result<FragOut, WriteError>)>();
        let frags = Frags {
            inline: None,
            to_workers: Some(job_tx.clone()),
            from_workers: Some(frag_rx),
            ready: BTreeMap::new(),
            queued: VecDeque::new(),
            // One block per worker being compressed and one more queued for each:
            // enough to keep them busy, and at most a few blocks of memory.
            limit: workers * 2,
            block_size: bs,
        };
        let (tok_tx, tok_rx) = sync_channel::<()>(cap);
        for _ in 0..cap {
            let _ = tok_tx.send(());
        }
        s.spawn(move || {
            let mut seq = 0u64;
            while tok_rx.recv().is_ok() {
                let Some(job) = producer.next_job() else {
                    break;
                };
                let failed = job.is_err();
                if job_tx.send(Work::Unit(seq, job)).is_err() || failed {
                    break;
                }
                seq += 1;
            }
        });
        for _ in 0..workers {
            let job_rx = Arc::clone(&job_rx);
            let res_tx = res_tx.clone();
            let frag_tx = frag_tx.clone();
            s.spawn(move || {
                let mut comp = Compressor::new(kind, block_size);
                loop {
                    let msg = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let sent = match msg {
                        Ok(Work::Unit(seq, job)) => {
                            let out = job.and_then(|j| process(j, &mut comp, bs));
                            res_tx.send((seq, out)).is_ok()
                        }
                        Ok(Work::Fragment(index, data)) => {
                            let out = compress_fragment(data, &mut comp, bs);
                            frag_tx.send((index, out)).is_ok()
                        }
                        Err(_) => false,
                    };
                    if !sent {
                        break;
                    }
                }
            });
        }
        drop(res_tx);
        drop(frag_tx);
        drop(job_rx);
        consume_ordered(res_rx, tok_tx, frags, consume)
    })
}

fn consume_ordered<R>(
    res_rx: Receiver<(u64, Result<Unit, WriteError>)>,
    tok_tx: SyncSender<()>,
    frags: Frags,
    consume: impl FnOnce(&mut Feed<'_>) -> Result<R, WriteError>,
) -> Result<R, WriteError> {
    let mut pending: BTreeMap<u64, Result<Unit, WriteError>> = BTreeMap::new();
    let mut want = 0u64;
    let next = move || loop {
        if let Some(unit) = pending.remove(&want) {
            want += 1;
            let _ = tok_tx.try_send(());
            return unit;
        }
        match res_rx.recv() {
            Ok((seq, unit)) => {
                pending.insert(seq, unit);
            }
            Err(_) => return Err(WriteError::Internal("file data ended early")),
        }
    };
    let mut feed = Feed {
        units: Box::new(next),
        frags,
    };
    consume(&mut feed)
    // The feed (with res_rx, tok_tx and the fragment sender) drops here, which stops
    // the reader and the workers.
}
