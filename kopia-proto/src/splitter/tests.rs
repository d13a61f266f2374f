use super::*;

fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x = 0x1234_5678_9abc_def0u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Boundaries computed the slow way: roll every byte, test from min on.
fn reference_lengths(name: &str, data: &[u8]) -> Vec<usize> {
    let s = Splitter::new(name).unwrap();
    let (min, max, mask) = (s.min, s.max, s.mask);
    let mut buz = Buzhash32::new();
    let mut rk = RabinKarp64::new();
    let mut out = Vec::new();
    let mut n = 0;
    for &b in data {
        buz.roll(b);
        rk.roll(b);
        n += 1;
        let h = match s.kind {
            Kind::Buzhash => buz.sum32() as u64,
            Kind::RabinKarp => rk.sum64(),
            Kind::Fixed => 1,
        };
        if (n >= min && h & mask == 0) || n == max {
            out.push(n);
            n = 0;
        }
    }
    if n > 0 {
        out.push(n);
    }
    out
}

#[test]
fn unknown_names_are_rejected() {
    for name in [
        "",
        "dynamic",
        "FIXED-3M",
        "DYNAMIC-4M",
        "DYNAMIC-4M-BUZHASH ",
    ] {
        assert_eq!(
            Splitter::new(name).unwrap_err(),
            SplitterError::UnknownSplitter(name.to_string())
        );
        assert!(chunk_lengths(name, b"abc").is_err());
    }
}

#[test]
fn names_sizes_and_order() {
    assert_eq!(SPLITTER_NAMES.len(), SPECS.len());
    for (n, spec) in SPLITTER_NAMES.iter().zip(SPECS) {
        assert_eq!(*n, spec.0);
        assert_eq!(new(n).unwrap().name(), *n);
    }
    assert!(SPLITTER_NAMES.windows(2).all(|w| w[0] < w[1]));
    assert!(SPLITTER_NAMES.contains(&DEFAULT_SPLITTER));
    let s = new("DYNAMIC-4M-BUZHASH").unwrap();
    assert_eq!((s.min_size(), s.max_size()), (2 << 20, 8 << 20));
    let s = new("DYNAMIC-128K-RABINKARP").unwrap();
    assert_eq!((s.min_size(), s.max_size()), (64 << 10, 256 << 10));
    let s = new(LEGACY_SPLITTER).unwrap();
    assert_eq!((s.min_size(), s.max_size()), (4 << 20, 4 << 20));
    let s = new("DYNAMIC").unwrap();
    assert_eq!(
        (s.min_size(), s.max_size(), s.kind),
        (2 << 20, 8 << 20, Kind::Buzhash)
    );
}

#[test]
fn fixed_cuts_exact_sizes() {
    let data = vec![7u8; (3 << 17) + 5];
    assert_eq!(
        chunk_lengths("FIXED-128K", &data).unwrap(),
        vec![1 << 17, 1 << 17, 1 << 17, 5]
    );
    let mut s = new("FIXED-128K").unwrap();
    assert_eq!(s.next_boundary(&data[..1000]), None);
    assert_eq!(s.pending(), 1000);
    assert_eq!(s.next_boundary(&data), Some((1 << 17) - 1000));
    assert_eq!(s.pending(), 0);
}

#[test]
fn empty_input_has_no_boundary() {
    for name in SPLITTER_NAMES {
        let mut s = new(name).unwrap();
        assert_eq!(s.next_boundary(&[]), None);
        assert!(chunk_lengths(name, &[]).unwrap().is_empty());
    }
}

#[test]
fn matches_per_byte_reference() {
    let data = pseudo_random(3 << 20);
    for name in [
        "DYNAMIC-128K-BUZHASH",
        "DYNAMIC-128K-RABINKARP",
        "DYNAMIC-256K-BUZHASH",
        "DYNAMIC-512K-RABINKARP",
    ] {
        let want = reference_lengths(name, &data);
        assert!(want.len() > 3, "{name}: {want:?}");
        assert_eq!(chunk_lengths(name, &data).unwrap(), want, "{name}");
    }
}

#[test]
fn zero_runs_cut_at_min() {
    // A window of zeros hashes to 0, so every chunk ends as soon as testing starts.
    let data = vec![0u8; 1 << 20];
    let l = chunk_lengths("DYNAMIC-128K-BUZHASH", &data).unwrap();
    assert!(l[..l.len() - 1].iter().all(|&n| n == 64 << 10), "{l:?}");
    let l = chunk_lengths("DYNAMIC-128K-RABINKARP", &data).unwrap();
    assert!(l[..l.len() - 1].iter().all(|&n| n == 64 << 10), "{l:?}");
}

#[test]
fn write_sizes_do_not_matter() {
    let data = pseudo_random(1 << 20);
    for name in [
        "DYNAMIC-128K-BUZHASH",
        "DYNAMIC-128K-RABINKARP",
        "FIXED-128K",
    ] {
        let want = chunk_lengths(name, &data).unwrap();
        for step in [1usize, 3, 63, 64, 65, 4096, 100_000] {
            let mut s = new(name).unwrap();
            let mut got = Vec::new();
            let mut cur = 0;
            for piece in data.chunks(step) {
                let mut rest = piece;
                while let Some(n) = s.next_boundary(rest) {
                    got.push(cur + n);
                    cur = 0;
                    rest = &rest[n..];
                }
                cur += rest.len();
            }
            if cur > 0 {
                got.push(cur);
            }
            assert_eq!(got, want, "{name} step {step}");
        }
    }
}

#[test]
fn reset_restarts_the_object() {
    let data = pseudo_random(600 << 10);
    let mut s = new("DYNAMIC-128K-BUZHASH").unwrap();
    let first = s.next_boundary(&data).unwrap();
    s.next_boundary(&data[first..]);
    s.reset();
    assert_eq!(s.pending(), 0);
    assert_eq!(s.next_boundary(&data), Some(first));
}
