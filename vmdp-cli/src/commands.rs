//! Command dispatch and what every command shares: the error type, the exit
//! code, and opening the stored connection.

mod backup;
mod browse;
mod connection;

use std::path::PathBuf;
use std::sync::Arc;

use vmdp_core::Repository;
use vmdp_core::server::ServerRepository;

use crate::cli::{BackupCommand, Cli, Command, RepositoryCommand, RepositoryConnect};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments that clap could not catch (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The library reported an error (exit code 1).
    #[error(transparent)]
    Core(#[from] vmdp_core::Error),
    /// A local problem outside the library (exit code 1).
    #[error("{0}")]
    Local(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => crate::exit::USAGE,
            CliError::Core(_) | CliError::Local(_) => crate::exit::ERROR,
        }
    }
}

/// Result of a command: the exit code to use when it did not fail outright.
pub type CmdResult = Result<u8, CliError>;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CmdResult {
    let g = &cli.global;
    match cli.command {
        Command::Connect(args) => connection::connect(g, args).await,
        Command::Repository(RepositoryCommand::Connect(RepositoryConnect::Server(args))) => {
            connection::connect_server(g, args).await
        }
        Command::Disconnect | Command::Repository(RepositoryCommand::Disconnect) => {
            connection::disconnect(g)
        }
        Command::Status | Command::Repository(RepositoryCommand::Status) => {
            connection::status(g).await
        }
        Command::Backup(cmd) => {
            let session = Session::open(g.config_file.clone()).await?;
            match cmd {
                BackupCommand::Create(a) => backup::create(g, &session, a).await,
                BackupCommand::List(a) => backup::list(g, &session, a).await,
                BackupCommand::Delete(a) => backup::delete(g, &session, a).await,
                BackupCommand::Ls(a) => browse::ls(g, &session, a).await,
                BackupCommand::Restore(a) => browse::restore(g, &session, a).await,
                BackupCommand::Verify(a) => browse::verify(g, &session, a).await,
                BackupCommand::Diff(a) => browse::diff(g, &session, a).await,
            }
        }
    }
}

/// An open connection and who we are on it.
pub struct Session {
    /// The server connection.
    pub server: Arc<ServerRepository>,
    /// The same, as the trait the library's operations take.
    pub repo: Arc<dyn Repository>,
    /// Our user name on the server.
    pub username: String,
    /// Our host name on the server.
    pub hostname: String,
}

impl Session {
    /// Opens the connection stored in the config file (see `vmdp connect`).
    pub async fn open(config: Option<PathBuf>) -> Result<Session, CliError> {
        let options = vmdp_core::config::load_server_options(config.as_deref(), None)?;
        let (username, hostname) = (options.username.clone(), options.hostname.clone());
        let server = Arc::new(ServerRepository::connect(options).await?);
        let repo: Arc<dyn Repository> = server.clone();
        Ok(Session {
            server,
            repo,
            username,
            hostname,
        })
    }
}
