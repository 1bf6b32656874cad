//! `mailproto serve`: SMTP and POP3 on loopback over a Maildir per user.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::CliResult;

/// Options of `mailproto serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where SMTP listens.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub smtp: String,
    /// Where POP3 listens.
    #[arg(long, default_value = "127.0.0.1:1110")]
    pub pop3: String,
    /// Also listen for SMTP over implicit TLS (submissions) here.
    #[arg(long)]
    pub smtps: Option<String>,
    /// Also listen for POP3 over implicit TLS (POP3S) here.
    #[arg(long)]
    pub pop3s: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key, STARTTLS/STLS are offered.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Generate a self-signed certificate at start (its fingerprint is printed).
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// The Maildir root: one Maildir per user below it.
    #[arg(long, default_value = "./mail")]
    pub maildir: PathBuf,
    /// A user, NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// A file of NAME:PASSWORD lines.
    #[arg(long = "users")]
    pub users_file: Option<PathBuf>,
    /// Deliver mail for unknown recipients to this user instead of refusing it.
    #[arg(long)]
    pub catch_all: Option<String>,
    /// Require SMTP AUTH before MAIL.
    #[arg(long)]
    pub require_auth: bool,
    /// Largest message accepted, in octets.
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    pub max_message_size: u64,
    /// Most recipients per message.
    #[arg(long, default_value_t = 100)]
    pub max_recipients: usize,
    /// Most connections served at once, per protocol.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Idle timeout of a session, in seconds (RFC 5321 §4.5.3.2 suggests 300).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The host name in greetings.
    #[arg(long, default_value = "localhost")]
    pub hostname: String,
}

/// Run `mailproto serve`.
pub fn run(_args: ServeArgs) -> CliResult {
    Err("mailproto serve: not yet implemented".into()).map(|()| ExitCode::SUCCESS)
}
