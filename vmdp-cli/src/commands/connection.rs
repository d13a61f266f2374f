//! `vmdp connect`, `vmdp repository connect server`, `vmdp disconnect`, `vmdp status`.

use std::io::{BufRead, IsTerminal};

use serde_json::json;
use vmdp_core::config::{self, ConnectOptions};

use super::{CliError, CmdResult, Session};
use crate::cli::{ConnectArgs, GlobalArgs, PasswordArgs, ServerConnectArgs};
use crate::exit;
use crate::output::print_json;

/// `vmdp connect --username USER@HOST`.
pub async fn connect(g: &GlobalArgs, a: ConnectArgs) -> CmdResult {
    let (username, hostname) = match a.username.as_deref() {
        None => (None, None),
        Some(id) => {
            let (user, host) = id.rsplit_once('@').ok_or_else(|| {
                CliError::Usage(format!("--username must be USER@HOST, got {id:?}"))
            })?;
            (Some(user.to_string()), Some(host.to_string()))
        }
    };
    finish_connect(
        g,
        a.url,
        a.server_cert_fingerprint,
        username,
        hostname,
        &a.password,
    )
    .await
}

/// `vmdp repository connect server` (kopia's flags).
pub async fn connect_server(g: &GlobalArgs, a: ServerConnectArgs) -> CmdResult {
    finish_connect(
        g,
        a.url,
        a.server_cert_fingerprint,
        a.override_username,
        a.override_hostname,
        &a.password,
    )
    .await
}

async fn finish_connect(
    g: &GlobalArgs,
    url: String,
    fingerprint: String,
    username: Option<String>,
    hostname: Option<String>,
    password: &PasswordArgs,
) -> CmdResult {
    if fingerprint.trim().is_empty() {
        return Err(CliError::Usage(
            "--server-cert-fingerprint must not be empty: vmdp pins the server certificate".into(),
        ));
    }
    let options = ConnectOptions {
        config_path: g.config_file.clone(),
        url,
        fingerprint: Some(fingerprint),
        username,
        hostname,
        password: Some(read_password(password)?),
        persist_password: true,
        ..ConnectOptions::default()
    };
    let (path, server) = config::connect(options).await?;
    let status = server.status();
    if g.json {
        print_json(&json!({ "configFile": path, "status": status }));
    } else {
        println!(
            "Connected to {} as {} (config {}).",
            status.url,
            status.identity,
            path.display()
        );
    }
    Ok(exit::OK)
}

/// The password: `--password-stdin`, else VMDP_PASSWORD / KOPIA_PASSWORD, else
/// a prompt when there is a terminal.
fn read_password(a: &PasswordArgs) -> Result<String, CliError> {
    if a.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Local(format!("reading the password from stdin: {e}")))?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            return Err(CliError::Usage("empty password on stdin".into()));
        }
        return Ok(pw);
    }
    if let Some(pw) = config::password::password_from_env() {
        return Ok(pw);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Server password: ")
            .map_err(|e| CliError::Local(format!("reading the password: {e}")));
    }
    Err(CliError::Usage(
        "no password: use --password-stdin, set VMDP_PASSWORD (or KOPIA_PASSWORD), or run \
         on a terminal to be prompted"
            .into(),
    ))
}

/// `vmdp disconnect`.
pub fn disconnect(g: &GlobalArgs) -> CmdResult {
    let path = config::disconnect(g.config_file.as_deref())?;
    if g.json {
        print_json(&json!({ "configFile": path, "disconnected": true }));
    } else {
        println!("Disconnected ({} removed).", path.display());
    }
    Ok(exit::OK)
}

/// `vmdp status`: the stored connection, checked by opening a session.
pub async fn status(g: &GlobalArgs) -> CmdResult {
    let session = Session::open(g.config_file.clone()).await?;
    let status = session.server.status();
    if g.json {
        print_json(&json!({ "connected": true, "status": status }));
    } else {
        println!("Server:        {}", status.url);
        println!("Identity:      {}", status.identity);
        if let Some(fp) = &status.fingerprint {
            println!("Certificate:   SHA-256 {fp}");
        }
        println!("Hash:          {}", status.hash_function);
        println!("Splitter:      {}", status.splitter);
        println!("Read-only:     {}", status.read_only);
        println!("Encryption:    done by the server (data travels inside TLS)");
    }
    Ok(exit::OK)
}
