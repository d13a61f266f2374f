//! Writes the benchmarks' generated compression input to a file, so that
//! `kopia benchmark compression --data-file` can measure the same bytes.
//!
//! Usage: `bench-data <output-file> [length-in-bytes]` (default 16 MiB).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: bench-data <output-file> [length-in-bytes]");
        return ExitCode::from(2);
    };
    let len = match args.next().map(|a| a.to_string_lossy().parse::<usize>()) {
        None => vmdp_benches::BUF_LEN,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("bench-data: the length must be a positive number of bytes");
            return ExitCode::from(2);
        }
    };
    let data = vmdp_benches::compressible_bytes(len, vmdp_benches::COMPRESSIBLE_SEED);
    if let Err(e) = std::fs::write(&path, &data) {
        eprintln!("bench-data: writing {}: {e}", path.to_string_lossy());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
