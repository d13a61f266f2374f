//! Command-line grammar (clap). Commands and flags follow kopia's, so a kopia
//! user finds the same names: `vmdp snapshot create` is `kopia snapshot create`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Back up and restore files to a Kopia repository server.
///
/// vmdp talks to a `kopia server` over TLS, with the server certificate
/// pinned by its SHA-256 fingerprint. The connection is stored in kopia's own
/// config file, so `kopia` and `vmdp` can be used interchangeably.
///
/// In server mode file data travels to the server inside TLS and the SERVER
/// encrypts it with the repository key; the client does not encrypt data itself.
#[derive(Debug, Parser)]
#[command(name = "vmdp", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Examples:
  vmdp connect --url https://backup.example:51515 \\
      --server-cert-fingerprint 3b1f…e9 --username alice@vm1
  vmdp backup create /srv/app/config --description \"before upgrade\"
  vmdp backup list
  vmdp backup restore /srv/app/config /tmp/restored
Exit codes: 0 ok, 1 error, 2 usage error, 3 finished but some files failed.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (default: kopia's, e.g. ~/.config/kopia/repository.config).
    #[arg(long, global = true, env = "VMDP_CONFIG_PATH", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Log verbosity for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(
        long,
        global = true,
        env = "VMDP_LOG",
        default_value = "warn",
        value_name = "LEVEL"
    )]
    pub log_level: String,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to a kopia repository server and remember the connection.
    #[command(after_help = "Example:
  vmdp connect --url https://10.0.0.5:51515 \\
      --server-cert-fingerprint 0f3c…a1 --username alice@vm1 --password-stdin < pw.txt")]
    Connect(ConnectArgs),
    /// Repository commands (kopia's spelling of `connect`).
    #[command(subcommand)]
    Repository(RepositoryCommand),
    /// Forget the stored connection and its password.
    Disconnect,
    /// Show the current connection and check that the server answers.
    Status,
    /// Create, list, browse, restore, verify, diff and delete backups.
    #[command(subcommand, visible_alias = "snapshot")]
    Backup(BackupCommand),
}

/// `vmdp repository …`
#[derive(Debug, Subcommand)]
pub enum RepositoryCommand {
    /// Connect to a repository.
    #[command(subcommand)]
    Connect(RepositoryConnect),
    /// Forget the stored connection (same as `vmdp disconnect`).
    Disconnect,
    /// Same as `vmdp status`.
    Status,
}

/// `vmdp repository connect …`
#[derive(Debug, Subcommand)]
pub enum RepositoryConnect {
    /// Connect to a kopia repository server.
    #[command(after_help = "Example:
  vmdp repository connect server --url https://10.0.0.5:51515 \\
      --server-cert-fingerprint 0f3c…a1 --override-username alice --override-hostname vm1")]
    Server(ServerConnectArgs),
}

/// Flags of `vmdp connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server address, for example `https://backup.example:51515`.
    #[arg(long)]
    pub url: String,
    /// SHA-256 fingerprint of the server's TLS certificate (hex; colons and a
    /// `sha256:` prefix are accepted). Required: vmdp never trusts on first use.
    #[arg(long, value_name = "HEX")]
    pub server_cert_fingerprint: String,
    /// Who you are on the server: USER@HOST (default: your login and host name).
    #[arg(long, value_name = "USER@HOST")]
    pub username: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Flags of `vmdp repository connect server` (kopia's names).
#[derive(Debug, Args)]
pub struct ServerConnectArgs {
    /// Server address, for example `https://backup.example:51515`.
    #[arg(long)]
    pub url: String,
    /// SHA-256 fingerprint of the server's TLS certificate.
    #[arg(long, value_name = "HEX")]
    pub server_cert_fingerprint: String,
    /// User name on the server (default: your login name).
    #[arg(long)]
    pub override_username: Option<String>,
    /// Host name on the server (default: this machine's name).
    #[arg(long)]
    pub override_hostname: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Where the password comes from when connecting.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `vmdp backup …` / `vmdp snapshot …`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up one or more directories or files.
    ///
    /// After each backup the source's retention policy (set with `kopia policy
    /// set`) is applied, as `kopia snapshot create` does: backups it does not
    /// keep are deleted and listed in the output.
    #[command(after_help = "Examples:
  vmdp backup create /etc/myapp
  vmdp backup create /var/log/app /srv/data --description nightly --json")]
    Create(CreateArgs),
    /// List backups (of PATH, or of every source you own).
    #[command(after_help = "Examples:
  vmdp backup list
  vmdp backup list /srv/data --json")]
    List(ListArgs),
    /// List the files of a backup.
    #[command(after_help = "Examples:
  vmdp backup ls /srv/data            (latest backup of /srv/data)
  vmdp backup ls 2c6a…9f/logs -r      (snapshot ID and sub-path)")]
    Ls(LsArgs),
    /// Restore a backup, or a file or directory in it.
    #[command(
        after_help = "SNAPSHOT is a snapshot ID, a root object ID, or a path (its latest
backup). Without TARGET the data goes back to its original location.
Existing files are never overwritten unless --overwrite is given.

Examples:
  vmdp backup restore /srv/data                  (back in place)
  vmdp backup restore /srv/data/app.conf /tmp/app.conf
  vmdp backup restore 2c6a…9f/logs /tmp/logs --skip-owners"
    )]
    Restore(RestoreArgs),
    /// Delete a backup (its data is removed by the server's maintenance).
    #[command(after_help = "Example:\n  vmdp backup delete 2c6a…9f")]
    Delete(DeleteArgs),
    /// Read back every content of a backup and check it.
    #[command(
        after_help = "Examples:\n  vmdp backup verify 2c6a…9f\n  vmdp backup verify          (latest backup of every source)"
    )]
    Verify(VerifyArgs),
    /// Show what changed between two backups.
    #[command(after_help = "Example:\n  vmdp backup diff 2c6a…9f 81d0…3e")]
    Diff(DiffArgs),
}

/// `vmdp backup create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Directories or files to back up.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Description stored with the backup.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Make the data uploaded so far durable on the server every SECONDS, so
    /// an interrupted backup is resumed by the next one (0 = only at the end).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub flush_interval: u64,
}

/// `vmdp backup list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only backups of this path.
    pub path: Option<PathBuf>,
    /// Include incomplete backups (checkpoints, interrupted runs).
    #[arg(long)]
    pub incomplete: bool,
}

/// `vmdp backup ls`
#[derive(Debug, Args)]
pub struct LsArgs {
    /// SNAPSHOT[/SUBPATH]: snapshot ID, object ID or path.
    pub snapshot: String,
    /// Descend into subdirectories.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Show object IDs.
    #[arg(long, short = 'l')]
    pub long: bool,
}

/// `vmdp backup restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// SNAPSHOT[/SUBPATH]: snapshot ID, object ID or path.
    pub snapshot: String,
    /// Where to restore (default: the original location).
    pub target: Option<PathBuf>,
    /// Replace existing files and symlinks.
    #[arg(long)]
    pub overwrite: bool,
    /// Do not restore owners (only restored when running as root anyway).
    #[arg(long)]
    pub skip_owners: bool,
    /// Do not restore permission bits.
    #[arg(long)]
    pub skip_permissions: bool,
    /// Do not restore modification times.
    #[arg(long)]
    pub skip_times: bool,
    /// Write all-zero blocks as holes (sparse files).
    #[arg(long)]
    pub write_sparse: bool,
    /// Go on after a file fails; the exit code is 3 when anything failed.
    #[arg(long)]
    pub ignore_errors: bool,
    /// Files restored in parallel.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
}

/// `vmdp backup delete`
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Snapshot IDs to delete.
    #[arg(required = true)]
    pub snapshots: Vec<String>,
}

/// `vmdp backup verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// SNAPSHOT[/SUBPATH] (default: the latest backup of every source).
    pub snapshot: Option<String>,
    /// Files read in parallel.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
}

/// `vmdp backup diff`
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older SNAPSHOT[/SUBPATH].
    pub old: String,
    /// The newer SNAPSHOT[/SUBPATH].
    pub new: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn snapshot_is_an_alias_of_backup() {
        let cli = Cli::try_parse_from(["vmdp", "snapshot", "create", "/a", "/b"]).unwrap();
        match cli.command {
            Command::Backup(BackupCommand::Create(a)) => assert_eq!(a.paths.len(), 2),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn kopia_spelling_of_connect_parses() {
        let cli = Cli::try_parse_from([
            "vmdp",
            "repository",
            "connect",
            "server",
            "--url",
            "https://h:1",
            "--server-cert-fingerprint",
            "ab",
            "--override-username",
            "u",
            "--override-hostname",
            "h",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Repository(RepositoryCommand::Connect(RepositoryConnect::Server(_)))
        ));
    }

    #[test]
    fn missing_fingerprint_is_a_usage_error() {
        let err = Cli::try_parse_from(["vmdp", "connect", "--url", "https://h:1"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
