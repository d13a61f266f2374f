//! Real kopia v0.23.1 reads contents compressed by every one of our compressors:
//! one content per compressor, multi-block (several MiB, so the block-parallel
//! S2 and pgzip encoders split the input), written into a pack and index of a
//! fresh kopia repository, then `kopia content show` must return the plaintext
//! and `kopia content verify --full` must pass.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{TestAesGcm, b64, blake2b_256_128, blob_iv, decrypt_format_blob};
use kopia_proto::compression::{COMPRESSOR_NAMES, Compressor};
use kopia_proto::ids::ContentId;
use kopia_proto::index::build_index;
use kopia_proto::index::epoch::index_blob_id;
use kopia_proto::pack::{ContentCipher, PackBuilder, generate_pack_id, generate_session_id};
use rand::RngCore;

const PASSWORD: &str = "compression-test-password";

/// A scratch kopia configuration and filesystem repository, removed on drop.
struct Kopia {
    root: PathBuf,
}

impl Kopia {
    fn new() -> Self {
        Kopia {
            root: vmdp_testkit::unique_temp_dir("vmdp-compression-kopia"),
        }
    }

    fn repo(&self) -> PathBuf {
        self.root.join("repo")
    }

    /// Runs kopia and returns its stdout; panics with stderr if it fails.
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(vmdp_testkit::kopia())
            .args(args)
            .env("KOPIA_CONFIG_PATH", self.root.join("cfg/repo.config"))
            .env("KOPIA_CACHE_DIRECTORY", self.root.join("cache"))
            .env("KOPIA_LOG_DIR", self.root.join("logs"))
            .env("KOPIA_CHECK_FOR_UPDATES", "false")
            .env("KOPIA_PASSWORD", PASSWORD)
            .output()
            .expect("run kopia");
        assert!(
            out.status.success(),
            "kopia {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Writes a blob into the filesystem repository using its `[1,3]` sharding.
    fn put_blob(&self, id: &str, data: &[u8]) {
        let dir = self.repo().join(&id[..1]).join(&id[1..4]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}.f", &id[4..])), data).unwrap();
    }

    fn read_blob(&self, id: &str) -> Vec<u8> {
        std::fs::read(self.repo().join(format!("{id}.f"))).unwrap()
    }
}

impl Drop for Kopia {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// About 3.4 MiB: repetitive text, a run of random bytes (stored raw by S2),
/// more text; the first line names the compressor so that every content differs.
fn input_for(name: &str) -> Vec<u8> {
    let mut data = format!("compressed by vmdp with {name}\n").into_bytes();
    data.extend(
        b"block-parallel encoders must stay readable by kopia\n"
            .iter()
            .copied()
            .cycle()
            .take(1_500_000),
    );
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    data.extend((0..1_200_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    data.extend((0..900_000u32).map(|i| b"abcdefghij"[(i / 7 % 10) as usize]));
    data
}

#[test]
fn kopia_reads_contents_we_compressed() {
    let k = Kopia::new();
    let repo = k.repo();
    k.run(&[
        "repository",
        "create",
        "filesystem",
        "--path",
        repo.to_str().unwrap(),
        "--password",
        PASSWORD,
    ]);
    let format = decrypt_format_blob(&k.read_blob("kopia.repository"), PASSWORD);
    let cipher = TestAesGcm::new(&b64(format["masterKey"].as_str().unwrap()));
    let secret = b64(format["secret"].as_str().unwrap());
    let hash = |d: &[u8]| blake2b_256_128(&secret, d);
    let mut rng = rand::rng();
    for _ in 0..COMPRESSOR_NAMES.len() + 4 {
        let mut n = [0u8; 12];
        rng.fill_bytes(&mut n);
        cipher.nonces.borrow_mut().push_back(n);
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let session = generate_session_id(&mut rng, now);
    let contents: Vec<(ContentId, Vec<u8>, Compressor)> = COMPRESSOR_NAMES
        .iter()
        .map(|name| {
            let plain = input_for(name);
            let id = ContentId::new(None, &hash(&plain)).unwrap();
            (id, plain, Compressor::from_name(name).unwrap())
        })
        .collect();
    let pack_id = generate_pack_id(&mut rng, &contents[0].0, &session);
    let mut b = PackBuilder::new(pack_id.as_str(), &[], &mut rng);
    for (id, plain, c) in &contents {
        let packed = c.compress(plain).unwrap();
        assert!(
            packed.len() < plain.len() / 2,
            "{}: {}",
            c.name(),
            packed.len()
        );
        b.add_content(
            &cipher,
            *id,
            &packed,
            c.header_id(),
            plain.len() as u32,
            now,
            3,
        )
        .unwrap();
    }
    let fin = b.finish(&cipher, &hash, 2, &mut rng).unwrap();
    k.put_blob(&pack_id, fin.bytes.as_ref().unwrap());
    let index = build_index(&fin.entries, 2).unwrap();
    let index_id = index_blob_id(0, &hex::encode(hash(&index)), &session, 1);
    let mut enc = Vec::new();
    cipher
        .encrypt_into(&index, &blob_iv(&index_id), &mut enc)
        .unwrap();
    k.put_blob(&index_id, &enc);

    for (id, plain, c) in &contents {
        let out = k.run(&["content", "show", &id.to_string()]);
        assert!(
            out == *plain,
            "{}: kopia returned {} bytes, expected {}",
            c.name(),
            out.len(),
            plain.len()
        );
    }
    k.run(&["content", "verify", "--full"]);
}
