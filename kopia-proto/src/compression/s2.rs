//! The S2 stream format of `github.com/klauspost/compress/s2` (a superset of the
//! Snappy framing format), framed here and block-coded by the `minlz` crate.
//!
//! Stream = chunks of `type(1) ‖ LE24(len) ‖ body`. The first chunk is the stream
//! identifier (`S2sTwO`, or `sNaPpY` for plain Snappy streams); data chunks carry a
//! masked CRC-32C of their uncompressed bytes followed by an S2 block (type 0x00)
//! or raw bytes (0x01). Types 0x80..=0xfe are skippable (padding, index), 0x02..=0x7f
//! are reserved and fatal. An empty stream decodes to nothing (kopia's writer emits
//! no bytes at all for empty input).

use std::cell::RefCell;

use super::{CompressionError, parallel};

/// Block size kopia's S2 writer uses (klauspost default: 1 MiB).
const BLOCK_SIZE: usize = 1 << 20;
/// Largest block a reader accepts (S2's maximum).
const MAX_BLOCK_SIZE: usize = 4 << 20;
/// Largest block inside a Snappy-framed stream.
const MAX_SNAPPY_BLOCK_SIZE: usize = 64 << 10;

const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_STREAM_ID: u8 = 0xff;
const MAGIC_S2: &[u8] = b"S2sTwO";
const MAGIC_SNAPPY: &[u8] = b"sNaPpY";
const CHECKSUM_LEN: usize = 4;

thread_local! {
    static ENCODER: RefCell<minlz::Encoder> = RefCell::new(minlz::Encoder::new());
}

/// The Snappy/S2 framing checksum: CRC-32C of the uncompressed bytes, masked
/// (rotated right by 15, plus a constant). Hardware CRC-32C (SSE 4.2 / ARMv8,
/// detected at run time) is far faster than a table-driven CRC, which would
/// otherwise dominate decompression time.
fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

fn push_chunk_header(out: &mut Vec<u8>, kind: u8, len: usize) {
    let len = len as u32; // < 2^24: blocks are at most 1 MiB + overhead
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes()[..3]);
}

/// One encoded block: its checksum and its S2 encoding, or `None` when the
/// block is stored raw.
type EncodedBlock = (u32, Option<Vec<u8>>);

fn encode_block(block: &[u8], better: bool) -> EncodedBlock {
    let encoded = ENCODER.with(|cell| {
        let mut enc = cell.borrow_mut();
        if better {
            enc.encode_better(block)
        } else {
            enc.encode(block)
        }
    });
    // Same rule as klauspost's writer: keep the block raw unless compression
    // saves at least 1/32 of it plus 5 bytes.
    let worth = encoded.len() <= (block.len() - block.len() / 32).saturating_sub(5);
    (masked_crc(block), worth.then_some(encoded))
}

/// Appends an S2 stream of `data` to `out`; `false` if it would exceed `limit`
/// bytes. Blocks are encoded on up to `threads` threads, like kopia's writer
/// (the output is the same for any thread count).
pub(super) fn compress(
    data: &[u8],
    better: bool,
    threads: usize,
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    if data.is_empty() {
        return true;
    }
    if limit < 10 {
        return false;
    }
    let encoded = parallel::encode_blocks(data, BLOCK_SIZE, threads, |_, block| {
        encode_block(block, better)
    });
    let start = out.len();
    let body_len: usize = encoded
        .iter()
        .zip(data.chunks(BLOCK_SIZE))
        .map(|((_, enc), raw)| 4 + CHECKSUM_LEN + enc.as_ref().map_or(raw.len(), Vec::len))
        .sum();
    if 10 + body_len > limit {
        return false;
    }
    out.reserve(10 + body_len);
    out.push(CHUNK_STREAM_ID);
    out.extend_from_slice(&[MAGIC_S2.len() as u8, 0, 0]);
    out.extend_from_slice(MAGIC_S2);
    for ((crc, enc), raw) in encoded.iter().zip(data.chunks(BLOCK_SIZE)) {
        let (kind, body) = match enc {
            Some(e) => (CHUNK_COMPRESSED, &e[..]),
            None => (CHUNK_UNCOMPRESSED, raw),
        };
        push_chunk_header(out, kind, CHECKSUM_LEN + body.len());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(body);
    }
    debug_assert_eq!(out.len() - start, 10 + body_len);
    true
}

/// The output size the chunk headers announce (a cheap pass over headers only),
/// so the output is allocated once instead of being regrown and copied block
/// after block. Malformed streams just end the pass early: the decoder proper
/// reports their errors, and the caller caps the hint by its `max_len`.
fn decoded_len_hint(body: &[u8]) -> usize {
    let mut total = 0usize;
    let mut rest = body;
    while let Some((hdr, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes([hdr[1], hdr[2], hdr[3], 0]) as usize;
        let Some((chunk, next)) = (len <= tail.len()).then(|| tail.split_at(len)) else {
            break;
        };
        rest = next;
        let payload = chunk.get(CHECKSUM_LEN..).unwrap_or_default();
        let n = match hdr[0] {
            CHUNK_COMPRESSED => match minlz::decode_len(payload) {
                Ok((n, _)) => n.min(MAX_BLOCK_SIZE),
                Err(_) => break,
            },
            CHUNK_UNCOMPRESSED => payload.len(),
            _ => 0,
        };
        total = total.saturating_add(n);
    }
    total
}

fn corrupt(reason: impl Into<String>) -> CompressionError {
    CompressionError::Corrupt {
        compressor: "s2",
        reason: reason.into(),
    }
}

/// Decodes an S2 (or Snappy-framed) stream, producing at most `max_len` bytes.
/// Block lengths are checked before any allocation, so hostile headers cannot
/// make it allocate more than `max_len` (plus one 4 MiB block at most).
pub(super) fn decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out: Vec<u8> = Vec::with_capacity(decoded_len_hint(body).min(max_len));
    let mut rest = body;
    let mut max_block = None::<usize>; // set by the stream identifier
    while let Some((hdr, tail)) = rest.split_first_chunk::<4>() {
        let kind = hdr[0];
        let len = u32::from_le_bytes([hdr[1], hdr[2], hdr[3], 0]) as usize;
        let Some((chunk, next)) = (len <= tail.len()).then(|| tail.split_at(len)) else {
            return Err(corrupt(format!(
                "chunk of {len} bytes truncated to {}",
                tail.len()
            )));
        };
        rest = next;
        if kind == CHUNK_STREAM_ID {
            max_block = Some(match chunk {
                MAGIC_S2 => MAX_BLOCK_SIZE,
                MAGIC_SNAPPY => MAX_SNAPPY_BLOCK_SIZE,
                _ => return Err(corrupt("invalid stream identifier")),
            });
            continue;
        }
        let Some(max_block) = max_block else {
            return Err(corrupt("stream does not start with a stream identifier"));
        };
        match kind {
            CHUNK_COMPRESSED | CHUNK_UNCOMPRESSED => {
                let Some((crc, payload)) = chunk.split_first_chunk::<CHECKSUM_LEN>() else {
                    return Err(corrupt("data chunk shorter than its checksum"));
                };
                let n = if kind == CHUNK_COMPRESSED {
                    minlz::decode_len(payload)
                        .map_err(|e| corrupt(format!("bad block header: {e}")))?
                        .0
                } else {
                    payload.len()
                };
                if n > max_block {
                    return Err(corrupt(format!("block of {n} bytes exceeds {max_block}")));
                }
                if n > max_len - out.len() {
                    return Err(CompressionError::TooLarge { max_len });
                }
                let at = out.len();
                if kind == CHUNK_COMPRESSED {
                    out.resize(at + n, 0);
                    minlz::decode_into(&mut out[at..], payload)
                        .map_err(|e| corrupt(format!("bad block: {e}")))?;
                } else {
                    out.extend_from_slice(payload);
                }
                if masked_crc(&out[at..]) != u32::from_le_bytes(*crc) {
                    return Err(corrupt("checksum mismatch"));
                }
            }
            0x02..=0x7f => {
                return Err(corrupt(format!(
                    "reserved unskippable chunk type {kind:#04x}"
                )));
            }
            _ => {} // 0x80..=0xfe: skippable (padding, index)
        }
    }
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod crc_tests {
    use super::masked_crc;

    #[test]
    fn masked_crc_matches_the_reference_implementation() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096, 5000] {
            assert_eq!(
                masked_crc(&data[..len]),
                minlz::crc::crc(&data[..len]),
                "len {len}"
            );
        }
        // CRC-32C("123456789") = 0xe3069283, then masked.
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }
}
