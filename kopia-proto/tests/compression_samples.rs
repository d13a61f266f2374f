//! Decodes streams written by kopia's own Go encoders (see
//! `tests/vectors/compression/README.md` for how they were made).

use kopia_proto::compression::{Compressor, decompress, decompress_expecting, header_id_of};
use sha2::{Digest, Sha256};

fn sample_input() -> Vec<u8> {
    let line = b"The quick brown fox jumps over the lazy dog; vmdp compression sample.\n";
    let mut out: Vec<u8> = line.iter().copied().cycle().take(1_200_000).collect();
    for i in 0u32..64 {
        out.extend_from_slice(&Sha256::digest(i.to_be_bytes()));
    }
    let vocab = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    for i in 0u32..100 {
        for b in Sha256::digest((1000 + i).to_be_bytes()) {
            out.extend_from_slice(vocab[(b % 16) as usize].as_bytes());
            out.push(b' ');
        }
    }
    out
}

const CODECS: &[&str] = &[
    "gzip",
    "zstd",
    "zstd-fastest",
    "zstd-best-compression",
    "s2-default",
    "s2-better",
    "s2-parallel-4",
    "pgzip",
    "deflate-default",
    "deflate-best-speed",
];

#[test]
fn sample_input_matches_readme() {
    let s = sample_input();
    assert_eq!(s.len(), 1_221_864);
    assert_eq!(
        hex::encode(Sha256::digest(&s)),
        "a09af3488cab7aecbfd9c0c791348551293be9f483b513bc78c1faef3ca169ed"
    );
}

#[test]
fn kopia_written_streams_decode() {
    let sample = sample_input();
    let inputs: [(&str, &[u8]); 3] = [
        ("sample", &sample),
        ("small", b"hello from vmdp\n"),
        ("empty", b""),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/compression");
    let mut checked = 0;
    for name in CODECS {
        let c = Compressor::from_name(name).unwrap();
        for (suffix, expected) in inputs {
            let path = format!("{dir}/{name}-{suffix}.bin");
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(header_id_of(&data).unwrap(), c.header_id(), "{path}");
            let out = decompress(&data, expected.len()).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(
                out == expected,
                "{path}: wrong output ({} bytes)",
                out.len()
            );
            let out = decompress_expecting(&data, c.header_id(), expected.len()).unwrap();
            assert!(out == expected);
            if !expected.is_empty() {
                assert!(
                    decompress(&data, expected.len() - 1).is_err(),
                    "{path}: limit not enforced"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 30);
}

#[test]
fn s2_samples_exercise_both_block_kinds() {
    // The small sample is stored raw (chunk type 0x01), the large one compressed (0x00);
    // "better" must differ from default so both encodings are covered.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/compression");
    let small = std::fs::read(format!("{dir}/s2-default-small.bin")).unwrap();
    assert_eq!(small[14], 0x01);
    let default = std::fs::read(format!("{dir}/s2-default-sample.bin")).unwrap();
    let better = std::fs::read(format!("{dir}/s2-better-sample.bin")).unwrap();
    assert_eq!(default[14], 0x00);
    assert_ne!(default[4..], better[4..]);
}

#[test]
fn our_streams_round_trip_on_the_sample() {
    let sample = sample_input();
    for name in kopia_proto::compression::COMPRESSOR_NAMES {
        let c = Compressor::from_name(name).unwrap();
        let z = c.compress(&sample).unwrap();
        assert!(z.len() < sample.len() / 20, "{name}: {}", z.len());
        assert!(decompress(&z, sample.len()).unwrap() == sample, "{name}");
    }
}
