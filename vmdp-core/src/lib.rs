//! vmdp client library: the repository trait, its server and direct
//! transports, snapshot, restore, list, verify. Filled in by the server-mode
//! and direct-mode work; today it re-exports the format crate.

pub use kopia_proto as proto;
