//! Inputs that are certainly invalid must come back as `Err` (not just "no panic"):
//! every truncation of a valid seed, flipped bytes under a checksum or an authentication
//! tag, length fields that point past the data, unknown compression / encryption / hash
//! / splitter / format IDs, and bad JSON (wrong types, broken syntax, impossible values).

use kopia_proto::compression::{self, CompressionError, Compressor};
use kopia_proto::encryption::{Algorithm, Encryptor, blob_iv, decrypt_blob};
use kopia_proto::format_blob::{FormatBlob, FormatKey, RepositoryConfig, recover_format_blob};
use kopia_proto::gojson::parse_time;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::index::Index;
use kopia_proto::index::epoch::epoch_number_from_blob_id;
use kopia_proto::index::legacy::parse_compaction_log;
use kopia_proto::manifest::{
    AclEntry, DirEntry, DirManifest, MaintenanceParams, Policy, SnapshotManifest, UserProfile,
    decode_manifest_content, decode_manifest_json,
};
use kopia_proto::object::decode_index;
use kopia_proto::pack::{find_postamble, parse_pack_id, recover_local_index};
use kopia_proto::session::{Bytes, decode_response};
use kopia_proto::splitter::Splitter;

use super::bodies::{MASTER_KEY, RepoCipher, format_key};
use super::seeds::seeds;

/// Index format-1 encryption overhead (both supported algorithms).
const V1_OVERHEAD: u32 = kopia_proto::encryption::OVERHEAD as u32;

/// Every strict prefix of `seed` (ignoring trailing whitespace) is rejected by `parse`.
fn every_truncation_fails<T, E>(what: &str, seed: &[u8], parse: impl Fn(&[u8]) -> Result<T, E>) {
    let end = seed
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    for cut in 0..end {
        assert!(
            parse(&seed[..cut]).is_err(),
            "{what}: truncation to {cut} of {} bytes accepted: {:?}",
            seed.len(),
            String::from_utf8_lossy(&seed[..cut.min(200)])
        );
    }
}

/// Every listed document is rejected by `parse`.
fn all_fail<T, E>(what: &str, docs: &[&str], parse: impl Fn(&[u8]) -> Result<T, E>) {
    for doc in docs {
        assert!(parse(doc.as_bytes()).is_err(), "{what}: accepted {doc}");
    }
}

/// Structurally broken JSON that no document parser may accept.
const BROKEN_JSON: &[&str] = &[
    "",
    " ",
    "{",
    "}",
    "[]",
    "null",
    "\"text\"",
    "42",
    "{\"a\":}",
    "{\"a\" 1}",
    "{,}",
    "{\"a\":1,}",
    "{'a':1}",
    "{\"a\":\"\\x\"}",
    "{\"a\":\"\u{1}\"}",
    "{\"a\":01}",
    "{\"a\":1.}",
    "{\"a\":tru}",
    "\u{feff}{}",
];

#[test]
fn ids_reject_truncations_bad_lengths_and_unknown_prefixes() {
    for seed in seeds("content_id") {
        // Like kopia, short hashes are valid IDs, but an odd number of hex digits is not.
        let Ok(text) = std::str::from_utf8(&seed) else {
            continue;
        };
        let prefixed = usize::from(!text.as_bytes()[0].is_ascii_hexdigit());
        for cut in (1..text.len()).filter(|c| c.saturating_sub(prefixed) % 2 == 1) {
            assert!(
                text[..cut].parse::<ContentId>().is_err(),
                "content ID {}",
                &text[..cut]
            );
        }
    }
    let good = ContentId::new(Some(b'k'), &[0xab; 32])
        .expect("valid")
        .to_string();
    for bad in [
        "a".to_string() + &good[1..],       // prefix outside g..z
        "K".to_string() + &good[1..],       // upper-case prefix
        good.clone() + "0",                 // odd hex length
        good.replace('a', "g"),             // not hex
        "kk".to_string() + &good[1..],      // two prefix letters
        "k".to_string() + &"0".repeat(130), // too long
    ] {
        assert!(bad.parse::<ContentId>().is_err(), "content ID {bad}");
    }
    assert!(ContentId::from_binary(&[]).is_err());
    assert!(ContentId::from_binary(&[b'k'; 200]).is_err());

    for seed in seeds("object_id") {
        let text = String::from_utf8(seed).expect("object IDs are text");
        for (from, to) in [("I", "J"), ("Z", "Y"), ("k", "A")] {
            if text.contains(from) {
                let bad = text.replacen(from, to, 1);
                assert!(bad.parse::<ObjectId>().is_err(), "object ID {bad}");
            }
        }
    }
    for bad in [
        "", "I", "Z", "IZ", "ZI", "x", "Dabc", "I-", "k", "kxyz", "ZZ0123",
    ] {
        assert!(bad.parse::<ObjectId>().is_err(), "object ID {bad:?}");
    }
}

#[test]
fn go_time_rejects_malformed_and_out_of_range() {
    for seed in seeds("go_time") {
        every_truncation_fails("time", &seed, |b| {
            parse_time(std::str::from_utf8(b).unwrap())
        });
    }
    for bad in [
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00+0100",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01t00:00:00Z",
        "+2024-01-01T00:00:00Z",
        "2262-04-12T00:00:00Z",
        "1677-09-20T23:59:59Z",
        "２０２４-01-01T00:00:00Z",
    ] {
        assert!(parse_time(bad).is_err(), "time {bad}");
    }
}

#[test]
fn json_documents_reject_truncations_and_broken_syntax() {
    let dir = |b: &[u8]| {
        DirManifest::from_json(b)
            .map(drop)
            .or(DirEntry::from_json(b).map(drop))
    };
    for seed in seeds("directory") {
        every_truncation_fails("directory", &seed, dir);
    }
    for seed in seeds("snapshot_manifest") {
        every_truncation_fails("snapshot", &seed, SnapshotManifest::from_json);
    }
    for seed in seeds("policy") {
        every_truncation_fails("policy", &seed, Policy::from_json);
    }
    for seed in seeds("indirect_index") {
        every_truncation_fails("indirect index", &seed, decode_index);
    }
    for seed in seeds("repository_config") {
        every_truncation_fails("repository config", &seed, RepositoryConfig::from_json);
    }
    for seed in seeds("manifest_content")
        .into_iter()
        .filter(|s| s.starts_with(b"{"))
    {
        every_truncation_fails("manifest JSON", &seed, decode_manifest_json);
    }
    for seed in seeds("format_blob")
        .into_iter()
        .filter(|s| s.starts_with(b"{"))
    {
        every_truncation_fails("format blob", &seed, FormatBlob::parse);
    }
    all_fail("directory", BROKEN_JSON, DirManifest::from_json);
    all_fail("directory entry", BROKEN_JSON, DirEntry::from_json);
    all_fail("snapshot", BROKEN_JSON, SnapshotManifest::from_json);
    all_fail("policy", BROKEN_JSON, Policy::from_json);
    all_fail("indirect index", BROKEN_JSON, decode_index);
    all_fail("manifest JSON", BROKEN_JSON, decode_manifest_json);
    all_fail("format blob", BROKEN_JSON, FormatBlob::parse);
    // Kopia reads these two with `json.Unmarshal`, which refuses trailing data (the
    // others with `json.Decoder.Decode`, which ignores it).
    let trailing = ["{\"a\":1}}", "{\"a\":1} x", "{} {}"];
    all_fail("format blob", &trailing, FormatBlob::parse);
    all_fail("repository config", &trailing, RepositoryConfig::from_json);
    all_fail(
        "repository config",
        BROKEN_JSON,
        RepositoryConfig::from_json,
    );
    all_fail("user", BROKEN_JSON, UserProfile::from_json);
    all_fail("ACL", BROKEN_JSON, AclEntry::from_json);
    all_fail("maintenance", BROKEN_JSON, MaintenanceParams::from_json);
    all_fail("compaction log", BROKEN_JSON, parse_compaction_log);
}

#[test]
fn json_documents_reject_wrong_types_and_values() {
    all_fail(
        "directory",
        &[
            r#"{"stream":"kopia:directory","entries":5}"#,
            r#"{"stream":"kopia:file","entries":null}"#,
            r#"{"stream":"kopia:directory","entries":[5]}"#,
            r#"{"stream":"kopia:directory","entries":[{"name":1}]}"#,
            r#"{"stream":"kopia:directory","entries":[{"name":"a","mtime":"yesterday"}]}"#,
            r#"{"stream":"kopia:directory","entries":[{"name":"a","mode":"rwx"}]}"#,
            r#"{"stream":"kopia:directory","entries":[{"name":"a","size":"big"}]}"#,
            r#"{"stream":"kopia:directory","entries":[{"name":"a","uid":-1}]}"#,
            r#"{"stream":"kopia:directory","entries":[{"name":"a","size":1e400}]}"#,
        ],
        DirManifest::from_json,
    );
    all_fail(
        "snapshot",
        &[
            r#"{"source":"host"}"#,
            r#"{"startTime":"2024-02-30T00:00:00Z"}"#,
            r#"{"startTime":0}"#,
            r#"{"endTime":"9999-01-01T00:00:00Z"}"#,
            r#"{"stats":{"fileCount":"x"}}"#,
            r#"{"stats":{"fileCount":4294967296}}"#,
            r#"{"tags":{"a":1}}"#,
            r#"{"pins":"p"}"#,
        ],
        SnapshotManifest::from_json,
    );
    all_fail(
        "policy",
        &[
            r#"{"retention":{"keepLatest":"10"}}"#,
            r#"{"retention":{"keepLatest":1.5}}"#,
            r#"{"files":{"ignore":"*.tmp"}}"#,
            r#"{"scheduling":{"timeOfDay":[{"hour":"1"}]}}"#,
            r#"{"compression":{"compressorName":7}}"#,
            r#"{"noParent":"yes"}"#,
            r#"{"errorHandling":{"ignoreFileErrors":1}}"#,
            r#"{"osSnapshots":{"volumeShadowCopy":{"enable":256}}}"#,
        ],
        Policy::from_json,
    );
    all_fail(
        "indirect index",
        &[
            r#"{"stream":"kopia:indirect","entries":[{"s":0,"l":1}]}"#,
            r#"{"stream":"kopia:indirect","entries":[{"s":0,"l":1,"o":"not-an-id"}]}"#,
            r#"{"stream":"kopia:indirect","entries":[{"s":"0","l":1,"o":"Dabc"}]}"#,
            r#"{"stream":"kopia:indirect","entries":[{"s":-1,"l":1,"o":"Dabc"}]}"#,
            r#"{"stream":"kopia:other","entries":[]}"#,
            r#"{"stream":"kopia:indirect","entries":{}}"#,
        ],
        decode_index,
    );
    all_fail(
        "manifest JSON",
        &[
            r#"{"entries":5}"#,
            r#"{"entries":[5]}"#,
            r#"{"entries":[{"id":1}]}"#,
            r#"{"entries":[{"id":"a","modified":"never"}]}"#,
            r#"{"entries":[{"id":"a","labels":[]}]}"#,
            r#"{"entries":[],"entries":[]}"#,
        ],
        decode_manifest_json,
    );
    all_fail(
        "repository config",
        &[
            r#"{"format":{"hash":5}}"#,
            r#"{"format":{"masterKey":"***"}}"#,
            r#"{"format":{"version":"2"}}"#,
        ],
        RepositoryConfig::from_json,
    );
    all_fail(
        "format blob",
        &[
            r#"{"tool":"x","uniqueID":"!!!","keyAlgo":"scrypt-65536-8-1","encryption":"AES256_GCM"}"#,
            r#"{"tool":"x","uniqueID":"AAAA","keyAlgo":5,"encryption":"AES256_GCM"}"#,
            r#"{"tool":"x","uniqueID":"AAAA","encryptedBlockFormat":"@"}"#,
        ],
        FormatBlob::parse,
    );
    all_fail(
        "user",
        &[
            r#"{"username":5}"#,
            r#"{"username":"u@h","passwordHash":"***"}"#,
            r#"{"username":"u@h","passwordHashVersion":"1"}"#,
        ],
        UserProfile::from_json,
    );
    all_fail(
        "ACL",
        &[
            r#"{"user":"*@*","target":[],"access":"READ"}"#,
            r#"{"user":1}"#,
        ],
        AclEntry::from_json,
    );
    all_fail(
        "maintenance",
        &[r#"{"owner":1}"#, r#"{"quick":{"interval":"1h"}}"#],
        MaintenanceParams::from_json,
    );
}

#[test]
fn unknown_algorithm_ids_are_errors() {
    for id in [
        0u32,
        1,
        0x0fff,
        0x1001,
        0x1104,
        0x1203,
        0x1301,
        0x1400,
        0x1503,
        0xffff_ffff,
    ] {
        if Compressor::ALL.iter().any(|c| c.header_id() == id) {
            continue;
        }
        assert!(Compressor::from_header_id(id).is_err(), "header {id:#x}");
        let mut data = id.to_be_bytes().to_vec();
        data.extend_from_slice(b"payload");
        assert!(
            compression::decompress(&data, 1 << 20).is_err(),
            "header {id:#x}"
        );
    }
    assert!(matches!(
        Compressor::from_name("lz4"),
        Err(CompressionError::Lz4Unsupported)
    ));
    for name in ["", "zstd ", "ZSTD", "gzip-9", "none"] {
        assert!(Compressor::from_name(name).is_err(), "compressor {name:?}");
    }
    for name in [
        "",
        "AES256-GCM",
        "aes256-gcm-hmac-sha256",
        "CHACHA20-POLY1305",
        "NONE",
    ] {
        assert!(
            Encryptor::new(name, &MASTER_KEY).is_err(),
            "encryption {name:?}"
        );
    }
    for name in ["", "SHA1", "BLAKE2B-512", "blake3-256", "HMAC-SHA256-"] {
        assert!(
            HashFunction::new(name, &[0u8; 32]).is_err(),
            "hash {name:?}"
        );
    }
    for name in ["", "FIXED-3M", "DYNAMIC-4M", "DYNAMIC-4M-ADLER", "fixed-4m"] {
        assert!(Splitter::new(name).is_err(), "splitter {name:?}");
    }
    // Unknown index versions.
    for seed in seeds("index") {
        for v in [0u8, 3, 0xff] {
            let mut bad = seed.clone();
            bad[0] = v;
            assert!(
                Index::open(&bad[..], V1_OVERHEAD).is_err(),
                "index version {v}"
            );
        }
    }
    // Unknown epoch blob names and pack prefixes.
    for id in ["xe", "xe1a", "xn", "xe_1", "xe99999999999999999999"] {
        assert_eq!(epoch_number_from_blob_id(id), None, "{id}");
    }
    for id in ["", "p", "a0123", "pxyz", "p0123-", "q0123-sxyz"] {
        assert!(parse_pack_id(id).is_err(), "pack {id:?}");
    }
}

#[test]
fn binary_formats_reject_truncations_flips_and_bad_lengths() {
    // Indexes: every truncation, and an entry count far past the data.
    for seed in seeds("index") {
        every_truncation_fails("index", &seed, |b| Index::open(b, V1_OVERHEAD).map(drop));
        // Both formats keep the entry count in header bytes 4..8.
        let mut bad = seed.clone();
        bad[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(
            Index::open(&bad[..], V1_OVERHEAD).is_err(),
            "index count u32::MAX"
        );
    }
    // Encrypted data: every truncation and every single bit flip fails authentication.
    for alg in [
        Algorithm::Aes256GcmHmacSha256,
        Algorithm::Chacha20Poly1305HmacSha256,
    ] {
        let enc = Encryptor::with_algorithm(alg, &MASTER_KEY);
        let iv = [7u8; 16];
        let sealed = enc.encrypt(b"some secret payload", &iv);
        every_truncation_fails("ciphertext", &sealed, |b| enc.decrypt(b, &iv));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(enc.decrypt(&bad, &iv).is_err(), "{alg:?}: flip at {i}");
        }
        assert!(
            enc.decrypt(&sealed, &[8u8; 16]).is_err(),
            "{alg:?}: wrong IV"
        );
        let other = Encryptor::with_algorithm(alg, &[1u8; 32]);
        assert!(other.decrypt(&sealed, &iv).is_err(), "{alg:?}: wrong key");
        let blob_id = format!("q{}-s1", "ab".repeat(16));
        let blob = enc.encrypt(b"{}", &blob_iv(&blob_id).expect("IV"));
        assert!(decrypt_blob(&enc, &blob_id.replace("ab", "ac"), &blob).is_err());
        assert!(blob_iv("q-short").is_err());
    }
    // Compressed streams: every truncation of kopia's own output.
    let dir = format!("{}/tests/vectors/compression", env!("CARGO_MANIFEST_DIR"));
    for name in [
        "gzip",
        "zstd",
        "zstd-fastest",
        "s2-default",
        "s2-better",
        "pgzip",
    ] {
        for input in ["empty", "small"] {
            let path = format!("{dir}/{name}-{input}.bin");
            let data = std::fs::read(&path).expect("compression vector");
            // A header with an empty body is not checked: kopia's S2 writes exactly that
            // for empty input, so it is valid there.
            // S2 framing has no end marker: a cut right after the stream identifier chunk
            // (10 bytes) is a valid empty stream.
            let s2_id_end = compression::HEADER_LEN + 10;
            let boundary = |c: usize| {
                c == compression::HEADER_LEN || (name.starts_with("s2") && c == s2_id_end)
            };
            for cut in (0..data.len()).filter(|&c| !boundary(c)) {
                let r = compression::decompress(&data[..cut], 1 << 20);
                assert!(r.is_err(), "{path}: truncation to {cut} accepted");
            }
        }
    }
    // Output limits are errors, not truncated output.
    let small = std::fs::read(format!("{dir}/zstd-small.bin")).expect("vector");
    assert!(compression::decompress(&small, 4).is_err());
    // Packs: truncations lose the postamble; a wrong local-index length is refused.
    let cipher = RepoCipher::fixed();
    for seed in seeds("pack") {
        every_truncation_fails("pack", &seed, find_postamble);
        assert!(find_postamble(&seed).is_ok(), "valid pack");
        assert!(
            recover_local_index(&cipher, &seed[1..], 0).is_err(),
            "pack without byte 0"
        );
    }
    // Format blobs: checksummed form with a flipped byte, and the wrong format key.
    let real = seeds("format_blob").remove(0);
    assert!(recover_format_blob(&real).is_some());
    // A flipped length can be made up for by the copy at the other end; data and checksum
    // cannot.
    for i in (2..real.len() - 2).step_by(7) {
        let mut bad = real.clone();
        bad[i] ^= 0x01;
        assert_eq!(recover_format_blob(&bad), None, "flip at {i}");
    }
    let blob = FormatBlob::parse(&seeds("format_blob")[1]).expect("kopia format blob");
    assert!(blob.decrypt_config_with_key(&format_key()).is_ok());
    let wrong = FormatKey::from_bytes([0u8; 32]);
    assert!(blob.decrypt_config_with_key(&wrong).is_err());
    // Manifest contents: not gzip, truncated gzip.
    for seed in seeds("manifest_content")
        .into_iter()
        .filter(|s| s.starts_with(&[0x1f, 0x8b]))
    {
        every_truncation_fails("manifest gzip", &seed, |b| {
            decode_manifest_content(b, 1 << 20)
        });
    }
}

#[test]
fn session_responses_reject_bad_lengths_and_unknown_fields() {
    // A length-delimited field whose length points past the message: the `GetContent`
    // seed ends with `<response len> 0a 04 "data"`; make the outer length 0x7f.
    let get_content = seeds("session_response").swap_remove(4);
    assert!(get_content.ends_with(b"\x0a\x04data"));
    assert!(decode_response(Bytes::from(get_content.clone())).is_ok());
    let mut bad = get_content.clone();
    let at = bad.len() - 7;
    bad[at] = 0x7f;
    assert!(
        decode_response(Bytes::from(bad)).is_err(),
        "length past the end"
    );
    let mut bad = get_content;
    bad[at + 2] = 0x05; // inner length one past the end
    assert!(
        decode_response(Bytes::from(bad)).is_err(),
        "inner length past the end"
    );
    // Broken varints and wire types.
    for bad in [
        &[0x08][..],
        &[0x08, 0x80],
        &[0x0f],
        &[0xff; 11],
        &[0x12, 0x05, 0x01],
    ] {
        assert!(
            decode_response(Bytes::copy_from_slice(bad)).is_err(),
            "{bad:?}"
        );
    }
    // A response without a payload cannot be turned into any typed answer.
    let empty = decode_response(Bytes::from_static(&[0x08, 0x01])).expect("request ID only");
    assert!(empty.clone().into_flush().is_err());
    assert!(empty.into_result().is_err());
}
