//! Content compression, as in kopia's `repo/compression`.
//!
//! A compressed content is `BE32(headerID) ‖ stream`. Every compressor kopia
//! v0.23.1 registers can be read and written here (gzip, zstd, S2, pgzip, raw
//! deflate, at levels that compress like kopia's); header `0x1400` (LZ4) is refused both ways,
//! as kopia v0.23.1 does. Decompression is always bounded by a caller-given
//! maximum output size, so a corrupt or hostile stream cannot exhaust memory.

mod codecs;
mod parallel;
mod s2;

/// Length of the big-endian header ID that starts every compressed content.
pub const HEADER_LEN: usize = 4;

/// Header ID recorded in an index entry for contents stored uncompressed.
pub const NO_COMPRESSION: u32 = 0;

/// Header ID once used for LZ4; kopia v0.23.1 refuses to read or write it.
pub const LZ4_HEADER_ID: u32 = 0x1400;

/// Names of every compressor this module reads and writes (kopia's policy values;
/// `lz4` is not included because kopia v0.23.1 no longer supports it).
pub const COMPRESSOR_NAMES: &[&str] = &[
    "gzip",
    "gzip-best-speed",
    "gzip-best-compression",
    "zstd",
    "zstd-fastest",
    "zstd-better-compression",
    "zstd-best-compression",
    "s2-default",
    "s2-better",
    "s2-parallel-4",
    "s2-parallel-8",
    "pgzip",
    "pgzip-best-speed",
    "pgzip-best-compression",
    "deflate-default",
    "deflate-best-speed",
    "deflate-best-compression",
];

/// Why compression or decompression failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The name is not a kopia compressor (`none` is not a compressor either).
    #[error("unknown compressor name {0:?}")]
    UnknownName(String),
    /// The header ID is not one kopia registers.
    #[error("unsupported compressor header ID {0:#x}")]
    UnknownHeaderId(u32),
    /// LZ4 (`0x1400`) was removed from kopia; v0.22.3 or older is needed for such data.
    #[error(
        "LZ4 compression (header 0x1400) is not supported, as in kopia v0.23.1 (needs kopia v0.22.3 or older)"
    )]
    Lz4Unsupported,
    /// The input is too short to hold the 4-byte header.
    #[error("compressed data truncated: {len} bytes, the header alone needs 4")]
    Truncated {
        /// Length of the input.
        len: usize,
    },
    /// The stored header does not match the compressor the index names.
    #[error("invalid compression header: expected {expected:#x}, got {actual:#x}")]
    HeaderMismatch {
        /// Header ID the caller expected.
        expected: u32,
        /// Header ID found in the data.
        actual: u32,
    },
    /// The decompressed output would exceed the caller's limit.
    #[error("decompressed data exceeds the limit of {max_len} bytes")]
    TooLarge {
        /// The limit passed by the caller.
        max_len: usize,
    },
    /// The compressed stream is malformed.
    #[error("{compressor} stream is corrupt: {reason}")]
    Corrupt {
        /// Name of the stream format (`gzip`, `zstd`, `s2`, `deflate`).
        compressor: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// The encoder failed (only zstd can, e.g. on allocation failure).
    #[error("{compressor} compression failed: {reason}")]
    Compress {
        /// Name of the stream format.
        compressor: &'static str,
        /// What the encoder reported.
        reason: String,
    },
}

/// zlib level with the compression ratio of klauspost/compress's flate level 6
/// (kopia's `deflate-default` and `pgzip`): klauspost trades ratio for speed at
/// each level, so zlib's own level 6 would compress a little better but run at
/// about half kopia's speed. Any level produces a stream every reader accepts.
const KLAUSPOST_DEFAULT_AS_ZLIB: u32 = 3;

/// The stream format behind a header ID; levels only matter when writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Gzip(u32),
    /// gzip written in 1 MiB blocks on up to `threads` threads (pgzip).
    Pgzip {
        level: u32,
        threads: usize,
    },
    Zstd(i32),
    /// S2, blocks encoded on up to `threads` threads.
    S2 {
        better: bool,
        threads: usize,
    },
    Deflate(u32),
}

/// A compressor kopia registers, identified by name and by 4-byte header ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compressor {
    /// `gzip` (0x1000), level 6.
    Gzip,
    /// `gzip-best-speed` (0x1001), level 1.
    GzipBestSpeed,
    /// `gzip-best-compression` (0x1002), level 9.
    GzipBestCompression,
    /// `zstd` (0x1100), klauspost `SpeedDefault` ≈ level 3.
    Zstd,
    /// `zstd-fastest` (0x1101), ≈ level 1; kopia's default for metadata.
    ZstdFastest,
    /// `zstd-better-compression` (0x1102), level 6: klauspost's
    /// `SpeedBetterCompression` compresses less than C zstd's level 7 ("≈ 7-8" in its
    /// docs); level 6 still compresses better than kopia, and faster.
    ZstdBetterCompression,
    /// `zstd-best-compression` (0x1103), ≈ level 11; deprecated in kopia.
    ZstdBestCompression,
    /// `s2-default` (0x1200).
    S2Default,
    /// `s2-better` (0x1201).
    S2Better,
    /// `s2-parallel-4` (0x1202); same stream format, kopia encodes 4 blocks at once.
    S2Parallel4,
    /// `s2-parallel-8` (0x1203); same stream format, kopia encodes 8 blocks at once.
    S2Parallel8,
    /// `pgzip` (0x1300): gzip written by a parallel encoder; zlib level 3, which
    /// matches the ratio of kopia's klauspost level 6 (faster than zlib's 6).
    Pgzip,
    /// `pgzip-best-speed` (0x1301), level 1.
    PgzipBestSpeed,
    /// `pgzip-best-compression` (0x1302), level 9.
    PgzipBestCompression,
    /// `deflate-default` (0x1500): raw DEFLATE; zlib level 3, which matches the
    /// ratio of kopia's klauspost level 6 (zlib's own level 6 is much slower).
    DeflateDefault,
    /// `deflate-best-speed` (0x1501), level 1.
    DeflateBestSpeed,
    /// `deflate-best-compression` (0x1502), level 9.
    DeflateBestCompression,
}

impl Compressor {
    /// Every supported compressor, in the order of [`COMPRESSOR_NAMES`].
    pub const ALL: [Compressor; 17] = [
        Compressor::Gzip,
        Compressor::GzipBestSpeed,
        Compressor::GzipBestCompression,
        Compressor::Zstd,
        Compressor::ZstdFastest,
        Compressor::ZstdBetterCompression,
        Compressor::ZstdBestCompression,
        Compressor::S2Default,
        Compressor::S2Better,
        Compressor::S2Parallel4,
        Compressor::S2Parallel8,
        Compressor::Pgzip,
        Compressor::PgzipBestSpeed,
        Compressor::PgzipBestCompression,
        Compressor::DeflateDefault,
        Compressor::DeflateBestSpeed,
        Compressor::DeflateBestCompression,
    ];

    /// Looks a compressor up by kopia's name (`lz4` → [`CompressionError::Lz4Unsupported`]).
    pub fn from_name(name: &str) -> Result<Self, CompressionError> {
        if name == "lz4" {
            return Err(CompressionError::Lz4Unsupported);
        }
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| CompressionError::UnknownName(name.to_string()))
    }

    /// Looks a compressor up by header ID (`0x1400` → [`CompressionError::Lz4Unsupported`]).
    pub fn from_header_id(id: u32) -> Result<Self, CompressionError> {
        if id == LZ4_HEADER_ID {
            return Err(CompressionError::Lz4Unsupported);
        }
        Self::ALL
            .into_iter()
            .find(|c| c.header_id() == id)
            .ok_or(CompressionError::UnknownHeaderId(id))
    }

    /// Kopia's name (the value used in policies).
    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|&c| c == self).unwrap_or(0);
        COMPRESSOR_NAMES[i]
    }

    /// The 4-byte header ID written before the stream and recorded in index entries.
    pub fn header_id(self) -> u32 {
        use Compressor::*;
        match self {
            Gzip => 0x1000,
            GzipBestSpeed => 0x1001,
            GzipBestCompression => 0x1002,
            Zstd => 0x1100,
            ZstdFastest => 0x1101,
            ZstdBetterCompression => 0x1102,
            ZstdBestCompression => 0x1103,
            S2Default => 0x1200,
            S2Better => 0x1201,
            S2Parallel4 => 0x1202,
            S2Parallel8 => 0x1203,
            Pgzip => 0x1300,
            PgzipBestSpeed => 0x1301,
            PgzipBestCompression => 0x1302,
            DeflateDefault => 0x1500,
            DeflateBestSpeed => 0x1501,
            DeflateBestCompression => 0x1502,
        }
    }

    /// True for compressors kopia marks deprecated (still readable and writable).
    pub fn is_deprecated(self) -> bool {
        self == Compressor::ZstdBestCompression
    }

    fn stream(self) -> Stream {
        use Compressor::*;
        match self {
            Gzip => Stream::Gzip(6),
            GzipBestSpeed => Stream::Gzip(1),
            GzipBestCompression => Stream::Gzip(9),
            Pgzip => pgzip(KLAUSPOST_DEFAULT_AS_ZLIB),
            PgzipBestSpeed => pgzip(1),
            PgzipBestCompression => pgzip(9),
            Zstd => Stream::Zstd(3),
            ZstdFastest => Stream::Zstd(1),
            ZstdBetterCompression => Stream::Zstd(6),
            ZstdBestCompression => Stream::Zstd(11),
            // Kopia's S2 writers encode GOMAXPROCS blocks at once, or 4 / 8.
            S2Default => s2(false, usize::MAX),
            S2Better => s2(true, usize::MAX),
            S2Parallel4 => s2(false, 4),
            S2Parallel8 => s2(false, 8),
            DeflateDefault => Stream::Deflate(KLAUSPOST_DEFAULT_AS_ZLIB),
            DeflateBestSpeed => Stream::Deflate(1),
            DeflateBestCompression => Stream::Deflate(9),
        }
    }

    /// Compresses `data`; the result starts with the 4-byte header.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        let mut out = Vec::new();
        self.compress_into(data, &mut out)?;
        Ok(out)
    }

    /// Like [`Compressor::compress`] but appends to `out`.
    pub fn compress_into(self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        let fits = self.compress_bounded(data, out, usize::MAX)?;
        debug_assert!(fits);
        Ok(())
    }

    /// Kopia's keep-or-discard rule (§4.2): the compressed form (header included)
    /// if it is strictly shorter than `data`, otherwise `None` (store uncompressed
    /// with header ID 0). Gives up early once the output reaches `data.len()`.
    pub fn compress_if_smaller(self, data: &[u8]) -> Result<Option<Vec<u8>>, CompressionError> {
        if data.len() <= HEADER_LEN {
            return Ok(None);
        }
        let mut out = Vec::new();
        let fits = self.compress_bounded(data, &mut out, data.len() - 1)?;
        Ok(fits.then_some(out))
    }

    /// Appends header + stream to `out` unless the appended part would exceed
    /// `limit` bytes, in which case `out` is restored and `false` returned.
    fn compress_bounded(
        self,
        data: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<bool, CompressionError> {
        let start = out.len();
        out.extend_from_slice(&self.header_id().to_be_bytes());
        let body_limit = limit.saturating_sub(HEADER_LEN);
        let fits = match self.stream() {
            Stream::Gzip(level) => codecs::gzip_compress(data, level, out, body_limit),
            Stream::Deflate(level) => codecs::deflate_compress(data, level, out, body_limit),
            Stream::Zstd(level) => codecs::zstd_compress(data, level, out, body_limit)?,
            Stream::Pgzip { level, threads } => {
                codecs::pgzip_compress(data, level, threads, out, body_limit)
            }
            Stream::S2 { better, threads } => s2::compress(data, better, threads, out, body_limit),
        };
        if !fits {
            out.truncate(start);
        }
        Ok(fits)
    }

    /// Decompresses `data` (header included), checking that its header is this
    /// compressor's; output longer than `max_len` is an error.
    pub fn decompress(self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
        let (actual, body) = split_header(data)?;
        if actual != self.header_id() {
            return Err(CompressionError::HeaderMismatch {
                expected: self.header_id(),
                actual,
            });
        }
        self.decompress_body(body, max_len)
    }

    fn decompress_body(self, body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
        match self.stream() {
            Stream::Gzip(_) | Stream::Pgzip { .. } => codecs::gzip_decompress(body, max_len),
            Stream::Deflate(_) => codecs::deflate_decompress(body, max_len),
            Stream::Zstd(_) => codecs::zstd_decompress(body, max_len),
            Stream::S2 { .. } => s2::decompress(body, max_len),
        }
    }
}

/// S2 on at most `max_threads` threads (and no more than this machine has).
fn s2(better: bool, max_threads: usize) -> Stream {
    Stream::S2 {
        better,
        threads: parallel::available_threads().min(max_threads),
    }
}

/// pgzip on as many threads as this machine has (kopia: GOMAXPROCS blocks at once).
fn pgzip(level: u32) -> Stream {
    Stream::Pgzip {
        level,
        threads: parallel::available_threads(),
    }
}

fn split_header(data: &[u8]) -> Result<(u32, &[u8]), CompressionError> {
    match data.split_first_chunk::<HEADER_LEN>() {
        Some((h, body)) => Ok((u32::from_be_bytes(*h), body)),
        None => Err(CompressionError::Truncated { len: data.len() }),
    }
}

/// The header ID at the start of compressed data.
pub fn header_id_of(data: &[u8]) -> Result<u32, CompressionError> {
    split_header(data).map(|(id, _)| id)
}

/// Decompresses data of any supported compressor, chosen by its header
/// (kopia's `DecompressByHeader`). Output longer than `max_len` is an error.
pub fn decompress(data: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    let (id, body) = split_header(data)?;
    Compressor::from_header_id(id)?.decompress_body(body, max_len)
}

/// Decompresses a content whose index entry says `header_id`: the stored header
/// must match it. `header_id` 0 ([`NO_COMPRESSION`]) returns `data` unchanged.
pub fn decompress_expecting(
    data: &[u8],
    header_id: u32,
    max_len: usize,
) -> Result<Vec<u8>, CompressionError> {
    if header_id == NO_COMPRESSION {
        if data.len() > max_len {
            return Err(CompressionError::TooLarge { max_len });
        }
        return Ok(data.to_vec());
    }
    Compressor::from_header_id(header_id)?.decompress(data, max_len)
}

#[cfg(test)]
mod tests;
