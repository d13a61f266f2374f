//! The pack postamble (spec §6.3, kopia `content_index_recovery.go`): where the
//! encrypted local index is and which IV decrypts it.

use super::PackError;

/// Decoded postamble of a pack blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postamble {
    /// IV of the local index: the full hash of its plaintext.
    pub local_index_iv: Vec<u8>,
    /// Absolute offset of the encrypted local index in the pack.
    pub local_index_offset: u32,
    /// Length of the encrypted local index.
    pub local_index_length: u32,
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a Go `binary.Uvarint`; `None` when truncated or longer than 10 bytes / 64 bits.
fn get_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7F) << (7 * i);
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Reads one uvarint from the front of `p` and advances it.
fn take_uvarint(p: &mut &[u8], what: &str) -> Result<u64, PackError> {
    let (v, used) =
        get_uvarint(p).ok_or_else(|| PackError::BadPostamble(format!("unreadable {what}")))?;
    *p = &p[used..];
    Ok(v)
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

impl Postamble {
    /// Serialises as `body ‖ BE32(crc32(body)) ‖ len(body)+4`; errors when longer than 255.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackError> {
        let mut out = Vec::with_capacity(self.local_index_iv.len() + 24);
        put_uvarint(&mut out, 1);
        put_uvarint(&mut out, self.local_index_iv.len() as u64);
        out.extend_from_slice(&self.local_index_iv);
        put_uvarint(&mut out, u64::from(self.local_index_offset));
        put_uvarint(&mut out, u64::from(self.local_index_length));
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        let n = u8::try_from(out.len()).map_err(|_| {
            PackError::BadPostamble(format!("postamble of {} bytes exceeds 255", out.len()))
        })?;
        out.push(n);
        Ok(out)
    }
}

/// Finds and decodes the postamble at the end of `tail` (the last bytes of a pack, or all
/// of it). Kopia's `findPostamble` + `decodePostamble`, with a reason instead of `nil`.
/// The postamble is not authenticated: treat it as a hint for recovery only.
pub fn find_postamble(tail: &[u8]) -> Result<Postamble, PackError> {
    let bad = |s: &str| Err(PackError::BadPostamble(s.to_string()));
    let Some((&last, rest)) = tail.split_last() else {
        return bad("pack is empty");
    };
    let n = last as usize;
    if n < 5 {
        return bad("length byte below 5");
    }
    let Some(start) = rest.len().checked_sub(n) else {
        return bad("length byte exceeds the bytes available");
    };
    let (body, crc) = rest[start..].split_at(n - 4);
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if stored != crc32(body) {
        return bad("CRC mismatch");
    }

    let mut p = body;
    if take_uvarint(&mut p, "version flag")? != 1 {
        return bad("unsupported version flag");
    }
    let iv_len = take_uvarint(&mut p, "IV length")?;
    if iv_len > p.len() as u64 {
        return bad("IV length exceeds the postamble");
    }
    let (iv, mut p) = p.split_at(iv_len as usize);
    let offset = take_uvarint(&mut p, "local index offset")?;
    let length = take_uvarint(&mut p, "local index length")?;
    Ok(Postamble {
        local_index_iv: iv.to_vec(),
        // Go truncates to uint32; so do we.
        local_index_offset: offset as u32,
        local_index_length: length as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Postamble {
        Postamble {
            local_index_iv: (0..16).collect(),
            local_index_offset: 212_992,
            local_index_length: 241,
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let b = sample().to_bytes().unwrap();
        // 1 + 1 + 16 + 3 (212992) + 2 (241) = 23 body bytes, + 4 CRC, + 1 length = 28.
        assert_eq!(b.len(), 28);
        assert_eq!(b[27], 27);
        assert_eq!(&b[..2], &[1, 16]);
        let mut pack = vec![0xEE; 100];
        pack.extend_from_slice(&b);
        assert_eq!(find_postamble(&pack).unwrap(), sample());
    }

    #[test]
    fn uvarint_matches_go() {
        let mut v = Vec::new();
        put_uvarint(&mut v, 300);
        assert_eq!(v, [0xAC, 0x02]);
        assert_eq!(get_uvarint(&v), Some((300, 2)));
        let mut max = Vec::new();
        put_uvarint(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(get_uvarint(&max), Some((u64::MAX, 10)));
        assert_eq!(get_uvarint(&[0x80; 11]), None);
        assert_eq!(get_uvarint(&[0x80]), None);
        assert_eq!(
            get_uvarint(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]),
            None
        );
    }

    #[test]
    fn long_iv_is_rejected_when_writing() {
        let p = Postamble {
            local_index_iv: vec![0; 300],
            ..sample()
        };
        assert!(p.to_bytes().is_err());
    }

    #[test]
    fn malformed_postambles_are_errors() {
        let good = sample().to_bytes().unwrap();
        assert!(find_postamble(&[]).is_err());
        assert!(find_postamble(&[4]).is_err());
        assert!(find_postamble(&[0, 0, 0, 200]).is_err());
        for n in 0..good.len() {
            if n > 0 {
                assert!(find_postamble(&good[n..]).is_err(), "suffix from {n}");
            }
            assert!(find_postamble(&good[..n]).is_err(), "prefix to {n}");
        }
        let mut b = good.clone();
        b[3] ^= 1;
        assert!(find_postamble(&b).is_err(), "CRC");
        // Valid CRC over a body with version 2.
        let mut body = vec![2u8, 0, 0, 0];
        body.extend_from_slice(&crc32(&body).to_be_bytes());
        body.push(8);
        assert!(find_postamble(&body).is_err(), "version");
        // IV length larger than the body.
        let mut body = vec![1u8, 50, 0, 0];
        body.extend_from_slice(&crc32(&body).to_be_bytes());
        body.push(8);
        assert!(find_postamble(&body).is_err(), "IV length");
        // Missing length varint.
        let mut body = vec![1u8, 0, 5];
        body.extend_from_slice(&crc32(&body).to_be_bytes());
        body.push(7);
        assert!(find_postamble(&body).is_err(), "missing length");
    }
}
