//! One read pass: the bytes feed the signature's hash (on the caller's thread) and
//! SHA-256 (on a helper thread, in large chunks through a bounded channel), are
//! counted, and are refused beyond the expected size.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sequoia_openpgp as openpgp;

use openpgp::crypto::hash::Context;
use openpgp::types::SignatureType;
use sha2::{Digest, Sha256};

use super::signer::{hash_name, pubkey_name};
use super::time::{rfc3339, unix};
use super::{AuthError, Authenticity, Candidate, Expected, Sink, Verifier};

/// Bytes handed to the SHA-256 thread at a time.
const CHUNK: usize = 1 << 20;
/// Chunks in flight at most (queued, being hashed, being filled): bounds memory.
const MAX_CHUNKS: usize = 4;

/// A file being authenticated: feed it with [`Write`], then call [`Sink::finish`].
pub struct Check {
    primary: String,
    hashes: Vec<SigHash>,
    sha256: Sha256Feeder,
    count: u64,
    expected: Expected,
    overflowed: bool,
}

/// One signature's hash context, with the text-mode line-ending state.
struct SigHash {
    candidate: Candidate,
    ctx: Context,
    /// `Some(last byte was CR)` for text signatures, which hash line ends as CRLF.
    text: Option<bool>,
}

impl Check {
    /// Starts a check of the bytes `verifier`'s signature is about.
    pub fn new(verifier: &Verifier, expected: Expected) -> Result<Box<Check>, AuthError> {
        let hashes = verifier
            .candidates
            .iter()
            .map(SigHash::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(Check {
            primary: verifier.primary.clone(),
            hashes,
            sha256: Sha256Feeder::new(),
            count: 0,
            expected,
            overflowed: false,
        }))
    }

    /// Bytes fed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.count
    }
}

impl SigHash {
    fn new(candidate: &Candidate) -> Result<SigHash, AuthError> {
        let sig = &candidate.sig;
        let mut ctx = sig
            .hash_algo()
            .context()
            .map_err(|e| AuthError::PolicyRejected {
                reason: format!("{e:#}"),
            })?
            .for_signature(sig.version());
        if let Some(salt) = sig.salt() {
            ctx.update(salt);
        }
        let text = (sig.typ() == SignatureType::Text).then_some(false);
        Ok(SigHash {
            candidate: candidate.clone(),
            ctx,
            text,
        })
    }

    fn update(&mut self, data: &[u8]) {
        match &mut self.text {
            None => self.ctx.update(data),
            Some(last_cr) => update_text(&mut self.ctx, last_cr, data),
        }
    }
}

/// Text signatures hash every line end (CR LF, LF or a lone CR) as CR LF.
fn update_text(ctx: &mut Context, last_cr: &mut bool, data: &[u8]) {
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' => {
                ctx.update(&data[start..i]);
                ctx.update(b"\r\n");
                start = i + 1;
                *last_cr = true;
            }
            b'\n' => {
                ctx.update(&data[start..i]);
                if !*last_cr {
                    ctx.update(b"\r\n");
                }
                start = i + 1;
                *last_cr = false;
            }
            _ => *last_cr = false,
        }
    }
    ctx.update(&data[start..]);
}

impl Write for Check {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.overflowed {
            return Err(too_long());
        }
        if let Some(limit) = self.expected.size {
            if self.count.saturating_add(buf.len() as u64) > limit {
                self.overflowed = true;
                return Err(too_long());
            }
        }
        for h in &mut self.hashes {
            h.update(buf);
        }
        self.sha256.update(buf)?;
        self.count += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn too_long() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "more bytes than the expected size",
    )
}

impl Sink for Check {
    fn finish(self: Box<Self>) -> Result<Authenticity, AuthError> {
        let Check {
            primary,
            hashes,
            sha256,
            count,
            expected,
            overflowed,
        } = *self;
        if let (true, Some(limit)) = (overflowed, expected.size) {
            return Err(AuthError::TooLong { expected: limit });
        }
        let digest = sha256.finish()?;
        if let Some(size) = expected.size {
            if size != count {
                return Err(AuthError::SizeMismatch {
                    expected: size,
                    actual: count,
                });
            }
        }
        let candidate = verified(hashes)?;
        if let Some(published) = expected.sha256 {
            if published != digest {
                return Err(AuthError::Sha256Mismatch {
                    expected: hex::encode(published),
                    actual: hex::encode(digest),
                });
            }
        }
        let signer = &candidate.signer;
        Ok(Authenticity {
            primary_fingerprint: primary,
            signing_key_fingerprint: signer.key.fingerprint().to_hex(),
            signer_uid: signer.uid.clone(),
            signature_time: rfc3339(signer.created),
            signature_unix_time: unix(signer.created),
            hash_algorithm: hash_name(candidate.sig.hash_algo()),
            pubkey_algorithm: pubkey_name(&signer.key),
            size: count,
            sha256: hex::encode(digest),
            size_checked: expected.size.is_some(),
            sha256_checked: expected.sha256.is_some(),
        })
    }
}

/// The first signature that verifies over the hashed bytes.
fn verified(hashes: Vec<SigHash>) -> Result<Candidate, AuthError> {
    let mut first_key = None;
    for h in hashes {
        first_key.get_or_insert_with(|| h.candidate.signer.key.fingerprint().to_hex());
        if h.candidate
            .sig
            .verify_hash(&h.candidate.signer.key, h.ctx)
            .is_ok()
        {
            return Ok(h.candidate);
        }
    }
    Err(AuthError::BadSignature {
        key: first_key.unwrap_or_default(),
    })
}

/// Feeds SHA-256 on a helper thread, started on the first full chunk (small inputs,
/// like a tag's payload, are hashed in place).
struct Sha256Feeder {
    chunk: Vec<u8>,
    worker: Option<Worker>,
    inline: Sha256,
}

struct Worker {
    to_worker: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    allocated: usize,
    handle: JoinHandle<[u8; 32]>,
}

impl Sha256Feeder {
    fn new() -> Self {
        Sha256Feeder {
            chunk: Vec::new(),
            worker: None,
            inline: Sha256::new(),
        }
    }

    fn update(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.chunk.capacity() == 0 {
                self.chunk = self.empty_chunk()?;
            }
            let room = CHUNK - self.chunk.len();
            let take = room.min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.chunk.len() == CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    /// A buffer to fill: a recycled one, a new one while fewer than MAX_CHUNKS
    /// exist, else wait for the worker to hand one back.
    fn empty_chunk(&mut self) -> io::Result<Vec<u8>> {
        let Some(w) = &mut self.worker else {
            return Ok(Vec::with_capacity(CHUNK));
        };
        if let Ok(buf) = w.recycled.try_recv() {
            return Ok(buf);
        }
        if w.allocated < MAX_CHUNKS {
            w.allocated += 1;
            return Ok(Vec::with_capacity(CHUNK));
        }
        w.recycled.recv().map_err(|_| worker_gone())
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::take(&mut self.chunk);
        let w = match &mut self.worker {
            Some(w) => w,
            None => self.worker.insert(Worker::start()?),
        };
        w.to_worker.send(chunk).map_err(|_| worker_gone())
    }

    fn finish(mut self) -> Result<[u8; 32], AuthError> {
        let Some(w) = self.worker.take() else {
            self.inline.update(&self.chunk);
            return Ok(self.inline.finalize().into());
        };
        if !self.chunk.is_empty() {
            w.to_worker
                .send(std::mem::take(&mut self.chunk))
                .map_err(|_| hashing_error())?;
        }
        drop(w.to_worker);
        w.handle.join().map_err(|_| hashing_error())
    }
}

impl Worker {
    fn start() -> io::Result<Worker> {
        // Two chunks may wait while one is hashed and one is filled.
        let (to_worker, from_feeder) = mpsc::sync_channel::<Vec<u8>>(MAX_CHUNKS - 2);
        let (give_back, recycled) = mpsc::sync_channel::<Vec<u8>>(MAX_CHUNKS);
        let handle = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut sha = Sha256::new();
                for mut chunk in from_feeder {
                    sha.update(&chunk);
                    chunk.clear();
                    let _ = give_back.try_send(chunk);
                }
                sha.finalize().into()
            })?;
        Ok(Worker {
            to_worker,
            recycled,
            allocated: 1,
            handle,
        })
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("the sha256 thread stopped")
}

fn hashing_error() -> AuthError {
    AuthError::Hashing {
        reason: "the sha256 thread stopped".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openpgp::types::HashAlgorithm;

    fn digest(ctx: Context) -> Vec<u8> {
        ctx.into_digest().unwrap()
    }

    fn plain(data: &[u8]) -> Vec<u8> {
        let mut ctx = HashAlgorithm::SHA256.context().unwrap().for_digest();
        ctx.update(data);
        digest(ctx)
    }

    /// The fetch stage may hand a check to another thread.
    #[test]
    fn check_and_verifier_are_send() {
        fn send<T: Send>() {}
        send::<Check>();
        send::<crate::authenticate::Verifier>();
    }

    /// Text normalization gives the same bytes however the input is split, even
    /// between the CR and the LF of one line end.
    #[test]
    fn text_mode_normalizes_across_chunk_boundaries() {
        let input = b"a\r\nb\nc\rd\r\r\ne\n\nf";
        let want = plain(b"a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\nf");
        for split in 0..=input.len() {
            let mut ctx = HashAlgorithm::SHA256.context().unwrap().for_digest();
            let mut last_cr = false;
            update_text(&mut ctx, &mut last_cr, &input[..split]);
            update_text(&mut ctx, &mut last_cr, &input[split..]);
            assert_eq!(digest(ctx), want, "split at {split}");
        }
    }

    /// The threaded SHA-256 equals a one-shot SHA-256 for sizes around the chunk size.
    #[test]
    fn threaded_sha256_matches_one_shot() {
        let data: Vec<u8> = (0..3 * CHUNK + 7).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let mut feeder = Sha256Feeder::new();
            for piece in data[..len].chunks(65_537) {
                feeder.update(piece).unwrap();
            }
            let got = feeder.finish().unwrap();
            let want: [u8; 32] = Sha256::digest(&data[..len]).into();
            assert_eq!(got, want, "length {len}");
        }
    }
}
