//! gzip, raw deflate and zstd streams: bounded encoders (for the keep-or-discard
//! rule) and decoders that never produce more than the caller's limit.

use std::cell::RefCell;
use std::io::{self, Read, Write};

use flate2::Compression;

use super::CompressionError;

/// Largest output buffer allocated up front from a caller's `max_len`; beyond
/// this the buffer grows as data actually arrives.
const PREALLOC_LIMIT: usize = 64 << 20;

/// A `Write` into a `Vec` that refuses to grow past `remaining` bytes.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    remaining: usize,
    overflowed: bool,
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.remaining {
            self.overflowed = true;
            return Err(io::Error::other("compressed output exceeds the limit"));
        }
        self.remaining -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn initial_capacity(input_len: usize, limit: usize) -> usize {
    (input_len / 4 + 64).min(limit)
}

/// gzip (RFC 1952) at `level`; `false` if the stream would exceed `limit` bytes.
pub(super) fn gzip_compress(data: &[u8], level: u32, out: &mut Vec<u8>, limit: usize) -> bool {
    out.reserve(initial_capacity(data.len(), limit));
    let mut sink = Bounded {
        out,
        remaining: limit,
        overflowed: false,
    };
    let mut enc = flate2::write::GzEncoder::new(&mut sink, Compression::new(level));
    let res = enc.write_all(data).and_then(|()| enc.finish().map(drop));
    finished(res, &sink)
}

/// Block size of kopia's pgzip writer (klauspost/pgzip's default, 1 MiB).
const PGZIP_BLOCK: usize = 1 << 20;
/// Each pgzip block is primed with the previous block's last 32 KiB (DEFLATE's window).
const PGZIP_DICT: usize = 32 << 10;

/// gzip the way pgzip writes it, for inputs over one block: one gzip member whose
/// DEFLATE stream is made of 1 MiB blocks compressed independently (each primed
/// with the 32 KiB before it and ended by a sync flush, the last one finished),
/// on up to `threads` threads. The bytes do not depend on the thread count.
/// Inputs of one block or less are plain [`gzip_compress`] output.
pub(super) fn pgzip_compress(
    data: &[u8],
    level: u32,
    threads: usize,
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    if data.len() <= PGZIP_BLOCK {
        return gzip_compress(data, level, out, limit);
    }
    let blocks = data.len().div_ceil(PGZIP_BLOCK);
    let parts = super::parallel::encode_blocks(data, PGZIP_BLOCK, threads, |i, block| {
        let start = i * PGZIP_BLOCK;
        let dict = &data[start.saturating_sub(PGZIP_DICT)..start];
        let mut crc = flate2::Crc::new();
        crc.update(block);
        (crc, deflate_segment(block, dict, level, i + 1 == blocks))
    });
    let mut crc = flate2::Crc::new();
    let mut segments = Vec::with_capacity(parts.len());
    for (c, seg) in parts {
        crc.combine(&c);
        match seg {
            Some(seg) => segments.push(seg),
            // The low-level encoder refused its input (not expected to happen):
            // fall back to the plain single-stream encoder.
            None => return gzip_compress(data, level, out, limit),
        }
    }
    let total = GZIP_HEADER_LEN + segments.iter().map(Vec::len).sum::<usize>() + 8;
    if total > limit {
        return false;
    }
    out.reserve(total);
    out.extend_from_slice(&gzip_header(level));
    for seg in &segments {
        out.extend_from_slice(seg);
    }
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes()); // ISIZE: length mod 2^32
    true
}

const GZIP_HEADER_LEN: usize = 10;

/// The 10-byte gzip header flate2's encoder writes (no name, mtime 0, OS
/// "unknown"; XFL 2 for the best level, 4 for the fastest).
fn gzip_header(level: u32) -> [u8; GZIP_HEADER_LEN] {
    let xfl = match level {
        9.. => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// One raw-DEFLATE segment of a pgzip stream: `block` compressed with `dict` as
/// preset dictionary, ended by a sync flush (or finished, for the last block).
/// `None` if the encoder reports an error.
fn deflate_segment(block: &[u8], dict: &[u8], level: u32, last: bool) -> Option<Vec<u8>> {
    let mut c = flate2::Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).ok()?;
    }
    let flush = if last {
        flate2::FlushCompress::Finish
    } else {
        flate2::FlushCompress::Sync
    };
    let mut seg = Vec::with_capacity(block.len() / 2 + 1024);
    loop {
        if seg.len() == seg.capacity() {
            seg.reserve(seg.capacity());
        }
        let consumed = usize::try_from(c.total_in()).ok()?;
        let status = c
            .compress_vec(block.get(consumed..)?, &mut seg, flush)
            .ok()?;
        let all_in = usize::try_from(c.total_in()).ok()? == block.len();
        // A flush is complete once the encoder leaves output space unused.
        let done = match status {
            flate2::Status::StreamEnd => true,
            _ => !last && all_in && seg.len() < seg.capacity(),
        };
        if done {
            return Some(seg);
        }
    }
}

/// Raw DEFLATE (RFC 1951) at `level`; `false` if the stream would exceed `limit` bytes.
pub(super) fn deflate_compress(data: &[u8], level: u32, out: &mut Vec<u8>, limit: usize) -> bool {
    out.reserve(initial_capacity(data.len(), limit));
    let mut sink = Bounded {
        out,
        remaining: limit,
        overflowed: false,
    };
    let mut enc = flate2::write::DeflateEncoder::new(&mut sink, Compression::new(level));
    let res = enc.write_all(data).and_then(|()| enc.finish().map(drop));
    finished(res, &sink)
}

/// Writing into a `Vec` cannot fail, so the only possible error is the limit.
fn finished(res: io::Result<()>, sink: &Bounded<'_>) -> bool {
    debug_assert!(res.is_ok() || sink.overflowed);
    res.is_ok()
}

thread_local! {
    static ZSTD_CCTX: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static ZSTD_DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_err(e: io::Error) -> CompressionError {
    CompressionError::Compress {
        compressor: "zstd",
        reason: e.to_string(),
    }
}

/// One zstd frame at `level` (contexts are cached per thread); `false` if it
/// exceeds `limit` bytes. The frame is always produced in full: zstd needs its
/// worst-case bound as room even when the result turns out smaller, and it is
/// fast on incompressible input anyway.
pub(super) fn zstd_compress(
    data: &[u8],
    level: i32,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, CompressionError> {
    let bound = zstd::zstd_safe::compress_bound(data.len());
    let start = out.len();
    out.reserve_exact(bound);
    let res = ZSTD_CCTX.with(|cell| -> Result<io::Result<usize>, CompressionError> {
        let mut slot = cell.borrow_mut();
        let cctx = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(level).map_err(zstd_err)?),
        };
        cctx.set_compression_level(level).map_err(zstd_err)?;
        let mut cursor = io::Cursor::new(&mut *out);
        cursor.set_position(start as u64);
        Ok(cctx.compress_to_buffer(data, &mut cursor))
    })?;
    match res {
        Ok(n) if n <= limit => Ok(true),
        Ok(_) => {
            out.truncate(start);
            Ok(false)
        }
        Err(e) => {
            out.truncate(start);
            Err(zstd_err(e))
        }
    }
}

/// Reads a decoder to its end, failing once more than `max_len` bytes come out.
fn read_limited<R: Read>(
    reader: R,
    max_len: usize,
    compressor: &'static str,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::with_capacity(max_len.min(PREALLOC_LIMIT));
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CompressionError::Corrupt {
            compressor,
            reason: e.to_string(),
        })?;
    if out.len() > max_len {
        return Err(CompressionError::TooLarge { max_len });
    }
    Ok(out)
}

/// gzip, including several concatenated members (as Go's reader accepts).
pub(super) fn gzip_decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    if body.is_empty() {
        // Go's gzip reader fails on an empty stream (no header).
        return Err(CompressionError::Corrupt {
            compressor: "gzip",
            reason: "empty stream".into(),
        });
    }
    read_limited(flate2::bufread::MultiGzDecoder::new(body), max_len, "gzip")
}

/// Raw DEFLATE; bytes after the final block are ignored, as in Go.
pub(super) fn deflate_decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    read_limited(
        flate2::bufread::DeflateDecoder::new(body),
        max_len,
        "deflate",
    )
}

/// zstd frame(s). Small limits decode in one shot into an exact-size buffer with a
/// cached context; failures are re-run through the streaming decoder, which
/// tells "too large" apart from "corrupt".
pub(super) fn zstd_decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    if max_len <= PREALLOC_LIMIT {
        let mut out = Vec::with_capacity(max_len);
        let ok = ZSTD_DCTX.with(|cell| {
            let mut slot = cell.borrow_mut();
            let dctx = match slot.as_mut() {
                Some(d) => d,
                None => match zstd::bulk::Decompressor::new() {
                    Ok(d) => slot.insert(d),
                    Err(_) => return false,
                },
            };
            dctx.decompress_to_buffer(body, &mut out).is_ok()
        });
        if ok && out.len() <= max_len {
            return Ok(out);
        }
    }
    let decoder =
        zstd::stream::read::Decoder::with_buffer(body).map_err(|e| CompressionError::Corrupt {
            compressor: "zstd",
            reason: e.to_string(),
        })?;
    read_limited(decoder, max_len, "zstd")
}
