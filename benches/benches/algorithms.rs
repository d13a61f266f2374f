//! Throughput of every algorithm kopia benchmarks, measured the way
//! `kopia benchmark splitter|hashing|encryption|compression` does:
//!
//! - `splitter/<NAME>`: a fresh splitter over 16 MiB of random bytes (seed 42),
//!   every boundary found (kopia `--data-size=16MiB`: a fresh splitter per
//!   16 MiB random block).
//! - `hashing/<NAME>`: the 16 MiB buffer hashed in one call (kopia
//!   `--block-size=16MiB`: one 16 MiB block, hashed repeatedly).
//! - `encryption/<NAME>/encrypt|decrypt`: the 16 MiB buffer as one content, with
//!   its derived key and a fresh nonce, into a reused output buffer (kopia
//!   `--block-size=16MiB`: `Encrypt` of one 16 MiB block into a reset buffer).
//! - `compression/<NAME>/compress|decompress`: the whole compression input
//!   (16 MiB generated text-like data, or the file in `VMDP_BENCH_DATA`) in one
//!   call, header included (kopia: `Compress`/`Decompress` of its `--data-file`).
//!   `compression/lz4/*` uses `lz4_flex` frames; kopia v0.23.1 has no LZ4.
//!
//! Every benchmark reports `Throughput::Bytes` of input processed.
//! Run: `cargo bench -p vmdp-benches --bench algorithms -- [filter] --noplot`.

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use kopia_proto::compression::Compressor;
use kopia_proto::encryption::{ENCRYPTION_NAMES, Encryptor};
use kopia_proto::hashing::{HASH_NAMES, HashFunction};
use kopia_proto::splitter::{SPLITTER_NAMES, Splitter};
use vmdp_benches::{BUF_LEN, SPLITTER_SEED, compression_input, random_bytes};

/// Each benchmark of a group processes `bytes` per iteration; flat sampling,
/// since one iteration already takes milliseconds.
fn group<'a>(c: &'a mut Criterion, name: &str, bytes: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(bytes as u64));
    g
}

/// Short runs: 10 samples (criterion's minimum) over ~2 s each keeps the whole
/// suite, ~75 benchmarks, within a few minutes on a small machine. Command-line
/// options (`--measurement-time`, `--warm-up-time`, `--sample-size`) override these.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn splitters(c: &mut Criterion) {
    let data = random_bytes(BUF_LEN, SPLITTER_SEED);
    let mut g = group(c, "splitter", data.len());
    for &name in SPLITTER_NAMES {
        let Ok(proto) = Splitter::new(name) else {
            panic!("splitter {name} is listed but cannot be created");
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut s = proto.clone();
                s.reset();
                let mut rest = black_box(&data[..]);
                let mut chunks = 0usize;
                while let Some(n) = s.next_boundary(rest) {
                    rest = &rest[n..];
                    chunks += 1;
                }
                chunks + usize::from(!rest.is_empty() || s.pending() > 0)
            })
        });
    }
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let data = random_bytes(BUF_LEN, 1);
    let secret = [0u8; 32];
    let mut g = group(c, "hashing", data.len());
    for &name in HASH_NAMES {
        let hf = match HashFunction::new(name, &secret) {
            Ok(hf) => hf,
            Err(e) => panic!("hash {name}: {e}"),
        };
        g.bench_function(name, |b| b.iter(|| hf.hash(black_box(&data[..]))));
    }
    g.finish();
}

fn encryption(c: &mut Criterion) {
    let data = random_bytes(BUF_LEN, 2);
    let master_key = [7u8; 32];
    // kopia's benchmark passes a 32-byte (all-zero) content ID as the IV.
    let iv = [0u8; 32];
    let mut g = group(c, "encryption", data.len());
    for &name in ENCRYPTION_NAMES {
        let enc = match Encryptor::new(name, &master_key) {
            Ok(e) => e,
            Err(e) => panic!("encryption {name}: {e}"),
        };
        let mut out = Vec::with_capacity(data.len() + enc.overhead());
        g.bench_function(format!("{name}/encrypt"), |b| {
            b.iter(|| {
                out.clear();
                enc.encrypt_into(black_box(&data[..]), &iv, &mut out);
                out.len()
            })
        });
        g.bench_function(format!("{name}/decrypt"), |b| {
            // Inside the closure: only built when this benchmark is selected.
            let sealed = enc.encrypt(&data, &iv);
            b.iter(|| {
                out.clear();
                if enc
                    .decrypt_into(black_box(&sealed[..]), &iv, &mut out)
                    .is_err()
                {
                    panic!("decryption of our own ciphertext failed");
                }
                out.len()
            })
        });
    }
    g.finish();
}

fn compression(c: &mut Criterion) {
    let data = match compression_input() {
        Ok(d) => d,
        Err(e) => panic!("compression input: {e}"),
    };
    let mut g = group(c, "compression", data.len());
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    for comp in Compressor::ALL {
        let name = comp.name();
        g.bench_function(format!("{name}/compress"), |b| {
            b.iter(|| {
                out.clear();
                if let Err(e) = comp.compress_into(black_box(&data), &mut out) {
                    panic!("{name}: {e}");
                }
                out.len()
            })
        });
        g.bench_function(format!("{name}/decompress"), |b| {
            let packed = match comp.compress(&data) {
                Ok(p) => p,
                Err(e) => panic!("{name}: {e}"),
            };
            b.iter(|| match comp.decompress(black_box(&packed), data.len()) {
                Ok(plain) => plain.len(),
                Err(e) => panic!("{name}: {e}"),
            })
        });
    }

    // LZ4 (frame format, as kopia ≤ v0.22 wrote it): vmdp-only, for reference.
    g.bench_function("lz4/compress", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = lz4_flex::frame::FrameEncoder::new(&mut out);
            let res = enc.write_all(black_box(&data)).map(drop);
            if let Err(e) = res.and_then(|()| enc.finish().map(drop).map_err(Into::into)) {
                panic!("lz4: {e}");
            }
            out.len()
        })
    });
    g.bench_function("lz4/decompress", |b| {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        let packed = match enc.write_all(&data).map_err(lz4_flex::frame::Error::from) {
            Ok(()) => enc.finish(),
            Err(e) => Err(e),
        };
        let packed = match packed {
            Ok(p) => p,
            Err(e) => panic!("lz4: {e}"),
        };
        b.iter(|| {
            let mut plain = Vec::with_capacity(data.len());
            let mut dec = lz4_flex::frame::FrameDecoder::new(black_box(&packed[..]));
            if let Err(e) = dec.read_to_end(&mut plain) {
                panic!("lz4: {e}");
            }
            plain.len()
        })
    });
    g.finish();
}

criterion::criterion_group! {
    name = benches;
    config = config();
    targets = splitters, hashing, encryption, compression
}
criterion::criterion_main!(benches);
