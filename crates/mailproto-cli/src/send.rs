//! `mailproto send`: build (or read) a message and send it over SMTP.
//!
//! The message is either given ready-made (`--raw FILE|-`, streamed as it is) or built
//! as MIME with `mail-builder` (From, To, Subject, Date, Message-ID, a text part and
//! attachments) into an anonymous temporary file, then streamed from there. Either way
//! the body goes to the server through [`SmtpClient::send`] in chunks, never held whole
//! by this program.
//!
//! Connection security: STARTTLS required by default (fail when the server does not offer
//! it, naming `--plain`), `--tls` for implicit TLS (RFC 8314), `--plain` for plaintext.
//! There is no opportunistic mode: a session is either protected as asked or refused.
//!
//! Output: one line per recipient (`bob@example.org: 250 2.1.5 Ok` or
//! `bob@example.org: refused 550 5.1.1 ...`), then `message: <final reply>`. The exit
//! code is 0 only when every recipient accepted the message.

use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::exit::Failure;

use clap::Args;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::smtp::client::ClientConfig;
use mailproto_core::smtp::{Body, ForwardPath, Host, Mailbox, ReversePath};
use mailproto_std::Error;
use mailproto_std::pop3_client::Security;
use mailproto_std::smtp_client::{Envelope, SendReport, SmtpClient, SmtpOptions};
use mailproto_std::tls::ClientTls;

use crate::CliResult;
use crate::secret::PasswordArgs;

/// Options of `mailproto send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The SMTP server, HOST:PORT (`[::1]:2525` for IPv6). Without a port: 465 with
    /// --tls, 25 with --plain, else 587 (submission).
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub server: String,
    /// Implicit TLS from the first byte (submissions, port 465).
    #[arg(long, conflicts_with_all = ["starttls", "plain"])]
    pub tls: bool,
    /// Require STARTTLS, and fail if the server does not offer it (the default).
    #[arg(long, conflicts_with = "plain")]
    pub starttls: bool,
    /// Plaintext: no TLS at all, so the password (with --user) and the message cross the
    /// network readable. Without --tls or --plain, STARTTLS is required.
    #[arg(long)]
    pub plain: bool,
    /// Trust the certificates in this PEM file instead of the system's roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (local testing only).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
    /// The name sent with EHLO (a domain, or an IP address).
    #[arg(long, default_value = "localhost")]
    pub helo: String,
    /// Authenticate as this user (password from --password-file, MAILPROTO_PASSWORD or a
    /// prompt).
    #[arg(long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// The SASL mechanism (PLAIN, LOGIN, CRAM-MD5). Default: the best one the server
    /// offers for this connection (no PLAIN or LOGIN without TLS).
    #[arg(long, requires = "user")]
    pub mech: Option<String>,
    /// The sender (MAIL FROM and the From: header): `addr` or `Name <addr>`.
    #[arg(long)]
    pub from: String,
    /// A recipient (repeatable): `addr` or `Name <addr>`.
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// The Subject: header.
    #[arg(long, default_value = "", conflicts_with = "raw")]
    pub subject: String,
    /// The message text.
    #[arg(long, conflicts_with_all = ["body_file", "raw"])]
    pub body: Option<String>,
    /// Read the message text (UTF-8) from this file.
    #[arg(long, conflicts_with = "raw")]
    pub body_file: Option<PathBuf>,
    /// Attach this file (repeatable); the content type is guessed from the extension.
    #[arg(long, conflicts_with = "raw")]
    pub attach: Vec<PathBuf>,
    /// Send this ready-made message (a file, or `-` for standard input) as it is.
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// Print the session as `C:` / `S:` lines on standard error (credentials masked,
    /// the message itself left out); twice (`-vv`): the library's debug events too.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Run `mailproto send`.
pub fn run(args: SendArgs) -> CliResult {
    let security = security(args.tls, args.plain);
    let default_port = match security {
        Security::ImplicitTls => 465,
        Security::Plain => 25,
        _ => 587,
    };
    let (host, port) = parse_server(&args.server, default_port)?;
    let from = parse_address(&args.from, "--from")?;
    let to = args
        .to
        .iter()
        .map(|t| parse_address(t, "--to"))
        .collect::<Result<Vec<_>, _>>()?;
    let mechanism = args
        .mech
        .as_deref()
        .map(|m| {
            m.parse::<Mechanism>()
                .map_err(|_| format!("--mech {m:?} is not a SASL mechanism name"))
        })
        .transpose()?;

    // Everything that can fail locally fails before the connection is opened.
    let (mut message, size): (Box<dyn Read>, Option<u64>) = match &args.raw {
        Some(path) if path.as_os_str() == "-" => (Box::new(io::stdin().lock()), None),
        Some(path) => {
            let file = File::open(path).map_err(|e| {
                Failure::new(
                    crate::exit::NO_INPUT,
                    format!("cannot open {}: {e}", path.display()),
                )
            })?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        }
        None => {
            let file = build_message(&args, &from, &to)?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        }
    };
    let credentials = match &args.user {
        Some(user) => {
            let password = args.password.resolve(user, &format_server(&host, port))?;
            Some(ClientCredentials::password(
                user.clone(),
                password.expose().clone(),
            ))
        }
        None => None,
    };

    let options = SmtpOptions::default()
        .with_security(security)
        .with_tls(client_tls(args.ca_file.as_deref(), args.insecure)?)
        .with_config(ClientConfig::new(helo_host(&args.helo)?));
    crate::log::init_client(args.verbose);
    let server = format_server(&host, port);
    let fail = |e: Error| Failure::client(&server, &e);
    let mut client = SmtpClient::connect(&host, port, options)
        .map_err(|e| connect_failure(&server, security, &e))?;
    if let Some(credentials) = credentials {
        client.authenticate(mechanism, credentials).map_err(fail)?;
    }
    let mut envelope = Envelope::new(
        ReversePath::Mailbox(from.mailbox.clone()),
        to.iter().map(|t| ForwardPath::Mailbox(t.mailbox.clone())),
    );
    let caps = client.capabilities();
    // RFC 1870: declare the size, so a server can refuse a message too large before
    // it is sent (the client checks the advertised maximum itself, too).
    if caps.size.is_some() {
        envelope.params.size = size;
    }
    // A ready-made message may hold 8-bit text; a built one is 7-bit (RFC 6152).
    if args.raw.is_some() && caps.eight_bit_mime {
        envelope.params.body = Some(Body::EightBitMime);
    }
    // Non-ASCII addresses need SMTPUTF8 (RFC 6531); the client refuses them clearly
    // when the server does not offer it.
    envelope.params.smtputf8 =
        !(from.mailbox.is_ascii() && to.iter().all(|t| t.mailbox.is_ascii()));
    let outcome = client.send(envelope, &mut message);
    // The outcome is known; a failed QUIT changes nothing about it.
    let _ = client.quit();
    match outcome {
        Ok(report) => {
            print_report(&to, &report);
            Ok(if report.all_accepted() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e @ Error::RecipientsRejected(_)) => {
            if let Error::RecipientsRejected(list) = &e {
                for r in list {
                    if let Err(reply) = &r.reply {
                        let recipient = r.recipient.to_string();
                        println!("{}: refused {reply}", recipient.trim_matches(['<', '>']));
                    }
                }
            }
            let code = crate::exit::code_of(&e);
            Err(Failure::new(code, format!("{server}: not sent: no recipient accepted")).into())
        }
        Err(e @ Error::Rejected(_)) => {
            Err(Failure::client(&format!("{server}: not sent"), &e).into())
        }
        Err(e) => Err(fail(e).into()),
    }
}

/// Print each recipient's result, then the reply to the message.
fn print_report(to: &[Recipient], report: &SendReport) {
    for (recipient, result) in to.iter().zip(&report.recipients) {
        match &result.reply {
            Ok(reply) => println!("{}: {reply}", recipient.mailbox),
            Err(reply) => println!("{}: refused {reply}", recipient.mailbox),
        }
    }
    println!("message: {}", report.reply);
}

/// An address as typed: the mailbox, and the display name if one was given.
#[derive(Debug, Clone)]
struct Recipient {
    name: Option<String>,
    mailbox: Mailbox,
}

impl Recipient {
    /// The address as a header field value.
    fn header(&self) -> Address<'static> {
        let addr = self.mailbox.to_string();
        match &self.name {
            Some(name) => Address::from((name.clone(), addr)),
            None => Address::from(addr),
        }
    }
}

/// Parse `addr`, `<addr>` or `Name <addr>`.
fn parse_address(text: &str, flag: &str) -> Result<Recipient, String> {
    let text = text.trim();
    let (name, addr) = match text.rfind('<') {
        Some(open) if open > 0 && text.ends_with('>') => {
            let name = text[..open].trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_string()), &text[open..])
        }
        _ => (None, text),
    };
    let mailbox = Mailbox::parse(addr, true).map_err(|e| format!("{flag} {text:?}: {e}"))?;
    Ok(Recipient { name, mailbox })
}

/// The EHLO name: an IP address becomes an address literal (RFC 5321 §4.1.3).
fn helo_host(name: &str) -> Result<Host, String> {
    mailproto_std::smtp_client::host_name(name).map_err(|e| format!("--helo {name:?}: {e}"))
}

/// Build the MIME message into an anonymous temporary file, positioned at its start.
fn build_message(args: &SendArgs, from: &Recipient, to: &[Recipient]) -> Result<File, String> {
    let text = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone(),
        (None, Some(path)) => fs::read_to_string(path).map_err(|e| {
            format!(
                "--body-file {}: {e} (attach a file that is not UTF-8 text with --attach)",
                path.display()
            )
        })?,
        (None, None) => String::new(),
    };
    let mut builder = MessageBuilder::new()
        .from(from.header())
        .to(to.iter().map(Recipient::header).collect::<Vec<_>>())
        .text_body(text);
    if !args.subject.is_empty() {
        builder = builder.subject(args.subject.clone());
    }
    for path in &args.attach {
        let data = fs::read(path).map_err(|e| format!("--attach {}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        builder = builder.attachment(content_type(path), name, data);
    }
    let mut file =
        tempfile::tempfile().map_err(|e| format!("cannot create a temporary file: {e}"))?;
    builder
        .write_to(&mut file)
        .and_then(|()| file.rewind())
        .map_err(|e| format!("cannot write the message to a temporary file: {e}"))?;
    Ok(file)
}

/// The MIME type of a file from its extension, `application/octet-stream` when unknown.
fn content_type(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

// Shared with `fetch`: where the server is and how its certificate is checked.

/// Split `HOST:PORT` (`[v6]:PORT`; the port may be left out). The host comes back
/// without brackets.
pub(crate) fn parse_server(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let text = text.trim();
    let bad = |why: &str| format!("--server {text:?}: {why}");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected `:PORT`"))?,
                ),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(bad("write an IPv6 address in brackets: [::1]:PORT"));
            }
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port must be 1-65535"))?,
    };
    Ok((host.to_string(), port))
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn format_server(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The connection security `send` and `fetch` use: implicit TLS with `--tls`, plaintext
/// with `--plain`, else STARTTLS (STLS) required.
pub(crate) fn security(tls: bool, plain: bool) -> Security {
    match (tls, plain) {
        (true, _) => Security::ImplicitTls,
        (false, true) => Security::Plain,
        (false, false) => Security::StartTls,
    }
}

/// A failure to open a session: when TLS was required and the server offers none, the
/// message names the flags that choose otherwise.
pub(crate) fn connect_failure(server: &str, security: Security, e: &Error) -> Failure {
    let mut failure = Failure::client(server, e);
    if security == Security::StartTls && matches!(e, Error::Unsupported(_)) {
        failure.message = format!(
            "{server}: the server offers no STARTTLS/STLS, and TLS is required by default: \
             use --tls if this port speaks TLS from the first byte, or --plain to go on \
             without TLS (only on a network you trust)"
        );
    }
    failure
}

/// The certificate check: `--insecure`, roots from `--ca-file`, or the system's roots.
pub(crate) fn client_tls(ca_file: Option<&Path>, insecure: bool) -> Result<ClientTls, String> {
    match (ca_file, insecure) {
        (_, true) => Ok(ClientTls::accept_invalid_certs()),
        (Some(path), false) => ClientTls::with_root_file(path)
            .map_err(|e| format!("--ca-file {}: {e}", path.display())),
        (None, false) => Ok(ClientTls::system()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_parse_with_ipv6_brackets_and_default_ports() {
        assert_eq!(
            parse_server("127.0.0.1:2525", 25).unwrap(),
            ("127.0.0.1".into(), 2525)
        );
        assert_eq!(
            parse_server("[::1]:2525", 25).unwrap(),
            ("::1".into(), 2525)
        );
        assert_eq!(parse_server("[::1]", 25).unwrap(), ("::1".into(), 25));
        assert_eq!(
            parse_server("mx.example.org", 587).unwrap(),
            ("mx.example.org".into(), 587)
        );
        for bad in ["::1", "[::1", "[::1]2525", ":25", "h:0", "h:x", "h:70000"] {
            assert!(parse_server(bad, 25).is_err(), "{bad}");
        }
        assert_eq!(format_server("::1", 25), "[::1]:25");
        assert_eq!(format_server("h", 25), "h:25");
    }

    #[test]
    fn addresses_take_an_optional_display_name() {
        let a = parse_address("Alice Liddell <alice@example.org>", "--from").unwrap();
        assert_eq!(a.name.as_deref(), Some("Alice Liddell"));
        assert_eq!(a.mailbox.to_string(), "alice@example.org");
        let b = parse_address("<bob@example.org>", "--to").unwrap();
        assert!(b.name.is_none());
        let c = parse_address("\"Carol\" <c@example.org>", "--to").unwrap();
        assert_eq!(c.name.as_deref(), Some("Carol"));
        let err = parse_address("not an address", "--to").unwrap_err();
        assert!(err.starts_with("--to"), "{err}");
    }

    #[test]
    fn helo_names_and_literals() {
        assert!(matches!(
            helo_host("client.example").unwrap(),
            Host::Domain(_)
        ));
        assert!(matches!(
            helo_host("192.0.2.1").unwrap(),
            Host::Literal(mailproto_core::smtp::AddressLiteral::Ipv4(_))
        ));
        assert!(matches!(
            helo_host("[IPv6:::1]").unwrap(),
            Host::Literal(mailproto_core::smtp::AddressLiteral::Ipv6(_))
        ));
        assert!(helo_host("bad name").is_err());
    }

    #[test]
    fn content_types_come_from_extensions() {
        assert_eq!(content_type(Path::new("a.pdf")), "application/pdf");
        assert_eq!(content_type(Path::new("a.txt")), "text/plain");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
