//! Shared inputs for the benchmarks: deterministic pseudo-random and
//! compressible buffers, so every run (and kopia's compression benchmark, via a
//! data file) measures the same bytes.
//!
//! Nothing here depends on the platform: the generators are fixed integer
//! recurrences, so the same seed gives the same bytes everywhere.

use std::io;
use std::path::Path;

/// Size of the buffer every benchmark processes per iteration (16 MiB).
pub const BUF_LEN: usize = 16 << 20;

/// Seed of the random splitter input (kopia's `benchmark splitter --rand-seed` default).
pub const SPLITTER_SEED: u64 = 42;

/// Seed of the generated compression input.
pub const COMPRESSIBLE_SEED: u64 = 0x5eed_c0de;

/// Environment variable naming a file to use as the compression input instead
/// of the generated one (the comparison script points both tools at one file).
pub const DATA_ENV: &str = "VMDP_BENCH_DATA";

/// SplitMix64: a tiny, well-distributed generator; enough for benchmark data
/// and free of dependencies whose output could change between versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fills `buf` with pseudo-random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// `len` pseudo-random (incompressible) bytes from `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    SplitMix64::new(seed).fill(&mut buf);
    buf
}

/// Common English words, most frequent first; picked with a skew towards the
/// front so word frequencies look roughly like real text.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "backup",
    "snapshot",
    "repository",
    "content",
    "object",
    "directory",
    "file",
    "policy",
    "retention",
    "compression",
    "encryption",
    "storage",
    "index",
    "manifest",
    "maintenance",
    "server",
    "client",
    "upload",
    "restore",
    "verify",
    "schedule",
    "volume",
    "cluster",
    "operator",
    "machine",
    "network",
    "throughput",
    "latency",
    "deduplication",
    "chunk",
    "splitter",
    "hash",
    "time",
    "people",
    "year",
    "way",
    "day",
    "thing",
    "world",
    "life",
    "hand",
    "part",
    "child",
    "place",
    "work",
    "week",
    "case",
    "point",
    "number",
    "group",
    "problem",
    "fact",
    "system",
    "program",
    "question",
    "government",
    "company",
    "important",
    "different",
    "following",
    "without",
    "through",
    "between",
    "because",
    "another",
    "however",
    "something",
    "although",
];

const LEVELS: &[&str] = &["debug", "info", "info", "info", "warn", "error"];
const PATHS: &[&str] = &[
    "/var/lib/vmdp/cache",
    "/home/alice/projects",
    "/srv/data/volumes",
    "/etc/kopia",
    "/tmp/upload",
    "/opt/app/releases",
    "/usr/share/doc",
    "/mnt/backup/pool",
];

/// A word index skewed towards frequent words (roughly Zipf-like).
fn word<'a>(rng: &mut SplitMix64) -> &'a str {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let i = ((u * u * u) * WORDS.len() as f64) as usize;
    WORDS[i.min(WORDS.len() - 1)]
}

/// Appends a paragraph of prose, wrapped at about 80 columns.
fn prose(rng: &mut SplitMix64, out: &mut Vec<u8>, target: usize) {
    let end = out.len() + target;
    let mut col = 0;
    let mut start_sentence = true;
    while out.len() < end {
        let w = word(rng).as_bytes();
        if col + w.len() > 78 {
            out.push(b'\n');
            col = 0;
        } else if col > 0 {
            out.push(b' ');
            col += 1;
        }
        let at = out.len();
        out.extend_from_slice(w);
        if start_sentence {
            out[at] = out[at].to_ascii_uppercase();
            start_sentence = false;
        }
        col += w.len();
        match rng.below(16) {
            0 | 1 => {
                out.push(b'.');
                start_sentence = true;
            }
            2 => out.push(b','),
            _ => {}
        }
    }
    out.extend_from_slice(b"\n\n");
}

/// Appends structured log lines (JSON with timestamps, ids and counters).
fn log_lines(rng: &mut SplitMix64, out: &mut Vec<u8>, target: usize, clock: &mut u64) {
    use std::io::Write as _;
    let end = out.len() + target;
    while out.len() < end {
        *clock += rng.below(5000) as u64;
        let (secs, ms) = (*clock / 1000, *clock % 1000);
        let _ = writeln!(
            out,
            "{{\"ts\":\"2024-05-{:02}T{:02}:{:02}:{:02}.{ms:03}Z\",\"level\":\"{}\",\"msg\":\"{} {} {}\",\"path\":\"{}/{}\",\"id\":\"{:016x}\",\"bytes\":{},\"elapsed_ms\":{}}}",
            1 + secs / 86_400 % 28,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            LEVELS[rng.below(LEVELS.len())],
            word(rng),
            word(rng),
            word(rng),
            PATHS[rng.below(PATHS.len())],
            word(rng),
            rng.next_u64(),
            rng.below(1 << 24),
            rng.below(10_000),
        );
    }
}

/// `len` bytes of realistic, compressible data from `seed`: mostly prose and
/// JSON log lines, with about a tenth in runs of random bytes (like embedded
/// already-compressed files). zstd level 3 shrinks it to about 40%.
pub fn compressible_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(len + (64 << 10));
    let mut clock = 0u64;
    while out.len() < len {
        let kind = rng.below(8);
        let target = 1024 + rng.below(16 << 10);
        match kind {
            0..=3 => prose(&mut rng, &mut out, target),
            4..=6 => log_lines(&mut rng, &mut out, target, &mut clock),
            _ => {
                let n = 512 + rng.below(15 << 10);
                let at = out.len();
                out.resize(at + n, 0);
                rng.fill(&mut out[at..]);
            }
        }
    }
    out.truncate(len);
    out
}

/// The compression input: the file named by [`DATA_ENV`] if set, otherwise
/// [`compressible_bytes`] of [`BUF_LEN`] bytes.
pub fn compression_input() -> io::Result<Vec<u8>> {
    match std::env::var_os(DATA_ENV) {
        Some(path) if !path.is_empty() => read_input(Path::new(&path)),
        _ => Ok(compressible_bytes(BUF_LEN, COMPRESSIBLE_SEED)),
    }
}

/// Reads a data file (like kopia, at most its first 128 MB are used).
fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    let mut data = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    data.truncate(128 << 20);
    if data.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic() {
        assert_eq!(random_bytes(1000, 1), random_bytes(1000, 1));
        assert_ne!(random_bytes(1000, 1), random_bytes(1000, 2));
        assert_eq!(
            compressible_bytes(100_000, 7),
            compressible_bytes(100_000, 7)
        );
    }

    #[test]
    fn random_fill_covers_odd_lengths() {
        let b = random_bytes(13, 9);
        assert_eq!(b.len(), 13);
        assert!(b.iter().any(|&x| x != 0));
    }

    #[test]
    fn compressible_has_requested_length_and_mix() {
        let b = compressible_bytes(1 << 20, COMPRESSIBLE_SEED);
        assert_eq!(b.len(), 1 << 20);
        let text = b
            .iter()
            .filter(|c| c.is_ascii_graphic() || **c == b' ')
            .count();
        // Mostly text, but not only text.
        assert!(text > b.len() / 2 && text < b.len(), "text bytes: {text}");
    }

    #[test]
    fn empty_data_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("vmdp-bench-empty-{}", std::process::id()));
        std::fs::write(&dir, b"").unwrap();
        let err = read_input(&dir).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
