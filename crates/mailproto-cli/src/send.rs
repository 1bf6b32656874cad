//! `mailproto send`: build (or read) a message and send it over SMTP.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::CliResult;
use crate::secret::PasswordArgs;

/// Options of `mailproto send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The SMTP server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub server: String,
    /// Implicit TLS from the first byte (submissions, port 465).
    #[arg(long, conflicts_with = "starttls")]
    pub tls: bool,
    /// Require STARTTLS (fail if the server does not offer it).
    #[arg(long)]
    pub starttls: bool,
    /// Trust the certificates in this PEM file instead of the system's roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (local testing only).
    #[arg(long)]
    pub insecure: bool,
    /// The name sent with EHLO.
    #[arg(long, default_value = "localhost")]
    pub helo: String,
    /// Authenticate as this user (password from --password-file, MAILPROTO_PASSWORD or a
    /// prompt).
    #[arg(long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// The sender (MAIL FROM and the From: header).
    #[arg(long)]
    pub from: String,
    /// A recipient (repeatable).
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// The Subject: header.
    #[arg(long, default_value = "")]
    pub subject: String,
    /// The message text.
    #[arg(long, conflicts_with_all = ["body_file", "raw"])]
    pub body: Option<String>,
    /// Read the message text from this file.
    #[arg(long, conflicts_with = "raw")]
    pub body_file: Option<PathBuf>,
    /// Attach this file (repeatable).
    #[arg(long, conflicts_with = "raw")]
    pub attach: Vec<PathBuf>,
    /// Send this ready-made message (a file, or `-` for standard input) as it is.
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// Print the session as `C:` / `S:` lines (credentials masked).
    #[arg(short, long)]
    pub verbose: bool,
}

/// Run `mailproto send`.
pub fn run(_args: SendArgs) -> CliResult {
    Err("mailproto send: not yet implemented".into()).map(|()| ExitCode::SUCCESS)
}
