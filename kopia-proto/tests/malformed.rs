//! Malformed inputs never panic: every fuzz body of `fuzz/bodies` (one per parser) runs
//! over valid seeds and a few thousand deterministic mutations of them (truncations,
//! bit flips, insertions, deletions, length-field and JSON-token corruptions), plus the
//! regression inputs found by `cargo fuzz`. The bodies also check round-trip and
//! differential properties, so a failure here is either a panic or a broken property.
//!
//! With `KOPIA_FUZZ_SEED_DIR=<dir>` set, the seeds are also written to
//! `<dir>/<target>/seed-<n>` (`fuzz/run-all` uses that to fill the fuzz corpora).

#[allow(dead_code)]
#[path = "../fuzz/bodies/mod.rs"]
mod bodies;
#[path = "malformed/errors.rs"]
mod errors;
#[path = "malformed/seeds.rs"]
mod seeds;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use bodies::{BODIES, Body};

/// Inputs that once crashed a body (found by `cargo fuzz`), by target name.
const REGRESSIONS: &[(&str, &[u8])] = &[
    // A negative mode: written back as "0-1363", which (as in kopia) does not parse.
    (
        "directory",
        br#"{"name":"root","type":"d","mode":"-755","obj":"k7dd15"}"#,
    ),
    ("user_acl", b"-03"),
    (
        "snapshot_manifest",
        br#"{"rootEntry":{"name":"r","type":"d","mode":"-0755","obj":"k7dd15"}}"#,
    ),
];

/// splitmix64: the deterministic source of mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'}', b'[', b']', b'-', b'0', b'9', b'e', b'\\', b'\n',
];

const INTERESTING_INTS: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

const JSON_TOKENS: &[&str] = &[
    "null",
    "true",
    "0",
    "-1",
    "1e400",
    "-0.5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "\"\"",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"x\"",
    "{}",
    "[]",
    "[null]",
    "{\"\":null}",
    "\"2262-04-11T23:47:16.854775808Z\"",
    "\"1677-09-21T00:12:43.145224191Z\"",
    "\"9999-12-31T23:59:59Z\"",
    "\"0000-01-01T00:00:00Z\"",
    "\"2024-02-30T00:00:00Z\"",
    "\"2024-01-01T00:00:00+25:00\"",
    "\"0x7fffffff\"",
    "\"-0\"",
    "\"k0123\"",
    "\"Ix\"",
];

/// One random edit of `data` (which may come out empty).
fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = data.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(INTERESTING_BYTES);
        }
        2 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(i..i, bytes);
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(32));
            data.drain(i..i + n);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let copy = data[i..i + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, copy);
        }
        5 if len > 0 => {
            // Length-field corruption: an interesting integer, 1/2/4/8 bytes, LE or BE.
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            let i = rng.below(len);
            let mut v = *rng.pick(INTERESTING_INTS);
            if rng.below(4) == 0 {
                v = (len as u64)
                    .wrapping_add(rng.below(3) as u64)
                    .wrapping_sub(1);
            }
            let bytes = if rng.below(2) == 0 {
                v.to_le_bytes()[..width].to_vec()
            } else {
                v.to_be_bytes()[8 - width..].to_vec()
            };
            for (k, b) in bytes.iter().enumerate() {
                if let Some(slot) = data.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        6 if len > 0 => {
            // JSON token corruption: replace a value-ish span with a dictionary token.
            let i = rng.below(len);
            let end = data[i..]
                .iter()
                .position(|b| b",:}]\n".contains(b))
                .map_or(len, |p| i + p);
            let tok = rng.pick(JSON_TOKENS).as_bytes().to_vec();
            data.splice(i..end, tok);
        }
        7 if !others.is_empty() => {
            // Splice in a piece of another seed.
            let o = rng.pick(others);
            if !o.is_empty() {
                let s = rng.below(o.len());
                let n = 1 + rng.below((o.len() - s).min(128));
                let at = rng.below(len + 1);
                let cut = rng.below(len - at + 1).min(n);
                data.splice(at..at + cut, o[s..s + n].iter().copied());
            }
        }
        _ => {
            let at = rng.below(len + 1);
            data.truncate(at);
        }
    }
}

/// Runs `body` on `input`; on a panic, reports the target and input, then re-panics.
fn run(target: &str, body: Body, input: &[u8]) -> bool {
    match catch_unwind(AssertUnwindSafe(|| body(input))) {
        Ok(accepted) => accepted,
        Err(e) => {
            let shown = &input[..input.len().min(512)];
            eprintln!(
                "body `{target}` panicked on {} bytes; hex {}\ntext {:?}",
                input.len(),
                hex::encode(shown),
                String::from_utf8_lossy(shown)
            );
            std::panic::resume_unwind(e)
        }
    }
}

/// Mutation budget per body (the splitter body chunks up to ~640 KiB per run).
fn budget(target: &str) -> usize {
    match target {
        "splitter" => 40,
        "pack" | "decompress" | "format_blob" => 800,
        _ => 2500,
    }
}

fn exercise(target: &str, body: Body) {
    let seeds = seeds::seeds(target);
    assert!(!seeds.is_empty(), "{target}: no seeds");
    if let Ok(dir) = std::env::var("KOPIA_FUZZ_SEED_DIR") {
        let dir = std::path::Path::new(&dir).join(target);
        std::fs::create_dir_all(&dir).expect("create seed dir");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).expect("write seed");
        }
    }
    let start = Instant::now();
    for (i, s) in seeds.iter().enumerate() {
        assert!(
            run(target, body, s),
            "{target}: valid seed #{i} rejected: {:?}",
            String::from_utf8_lossy(s)
        );
    }
    let mut rng = Rng(0x5eed ^ target.len() as u64);
    let mut runs = 0usize;
    for s in &seeds {
        // Truncation at every length (every ~len/64th length for large seeds).
        let step = (s.len() / 64).max(1);
        for cut in (0..s.len()).step_by(step) {
            run(target, body, &s[..cut]);
            runs += 1;
        }
    }
    let per_seed = budget(target) / seeds.len() + 1;
    for s in &seeds {
        for _ in 0..per_seed {
            let mut m = s.clone();
            for _ in 0..1 + rng.below(3) {
                mutate_once(&mut rng, &mut m, &seeds);
            }
            run(target, body, &m);
            runs += 1;
        }
    }
    eprintln!(
        "{target}: {} seeds, {runs} mutated runs in {:?}",
        seeds.len(),
        start.elapsed()
    );
}

macro_rules! body_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let (target, body) = BODIES
                .iter()
                .find(|(n, _)| *n == stringify!($name))
                .expect("body exists");
            exercise(target, *body);
        }
    )*};
}

body_tests!(
    content_id,
    object_id,
    indirect_index,
    directory,
    snapshot_manifest,
    policy,
    manifest_content,
    user_acl,
    go_time,
    format_blob,
    repository_config,
    index,
    pack,
    decompress,
    decrypt,
    session_response,
    splitter,
    epoch,
);

#[test]
fn every_body_has_a_test_and_a_fuzz_target() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/fuzz_targets");
    for (name, _) in BODIES {
        let target = std::fs::read_to_string(format!("{dir}/{name}.rs"))
            .unwrap_or_else(|e| panic!("fuzz target {name}: {e}"));
        assert!(
            target.contains(&format!("bodies::{name}(data)")),
            "{name} calls its body"
        );
        assert!(!seeds::seeds(name).is_empty());
    }
    assert_eq!(
        std::fs::read_dir(dir).expect("targets").count(),
        BODIES.len()
    );
}

#[test]
fn regressions_do_not_panic() {
    for (target, input) in REGRESSIONS {
        let (_, body) = BODIES
            .iter()
            .find(|(n, _)| n == target)
            .expect("known target");
        run(target, *body, input);
    }
}
