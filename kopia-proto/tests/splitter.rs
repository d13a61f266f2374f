//! Vector tests for `kopia_proto::splitter` (vectors/splitters.json, buzhash32-table.json).

mod hashsplit_common;

use hashsplit_common::{splitmix64, vectors};
use kopia_proto::splitter::{self, BUZHASH32_TABLE, Buzhash32, RabinKarp64, Splitter};
use sha2::{Digest, Sha256};

fn input(v: &serde_json::Value) -> Vec<u8> {
    let n = v["input"]["length"].as_u64().unwrap() as usize;
    let data = splitmix64(0, n);
    assert_eq!(
        hex::encode(&data[..16]),
        v["input"]["first16_hex"].as_str().unwrap()
    );
    data
}

fn expected(v: &serde_json::Value) -> Vec<(String, Vec<usize>)> {
    v["chunk_lengths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, l)| {
            let l = l
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            (k.clone(), l)
        })
        .collect()
}

/// Feeds `data` in pieces of `step` bytes and collects the chunk lengths.
fn lengths_with_step(name: &str, data: &[u8], step: usize) -> Vec<usize> {
    let mut s = Splitter::new(name).unwrap();
    let mut out = Vec::new();
    let mut cur = 0;
    for piece in data.chunks(step) {
        let mut rest = piece;
        while let Some(n) = s.next_boundary(rest) {
            assert!(n >= 1 && n <= rest.len());
            out.push(cur + n);
            cur = 0;
            rest = &rest[n..];
        }
        cur += rest.len();
    }
    if cur > 0 {
        out.push(cur);
    }
    out
}

/// The truncation rule of the vector file: chunks ending within `n`, then the remainder.
fn truncated(lengths: &[usize], n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut end = 0;
    for &l in lengths {
        if end + l > n {
            break;
        }
        out.push(l);
        end += l;
    }
    if end < n {
        out.push(n - end);
    }
    out
}

#[test]
fn buzhash_table_matches_vector() {
    let v = vectors("buzhash32-table.json");
    let mut bytes = Vec::new();
    for x in BUZHASH32_TABLE {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        v["sha256_of_table_as_256_uint32_little_endian"]
            .as_str()
            .unwrap()
    );
    let table: Vec<u64> = v["table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(table.len(), 256);
    for (a, b) in BUZHASH32_TABLE.iter().zip(&table) {
        assert_eq!(*a as u64, *b);
    }
}

#[test]
fn rolling_hash_values() {
    let v = vectors("splitters.json");
    assert_eq!(
        format!("{:#x}", splitter::RABINKARP64_POLYNOMIAL),
        v["rabinkarp64_polynomial_hex"].as_str().unwrap()
    );
    assert_eq!(
        splitter::WINDOW_SIZE as u64,
        v["window_size"].as_u64().unwrap()
    );
    let data = splitmix64(0, 5000);
    let rh = &v["rolling_hash_after_byte"];
    for (kind, table) in [
        ("buzhash32", &rh["buzhash32"]),
        ("rabinkarp64", &rh["rabinkarp64"]),
    ] {
        let table = table.as_object().unwrap();
        assert!(table.len() >= 5);
        let mut buz = Buzhash32::new();
        let mut rk = RabinKarp64::new();
        let mut checked = 0;
        for (i, &b) in data.iter().enumerate() {
            buz.roll(b);
            rk.roll(b);
            if let Some(want) = table.get(&i.to_string()) {
                let got = if kind == "buzhash32" {
                    buz.sum32() as u64
                } else {
                    rk.sum64()
                };
                assert_eq!(got, want.as_u64().unwrap(), "{kind} after byte {i}");
                checked += 1;
            }
        }
        assert_eq!(checked, table.len());
    }
}

#[test]
fn chunk_lengths_whole_buffer_and_write_sizes() {
    let v = vectors("splitters.json");
    let data = input(&v);
    let cases = expected(&v);
    assert!(cases.len() >= 7);
    for (name, want) in &cases {
        assert_eq!(want.iter().sum::<usize>(), data.len(), "{name}");
        assert_eq!(
            &splitter::chunk_lengths(name, &data).unwrap(),
            want,
            "{name}"
        );
        for step in [7usize, 65536] {
            assert_eq!(
                &lengths_with_step(name, &data, step),
                want,
                "{name} step {step}"
            );
        }
    }
}

#[test]
fn chunk_lengths_one_byte_writes_on_prefix() {
    let v = vectors("splitters.json");
    let data = input(&v);
    // 5 MiB covers several boundaries of the small splitters and the first 4M ones.
    let n = 5 << 20;
    for (name, want) in expected(&v) {
        assert_eq!(
            lengths_with_step(&name, &data[..n], 1),
            truncated(&want, n),
            "{name} step 1"
        );
    }
}

#[test]
fn default_splitter_example_from_spec() {
    let v = vectors("splitters.json");
    let data = input(&v);
    let l = splitter::chunk_lengths(splitter::DEFAULT_SPLITTER, &data).unwrap();
    assert_eq!(l.len(), 9);
    assert_eq!(
        &l[..6],
        &[5152927, 4359466, 2469203, 2105758, 2276623, 8388608]
    );
    // The legacy "DYNAMIC" name is the same splitter.
    assert_eq!(splitter::chunk_lengths("DYNAMIC", &data).unwrap(), l);
}
