//! Chunk splitters, boundary-for-boundary identical to kopia's `repo/splitter`.
//!
//! An object's bytes are cut into chunks either at fixed sizes or where a 64-byte
//! rolling hash (buzhash32 or rabinkarp64) has its low bits zero, between a minimum
//! and a maximum chunk size. Boundaries decide content IDs, so they must match
//! kopia exactly; they do not depend on how the input is fed.
//!
//! Speed: the hash is a pure function of the last 64 bytes, so below the minimum
//! chunk size nothing is hashed at all; the window is rebuilt from the 64 bytes
//! before the first tested position (what kopia also exploits). The tested region
//! is a tight loop that reads the leaving byte straight from the input slice.

mod buzhash_table;
mod rolling;

pub use rolling::{Buzhash32, RABINKARP64_POLYNOMIAL, RabinKarp64, WINDOW_SIZE};

use rolling::{Buz, Rabin, Roll};

/// The buzhash32 byte table (rollinghash v4.0.0 default table), for verification.
pub const BUZHASH32_TABLE: &[u32; 256] = &buzhash_table::BUZHASH32_TABLE;

/// Every splitter name kopia v0.23.1 accepts, sorted as kopia lists them.
pub const SPLITTER_NAMES: &[&str] = &[
    "DYNAMIC",
    "DYNAMIC-128K-BUZHASH",
    "DYNAMIC-128K-RABINKARP",
    "DYNAMIC-1M-BUZHASH",
    "DYNAMIC-1M-RABINKARP",
    "DYNAMIC-256K-BUZHASH",
    "DYNAMIC-256K-RABINKARP",
    "DYNAMIC-2M-BUZHASH",
    "DYNAMIC-2M-RABINKARP",
    "DYNAMIC-4M-BUZHASH",
    "DYNAMIC-4M-RABINKARP",
    "DYNAMIC-512K-BUZHASH",
    "DYNAMIC-512K-RABINKARP",
    "DYNAMIC-8M-BUZHASH",
    "DYNAMIC-8M-RABINKARP",
    "FIXED",
    "FIXED-128K",
    "FIXED-1M",
    "FIXED-256K",
    "FIXED-2M",
    "FIXED-4M",
    "FIXED-512K",
    "FIXED-8M",
];

/// The splitter of new kopia repositories.
pub const DEFAULT_SPLITTER: &str = "DYNAMIC-4M-BUZHASH";

/// The splitter of a repository whose configuration names none (legacy 4 MiB fixed).
pub const LEGACY_SPLITTER: &str = "FIXED";

/// Why a splitter cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitterError {
    /// The name is not one of [`SPLITTER_NAMES`].
    #[error("unknown splitter {0:?}")]
    UnknownSplitter(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fixed,
    Buzhash,
    RabinKarp,
}

/// (name, kind, fixed chunk size or nominal average size), same order as [`SPLITTER_NAMES`].
const SPECS: &[(&str, Kind, usize)] = &[
    ("DYNAMIC", Kind::Buzhash, 4 << 20),
    ("DYNAMIC-128K-BUZHASH", Kind::Buzhash, 128 << 10),
    ("DYNAMIC-128K-RABINKARP", Kind::RabinKarp, 128 << 10),
    ("DYNAMIC-1M-BUZHASH", Kind::Buzhash, 1 << 20),
    ("DYNAMIC-1M-RABINKARP", Kind::RabinKarp, 1 << 20),
    ("DYNAMIC-256K-BUZHASH", Kind::Buzhash, 256 << 10),
    ("DYNAMIC-256K-RABINKARP", Kind::RabinKarp, 256 << 10),
    ("DYNAMIC-2M-BUZHASH", Kind::Buzhash, 2 << 20),
    ("DYNAMIC-2M-RABINKARP", Kind::RabinKarp, 2 << 20),
    ("DYNAMIC-4M-BUZHASH", Kind::Buzhash, 4 << 20),
    ("DYNAMIC-4M-RABINKARP", Kind::RabinKarp, 4 << 20),
    ("DYNAMIC-512K-BUZHASH", Kind::Buzhash, 512 << 10),
    ("DYNAMIC-512K-RABINKARP", Kind::RabinKarp, 512 << 10),
    ("DYNAMIC-8M-BUZHASH", Kind::Buzhash, 8 << 20),
    ("DYNAMIC-8M-RABINKARP", Kind::RabinKarp, 8 << 20),
    ("FIXED", Kind::Fixed, 4 << 20),
    ("FIXED-128K", Kind::Fixed, 128 << 10),
    ("FIXED-1M", Kind::Fixed, 1 << 20),
    ("FIXED-256K", Kind::Fixed, 256 << 10),
    ("FIXED-2M", Kind::Fixed, 2 << 20),
    ("FIXED-4M", Kind::Fixed, 4 << 20),
    ("FIXED-512K", Kind::Fixed, 512 << 10),
    ("FIXED-8M", Kind::Fixed, 8 << 20),
];

/// The splitter state of one object: decides where its chunks end.
///
/// Feed the object's bytes in order with [`Splitter::next_boundary`]; the result is
/// independent of how the bytes are divided between calls.
#[derive(Debug, Clone)]
pub struct Splitter {
    name: &'static str,
    kind: Kind,
    min: usize,
    max: usize,
    mask: u64,
    /// Bytes of the current chunk consumed so far.
    count: usize,
    /// The 64 bytes before the data of the current call (oldest first); at object
    /// start 64 zeros. Not reset at chunk boundaries, exactly like kopia's window.
    history: [u8; WINDOW_SIZE],
    /// Rolling hash of the window ending at the current position, when `hash_valid`.
    hash: u64,
    hash_valid: bool,
}

/// Creates the named splitter in its object-start state.
pub fn new(name: &str) -> Result<Splitter, SplitterError> {
    Splitter::new(name)
}

impl Splitter {
    /// Creates the named splitter in its object-start state (window = 64 zero bytes).
    pub fn new(name: &str) -> Result<Self, SplitterError> {
        let &(name, kind, size) = SPECS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| SplitterError::UnknownSplitter(name.to_string()))?;
        let (min, max) = match kind {
            Kind::Fixed => (size, size),
            Kind::Buzhash | Kind::RabinKarp => (size / 2, size * 2),
        };
        Ok(Splitter {
            name,
            kind,
            min,
            max,
            mask: size as u64 - 1,
            count: 0,
            history: [0; WINDOW_SIZE],
            hash: 0,
            hash_valid: true,
        })
    }

    /// The splitter's kopia name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Smallest chunk it cuts (except an object's final chunk); the size for fixed splitters.
    pub fn min_size(&self) -> usize {
        self.min
    }

    /// Largest chunk it cuts; the size for fixed splitters.
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Number of bytes of the current, unfinished chunk consumed so far.
    pub fn pending(&self) -> usize {
        self.count
    }

    /// Returns to the object-start state, ready for a new object.
    pub fn reset(&mut self) {
        self.count = 0;
        self.history = [0; WINDOW_SIZE];
        self.hash = 0;
        self.hash_valid = true;
    }

    /// Feeds `data`, the next bytes of the object.
    ///
    /// Returns `Some(n)` (1 ≤ n ≤ len) when a chunk ends after `data[n-1]`; only those
    /// `n` bytes are consumed and the caller calls again with `&data[n..]`. Returns
    /// `None` when all of `data` was consumed without reaching a boundary.
    pub fn next_boundary(&mut self, data: &[u8]) -> Option<usize> {
        match self.kind {
            Kind::Fixed => self.next_fixed(data),
            Kind::Buzhash => self.next_dynamic::<Buz>(data),
            Kind::RabinKarp => self.next_dynamic::<Rabin>(data),
        }
    }

    fn next_fixed(&mut self, data: &[u8]) -> Option<usize> {
        let left = self.max - self.count;
        if data.len() < left {
            self.count += data.len();
            None
        } else {
            self.count = 0;
            Some(left)
        }
    }

    fn next_dynamic<R: Roll>(&mut self, data: &[u8]) -> Option<usize> {
        let mut pos = 0;
        // Below min-1 bytes no hash is tested: just count them.
        if self.count + 1 < self.min {
            let skip = (self.min - 1 - self.count).min(data.len());
            self.count += skip;
            pos = skip;
            self.hash_valid = false;
            if pos == data.len() {
                self.absorb(data);
                return None;
            }
        }
        if !self.hash_valid {
            self.hash = R::of_window(&self.window_before(data, pos));
            self.hash_valid = true;
        }
        // count < max always holds between calls, so `left` ≥ 1.
        let left = self.max - self.count;
        let end = pos + left.min(data.len() - pos);
        let (found, hash) = scan::<R>(self.hash, self.mask, &self.history, data, pos, end);
        self.hash = hash;
        if let Some(j) = found {
            self.count = 0;
            self.absorb(&data[..=j]);
            return Some(j + 1);
        }
        self.count += end - pos;
        if self.count >= self.max {
            self.count = 0;
            self.absorb(&data[..end]);
            return Some(end);
        }
        self.absorb(data);
        None
    }

    /// The 64 bytes before `data[pos]` (history followed by `data[..pos]`).
    fn window_before(&self, data: &[u8], pos: usize) -> [u8; WINDOW_SIZE] {
        let mut w = [0u8; WINDOW_SIZE];
        if pos >= WINDOW_SIZE {
            w.copy_from_slice(&data[pos - WINDOW_SIZE..pos]);
        } else {
            w[..WINDOW_SIZE - pos].copy_from_slice(&self.history[pos..]);
            w[WINDOW_SIZE - pos..].copy_from_slice(&data[..pos]);
        }
        w
    }

    /// Records that `consumed` (a prefix of the current call's data) has been consumed.
    fn absorb(&mut self, consumed: &[u8]) {
        self.history = self.window_before(consumed, consumed.len());
    }
}

/// Rolls `data[start..end]` into `h`; returns the index of the first byte after which
/// `h & mask == 0` (if any) and the hash after the last byte rolled.
/// `history` holds the 64 bytes before `data[0]`.
#[inline(always)]
fn scan<R: Roll>(
    mut h: u64,
    mask: u64,
    history: &[u8; WINDOW_SIZE],
    data: &[u8],
    start: usize,
    end: usize,
) -> (Option<usize>, u64) {
    // Head: leaving bytes still come from the history.
    let head_end = end.min(WINDOW_SIZE);
    let mut j = start;
    while j < head_end {
        h = R::roll(h, history[j], data[j]);
        if h & mask == 0 {
            return (Some(j), h);
        }
        j += 1;
    }
    if j >= end {
        return (None, h);
    }
    // Body: the leaving byte is 64 positions back in the same slice. Unrolled by 8
    // so that loop bookkeeping does not compete with the hash chain.
    let incoming = &data[j..end];
    let outgoing = &data[j - WINDOW_SIZE..end - WINDOW_SIZE];
    let mut ins = incoming.chunks_exact(8);
    let mut outs = outgoing.chunks_exact(8);
    let mut base = j;
    for (ci, co) in (&mut ins).zip(&mut outs) {
        for k in 0..8 {
            h = R::roll(h, co[k], ci[k]);
            if h & mask == 0 {
                return (Some(base + k), h);
            }
        }
        base += 8;
    }
    for (k, (&i, &o)) in ins.remainder().iter().zip(outs.remainder()).enumerate() {
        h = R::roll(h, o, i);
        if h & mask == 0 {
            return (Some(base + k), h);
        }
    }
    (None, h)
}

/// Lengths of the chunks the named splitter cuts `data` into (the final remainder
/// included; empty input gives no chunks).
pub fn chunk_lengths(name: &str, data: &[u8]) -> Result<Vec<usize>, SplitterError> {
    let mut s = Splitter::new(name)?;
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(n) = s.next_boundary(rest) {
        out.push(n);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        out.push(rest.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
