//! kopia's `REED-SOLOMON-CRC32` error correction, read side only, and a
//! [`ContentCipher`] adapter over kopia-proto's `Encryptor` that strips it (kopia-proto
//! refuses ECC repositories; the tests still read the one golden ECC repository).

use kopia_proto::encryption::Encryptor;
use kopia_proto::pack::{CipherError, ContentCipher};

/// CRC-32 (IEEE 802.3, reflected, as Go's `crc32.ChecksumIEEE`).
pub fn crc32_ieee(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Parameters of kopia's `REED-SOLOMON-CRC32` ECC for one overhead percentage
/// (`repo/ecc/ecc_rs_crc.go`, `newReedSolomonCrcECC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecc {
    data_shards: usize,
    parity_shards: usize,
    max_shard_size: usize,
    threshold_parity_output: usize,
    threshold_blocks_output: usize,
}

const ECC_CRC: usize = 4;
const ECC_SMALL_DATA: usize = 6;
const ECC_SMALL_PARITY: usize = 2;

impl Ecc {
    /// kopia's parameters for `overheadPercent` (float32 arithmetic as in Go).
    pub fn new(overhead_percent: i64) -> Ecc {
        let max_shard_size: usize = match overhead_percent {
            1 => 1024,
            2 => 512,
            3 => 256,
            4..=6 => 128,
            _ => 64,
        };
        let free = (overhead_percent as f32 - 400.0f32 / max_shard_size as f32).max(0.01f32);
        let apply = |val: usize, pct: f32| (val as f64 * f64::from(pct)).floor() as i64;
        let mut data = 128usize;
        let mut parity = apply(data, free / 100.0f32).clamp(1, 128) as usize;
        if parity == 1 {
            parity = 2;
            data = apply(parity, 100.0f32 / free).clamp(128, 254) as usize;
        }
        let threshold_parity_input = 2 * ECC_CRC * (data + parity);
        let final_size = |d: usize, p: usize, shard: usize| (d + p) * (ECC_CRC + shard);
        Ecc {
            data_shards: data,
            parity_shards: parity,
            max_shard_size,
            threshold_parity_output: final_size(
                ECC_SMALL_DATA,
                ECC_SMALL_PARITY,
                threshold_parity_input.div_ceil(ECC_SMALL_DATA),
            ),
            threshold_blocks_output: final_size(data, parity, max_shard_size),
        }
    }

    /// Removes the ECC layer from stored bytes (kopia `Decrypt` without reconstruction):
    /// every data and parity shard's CRC32 must verify, then the data shards are
    /// concatenated and the length-prefixed original extracted. Parity is not recomputed
    /// (that would need a Reed–Solomon implementation); undamaged data needs none.
    pub fn strip(&self, stored: &[u8]) -> Result<Vec<u8>, String> {
        let len = stored.len();
        let (data_shards, parity_shards, shard, blocks) = if len <= self.threshold_parity_output {
            let s = len
                .div_ceil(ECC_SMALL_DATA + ECC_SMALL_PARITY)
                .max(1 + ECC_CRC)
                - ECC_CRC;
            (ECC_SMALL_DATA, ECC_SMALL_PARITY, s, 1)
        } else if len <= self.threshold_blocks_output {
            let d = self.data_shards;
            let p = self.parity_shards;
            (d, p, len.div_ceil(d + p).max(1 + ECC_CRC) - ECC_CRC, 1)
        } else {
            let d = self.data_shards;
            let p = self.parity_shards;
            let s = self.max_shard_size;
            (d, p, s, len.div_ceil((d + p) * (ECC_CRC + s)))
        };
        let parity_len = parity_shards * (ECC_CRC + shard) * blocks;
        let total = (data_shards + parity_shards) * (ECC_CRC + shard) * blocks;
        if len < parity_len || len > total {
            return Err(format!("ECC: {len} bytes do not fit the layout"));
        }
        let mut padded = stored.to_vec();
        padded.resize(total, 0);
        let (ecc, data) = padded.split_at(parity_len);
        let padding_start = len - parity_len;
        for (i, unit) in ecc.chunks_exact(ECC_CRC + shard).enumerate() {
            let (crc, body) = unit.split_at(ECC_CRC);
            if u32::from_be_bytes(crc.try_into().unwrap()) != crc32_ieee(body) {
                return Err(format!("ECC: parity shard {i} fails its CRC"));
            }
        }
        let mut out = Vec::with_capacity(data.len());
        for (i, unit) in data.chunks_exact(ECC_CRC + shard).enumerate() {
            let (crc, body) = unit.split_at(ECC_CRC);
            if i * (ECC_CRC + shard) < padding_start
                && u32::from_be_bytes(crc.try_into().unwrap()) != crc32_ieee(body)
            {
                return Err(format!("ECC: data shard {i} fails its CRC"));
            }
            out.extend_from_slice(body);
        }
        let n = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        if 4 + n > out.len() {
            return Err(format!("ECC: length prefix {n} exceeds the data"));
        }
        out.truncate(4 + n);
        out.drain(..4);
        Ok(out)
    }
}

/// Content and blob decryption as kopia's formatter does it: AEAD, then (when the
/// repository has ECC) kopia's ECC wrapper around the AEAD output.
pub struct Crypter {
    /// kopia-proto's encryptor.
    pub enc: Encryptor,
    /// The ECC layer, if enabled.
    pub ecc: Option<Ecc>,
}

impl Crypter {
    /// Decrypts stored bytes with `iv` (content ID IV or blob-ID IV).
    pub fn open(&self, stored: &[u8], iv: &[u8]) -> Result<Vec<u8>, String> {
        let stripped;
        let data = match &self.ecc {
            Some(ecc) => {
                stripped = ecc.strip(stored)?;
                &stripped[..]
            }
            None => stored,
        };
        self.enc.decrypt(data, iv).map_err(|e| e.to_string())
    }

    /// Decrypts a blob-crypto blob (index blobs, logs): IV from the blob ID.
    pub fn open_blob(&self, blob_id: &str, stored: &[u8]) -> Result<Vec<u8>, String> {
        let iv = kopia_proto::encryption::blob_iv(blob_id).map_err(|e| e.to_string())?;
        self.open(stored, &iv)
    }
}

impl ContentCipher for Crypter {
    fn encrypt_into(&self, _: &[u8], _: &[u8], _: &mut Vec<u8>) -> Result<(), CipherError> {
        Err(CipherError("the golden tests only read".into()))
    }

    fn decrypt(&self, ciphertext: &[u8], iv: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.open(ciphertext, iv).map_err(CipherError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn ecc_parameters_for_ten_percent() {
        let e = Ecc::new(10);
        assert_eq!(
            (e.data_shards, e.parity_shards, e.max_shard_size),
            (128, 4, 64)
        );
    }
}
