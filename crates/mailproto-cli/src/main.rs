//! `mailproto`: a local SMTP + POP3 mail server on Maildir, a sender, a fetcher and a demo.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod exit;
mod fetch;
mod fetch_state;
mod fetch_store;

mod log;
mod maildir;
mod passwd;
mod rules;
mod secret;
mod send;
mod sendmail;
mod serve;
mod tls_dir;
mod users;

/// SMTP and POP3, client and server, from one binary.
#[derive(Debug, Parser)]
#[command(name = "mailproto", version, about, long_about = None, after_help = exit::HELP)]
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
    /// The sendmail interface: the message on standard input, relayed to one server
    /// (`--server URL` or `MAILPROTO_SMTP_URL`).
    Sendmail(sendmail::SendmailArgs),
    /// Start a server, send a message with an attachment over STARTTLS + AUTH, fetch it
    /// back over STLS, and check the bytes match.
    Demo(demo::DemoArgs),
    /// Add a user to a `serve --users` file or change their password (stored hashed).
    Passwd(passwd::PasswdArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version go to standard output with status 0; a usage mistake to
        // standard error with EX_USAGE.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    // What a command's plain errors (a message, no code of their own) mean.
    let plain = match &cli.command {
        Command::Serve(_) | Command::Demo(_) => exit::SOFTWARE,
        _ => exit::USAGE,
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Send(args) => send::run(args),
        Command::Fetch(args) => fetch::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Sendmail(args) => sendmail::run(args),
        Command::Passwd(args) => passwd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailproto: {e}");
            let code = match e.downcast_ref::<exit::Failure>() {
                Some(f) => f.code,
                None => plain,
            };
            ExitCode::from(code)
        }
    }
}

/// The error type of the subcommands: a message for the user.
type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;
