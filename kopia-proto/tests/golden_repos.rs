//! Golden tests: kopia-proto reads, and re-creates, every repository that real kopia
//! v0.23.1 made for the golden matrix (`vmdp_testkit::golden_repos()`,
//! `fixtures/golden/README.md`). One test per repository; each asserts:
//!
//! 1. format blob: parses and re-serializes byte-identically; the config decrypts with
//!    the password (a wrong one gives `InvalidPassword`), re-encodes byte-identically
//!    and matches `expect.json` `create`; `kopia.blobcfg` decrypts;
//! 2. index blobs: selection (epoch manager or legacy) equals `kopia index list`; each
//!    decrypts, carries its hash in its name and re-encodes byte-identically; the merged
//!    entries equal `kopia content list --deleted` field by field; every pack's
//!    postamble, local index (IV = hash), layout and v1 format-bytes preamble check
//!    out; every other blob is known: `kopia.maintenance` decrypts to a schedule, every
//!    `_log_` blob decrypts, carries its hash and gunzips to one log record per line;
//! 3. every content (live ones by the merged index, and every copy in every pack's
//!    local index) decrypts, decompresses (bounded by its original length) and hashes
//!    to its ID; the policy's compressors actually occur;
//! 4. every saved object (`objects/`) is rebuilt byte-identically from contents and
//!    re-encodes byte-identically (directory and indirect index objects); every entry
//!    reads back equal to the tree; chunk lengths equal kopia's;
//! 5. every manifest content gunzips, decodes and re-encodes byte-identically (whole
//!    content and per entry); snapshot, policy and maintenance payloads re-encode
//!    byte-identically; metadata equals `kopia manifest list`;
//! 6. the snapshot is rebuilt from `tree/` with kopia-proto only and yields kopia's root
//!    object ID, directory bytes, content set and compression decisions.
//!
//! Two more tests: every repository in `index.json` has a test here, and `tree/` is
//! exactly what `fixtures/make-tree` builds.

mod golden_support;

use std::collections::BTreeMap;

use golden_support::ecc::{Crypter, Ecc};
use golden_support::rebuild::check_rebuild;
use golden_support::repository::{
    check_format, check_indexes, check_other_blobs, check_packs, read_contents,
};
use golden_support::snapshot::{check_manifests, check_objects};
use golden_support::storage::{Shards, read_blobs};
use golden_support::{Golden, Node, header_of, s, tree_listing};
use kopia_proto::encryption::Encryptor;
use kopia_proto::hashing::HashFunction;

macro_rules! golden_repo_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_repo($name);
            }
        )*
        /// Repositories with a test of their own.
        const TESTED: &[&str] = &[$($name),*];
    };
}

golden_repo_tests! {
    default => "default",
    aes_blake2b256_zstd => "aes-blake2b256-zstd",
    chacha_blake2s128_s2 => "chacha-blake2s128-s2",
    aes_blake2s256_gzip => "aes-blake2s256-gzip",
    chacha_blake3_deflate => "chacha-blake3-deflate",
    aes_blake3128_pgzip => "aes-blake3128-pgzip",
    chacha_sha224_zstdfastest_nometa => "chacha-sha224-zstdfastest-nometa",
    aes_sha256_zstdbetter => "aes-sha256-zstdbetter",
    chacha_sha256128_s2better_s2meta => "chacha-sha256128-s2better-s2meta",
    aes_sha3224_gzipfast => "aes-sha3224-gzipfast",
    chacha_sha3256_gzipbest => "chacha-sha3256-gzipbest",
    aes_sha256_pgzipbest => "aes-sha256-pgzipbest",
    chacha_blake2s256_s2par4 => "chacha-blake2s256-s2par4",
    aes_sha3256_s2par8_policysplitter => "aes-sha3256-s2par8-policysplitter",
    chacha_zstdbest_deprecated => "chacha-zstdbest-deprecated",
    v1_zstd => "v1-zstd",
    v2_chacha_fixed_deflatefast => "v2-chacha-fixed-deflatefast",
    pbkdf2_blake3_dynamic_deflatebest => "pbkdf2-blake3-dynamic-deflatebest",
    ecc_chacha_pgzipfast => "ecc-chacha-pgzipfast",
}

#[test]
fn every_golden_repository_is_tested() {
    let g = Golden::load();
    assert_eq!(g.index["kopia_version"], vmdp_testkit::KOPIA_VERSION);
    let mut listed = g.repo_names();
    listed.sort();
    let mut tested: Vec<String> = TESTED.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(listed, tested, "index.json repos vs the tests in this file");
}

/// The tree the repositories snapshotted is what `fixtures/make-tree` builds today:
/// same names, types, modes, nanosecond mtimes, bytes and link targets.
#[test]
fn golden_tree_is_the_deterministic_tree() {
    let g = Golden::load();
    let fresh = tempfile::tempdir().unwrap();
    let out = fresh.path().join("tree");
    let script = vmdp_testkit::workspace_root().join("fixtures/make-tree");
    let status = std::process::Command::new(&script)
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {} (needs python3): {e}", script.display()));
    assert!(status.success(), "{}: {status}", script.display());
    let golden = tree_listing(&g.tree());
    let made = tree_listing(&out);
    assert!(golden.len() > 1600, "{} nodes", golden.len());
    let names = |t: &BTreeMap<Vec<u8>, Node>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&golden), names(&made), "paths");
    for (path, node) in &golden {
        assert_eq!(node, &made[path], "{}", String::from_utf8_lossy(path));
    }
}

fn check_repo(name: &str) {
    let g = Golden::load();
    let (dir, expect) = g.case(name);
    assert_eq!(s(&expect["password"]), g.password());
    assert_eq!(expect["kopia_version"], vmdp_testkit::KOPIA_VERSION);
    let repo_dir = dir.join(s(&expect["repo_dir"]));
    let tree = g.tree();
    assert_eq!(
        tree.canonicalize().unwrap(),
        dir.join(s(&expect["tree_dir"])).canonicalize().unwrap()
    );

    // Storage: listing, shard layout, lengths as kopia lists them.
    let shards = Shards::parse(&std::fs::read(repo_dir.join(".shards")).unwrap());
    let listed = read_blobs(&repo_dir);
    for (id, (path, _)) in &listed {
        assert_eq!(&shards.path_of(id), path, "{id}: sharded path");
    }
    let blobs: BTreeMap<String, Vec<u8>> = listed.into_iter().map(|(k, (_, b))| (k, b)).collect();
    let kopia_blobs: BTreeMap<&str, u64> = expect["kopia"]["blob_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (s(&v["id"]), v["length"].as_u64().unwrap()))
        .collect();
    let our_blobs: BTreeMap<&str, u64> = blobs
        .iter()
        .map(|(k, v)| (k.as_str(), v.len() as u64))
        .collect();
    assert_eq!(our_blobs, kopia_blobs, "blob listing vs kopia blob list");

    // 1. Format.
    let (fb, key, cfg) = check_format(&g, &expect, &blobs);
    let ecc = cfg
        .ecc_enabled()
        .then(|| Ecc::new(cfg.ecc_overhead_percent));
    let crypter = Crypter {
        enc: Encryptor::new(&cfg.encryption, &cfg.master_key).unwrap(),
        ecc,
    };
    let hash = HashFunction::new(&cfg.hash, &cfg.hmac_secret).unwrap();

    // 2. Indexes and packs.
    let (live, index_blobs) = check_indexes(&expect, &cfg, &crypter, &hash, &blobs);
    let packs = check_packs(&cfg, &crypter, &hash, &blobs, &live);
    let logs = check_other_blobs(&fb, &key, &cfg, &crypter, &hash, &blobs, &index_blobs);

    // 3. Contents.
    let (mut contents, by_header) = read_contents(&crypter, &hash, &blobs, &live);

    // 5 (first: step 4 needs the effective policy's splitter). Manifests.
    let (snap, policy, manifest_contents) = check_manifests(&expect, &live, &contents);
    let policy_splitter = if policy.splitter.algorithm.is_empty() {
        cfg.splitter.clone()
    } else {
        policy.splitter.algorithm.clone()
    };

    // 4. Objects and entries.
    let (dirs, index_objects) =
        check_objects(&dir, &tree, &expect, &policy_splitter, &mut contents);

    // 3 (cont.). Every compressor the policy names occurred.
    let data_comp = header_of(s(&expect["policy"]["compression"]));
    let meta_comp = header_of(s(&expect["policy"]["metadata_compression"]));
    let legacy = cfg.effective_index_version() == 1;
    if legacy {
        // Index v1 has no content-level compression: data is compressed at object level
        // (`Z` IDs) and metadata (prefixed contents) is never compressed.
        assert_eq!(by_header.keys().copied().collect::<Vec<_>>(), [0]);
        if let Some(h) = data_comp {
            assert!(
                contents.z_headers.contains_key(&h),
                "{h:#x} used for Z objects"
            );
        }
    } else {
        for h in [data_comp, meta_comp].into_iter().flatten() {
            assert!(
                by_header.contains_key(&h),
                "compressor {h:#x} occurs in the index"
            );
        }
        for h in by_header.keys().filter(|&&h| h != 0) {
            assert!(
                Some(*h) == data_comp || Some(*h) == meta_comp,
                "unexpected compressor {h:#x}"
            );
        }
    }

    // 6. Root object ID from scratch.
    let rebuilt = check_rebuild(
        &tree,
        &dir,
        &expect,
        &cfg,
        &hash,
        &policy,
        &snap,
        &live,
        &mut contents,
    );

    let headers: Vec<String> = by_header
        .iter()
        .chain(&contents.z_headers)
        .map(|(h, n)| format!("{h:#x}×{n}"))
        .collect();
    println!(
        "{name}: v{}/index v{} {} {} {}{}: {} blobs, {packs} packs, {logs} logs, {} contents [{}], \
         {dirs} dirs + {index_objects} index objects, {} entries, {manifest_contents} \
         manifest contents; {rebuilt}",
        cfg.version,
        cfg.effective_index_version(),
        cfg.encryption,
        cfg.hash,
        cfg.splitter,
        if cfg.ecc_enabled() { " +ECC" } else { "" },
        blobs.len(),
        live.len(),
        headers.join(" "),
        expect["entries"].as_array().unwrap().len(),
    );
}
