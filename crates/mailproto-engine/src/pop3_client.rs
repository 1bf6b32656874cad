//! POP3 client API: connect (plain, STLS, implicit TLS), log in (USER/PASS, APOP, AUTH),
//! STAT, LIST, UIDL, TOP, RETR streamed into a writer, DELE, RSET, NOOP, QUIT.
//!
//! [`Reply`] and [`step`] say what a machine event means for the command waited on; every
//! adapter uses them, only the waiting (blocking or async) differs.

use std::time::Duration;

use mailproto_core::Instant;
use mailproto_core::pop3::client::{Client, ClientConfig, ClientError, Event};
use mailproto_core::pop3::{Capabilities, DropListing, ScanListing, Status, UniqueIdListing};
use mailproto_core::sasl::{ClientCredentials, Mechanism};

use crate::{Error, TlsRole};

/// How a client protects its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Security {
    /// Plaintext only.
    Plain,
    /// Upgrade with STARTTLS/STLS; fail if the server does not offer it.
    #[default]
    StartTls,
    /// Upgrade with STARTTLS/STLS when offered, else continue in plaintext.
    StartTlsOpportunistic,
    /// TLS from the first byte (ports 465 / 995, RFC 8314).
    ImplicitTls,
}

impl Security {
    /// The TLS role of a client connecting to `host` this way: none for plaintext,
    /// otherwise certificate checks per `tls` against the name `host`.
    pub fn tls_role(self, host: &str, tls: &crate::tls::ClientTls) -> Result<TlsRole, Error> {
        Ok(match self {
            Security::Plain => TlsRole::None,
            _ => TlsRole::Client(tls.config()?, crate::tls::server_name(host)?),
        })
    }
}

/// Whether to upgrade with STLS (RFC 2595 §4) as `security` asks, given whether the
/// server's CAPA lists STLS; [`Error::Unsupported`] when TLS is required and not offered.
pub fn wants_stls(security: Security, offered: bool) -> Result<bool, Error> {
    match security {
        Security::StartTls | Security::StartTlsOpportunistic if offered => Ok(true),
        Security::StartTls => Err(Error::Unsupported(
            "the server does not offer STLS, and TLS is required (Security::StartTls): to \
             log in in plaintext anyway, choose Security::StartTlsOpportunistic or \
             Security::Plain"
                .into(),
        )),
        _ => Ok(false),
    }
}

/// What completed the command a client waited on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply {
    /// `+OK` to a command with nothing more to report.
    Ok(Status),
    /// A login succeeded.
    LoggedIn(Status),
    /// CAPA's answer.
    Capabilities(Capabilities),
    /// STAT's answer.
    Stat(DropListing),
    /// LIST n.
    Scan(ScanListing),
    /// LIST.
    ScanList(Vec<ScanListing>),
    /// UIDL n.
    Uidl(UniqueIdListing),
    /// UIDL.
    UidlList(Vec<UniqueIdListing>),
    /// The end of a RETR/TOP body.
    MessageEnd,
    /// STLS completed: the session runs inside TLS now.
    TlsReady,
}

/// One step of waiting for a command's answer.
#[derive(Debug)]
pub enum Step {
    /// Not complete yet.
    Pending,
    /// Body bytes of a RETR/TOP.
    Data(Vec<u8>),
    /// The command completed.
    Done(Result<Reply, Error>),
}

/// What `event` means for the command being waited on.
pub fn step(event: Event) -> Step {
    let done = |r| Step::Done(Ok(r));
    match event {
        Event::Ok { status, .. } => done(Reply::Ok(status)),
        Event::LoggedIn { status, .. } => done(Reply::LoggedIn(status)),
        Event::Capabilities(c) => done(Reply::Capabilities(c)),
        Event::Stat(s) => done(Reply::Stat(s)),
        Event::Scan(s) => done(Reply::Scan(s)),
        Event::ScanList(s) => done(Reply::ScanList(s)),
        Event::Uidl(u) => done(Reply::Uidl(u)),
        Event::UidlList(u) => done(Reply::UidlList(u)),
        Event::MessageData(d) => Step::Data(d),
        Event::MessageEnd => done(Reply::MessageEnd),
        Event::TlsReady => done(Reply::TlsReady),
        Event::Err { command, status } => Step::Done(Err(Error::Rejected(crate::Refusal::Pop3 {
            command: Some(command),
            status,
        }))),
        Event::Malformed { command, error } => {
            Step::Done(Err(Error::Protocol(format!("{command}: {error}"))))
        }
        Event::AuthCancelled { reason } => {
            Step::Done(Err(Error::Protocol(format!("AUTH cancelled: {reason}"))))
        }
        Event::TlsInjection { discarded } => Step::Done(Err(Error::Protocol(format!(
            "{discarded} bytes arrived after +OK to STLS and before TLS (response injection)"
        )))),
        Event::Closed { reason } => {
            Step::Done(Err(Error::Protocol(format!("session closed: {reason}"))))
        }
        _ => Step::Pending,
    }
}

/// The text of a status, with its response code.
/// What an event means while waiting for the greeting: `+OK` (RFC 1939 §4), or the
/// `-ERR` that refused the session, kept whole.
pub fn greeting_step(event: Event) -> Option<Result<Status, Error>> {
    match event {
        Event::Greeting { status, .. } if status.is_ok() => Some(Ok(status)),
        Event::Greeting { status, .. } => Some(Err(Error::Rejected(crate::Refusal::Pop3 {
            command: None,
            status,
        }))),
        Event::Closed { reason } => Some(Err(Error::Protocol(format!(
            "session closed before the greeting: {reason}"
        )))),
        _ => None,
    }
}

/// Options of a POP3 connection: `Pop3Options::default()` and the `with_` methods (new
/// options are added without breaking callers).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pop3Options {
    /// TLS use.
    pub security: Security,
    /// Certificate checks for TLS.
    pub tls: crate::tls::ClientTls,
    /// The machine's configuration.
    pub config: ClientConfig,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Pop3Options {
    /// TLS use (default: STLS required).
    pub fn with_security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Certificate checks for TLS (default: the system's trust store).
    pub fn with_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// The machine's configuration.
    pub fn with_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Connect timeout (default 30 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

impl Default for Pop3Options {
    fn default() -> Self {
        Pop3Options {
            security: Security::default(),
            tls: crate::tls::ClientTls::default(),
            config: ClientConfig::default(),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// The SASL mechanism to use with a server that lists `caps` (RFC 5034 §4, RFC 2449
/// SASL tag), preferring what is safe over the current connection.
pub fn choose_mechanism(
    caps: &Capabilities,
    credentials: &ClientCredentials,
    tls: bool,
) -> Result<Mechanism, Error> {
    crate::choose_offered(caps.sasl_mechanisms(), credentials, tls)
        .ok_or_else(|| Error::Unsupported("no usable SASL mechanism offered".into()))
}

/// Issue RETR for the first messages of `msgs`, as many as the machine takes now
/// ([`ClientConfig::max_pending`] commands outstanding at most; with PIPELINING they go
/// out together, RFC 2449 §6.6), and return how many it took. Call again with the rest
/// as answers complete: each completed message frees a place. `needed` of them must be
/// taken (the message about to be read); fewer is an error.
pub fn retr_some(
    client: &mut Client,
    now: Instant,
    msgs: &[u32],
    needed: usize,
) -> Result<usize, Error> {
    for (issued, &msg) in msgs.iter().enumerate() {
        match client.retr(now, msg) {
            Ok(()) => {}
            Err(e)
                if matches!(e.kind(), ClientError::TooManyPending { .. }) && issued >= needed =>
            {
                return Ok(issued);
            }
            Err(e) => return Err(Error::Protocol(e.to_string())),
        }
    }
    Ok(msgs.len())
}
