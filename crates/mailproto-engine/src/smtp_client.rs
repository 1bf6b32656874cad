//! SMTP client API: connect (plain, STARTTLS required or opportunistic, implicit TLS),
//! EHLO, AUTH (mechanism chosen from the server's list or forced), and sending one
//! message to several recipients from a reader, streamed, with per-recipient results and
//! pipelining when the server offers it.
//!
//! [`Transaction`] interprets the machine's events for one message; every adapter uses it,
//! only the waiting (blocking or async) differs.

use std::time::Duration;

use mailproto_core::Instant;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::smtp::client::{
    BodyMode, Client, ClientConfig, CloseReason, Event, FailureReason,
};
use mailproto_core::smtp::{Capabilities, ForwardPath, MailParams, RcptParams, Reply, ReversePath};

use crate::Error;
use crate::pop3_client::Security;

/// Options of an SMTP connection: `SmtpOptions::default()` and the `with_` methods
/// (new options are added without breaking callers).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SmtpOptions {
    /// TLS use.
    pub security: Security,
    /// Certificate checks for TLS.
    pub tls: crate::tls::ClientTls,
    /// The machine's configuration (EHLO name, LMTP, limits, timeouts).
    pub config: ClientConfig,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Send the body with BDAT when the server offers CHUNKING (RFC 3030).
    pub prefer_bdat: bool,
    /// Without implicit TLS: how long to wait for the greeting before concluding the
    /// server expects TLS from the first byte (port 465) and saying so
    /// ([`Error::TlsMode`]); default 10 s. `None`: the greeting deadline of
    /// [`ClientConfig::timeouts`] only (RFC 5321 §4.5.3.2.1: 5 minutes).
    pub greeting_wait: Option<Duration>,
}

impl SmtpOptions {
    /// TLS use (default: STARTTLS required).
    pub fn with_security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Certificate checks for TLS (default: the system's trust store).
    pub fn with_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// The machine's configuration (EHLO name, LMTP, limits, timeouts).
    pub fn with_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Connect timeout (default 30 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Send bodies with BDAT when the server offers CHUNKING.
    pub fn with_prefer_bdat(mut self, bdat: bool) -> Self {
        self.prefer_bdat = bdat;
        self
    }

    /// How long to wait for the greeting without implicit TLS (see the field).
    pub fn with_greeting_wait(mut self, wait: Option<Duration>) -> Self {
        self.greeting_wait = wait;
        self
    }
    /// The machine's configuration for a session with these options: TLS active from the
    /// start under implicit TLS, the greeting awaited for at most `greeting_wait`
    /// otherwise.
    pub fn machine_config(&self) -> ClientConfig {
        let mut config = self.config.clone();
        let implicit = self.security == Security::ImplicitTls;
        config.tls_active = implicit;
        if let (false, Some(wait)) = (implicit, self.greeting_wait) {
            config.timeouts.greeting = config.timeouts.greeting.min(wait);
        }
        config
    }
}

/// Whether to upgrade with STARTTLS after the first EHLO (RFC 3207), as `security` asks
/// and `caps` allow; [`Error::Unsupported`] when TLS is required and not offered.
pub fn wants_starttls(security: Security, caps: &Capabilities) -> Result<bool, Error> {
    match security {
        Security::StartTls | Security::StartTlsOpportunistic if caps.starttls => Ok(true),
        Security::StartTls => Err(Error::Unsupported(
            "the server does not offer STARTTLS, and TLS is required (Security::StartTls): \
             to send in plaintext anyway, choose Security::StartTlsOpportunistic or \
             Security::Plain"
                .into(),
        )),
        _ => Ok(false),
    }
}

/// The error of a connection that failed before its greeting, made to name the likely
/// TLS mistake: a plaintext answer to implicit TLS (a STARTTLS port), or a greeting
/// that did not come without TLS (an implicit-TLS port).
pub fn diagnose(error: Error, security: Security, greeting_wait: Option<Duration>) -> Error {
    match (error, security) {
        (Error::TlsMode(why), Security::ImplicitTls) => Error::TlsMode(format!(
            "implicit TLS failed: {why}. The server answered in plaintext where a TLS \
             handshake was expected: this port most likely speaks STARTTLS (submission \
             is usually port 587, relay port 25). Use Security::StartTls (an smtp:// URL) \
             instead of Security::ImplicitTls (smtps://), or connect to the implicit-TLS \
             port (usually 465)"
        )),
        (Error::Timeout, security) if security != Security::ImplicitTls => {
            let wait =
                greeting_wait.map_or(String::new(), |w| format!(" within {} s", w.as_secs()));
            Error::TlsMode(format!(
                "no greeting{wait}: the server may expect TLS from the first byte (implicit \
                 TLS, usually port 465). Use Security::ImplicitTls (an smtps:// URL), or \
                 connect to the STARTTLS port (usually 587); for a server that is only \
                 slow to greet, raise SmtpOptions::greeting_wait"
            ))
        }
        (e, _) => e,
    }
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            security: Security::default(),
            tls: crate::tls::ClientTls::default(),
            config: ClientConfig::default(),
            connect_timeout: Duration::from_secs(30),
            prefer_bdat: false,
            greeting_wait: Some(Duration::from_secs(10)),
        }
    }
}

/// The outcome of one recipient.
#[derive(Debug, Clone)]
pub struct RecipientResult {
    /// The recipient.
    pub recipient: ForwardPath,
    /// The server's reply to RCPT (and, for LMTP, after the data): `Ok` for 2xx.
    pub reply: Result<Reply, Reply>,
}

/// What happened to a message that was accepted for at least one recipient.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// One entry per recipient, in the order given.
    pub recipients: Vec<RecipientResult>,
    /// The reply to the end of data (for LMTP, the last recipient's).
    pub reply: Reply,
}

impl RecipientResult {
    /// Whether the recipient was refused for now (`4xx`): a later try may succeed.
    pub fn is_transient(&self) -> bool {
        self.reply.as_ref().is_err_and(|r| r.code.class() == 4)
    }

    /// Whether the recipient was refused for good (`5xx`).
    pub fn is_permanent(&self) -> bool {
        self.reply.as_ref().is_err_and(|r| r.code.class() == 5)
    }
}

impl SendReport {
    /// Whether every recipient was accepted.
    pub fn all_accepted(&self) -> bool {
        self.recipients.iter().all(|r| r.reply.is_ok())
    }
}

/// A message's envelope.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// MAIL FROM.
    pub from: ReversePath,
    /// MAIL parameters (SIZE, BODY, ...).
    pub params: MailParams,
    /// RCPT TO, with parameters.
    pub recipients: Vec<(ForwardPath, RcptParams)>,
}

impl Envelope {
    /// From `from` to `to`, without parameters.
    pub fn new(from: ReversePath, to: impl IntoIterator<Item = ForwardPath>) -> Self {
        Envelope {
            from,
            params: MailParams::default(),
            recipients: to.into_iter().map(|p| (p, RcptParams::default())).collect(),
        }
    }
}

/// Where a [`Transaction`] stands after an event.
#[derive(Debug)]
pub enum Progress {
    /// Keep reading events.
    Waiting,
    /// Send (more) body bytes.
    SendBody,
    /// The transaction ended.
    Done(Result<SendReport, Error>),
}

/// One message's progress through the client machine (shared by every adapter).
#[derive(Debug)]
pub struct Transaction {
    recipients: Vec<ForwardPath>,
    replies: Vec<Option<Reply>>,
}

impl Transaction {
    /// Start sending `envelope` on `client`.
    pub fn start(
        client: &mut Client,
        now: Instant,
        envelope: Envelope,
        prefer_bdat: bool,
    ) -> Result<Self, Error> {
        let recipients: Vec<ForwardPath> =
            envelope.recipients.iter().map(|(p, _)| p.clone()).collect();
        let caps = client.capabilities();
        let binary = envelope.params.body == Some(mailproto_core::smtp::Body::BinaryMime);
        let mode = if (prefer_bdat || binary) && caps.chunking {
            BodyMode::Bdat
        } else {
            BodyMode::Data
        };
        client
            .send_envelope(
                now,
                envelope.from,
                envelope.params,
                envelope.recipients,
                mode,
            )
            .map_err(|e| Error::Protocol(e.into_kind().to_string()))?;
        let replies = vec![None; recipients.len()];
        Ok(Transaction {
            recipients,
            replies,
        })
    }

    /// Take one machine event.
    pub fn on_event(&mut self, event: Event) -> Progress {
        match event {
            Event::RcptReply { index, reply } => {
                if let Some(slot) = self.replies.get_mut(index) {
                    *slot = Some(reply);
                }
                Progress::Waiting
            }
            Event::ReadyForBody => Progress::SendBody,
            Event::TransactionFailed {
                reason: FailureReason::NoValidRecipients,
                reply,
            } => Progress::Done(Err(Error::RecipientsRejected(self.rejections(&reply)))),
            Event::TransactionFailed { reason, reply } => {
                let command = match reason {
                    FailureReason::MailRejected => "MAIL",
                    _ => "DATA",
                };
                Progress::Done(Err(refused(command, reply)))
            }
            Event::MessageAccepted(reply) => Progress::Done(Ok(self.report(reply))),
            Event::MessageRejected(reply) => Progress::Done(Err(refused("end of data", reply))),
            Event::LmtpReply { index, reply, last } => {
                if let Some(slot) = self.replies.get_mut(index) {
                    *slot = Some(reply.clone());
                }
                if !last {
                    return Progress::Waiting;
                }
                let report = self.report(reply.clone());
                if report.recipients.iter().any(|r| r.reply.is_ok()) {
                    Progress::Done(Ok(report))
                } else {
                    Progress::Done(Err(Error::RecipientsRejected(self.rejections(&reply))))
                }
            }
            Event::Closed { reason } => Progress::Done(Err(closed(reason))),
            _ => Progress::Waiting,
        }
    }

    fn report(&self, reply: Reply) -> SendReport {
        let recipients = self
            .recipients
            .iter()
            .zip(&self.replies)
            .map(|(recipient, r)| RecipientResult {
                recipient: recipient.clone(),
                reply: match r {
                    Some(r) if r.code.class() == 2 => Ok(r.clone()),
                    Some(r) => Err(r.clone()),
                    None => Ok(reply.clone()),
                },
            })
            .collect();
        SendReport { recipients, reply }
    }

    /// Each recipient with its refusal (`fallback` for one the server never answered).
    fn rejections(&self, fallback: &Reply) -> Vec<RecipientResult> {
        self.recipients
            .iter()
            .zip(&self.replies)
            .map(|(recipient, reply)| RecipientResult {
                recipient: recipient.clone(),
                reply: Err(reply.as_ref().unwrap_or(fallback).clone()),
            })
            .collect()
    }
}

/// A host name for EHLO: a domain, or an IPv4/IPv6 address as an address literal
/// (RFC 5321 §4.1.3; `[` `]` and `IPv6:` optional).
pub fn host_name(name: &str) -> Result<mailproto_core::smtp::Host, String> {
    use mailproto_core::smtp::{AddressLiteral, Domain, Host};
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::Ipv4Addr>() {
        return Ok(Host::Literal(AddressLiteral::Ipv4(ip)));
    }
    let v6 = bare.strip_prefix("IPv6:").unwrap_or(bare);
    if let Ok(ip) = v6.parse::<std::net::Ipv6Addr>() {
        return Ok(Host::Literal(AddressLiteral::Ipv6(ip)));
    }
    Domain::new(name)
        .map(Host::Domain)
        .map_err(|e| e.to_string())
}

/// The envelope to send `message` with to a server offering `caps`: its parameters
/// (`BODY=8BITMIME`, `SMTPUTF8`, `SIZE`) as the content needs and the server offers; an
/// error naming what is missing when the server cannot take it.
pub fn message_envelope(
    message: &crate::message::Message,
    caps: &Capabilities,
) -> Result<Envelope, Error> {
    Ok(message.envelope_for(caps)?)
}

/// A report of `envelope` accepted for every recipient (what test transports answer).
pub fn accepted_report(envelope: &Envelope) -> SendReport {
    let ok = Reply::new(
        mailproto_core::smtp::ReplyCode::OK,
        Some(mailproto_core::smtp::EnhancedCode::new(2, 0, 0)),
        "Ok",
    );
    SendReport {
        recipients: envelope
            .recipients
            .iter()
            .map(|(recipient, _)| RecipientResult {
                recipient: recipient.clone(),
                reply: Ok(ok.clone()),
            })
            .collect(),
        reply: ok,
    }
}

/// The SASL mechanism to use with a server advertising `caps` (RFC 4954 §3).
pub fn choose_mechanism(
    caps: &Capabilities,
    credentials: &ClientCredentials,
    tls: bool,
) -> Result<Mechanism, Error> {
    crate::choose_offered(&caps.auth, credentials, tls).ok_or_else(|| {
        Error::Unsupported(format!(
            "no usable AUTH mechanism offered (the server offers {:?}{})",
            caps.auth,
            if tls {
                ""
            } else {
                "; some are offered only inside TLS: use STARTTLS"
            }
        ))
    })
}

/// What an event means while waiting for a session step (EHLO, STARTTLS, AUTH, QUIT).
pub fn session_step(event: Event) -> Option<Result<(), Error>> {
    match event {
        Event::Ready { .. } | Event::Authenticated | Event::TlsReady => Some(Ok(())),
        Event::HelloRefused(r) => Some(Err(refused("EHLO", r))),
        Event::StartTlsRefused(r) => Some(Err(refused("STARTTLS", r))),
        Event::AuthFailed(r) => Some(Err(refused("AUTH", r))),
        Event::TlsInjection { discarded } => Some(Err(Error::Protocol(format!(
            "{discarded} bytes arrived after 220 to STARTTLS and before TLS (response injection)"
        )))),
        Event::Closed { reason } => Some(Err(closed(reason))),
        _ => None,
    }
}

/// What an event means while waiting for the greeting: `220` (RFC 5321 §4.3.1), or the
/// reply (`554`, `421`) that refused the session, kept whole.
pub fn greeting_step(event: Event) -> Option<Result<Reply, Error>> {
    match event {
        Event::Greeting(reply) if reply.code.class() == 2 => Some(Ok(reply)),
        Event::Greeting(reply) => Some(Err(refused("greeting", reply))),
        // Silence until the greeting deadline (see `diagnose`).
        Event::Closed {
            reason: CloseReason::Timeout(_),
        } => Some(Err(Error::Timeout)),
        other => match session_step(other) {
            Some(Err(e)) => Some(Err(e)),
            _ => None,
        },
    }
}

/// What an event means while waiting for the reply to RSET.
pub fn reset_step(event: Event) -> Option<Result<(), Error>> {
    match event {
        Event::Reset(r) if r.code.class() == 2 => Some(Ok(())),
        Event::Reset(r) => Some(Err(refused("RSET", r))),
        other => session_step(other).filter(Result::is_err),
    }
}

/// The server refused `command` with `reply`.
pub fn refused(command: &'static str, reply: Reply) -> Error {
    Error::Rejected(crate::Refusal::Smtp { command, reply })
}

/// The error for a session that closed under a command.
fn closed(reason: CloseReason) -> Error {
    match reason {
        CloseReason::ServiceNotAvailable(reply) => refused("session", reply),
        CloseReason::Protocol(e) => Error::Protocol(e.to_string()),
        reason => Error::Protocol(format!("session closed: {reason:?}")),
    }
}
