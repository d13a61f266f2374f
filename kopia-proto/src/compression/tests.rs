use super::*;
use rand::{Rng, RngCore, SeedableRng};

fn inputs() -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut random = vec![0u8; 200_000];
    rng.fill_bytes(&mut random);
    let text: Vec<u8> = b"kopia compatible compression test line\n"
        .iter()
        .copied()
        .cycle()
        .take(3 * 1024 * 1024 + 17) // > 3 S2 blocks
        .collect();
    let mut mixed = text[..500_000].to_vec();
    mixed.extend_from_slice(&random[..50_000]);
    vec![
        Vec::new(),
        b"x".to_vec(),
        b"hello".to_vec(),
        random,
        text,
        mixed,
    ]
}

#[test]
fn names_and_header_ids_match_kopia() {
    let expected: &[(&str, u32)] = &[
        ("gzip", 0x1000),
        ("gzip-best-speed", 0x1001),
        ("gzip-best-compression", 0x1002),
        ("zstd", 0x1100),
        ("zstd-fastest", 0x1101),
        ("zstd-better-compression", 0x1102),
        ("zstd-best-compression", 0x1103),
        ("s2-default", 0x1200),
        ("s2-better", 0x1201),
        ("s2-parallel-4", 0x1202),
        ("s2-parallel-8", 0x1203),
        ("pgzip", 0x1300),
        ("pgzip-best-speed", 0x1301),
        ("pgzip-best-compression", 0x1302),
        ("deflate-default", 0x1500),
        ("deflate-best-speed", 0x1501),
        ("deflate-best-compression", 0x1502),
    ];
    assert_eq!(COMPRESSOR_NAMES.len(), expected.len());
    for &(name, id) in expected {
        let c = Compressor::from_name(name).unwrap();
        assert_eq!(c.name(), name);
        assert_eq!(c.header_id(), id, "{name}");
        assert_eq!(Compressor::from_header_id(id).unwrap(), c);
        assert_eq!(c.is_deprecated(), name == "zstd-best-compression");
    }
    for (i, c) in Compressor::ALL.iter().enumerate() {
        assert_eq!(c.name(), COMPRESSOR_NAMES[i]);
    }
}

#[test]
fn lz4_and_unknown_are_refused() {
    assert_eq!(
        Compressor::from_name("lz4"),
        Err(CompressionError::Lz4Unsupported)
    );
    assert_eq!(
        Compressor::from_header_id(0x1400),
        Err(CompressionError::Lz4Unsupported)
    );
    assert_eq!(
        decompress(&[0, 0, 0x14, 0, 1, 2, 3], 100),
        Err(CompressionError::Lz4Unsupported)
    );
    for name in ["none", "", "GZIP", "zstd-default", "s2"] {
        assert_eq!(
            Compressor::from_name(name),
            Err(CompressionError::UnknownName(name.into()))
        );
    }
    for id in [0u32, 0x1003, 0x1104, 0x1204, 0x1303, 0x1503, 0xffff_ffff] {
        assert_eq!(
            Compressor::from_header_id(id),
            Err(CompressionError::UnknownHeaderId(id))
        );
        let mut data = id.to_be_bytes().to_vec();
        data.extend_from_slice(b"payload");
        assert_eq!(
            decompress(&data, 100),
            Err(CompressionError::UnknownHeaderId(id))
        );
    }
    assert_eq!(
        decompress_expecting(b"\0\0\x99\x99xx", 0x9999, 10),
        Err(CompressionError::UnknownHeaderId(0x9999))
    );
}

#[test]
fn every_compressor_round_trips() {
    for input in inputs() {
        for c in Compressor::ALL {
            let z = c.compress(&input).unwrap();
            assert_eq!(header_id_of(&z).unwrap(), c.header_id());
            assert_eq!(decompress(&z, input.len()).unwrap(), input, "{}", c.name());
            assert_eq!(c.decompress(&z, input.len()).unwrap(), input);
            assert_eq!(
                decompress_expecting(&z, c.header_id(), input.len()).unwrap(),
                input
            );
        }
    }
}

#[test]
fn compress_into_appends() {
    for c in Compressor::ALL {
        let mut out = b"prefix".to_vec();
        c.compress_into(b"appended data appended data", &mut out)
            .unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(
            decompress(&out[6..], 100).unwrap(),
            b"appended data appended data"
        );
    }
}

#[test]
fn keep_or_discard_rule() {
    let all = inputs();
    let random = &all[3];
    let text = &all[4];
    for c in Compressor::ALL {
        assert_eq!(c.compress_if_smaller(random).unwrap(), None, "{}", c.name());
        assert_eq!(c.compress_if_smaller(b"").unwrap(), None);
        assert_eq!(c.compress_if_smaller(b"abcd").unwrap(), None);
        let z = c
            .compress_if_smaller(text)
            .unwrap()
            .expect("text compresses");
        assert!(z.len() < text.len());
        assert_eq!(decompress(&z, text.len()).unwrap(), *text);
        // The rule is "strictly smaller": a limit of exactly the compressed size fits,
        // one byte less does not.
        let full = c
            .compress(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .unwrap();
        let mut out = Vec::new();
        assert!(
            c.compress_bounded(
                b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                &mut out,
                full.len()
            )
            .unwrap(),
            "{}",
            c.name()
        );
        let mut out2 = Vec::new();
        let fits = c
            .compress_bounded(
                b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                &mut out2,
                full.len() - 1,
            )
            .unwrap();
        if !fits {
            assert!(out2.is_empty());
        }
    }
}

#[test]
fn truncated_header_is_an_error() {
    for len in 0..HEADER_LEN {
        let d = vec![0u8; len];
        assert_eq!(decompress(&d, 10), Err(CompressionError::Truncated { len }));
        assert_eq!(header_id_of(&d), Err(CompressionError::Truncated { len }));
        assert_eq!(
            Compressor::Gzip.decompress(&d, 10),
            Err(CompressionError::Truncated { len })
        );
    }
}

#[test]
fn truncated_streams_are_errors() {
    let text = &inputs()[5];
    for c in Compressor::ALL {
        let z = c.compress(text).unwrap();
        for cut in [HEADER_LEN + 1, HEADER_LEN + 9, z.len() / 2, z.len() - 1] {
            let r = decompress(&z[..cut], text.len());
            assert!(
                matches!(r, Err(CompressionError::Corrupt { .. })),
                "{} cut at {cut}/{}: {r:?}",
                c.name(),
                z.len()
            );
        }
    }
}

#[test]
fn header_mismatch_is_an_error() {
    let z = Compressor::Gzip.compress(b"some data").unwrap();
    assert_eq!(
        decompress_expecting(&z, 0x1100, 100),
        Err(CompressionError::HeaderMismatch {
            expected: 0x1100,
            actual: 0x1000
        })
    );
    // pgzip and gzip share the stream format but not the header.
    assert!(matches!(
        Compressor::Pgzip.decompress(&z, 100),
        Err(CompressionError::HeaderMismatch { .. })
    ));
}

#[test]
fn uncompressed_passthrough() {
    assert_eq!(
        decompress_expecting(b"raw", NO_COMPRESSION, 3).unwrap(),
        b"raw"
    );
    assert_eq!(
        decompress_expecting(b"raw", NO_COMPRESSION, 2),
        Err(CompressionError::TooLarge { max_len: 2 })
    );
}

#[test]
fn output_is_bounded() {
    let zeros = vec![0u8; 10 << 20];
    for c in Compressor::ALL {
        let z = c.compress(&zeros).unwrap();
        assert!(z.len() < zeros.len() / 50, "{} {}", c.name(), z.len());
        assert_eq!(
            decompress(&z, 1 << 20),
            Err(CompressionError::TooLarge { max_len: 1 << 20 }),
            "{}",
            c.name()
        );
        assert_eq!(
            decompress(&z, zeros.len() - 1),
            Err(CompressionError::TooLarge {
                max_len: zeros.len() - 1
            })
        );
        assert_eq!(decompress(&z, zeros.len()).unwrap().len(), zeros.len());
        assert_eq!(decompress(&z, usize::MAX).unwrap().len(), zeros.len());
        assert_eq!(
            decompress(&z, 0),
            Err(CompressionError::TooLarge { max_len: 0 })
        );
    }
}

fn s2_stream(chunks: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut v = 0x1200u32.to_be_bytes().to_vec();
    v.extend_from_slice(b"\xff\x06\x00\x00S2sTwO");
    for (kind, body) in chunks {
        v.push(*kind);
        v.extend_from_slice(&(body.len() as u32).to_le_bytes()[..3]);
        v.extend_from_slice(body);
    }
    v
}

fn crc_le(data: &[u8]) -> Vec<u8> {
    minlz::crc::crc(data).to_le_bytes().to_vec()
}

#[test]
fn s2_framing_edge_cases() {
    let raw = |d: &[u8]| (0x01u8, [crc_le(d), d.to_vec()].concat());
    // Skippable chunks (padding 0xfe, index 0x99, 0x80) are ignored.
    let s = s2_stream(&[
        (0xfe, vec![0; 7]),
        raw(b"abc"),
        (0x99, vec![1, 2]),
        (0x80, vec![]),
        raw(b"def"),
    ]);
    assert_eq!(decompress(&s, 100).unwrap(), b"abcdef");
    // Only the header: empty stream, as kopia writes for empty input.
    assert_eq!(decompress(&0x1200u32.to_be_bytes(), 0).unwrap(), b"");
    // Snappy identifier accepted.
    let mut snappy = 0x1200u32.to_be_bytes().to_vec();
    snappy.extend_from_slice(b"\xff\x06\x00\x00sNaPpY");
    snappy.extend_from_slice(&s2_stream(&[raw(b"zz")])[14..]);
    assert_eq!(decompress(&snappy, 100).unwrap(), b"zz");

    let corrupt = |d: &[u8]| {
        matches!(
            decompress(d, 1 << 30),
            Err(CompressionError::Corrupt { .. })
        )
    };
    // Reserved chunk type.
    assert!(corrupt(&s2_stream(&[(0x02, vec![0; 4])])));
    // Bad CRC.
    assert!(corrupt(&s2_stream(&[(
        0x01,
        [vec![0; 4], b"abc".to_vec()].concat()
    )])));
    // Chunk shorter than its checksum.
    assert!(corrupt(&s2_stream(&[(0x00, vec![0; 3])])));
    // Missing stream identifier.
    let mut no_id = 0x1200u32.to_be_bytes().to_vec();
    no_id.extend_from_slice(&s2_stream(&[raw(b"abc")])[14..]);
    assert!(corrupt(&no_id));
    // Wrong identifier.
    let mut bad_id = s2_stream(&[]);
    bad_id[8] = b'X';
    assert!(corrupt(&bad_id));
    // Trailing partial chunk header.
    let mut trailing = s2_stream(&[raw(b"abc")]);
    trailing.extend_from_slice(&[0x01, 0x10]);
    assert!(corrupt(&trailing));
    // A block claiming 4 GiB (varint ff ff ff ff 0f) is rejected before allocating.
    assert!(corrupt(&s2_stream(&[(
        0x00,
        [vec![0; 4], vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0]].concat()
    )])));
    // A block claiming 3 MiB is legal but exceeds a 1 MiB budget.
    let big = [vec![0; 4], vec![0x80, 0x80, 0xc0, 0x01, 0]].concat();
    assert_eq!(
        decompress(&s2_stream(&[(0x00, big)]), 1 << 20),
        Err(CompressionError::TooLarge { max_len: 1 << 20 })
    );
}

#[test]
fn garbage_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let text = &inputs()[5];
    for c in Compressor::ALL {
        let good = c.compress(&text[..100_000]).unwrap();
        for _ in 0..50 {
            // Flip a few bytes of a valid stream, or use pure noise after the header.
            let mut d = good.clone();
            for _ in 0..rng.random_range(1..5) {
                let i = rng.random_range(HEADER_LEN..d.len());
                d[i] ^= rng.random_range(1..=255u8);
            }
            let r = decompress(&d, 200_000);
            if let Ok(out) = r {
                assert!(out.len() <= 200_000);
            }
            let mut noise = c.header_id().to_be_bytes().to_vec();
            noise.extend((0..rng.random_range(0..300)).map(|_| rng.random::<u8>()));
            if let Ok(out) = decompress(&noise, 1000) {
                assert!(out.len() <= 1000);
            }
        }
    }
}
