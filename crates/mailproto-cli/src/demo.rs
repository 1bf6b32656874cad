//! `mailproto demo`: a whole round trip with no configuration.
//!
//! Starts `serve` in this process on free loopback ports over a temporary Maildir with a
//! self-signed certificate and a demo user, sends a message with a small attachment over
//! STARTTLS + AUTH, fetches it back over STLS, checks the bytes match, prints both
//! session transcripts and a summary, and cleans up.

use std::io::Cursor;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::{Args, Parser};
use mail_builder::MessageBuilder;
use mailproto_core::sasl::ClientCredentials;
use mailproto_core::secret::Secret;
use mailproto_core::smtp::{Domain, ForwardPath, Host, Mailbox, ReversePath};
use mailproto_std::pop3_client::{Pop3Client, Pop3Options, Security};
use mailproto_std::smtp_client::{Envelope, SmtpClient, SmtpOptions};
use mailproto_std::tls::ClientTls;

use crate::CliResult;
use crate::serve::{self, ServeArgs};

/// Options of `mailproto demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the Maildir in this directory instead of a temporary one that is removed.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// `serve`'s options as the demo sets them.
#[derive(Debug, Parser)]
struct ServeOptions {
    #[command(flatten)]
    serve: ServeArgs,
}

const USER: &str = "demo";
const ADDRESS: &str = "demo@localhost";

/// Run `mailproto demo`.
pub fn run(args: DemoArgs) -> CliResult {
    let started = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix("mailproto-demo-")
        .tempdir()?;
    let root = args
        .keep
        .clone()
        .unwrap_or_else(|| temp.path().join("mail"));
    let password = demo_password();
    let user = format!("{USER}:{}", password.expose());
    let maildir = root.display().to_string();
    let options = ServeOptions::parse_from([
        "serve",
        "--smtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--tls-self-signed",
        "--quiet",
        "--user",
        &user,
        "--maildir",
        &maildir,
    ]);
    let running = serve::start(&options.serve)?;
    let cert = running
        .certificate
        .clone()
        .ok_or("the demo server has no certificate")?;
    println!("mailproto demo");
    println!(
        "  server: SMTP {} and POP3 {} on a Maildir in {}",
        running.smtp,
        running.pop3,
        root.display()
    );
    println!("  certificate: self-signed, SHA-256 {}", cert.fingerprint());
    println!();

    let tls = ClientTls::with_root_pem(cert.cert_pem.as_bytes())?;
    let message = build_message()?;
    let result = round_trip(&running, &tls, &password, &message);
    running.stop();
    let (smtp_lines, pop3_lines, fetched, report) = result?;

    println!("SMTP session (STARTTLS, AUTH, one message with an attachment):");
    smtp_lines.iter().for_each(|l| println!("  {l}"));
    println!();
    println!("POP3 session (STLS, USER/PASS, UIDL, RETR, DELE, QUIT):");
    pop3_lines.iter().for_each(|l| println!("  {l}"));
    println!();

    let stored = strip_trace(&fetched);
    let same = stored == message.as_slice();
    println!("summary:");
    println!(
        "  sent     {} octets to {} ({})",
        message.len(),
        ADDRESS,
        report
    );
    println!(
        "  fetched  {} octets ({} of them the server's Return-Path and Received lines)",
        fetched.len(),
        fetched.len() - stored.len()
    );
    println!(
        "  result   {}",
        if same {
            "the fetched message is byte-for-byte the message sent"
        } else {
            "MISMATCH: the fetched message differs from the message sent"
        }
    );
    println!("  time     {:.0?}", started.elapsed());
    if args.keep.is_some() {
        println!("  Maildir  kept in {}", root.display());
    }
    drop(temp);
    Ok(if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

type RoundTrip = (Vec<String>, Vec<String>, Vec<u8>, String);

/// Send the message over STARTTLS + AUTH, fetch it over STLS, delete it.
fn round_trip(
    running: &serve::Running,
    tls: &ClientTls,
    password: &Secret<String>,
    message: &[u8],
) -> Result<RoundTrip, Box<dyn std::error::Error>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    crate::log::capture_clients(lines.clone());
    let smtp_options = SmtpOptions::default()
        .with_security(Security::StartTls)
        .with_tls(tls.clone())
        .with_config(mailproto_core::smtp::client::ClientConfig::new(
            Host::Domain(Domain::new("demo.localhost")?),
        ));
    let mut smtp = SmtpClient::connect("127.0.0.1", running.smtp.port(), smtp_options)?;
    smtp.authenticate(
        None,
        ClientCredentials::password(USER, password.expose().as_str()),
    )?;
    let from = ReversePath::Mailbox(ADDRESS.parse::<Mailbox>()?);
    let to = ForwardPath::Mailbox(ADDRESS.parse::<Mailbox>()?);
    let report = smtp.send(Envelope::new(from, [to]), &mut Cursor::new(message))?;
    smtp.quit()?;

    let smtp_lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|p| p.into_inner()));
    let pop3_options = Pop3Options::default()
        .with_security(Security::StartTls)
        .with_tls(tls.clone());
    let mut pop3 = Pop3Client::connect("127.0.0.1", running.pop3.port(), pop3_options)?;
    pop3.login(USER, password)?;
    let uids = pop3.uidl()?;
    let last = uids.last().ok_or("the maildrop is empty")?.msg;
    let mut fetched = Vec::new();
    pop3.retr(last, &mut fetched)?;
    pop3.dele(last)?;
    pop3.quit()?;

    let pop3_lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((smtp_lines, pop3_lines, fetched, report.reply.to_string()))
}

/// The demo message: a short text and a small attachment.
fn build_message() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    MessageBuilder::new()
        .from(("mailproto demo", ADDRESS))
        .to(ADDRESS)
        .subject("Hello from mailproto")
        .text_body(
            "This message went out over SMTP with STARTTLS and AUTH, and came back over \
             POP3 with STLS.\n.\nThe line above held a single dot; it travelled stuffed.\n",
        )
        .attachment(
            "text/csv",
            "numbers.csv",
            &b"n,square\r\n1,1\r\n2,4\r\n3,9\r\n"[..],
        )
        .write_to(&mut out)?;
    Ok(out)
}

/// A password for this run only.
fn demo_password() -> Secret<String> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    Secret::new(format!("demo-{:016x}", h.finish()))
}

/// The message without the Return-Path and Received lines the server put on top.
fn strip_trace(data: &[u8]) -> &[u8] {
    let mut rest = data;
    for prefix in [&b"Return-Path: "[..], b"Received: "] {
        if rest.starts_with(prefix)
            && let Some(end) = rest.windows(2).position(|w| w == b"\r\n")
        {
            rest = &rest[end + 2..];
        }
    }
    rest
}
