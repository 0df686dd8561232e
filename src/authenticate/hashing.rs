//! One read pass: the caller's thread copies the bytes into 1 MiB chunks and two helper
//! threads hash each chunk, one for the signature (e.g. SHA-512) and one for SHA-256,
//! so the slower hash alone sets the pace. The bytes are counted, and refused beyond
//! the expected size. Inputs smaller than one chunk (a tag's payload) are hashed in
//! place without threads.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use sequoia_openpgp as openpgp;

use openpgp::crypto::hash::Context;
use openpgp::types::SignatureType;
use sha2::{Digest, Sha256};

use super::signer::{hash_name, pubkey_name};
use super::time::{rfc3339, unix};
use super::{AuthError, Authenticity, Candidate, Expected, Sink, Verifier};

/// Bytes handed to the hashing threads at a time.
const CHUNK: usize = 1 << 20;
/// Chunks that exist at most (queued, being hashed, being filled): bounds memory.
const MAX_CHUNKS: usize = 4;
/// Chunks that may wait in each thread's queue.
const QUEUE: usize = 2;

/// A file being authenticated: feed it with [`Write`], then call [`Sink::finish`].
pub struct Check {
    primary: String,
    hashing: Hashing,
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
            hashing: Hashing::new(hashes),
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
        self.hashing.update(buf)?;
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
            hashing,
            count,
            expected,
            overflowed,
        } = *self;
        if let (true, Some(limit)) = (overflowed, expected.size) {
            return Err(AuthError::TooLong { expected: limit });
        }
        let (hashes, digest) = hashing.finish()?;
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

/// The two hashes: in place until the first full chunk, then on two threads.
struct Hashing {
    chunk: Vec<u8>,
    state: State,
}

enum State {
    Inline(Vec<SigHash>, Box<Sha256>),
    Threads(Workers),
    /// Only while moving from one to the other.
    Switching,
}

struct Workers {
    to_sig: SyncSender<Arc<Vec<u8>>>,
    to_sha: SyncSender<Arc<Vec<u8>>>,
    /// Each thread hands every chunk back when done; the second hand-back frees it.
    returned: Receiver<Arc<Vec<u8>>>,
    allocated: usize,
    sig: JoinHandle<Vec<SigHash>>,
    sha: JoinHandle<Sha256>,
}

impl Hashing {
    fn new(hashes: Vec<SigHash>) -> Self {
        Hashing {
            chunk: Vec::new(),
            state: State::Inline(hashes, Box::new(Sha256::new())),
        }
    }

    fn update(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.chunk.capacity() == 0 {
                self.chunk = self.empty_chunk()?;
            }
            let take = (CHUNK - self.chunk.len()).min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.chunk.len() == CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    /// A buffer to fill: a freed one, a new one while fewer than MAX_CHUNKS exist,
    /// else wait for the threads to free one.
    fn empty_chunk(&mut self) -> io::Result<Vec<u8>> {
        let State::Threads(w) = &mut self.state else {
            return Ok(Vec::with_capacity(CHUNK));
        };
        while let Ok(arc) = w.returned.try_recv() {
            if let Ok(mut buf) = Arc::try_unwrap(arc) {
                buf.clear();
                return Ok(buf);
            }
        }
        if w.allocated < MAX_CHUNKS {
            w.allocated += 1;
            return Ok(Vec::with_capacity(CHUNK));
        }
        loop {
            let arc = w.returned.recv().map_err(|_| worker_gone())?;
            if let Ok(mut buf) = Arc::try_unwrap(arc) {
                buf.clear();
                return Ok(buf);
            }
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if let State::Inline(..) = self.state {
            let State::Inline(hashes, sha) = std::mem::replace(&mut self.state, State::Switching)
            else {
                unreachable!("checked just above")
            };
            self.state = State::Threads(Workers::start(hashes, *sha)?);
        }
        let State::Threads(w) = &mut self.state else {
            return Err(worker_gone());
        };
        let chunk = Arc::new(std::mem::take(&mut self.chunk));
        w.to_sig.send(chunk.clone()).map_err(|_| worker_gone())?;
        w.to_sha.send(chunk).map_err(|_| worker_gone())
    }

    /// The signature contexts and the SHA-256 of everything fed.
    fn finish(mut self) -> Result<(Vec<SigHash>, [u8; 32]), AuthError> {
        match std::mem::replace(&mut self.state, State::Switching) {
            State::Inline(mut hashes, mut sha) => {
                for h in &mut hashes {
                    h.update(&self.chunk);
                }
                sha.update(&self.chunk);
                Ok((hashes, sha.finalize().into()))
            }
            State::Threads(w) => {
                if !self.chunk.is_empty() {
                    let chunk = Arc::new(std::mem::take(&mut self.chunk));
                    let sent = w.to_sig.send(chunk.clone()).is_ok() && w.to_sha.send(chunk).is_ok();
                    if !sent {
                        return Err(hashing_error());
                    }
                }
                drop((w.to_sig, w.to_sha));
                let hashes = w.sig.join().map_err(|_| hashing_error())?;
                let sha = w.sha.join().map_err(|_| hashing_error())?;
                Ok((hashes, sha.finalize().into()))
            }
            State::Switching => Err(hashing_error()),
        }
    }
}

impl Workers {
    fn start(hashes: Vec<SigHash>, sha: Sha256) -> io::Result<Workers> {
        let (to_sig, sig_rx) = mpsc::sync_channel(QUEUE);
        let (to_sha, sha_rx) = mpsc::sync_channel(QUEUE);
        let (give_back, returned) = mpsc::channel();
        let sig = spawn(
            "signature-hash",
            sig_rx,
            give_back.clone(),
            hashes,
            |hashes, chunk| {
                for h in hashes.iter_mut() {
                    h.update(chunk);
                }
            },
        )?;
        let sha = spawn("sha256", sha_rx, give_back, sha, |sha, chunk| {
            sha.update(chunk)
        })?;
        Ok(Workers {
            to_sig,
            to_sha,
            returned,
            allocated: 1,
            sig,
            sha,
        })
    }
}

/// A thread that applies `work` to every chunk it receives, hands the chunk back,
/// and returns its state when the feeder hangs up.
fn spawn<S: Send + 'static>(
    name: &str,
    chunks: Receiver<Arc<Vec<u8>>>,
    give_back: Sender<Arc<Vec<u8>>>,
    mut state: S,
    work: fn(&mut S, &[u8]),
) -> io::Result<JoinHandle<S>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            for chunk in chunks {
                work(&mut state, &chunk);
                let _ = give_back.send(chunk);
            }
            state
        })
}

fn worker_gone() -> io::Error {
    io::Error::other("a hashing thread stopped")
}

fn hashing_error() -> AuthError {
    AuthError::Hashing {
        reason: "a hashing thread stopped".into(),
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

    /// SHA-256, in place or on its thread, equals a one-shot SHA-256 for sizes around
    /// the chunk size. (The signature hash on its thread is checked end to end by
    /// tests/authenticate.rs, with a 5 MiB signed input.)
    #[test]
    fn threaded_sha256_matches_one_shot() {
        let data: Vec<u8> = (0..3 * CHUNK + 7).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let mut hashing = Hashing::new(Vec::new());
            for piece in data[..len].chunks(65_537) {
                hashing.update(piece).unwrap();
            }
            let (hashes, got) = hashing.finish().unwrap();
            assert!(hashes.is_empty());
            let want: [u8; 32] = Sha256::digest(&data[..len]).into();
            assert_eq!(got, want, "length {len}");
        }
    }
}
