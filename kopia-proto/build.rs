//! Generates the Rust types of the repository-server session protocol.
//!
//! The `.proto` file is parsed by `protox` (pure Rust), so building needs no
//! `protoc` binary. `tonic-prost-build` then emits the prost messages and the
//! tonic client stub into `OUT_DIR/kopia_repository.rs`. The client module is
//! always generated but compiled only with the `grpc` feature, so the messages
//! stay usable with prost alone.

use std::io;

const PROTO_DIR: &str = "proto";
const PROTO_FILE: &str = "proto/repository_server.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_FILE}");

    let fds = protox::compile([PROTO_FILE], [PROTO_DIR])
        .map_err(|e| io::Error::other(format!("parsing {PROTO_FILE}: {e}")))?;

    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // We never use tonic's transport module; channels are built by the caller.
        .build_transport(false)
        .client_mod_attribute("kopia_repository", "#[cfg(feature = \"grpc\")]")
        // Payload fields become `Bytes` so multi-MiB contents are shared, not copied.
        .bytes(".")
        // `hmac_secret` must not end up in logs; session.rs implements a redacting Debug.
        .skip_debug([".kopia_repository.RepositoryParameters"])
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
