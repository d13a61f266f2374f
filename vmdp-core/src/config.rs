//! Kopia-compatible local configuration for server connections.
//!
//! `vmdp connect` writes the same `repository.config` JSON that
//! `kopia repository connect server` writes (same keys, order, indentation),
//! and persists the password the way kopia does (a sibling file
//! `<config>.kopia-password` holding base64 of the password, mode 0600). So
//! `kopia snapshot list` works after `vmdp connect`, and vmdp works after
//! `kopia repository connect server`.
//!
//! Modules: [`paths`] (default locations, environment variables), [`file`](mod@file)
//! (the JSON document), [`password`] (password file and environment),
//! [`identity`] (default user and host names), and the connect / disconnect /
//! open functions re-exported here.

pub mod file;
pub mod identity;
pub mod password;
pub mod paths;

mod connect;

pub use connect::{ConnectOptions, connect, disconnect, load_server_options, open_from_config};
pub use file::{ApiServerInfo, CachingOptions, LocalConfig};
