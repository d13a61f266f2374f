//! Block-parallel encoding, for the compressors kopia runs concurrently: its S2
//! writer encodes up to GOMAXPROCS blocks at once (4 or 8 for `s2-parallel-*`)
//! and pgzip compresses GOMAXPROCS blocks at once. The blocks are encoded
//! independently, so the output does not depend on the number of threads.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads to use when a compressor allows "all of them" (kopia's GOMAXPROCS):
/// the CPUs this process may run on, looked up once.
pub(super) fn available_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Encodes `data` in blocks of `block_size` bytes with `encode(index, block)`, on
/// up to `threads` threads (the caller's included), and returns the results in
/// block order. One block, or one thread, runs entirely on the caller's thread.
pub(super) fn encode_blocks<T, F>(
    data: &[u8],
    block_size: usize,
    threads: usize,
    encode: F,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &[u8]) -> T + Sync,
{
    let blocks: Vec<&[u8]> = data.chunks(block_size.max(1)).collect();
    let threads = threads.clamp(1, blocks.len().max(1));
    if threads == 1 {
        return blocks
            .iter()
            .enumerate()
            .map(|(i, b)| encode(i, b))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(block) = blocks.get(i) else {
                return done;
            };
            done.push((i, encode(i, block)));
        }
    };
    let mut parts: Vec<(usize, T)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            match h.join() {
                Ok(part) => all.extend(part),
                // An encoder panicked: re-raise it on the caller's thread.
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        all
    });
    parts.sort_unstable_by_key(|&(i, _)| i);
    parts.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_block_order_for_any_thread_count() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let expected: Vec<(usize, usize, u8)> = data
            .chunks(64)
            .enumerate()
            .map(|(i, b)| (i, b.len(), b[0]))
            .collect();
        for threads in [0, 1, 2, 3, 8, 100] {
            let got = encode_blocks(&data, 64, threads, |i, b| (i, b.len(), b[0]));
            assert_eq!(got, expected, "threads {threads}");
        }
        assert!(encode_blocks(&[], 64, 4, |_, b: &[u8]| b.len()).is_empty());
        assert!(available_threads() >= 1);
    }

    /// ~3.3 MiB: repetitive text, random bytes, more text (several 1 MiB blocks).
    fn multi_block_input() -> Vec<u8> {
        let mut data: Vec<u8> = b"parallel block encoding keeps kopia's stream formats\n"
            .iter()
            .copied()
            .cycle()
            .take(1_500_000)
            .collect();
        let mut x = 0x1234_5678u32;
        data.extend((0..700_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        data.extend((0..1_300_000u32).map(|i| b"abcdefghij"[(i / 7 % 10) as usize]));
        data
    }

    #[test]
    fn pgzip_and_s2_bytes_do_not_depend_on_thread_count() {
        let data = multi_block_input();
        let encode = |threads: usize| {
            let mut gz = Vec::new();
            assert!(super::super::codecs::pgzip_compress(
                &data,
                3,
                threads,
                &mut gz,
                usize::MAX
            ));
            let mut s2 = Vec::new();
            assert!(super::super::s2::compress(
                &data,
                false,
                threads,
                &mut s2,
                usize::MAX
            ));
            (gz, s2)
        };
        let (gz1, s21) = encode(1);
        for threads in [2, 3, 8] {
            assert!(
                encode(threads) == (gz1.clone(), s21.clone()),
                "threads {threads}"
            );
        }
        assert_eq!(
            super::super::codecs::gzip_decompress(&gz1, data.len()).unwrap(),
            data
        );
        assert_eq!(
            super::super::s2::decompress(&s21, data.len()).unwrap(),
            data
        );
        // One gzip member: flate2's header, then CRC-32 and ISIZE of the whole input.
        assert_eq!(&gz1[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let trailer = &gz1[gz1.len() - 8..];
        assert_eq!(&trailer[..4], &crc.sum().to_le_bytes());
        assert_eq!(&trailer[4..], &(data.len() as u32).to_le_bytes());
        // Priming each block with the previous 32 KiB keeps the ratio close to a
        // single stream's.
        let mut single = Vec::new();
        assert!(super::super::codecs::gzip_compress(
            &data,
            3,
            &mut single,
            usize::MAX
        ));
        assert!(
            gz1.len() < single.len() + single.len() / 50,
            "{} vs {}",
            gz1.len(),
            single.len()
        );
    }

    #[test]
    fn pgzip_and_s2_respect_the_output_limit() {
        let data = multi_block_input();
        let mut gz = Vec::new();
        assert!(super::super::codecs::pgzip_compress(
            &data,
            1,
            2,
            &mut gz,
            usize::MAX
        ));
        let mut out = b"keep".to_vec();
        assert!(!super::super::codecs::pgzip_compress(
            &data,
            1,
            2,
            &mut out,
            gz.len() - 1
        ));
        assert_eq!(out, b"keep");
        let mut out = Vec::new();
        assert!(super::super::codecs::pgzip_compress(
            &data,
            1,
            2,
            &mut out,
            gz.len()
        ));
        assert_eq!(out, gz);

        let mut s2 = Vec::new();
        assert!(super::super::s2::compress(
            &data,
            true,
            2,
            &mut s2,
            usize::MAX
        ));
        let mut out = b"keep".to_vec();
        assert!(!super::super::s2::compress(
            &data,
            true,
            2,
            &mut out,
            s2.len() - 1
        ));
        assert_eq!(out, b"keep");
    }
}
