//! Fuzz bodies: one function per parser of `kopia-proto`, shared by the `cargo fuzz`
//! targets (`fuzz/fuzz_targets/*.rs`) and the stable test `tests/malformed.rs`.
//!
//! Each body feeds arbitrary bytes to one parser and must return normally for every
//! input: malformed data has to come back as an `Err`, never as a panic. Where a parser
//! has a writer, the body also checks round trips (what we write parses back to the same
//! value) and, for the splitter, that chunking does not depend on how data is fed.
//! A body returns `true` when its main parser accepted the input, so that tests can
//! check that valid seeds really reach the deep code paths.

mod binary;
mod ids;
mod json;
mod manifests;

pub use binary::{decompress, decrypt, index, pack, session_response, splitter};
pub use ids::{content_id, epoch, go_time, object_id};
pub use json::{format_blob, indirect_index, repository_config};
pub use manifests::{directory, manifest_content, policy, snapshot_manifest, user_acl};

use kopia_proto::encryption::Encryptor;
use kopia_proto::format_blob::FormatKey;
use kopia_proto::pack::{CipherError, ContentCipher};

/// A fuzz body: takes arbitrary bytes, returns whether the main parser accepted them.
pub type Body = fn(&[u8]) -> bool;

/// Every body with its fuzz target name (the file name under `fuzz_targets/`).
pub const BODIES: &[(&str, Body)] = &[
    ("content_id", content_id),
    ("object_id", object_id),
    ("indirect_index", indirect_index),
    ("directory", directory),
    ("snapshot_manifest", snapshot_manifest),
    ("policy", policy),
    ("manifest_content", manifest_content),
    ("user_acl", user_acl),
    ("go_time", go_time),
    ("format_blob", format_blob),
    ("repository_config", repository_config),
    ("index", index),
    ("pack", pack),
    ("decompress", decompress),
    ("decrypt", decrypt),
    ("session_response", session_response),
    ("splitter", splitter),
    ("epoch", epoch),
];

/// Master key of the fixed content cipher used by the `pack` and `decrypt` bodies: the
/// one of the `repo-mini` test vector, so its packs and index blob make deep seeds.
pub const MASTER_KEY: [u8; 32] = [
    0x6c, 0xb2, 0xa8, 0xd2, 0x86, 0x42, 0xed, 0x89, 0x64, 0x2e, 0x7d, 0xf5, 0xb9, 0xb2, 0xf5, 0xc5,
    0x06, 0x4f, 0x0d, 0x90, 0x30, 0xe0, 0xb8, 0xe6, 0x6b, 0xf5, 0xad, 0x5f, 0xdd, 0x45, 0xdd, 0xff,
];

/// Format key used instead of a password by the `format_blob` body (the KDF is too slow
/// to fuzz): the one `repo-mini`'s password derives, so its `kopia.repository` decrypts.
pub fn format_key() -> FormatKey {
    FormatKey::from_bytes([
        0xf6, 0x4b, 0xca, 0x5a, 0x70, 0xfe, 0x0b, 0xc9, 0xfe, 0x70, 0x3a, 0x82, 0x35, 0x05, 0xec,
        0x97, 0xf9, 0x47, 0x23, 0x6e, 0x5f, 0x75, 0x96, 0xba, 0xc2, 0x1f, 0x43, 0x77, 0x7a, 0xab,
        0xa7, 0x96,
    ])
}

/// The repository content cipher (`AES256-GCM-HMAC-SHA256`) keyed with [`MASTER_KEY`],
/// as a pack [`ContentCipher`].
pub struct RepoCipher(pub Encryptor);

impl RepoCipher {
    /// The default algorithm with [`MASTER_KEY`].
    pub fn fixed() -> Self {
        RepoCipher(
            Encryptor::new(kopia_proto::encryption::DEFAULT_ENCRYPTION, &MASTER_KEY)
                .expect("default encryption exists"),
        )
    }
}

impl ContentCipher for RepoCipher {
    fn encrypt_into(&self, plain: &[u8], iv: &[u8], out: &mut Vec<u8>) -> Result<(), CipherError> {
        self.0.encrypt_into(plain, iv, out);
        Ok(())
    }

    fn decrypt(&self, data: &[u8], iv: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.0
            .decrypt(data, iv)
            .map_err(|e| CipherError(e.to_string()))
    }
}

/// A "cipher" that stores plaintext, so that fuzzing can reach the local-index parser
/// of a pack without having to forge authentication tags.
pub struct PlainCipher;

impl ContentCipher for PlainCipher {
    fn encrypt_into(&self, plain: &[u8], _iv: &[u8], out: &mut Vec<u8>) -> Result<(), CipherError> {
        out.extend_from_slice(plain);
        Ok(())
    }

    fn decrypt(&self, data: &[u8], _iv: &[u8]) -> Result<Vec<u8>, CipherError> {
        Ok(data.to_vec())
    }
}

/// Reads structured values off the front of fuzz input; past the end it yields zeros.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    /// One byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `n` bytes (fewer when exhausted).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// Exactly `N` bytes, zero-padded.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let b = self.bytes(N);
        out[..b.len()].copy_from_slice(b);
        out
    }

    /// Everything up to the next `\n` (consumed), or the rest.
    pub fn line(&mut self) -> &'a [u8] {
        match self.0.iter().position(|&b| b == b'\n') {
            Some(p) => {
                let l = &self.0[..p];
                self.0 = &self.0[p + 1..];
                l
            }
            None => self.rest(),
        }
    }

    /// All remaining bytes.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}
