//! Where a password comes from: a file, the `MAILPROTO_PASSWORD` environment variable, or
//! a prompt on the terminal.

use std::path::PathBuf;

use clap::Args;

/// Password options shared by `send` and `fetch`.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}
