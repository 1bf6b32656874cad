//! `mailproto`: a local SMTP + POP3 mail server on Maildir, a sender, a fetcher and a demo.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[allow(dead_code)] // Used by `serve` and `fetch`, which arrive with the CLI work.
mod maildir;

/// SMTP and POP3, client and server, from one binary.
#[derive(Debug, Parser)]
#[command(name = "mailproto", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local SMTP + POP3 server over a Maildir.
    Serve,
    /// Send a message over SMTP.
    Send,
    /// Fetch messages over POP3.
    Fetch,
    /// Start a server, send a message to it and read it back.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let name = match cli.command {
        Command::Serve => "serve",
        Command::Send => "send",
        Command::Fetch => "fetch",
        Command::Demo => "demo",
    };
    eprintln!("mailproto {name}: not yet implemented");
    ExitCode::from(2)
}
