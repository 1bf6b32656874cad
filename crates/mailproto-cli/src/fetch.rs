//! `mailproto fetch`: list, print, or download messages over POP3.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::CliResult;
use crate::secret::PasswordArgs;

/// Options of `mailproto fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The POP3 server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:1110")]
    pub server: String,
    /// Implicit TLS from the first byte (POP3S, port 995).
    #[arg(long, conflicts_with = "stls")]
    pub tls: bool,
    /// Require STLS (fail if the server does not offer it).
    #[arg(long)]
    pub stls: bool,
    /// Trust the certificates in this PEM file instead of the system's roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (local testing only).
    #[arg(long)]
    pub insecure: bool,
    /// The user to log in as.
    #[arg(long)]
    pub user: String,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// List the messages: number, size, unique id.
    #[arg(long, conflicts_with_all = ["retr", "top"])]
    pub list: bool,
    /// Print message N to standard output.
    #[arg(long, value_name = "N", conflicts_with = "top")]
    pub retr: Option<u32>,
    /// Print the headers and the first LINES lines of message N.
    #[arg(long, num_args = 2, value_names = ["N", "LINES"])]
    pub top: Option<Vec<u32>>,
    /// Download every message not fetched before into this Maildir.
    #[arg(long, default_value = "./inbox")]
    pub out: PathBuf,
    /// After a download, delete the stored messages on the server.
    #[arg(long)]
    pub delete: bool,
    /// Print the session as `C:` / `S:` lines (credentials masked).
    #[arg(short, long)]
    pub verbose: bool,
}

/// Run `mailproto fetch`.
pub fn run(_args: FetchArgs) -> CliResult {
    Err("mailproto fetch: not yet implemented".into()).map(|()| ExitCode::SUCCESS)
}
