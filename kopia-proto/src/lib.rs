//! Kopia's formats and algorithms, byte-for-byte compatible with kopia v0.23.1.
//!
//! Pure functions and data types only: no I/O, no async, no clocks. Everything
//! that touches files, networks or time lives in `vmdp-core`.

pub mod compression;
pub mod encryption;
pub mod format_blob;
pub mod gojson;
pub mod hashing;
pub mod ids;
pub mod index;
pub mod manifest;
pub mod object;
pub mod pack;
pub mod session;
pub mod splitter;
