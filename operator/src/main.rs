//! The vmdp operator. Controllers arrive with the operator work.

fn main() {
    eprintln!(
        "vmdp-operator {}: no controllers yet",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
