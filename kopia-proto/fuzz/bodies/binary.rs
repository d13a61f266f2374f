//! Bodies for binary formats: index blobs, packs, compressed and encrypted data,
//! session protocol messages, and the splitter.

use kopia_proto::compression::{self, Compressor, HEADER_LEN};
use kopia_proto::encryption::{self, Algorithm, Encryptor, blob_iv, decrypt_blob};
use kopia_proto::ids::ContentId;
use kopia_proto::index::{Index, IndexEntry, MergedIndex, build_index};
use kopia_proto::pack::{
    ContentCipher, content_slice, decrypt_content, find_postamble, parse_pack_id,
    recover_local_index,
};
use kopia_proto::session::{Bytes, Message, RequestKind, SessionRequest, decode_response};
use kopia_proto::splitter::{SPLITTER_NAMES, Splitter, chunk_lengths};

use super::{Input, MASTER_KEY, PlainCipher, RepoCipher};

/// Encryption overhead of both supported algorithms (format-1 indexes need it).
const V1_OVERHEAD: u32 = encryption::OVERHEAD as u32;

/// Output limit for decompression in the bodies.
const MAX_OUT: usize = 1 << 20;

/// `Index::open` (format chosen by the first byte), full iteration, lookups of every
/// entry and of IDs taken from the input, prefix scans, merging; sorted indexes must
/// find all their entries and rebuild to the same entries.
pub fn index(data: &[u8]) -> bool {
    let Ok(idx) = Index::open(data, V1_OVERHEAD) else {
        return false;
    };
    check_index(&idx, data);
    true
}

fn check_index<B: AsRef<[u8]>>(idx: &Index<B>, data: &[u8]) {
    let entries: Vec<IndexEntry> = idx.iter().collect();
    assert_eq!(entries.len(), idx.len(), "iteration yields len() entries");
    assert_eq!(idx.is_empty(), entries.is_empty());
    let strictly_sorted = entries
        .windows(2)
        .all(|w| w[0].content_id < w[1].content_id);
    for e in &entries {
        let found = idx
            .get(&e.content_id)
            .expect("keys of the index have its key size");
        if strictly_sorted {
            assert_eq!(found.as_ref(), Some(e), "sorted index finds its own entry");
        }
        let _ = content_slice(data, e);
    }
    for chunk in data.chunks(17).take(8) {
        if let Ok(id) = ContentId::from_binary(chunk) {
            let _ = idx.get(&id);
            let _ = idx.iter_from(&id).count();
        }
    }
    for p in [None, Some(b'k'), Some(b'm'), Some(b'x'), Some(b'z')] {
        let n = idx.iter_prefix(p).count();
        assert!(n <= entries.len());
    }
    let merged = MergedIndex::new(
        vec![Index::open(idx.bytes(), V1_OVERHEAD).unwrap()],
        Some(0),
    );
    let _ = merged.iter().count();
    if let Some(e) = entries.first() {
        let _ = (merged.get(&e.content_id), merged.get_winner(&e.content_id));
    }
    if strictly_sorted && let Ok(rebuilt) = build_index(&entries, idx.version()) {
        let again = Index::open(rebuilt, V1_OVERHEAD).expect("built index opens");
        let back: Vec<IndexEntry> = again.iter().collect();
        assert_eq!(back, entries, "index rebuild round trip");
    }
}

/// A pack blob: postamble, local-index recovery (with the real cipher and with a
/// plaintext one so fuzzing reaches the index parser), and reading every content the
/// recovered index names. Also the pack-ID parser on the input as text.
pub fn pack(data: &[u8]) -> bool {
    let _ = parse_pack_id(&String::from_utf8_lossy(data));
    let Ok(post) = find_postamble(data) else {
        return false;
    };
    if let Ok(bytes) = post.to_bytes() {
        assert_eq!(
            find_postamble(&bytes).ok(),
            Some(post.clone()),
            "postamble round trip"
        );
    }
    let real = RepoCipher::fixed();
    read_pack(&real, data);
    read_pack(&PlainCipher, data);
    // A tail of the pack at its true offset must give the same answer as the whole pack.
    let cut = data.len() / 3;
    if let Ok(tail_post) = find_postamble(&data[cut..]) {
        assert_eq!(tail_post, post, "postamble of a tail");
        if u64::from(post.local_index_offset) >= cut as u64 {
            assert_eq!(
                recover_local_index(&real, &data[cut..], cut as u64).ok(),
                recover_local_index(&real, data, 0).ok(),
                "local index from a tail"
            );
        }
    }
    true
}

fn read_pack<C: ContentCipher>(cipher: &C, data: &[u8]) {
    let Ok(local) = recover_local_index(cipher, data, 0) else {
        return;
    };
    let Ok(idx) = Index::open(&local[..], V1_OVERHEAD) else {
        return;
    };
    for e in idx.iter() {
        if let Ok(stored) = content_slice(data, &e) {
            let _ = decrypt_content(cipher, &e, stored);
        }
    }
}

/// Decompression: byte 0 picks a compressor (whose header is prepended to the rest) or,
/// for values past the list, the rest is decompressed by its own header. Output is
/// bounded; what decompresses must compress and decompress back to itself.
pub fn decompress(data: &[u8]) -> bool {
    let mut input = Input(data);
    let pick = usize::from(input.u8());
    let body = input.rest();
    let result = match Compressor::ALL.get(pick % (Compressor::ALL.len() + 1)) {
        Some(&c) => {
            let mut framed = c.header_id().to_be_bytes().to_vec();
            framed.extend_from_slice(body);
            let r = c.decompress(&framed, MAX_OUT);
            let by_header = compression::decompress(&framed, MAX_OUT);
            assert_eq!(r.as_ref().ok(), by_header.as_ref().ok(), "{c:?} by header");
            let _ = compression::decompress_expecting(&framed, c.header_id(), MAX_OUT);
            // Round trip of arbitrary data (small inputs only: compression is slower).
            if body.len() <= 4096 {
                let packed = c.compress(body).expect("compression of bytes succeeds");
                assert_eq!(compression::header_id_of(&packed).ok(), Some(c.header_id()));
                let back = c
                    .decompress(&packed, body.len())
                    .expect("own output decompresses");
                assert_eq!(back, body, "{c:?} compress/decompress round trip");
                if let Some(smaller) = c.compress_if_smaller(body).expect("compress_if_smaller") {
                    assert!(smaller.len() < body.len());
                    assert_eq!(
                        c.decompress(&smaller, body.len()).ok().as_deref(),
                        Some(body)
                    );
                }
            }
            r.map(|out| (c, out))
        }
        None => {
            let _ = compression::header_id_of(body);
            let _ = compression::decompress_expecting(body, 0, MAX_OUT);
            compression::decompress(body, MAX_OUT).map(|out| {
                let id = compression::header_id_of(body).expect("decompressed data has a header");
                (Compressor::from_header_id(id).expect("known header"), out)
            })
        }
    };
    let Ok((c, out)) = result else {
        return false;
    };
    assert!(out.len() <= MAX_OUT, "{} > limit", out.len());
    if out.len() <= 65536 {
        let packed = c.compress(&out).expect("compression of bytes succeeds");
        assert_eq!(
            c.decompress(&packed, out.len()).ok(),
            Some(out),
            "{c:?} recompression"
        );
    }
    let _ = HEADER_LEN;
    true
}

/// Content decryption (`Encryptor::decrypt`, both algorithms, IV from the input),
/// blob decryption with the first input line as blob ID, and AES-GCM opening.
/// Whatever decrypts must re-encrypt and decrypt back to itself.
pub fn decrypt(data: &[u8]) -> bool {
    let mut input = Input(data);
    let algorithm = if input.u8() & 1 == 0 {
        Algorithm::Aes256GcmHmacSha256
    } else {
        Algorithm::Chacha20Poly1305HmacSha256
    };
    let key_len = usize::from(input.u8() % 80);
    let key = input.bytes(key_len);
    let iv_len = usize::from(input.u8() % 40);
    let iv = input.bytes(iv_len);
    let blob_id = String::from_utf8_lossy(input.line()).into_owned();
    let body = input.rest();

    let enc = Encryptor::with_algorithm(algorithm, key);
    let fixed = Encryptor::with_algorithm(algorithm, &MASTER_KEY);
    let mut ok = false;
    for e in [&enc, &fixed] {
        if let Ok(plain) = e.decrypt(body, iv) {
            ok = true;
            let sealed = e.encrypt(&plain, iv);
            assert_eq!(e.decrypt(&sealed, iv).ok(), Some(plain));
        }
        let sealed = e.encrypt(body, iv);
        assert_eq!(sealed.len(), body.len() + e.overhead());
        assert_eq!(
            e.decrypt(&sealed, iv).ok().as_deref(),
            Some(body),
            "encrypt round trip"
        );
        ok |= decrypt_blob(e, &blob_id, body).is_ok();
    }
    if let Ok(biv) = blob_iv(&blob_id) {
        let sealed = fixed.encrypt(body, &biv);
        assert_eq!(
            decrypt_blob(&fixed, &blob_id, &sealed).ok().as_deref(),
            Some(body)
        );
    }
    let _ = encryption::aes256_gcm_open(&MASTER_KEY, iv, body);
    let _ = Encryptor::new(&blob_id, key);
    ok
}

/// `session::decode_response` and every typed accessor on the decoded message (one of
/// them matches the response type; the others must fail cleanly). Decoded messages must
/// re-encode and decode to an equal message. The input is also decoded as a request.
pub fn session_response(data: &[u8]) -> bool {
    if let Ok(req) = SessionRequest::decode(data) {
        let _ = (req.kind(), req.check_size());
    }
    let Ok(resp) = decode_response(Bytes::copy_from_slice(data)) else {
        return false;
    };
    let again = decode_response(Bytes::from(resp.encode_to_vec())).expect("re-encoded decodes");
    assert_eq!(again, resp, "session response round trip");
    let _ = resp.kind();
    let mut errors = Vec::new();
    let r = resp.clone();
    errors.push(r.clone().into_initialize_session().err());
    errors.push(r.clone().into_get_content_info().err());
    errors.push(r.clone().into_flush().err());
    errors.push(r.clone().into_write_content().err());
    errors.push(r.clone().into_get_content().err());
    errors.push(r.clone().into_get_manifest().err());
    errors.push(r.clone().into_put_manifest().err());
    errors.push(r.clone().into_find_manifests().err());
    errors.push(r.clone().into_delete_manifest().err());
    errors.push(r.clone().into_prefetch_contents().err());
    errors.push(r.clone().into_apply_retention_policy().err());
    errors.push(r.clone().into_send_notification().err());
    for kind in RequestKind::ALL {
        let _ = r.clone().expect(kind);
    }
    let _ = r.into_result();
    for e in errors.into_iter().flatten() {
        let _ = (e.to_string(), e.code(), e.is_retryable(), e.is_not_found());
        let _ = (e.is_unsupported(), e.is_protocol_violation());
    }
    true
}

/// Differential splitter property: feeding an object in arbitrary pieces gives the same
/// boundaries as chunking the whole buffer at once, and every chunk but the last lies
/// within the splitter's min/max sizes. The object is up to ~640 KiB expanded from the
/// input (so that 128K-average splitters cut several chunks); the tail of the input
/// gives the write sizes.
pub fn splitter(data: &[u8]) -> bool {
    let mut input = Input(data);
    let smallest = [
        "DYNAMIC-128K-BUZHASH",
        "DYNAMIC-128K-RABINKARP",
        "FIXED-128K",
        "DYNAMIC-256K-BUZHASH",
        "DYNAMIC-256K-RABINKARP",
    ];
    let pick = input.u8();
    let name = match smallest.get(usize::from(pick % 8)) {
        Some(n) => *n,
        None => SPLITTER_NAMES[usize::from(pick) % SPLITTER_NAMES.len()],
    };
    let len = usize::from(input.u16()) * 10;
    let mut state = input.u64() | 1;
    let pattern = input.bytes(64);
    let mode = input.u8();
    let writes = input.rest();

    // Object bytes: pseudo-random, or the input pattern repeated (long periodic runs make
    // some splitters never find a boundary before max), or zeros.
    let mut object = vec![0u8; len];
    match mode % 3 {
        0 => {
            for chunk in object.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let b = state.to_le_bytes();
                chunk.copy_from_slice(&b[..chunk.len()]);
            }
        }
        1 if !pattern.is_empty() => {
            for (o, p) in object.iter_mut().zip(pattern.iter().cycle()) {
                *o = *p;
            }
        }
        _ => {}
    }

    let whole = chunk_lengths(name, &object).expect("known splitter");
    assert_eq!(whole.iter().sum::<usize>(), object.len());
    let s = Splitter::new(name).expect("known splitter");
    if let Some((_, init)) = whole.split_last() {
        for &n in init {
            assert!(
                n >= s.min_size() && n <= s.max_size(),
                "{name}: chunk of {n} bytes"
            );
        }
    }

    // Feed in pieces: sizes from the input (each byte b → (b² + 1) bytes, cycled).
    let mut s = s;
    let mut pieces = Vec::new();
    let mut rest = &object[..];
    let mut sizes = writes.iter().cycle();
    let mut current = 0usize;
    while !rest.is_empty() {
        let b = sizes
            .next()
            .map_or(rest.len(), |&b| usize::from(b) * usize::from(b) + 1);
        let (mut piece, tail) = rest.split_at(b.min(rest.len()));
        rest = tail;
        while let Some(n) = s.next_boundary(piece) {
            pieces.push(current + n);
            current = 0;
            piece = &piece[n..];
        }
        current += piece.len();
        assert_eq!(
            s.pending(),
            current,
            "{name}: pending() tracks the open chunk"
        );
    }
    if current > 0 {
        pieces.push(current);
    }
    assert_eq!(pieces, whole, "{name}: boundaries depend on write sizes");
    true
}
