//! The `vmdp` command. Commands arrive with the server-mode work.

fn main() {
    eprintln!("vmdp {}: no commands yet", env!("CARGO_PKG_VERSION"));
    std::process::exit(2);
}
