//! `mailproto`: a local SMTP + POP3 mail server on Maildir, a sender, a fetcher and a demo.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod fetch;

mod maildir;
mod secret;
mod send;
mod serve;
mod transcript;

/// SMTP and POP3, client and server, from one binary.
#[derive(Debug, Parser)]
#[command(name = "mailproto", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local SMTP + POP3 server over a Maildir per user.
    Serve(serve::ServeArgs),
    /// Send a message over SMTP and print each recipient's result.
    Send(send::SendArgs),
    /// Fetch messages over POP3 into a Maildir (or list / print them).
    Fetch(fetch::FetchArgs),
    /// Start a server, send a message with an attachment over STARTTLS + AUTH, fetch it
    /// back over STLS, and check the bytes match.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Send(args) => send::run(args),
        Command::Fetch(args) => fetch::run(args),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailproto: {e}");
            ExitCode::from(1)
        }
    }
}

/// The error type of the subcommands: a message for the user.
type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;
