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
