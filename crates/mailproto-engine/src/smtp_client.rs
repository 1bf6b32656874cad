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

/// Options of an SMTP connection.
#[derive(Debug, Clone)]
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
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            security: Security::default(),
            tls: crate::tls::ClientTls::default(),
            config: ClientConfig::default(),
            connect_timeout: Duration::from_secs(30),
            prefer_bdat: false,
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
        let mode = if prefer_bdat && caps.chunking {
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
                let what = match reason {
                    FailureReason::MailRejected => "sender refused",
                    _ => "message refused",
                };
                Progress::Done(Err(Error::Rejected(format!("{what}: {reply}"))))
            }
            Event::MessageAccepted(reply) => Progress::Done(Ok(self.report(reply))),
            Event::MessageRejected(reply) => {
                Progress::Done(Err(Error::Rejected(format!("message refused: {reply}"))))
            }
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

    /// Each recipient with its reply (`fallback` for one the server never answered).
    fn rejections(&self, fallback: &Reply) -> Vec<(String, String)> {
        self.recipients
            .iter()
            .zip(&self.replies)
            .map(|(recipient, reply)| {
                let reply = reply.as_ref().unwrap_or(fallback);
                (recipient.to_string(), reply.to_string())
            })
            .collect()
    }
}

/// The SASL mechanism to use with a server advertising `caps` (RFC 4954 §3).
pub fn choose_mechanism(
    caps: &Capabilities,
    credentials: &ClientCredentials,
    tls: bool,
) -> Result<Mechanism, Error> {
    crate::choose_offered(&caps.auth, credentials, tls)
        .ok_or_else(|| Error::Rejected("no usable AUTH mechanism offered".into()))
}

/// What an event means while waiting for a session step (EHLO, STARTTLS, AUTH, QUIT).
pub fn session_step(event: Event) -> Option<Result<(), Error>> {
    match event {
        Event::Ready { .. } | Event::Authenticated | Event::TlsReady => Some(Ok(())),
        Event::HelloRefused(r) => Some(Err(Error::Rejected(format!("EHLO refused: {r}")))),
        Event::StartTlsRefused(r) => Some(Err(Error::Tls(format!("STARTTLS refused: {r}")))),
        Event::AuthFailed(r) => Some(Err(Error::Rejected(format!("authentication failed: {r}")))),
        Event::TlsInjection { discarded } => Some(Err(Error::Protocol(format!(
            "{discarded} bytes arrived after 220 to STARTTLS and before TLS (response injection)"
        )))),
        Event::Closed { reason } => Some(Err(closed(reason))),
        _ => None,
    }
}

/// What an event means while waiting for the reply to RSET.
pub fn reset_step(event: Event) -> Option<Result<(), Error>> {
    match event {
        Event::Reset(r) if r.code.class() == 2 => Some(Ok(())),
        Event::Reset(r) => Some(Err(Error::Rejected(format!("RSET: {r}")))),
        other => session_step(other).filter(Result::is_err),
    }
}

/// The error for a session that closed under a command.
fn closed(reason: CloseReason) -> Error {
    match reason {
        CloseReason::Protocol(e) => Error::Protocol(e.to_string()),
        reason => Error::Protocol(format!("session closed: {reason:?}")),
    }
}
