//! SMTP client API: connect (plain, STARTTLS required or opportunistic, implicit TLS),
//! EHLO, AUTH (mechanism chosen from the server's list or forced), and sending one
//! message to several recipients from a reader, streamed, with per-recipient results and
//! pipelining when the server offers it.
//!
//! [`Transaction`] interprets the machine's events for one message; both adapters use it,
//! only the waiting (blocking or async) differs.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use mailproto_core::Instant;
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::smtp::client::{
    BodyMode, Client, ClientConfig, CloseReason, Event, FailureReason, Refused,
};
use mailproto_core::smtp::{Capabilities, ForwardPath, MailParams, RcptParams, Reply, ReversePath};

use crate::pop3_client::Security;
use crate::{Driver, Error, Tap, TlsRole};

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

/// One message's progress through the client machine (shared by both adapters).
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
    let offered: Vec<Mechanism> = caps
        .auth
        .iter()
        .filter_map(|m| Mechanism::parse(m.as_bytes()).ok())
        .collect();
    Mechanism::choose(&offered, true, credentials.token.is_some(), tls)
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

/// The error for a session that closed under a command.
fn closed(reason: CloseReason) -> Error {
    match reason {
        CloseReason::Protocol(e) => Error::Protocol(e.to_string()),
        reason => Error::Protocol(format!("session closed: {reason:?}")),
    }
}

/// A blocking SMTP client session.
#[derive(Debug)]
pub struct SmtpClient {
    driver: Driver<Client>,
    greeting: Reply,
    prefer_bdat: bool,
    /// The body read buffer, kept across messages.
    body_buf: Vec<u8>,
}

impl SmtpClient {
    /// Connect to `host:port`, read the greeting, EHLO, and secure the session as
    /// `options` say (STARTTLS then EHLO again).
    pub fn connect(host: &str, port: u16, options: SmtpOptions) -> Result<Self, Error> {
        Self::connect_tapped(host, port, options, None)
    }

    /// [`SmtpClient::connect`], showing every protocol byte to `tap` (transcripts).
    pub fn connect_tapped(
        host: &str,
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let tcp = crate::connect_tcp(host, port, options.connect_timeout)?;
        let tls = options.security.tls_role(host, &options.tls)?;
        Self::over(tcp, tls, options, tap)
    }

    /// Run a session over an already connected socket.
    pub fn over(
        tcp: TcpStream,
        tls: TlsRole,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let mut config = options.config;
        let implicit = options.security == Security::ImplicitTls;
        config.tls_active = implicit;
        let machine = Client::new(Instant::ZERO, config);
        let mut driver = Driver::new(machine, tcp, tls);
        if let Some(tap) = tap {
            driver.set_tap(tap);
        }
        if implicit {
            driver.start_tls()?;
        }
        let greeting = loop {
            match driver.next_event()?.ok_or(Error::Closed)? {
                Event::Greeting(reply) if reply.code.class() == 2 => break reply,
                Event::Greeting(reply) => {
                    return Err(Error::Rejected(format!("greeting: {reply}")));
                }
                other => {
                    if let Some(Err(e)) = session_step(other) {
                        return Err(e);
                    }
                }
            }
        };
        let mut client = SmtpClient {
            driver,
            greeting,
            prefer_bdat: options.prefer_bdat,
            body_buf: Vec::new(),
        };
        client.step(Client::ehlo)?;
        let offered = client.capabilities().starttls;
        match options.security {
            Security::StartTls | Security::StartTlsOpportunistic if offered => {
                client.step(Client::starttls)?;
                client.step(Client::ehlo)?;
            }
            Security::StartTls => {
                return Err(Error::Tls("the server does not offer STARTTLS".into()));
            }
            _ => {}
        }
        Ok(client)
    }

    fn step<F>(&mut self, issue: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Client, Instant) -> Result<(), Refused<()>>,
    {
        let now = self.driver.now();
        issue(self.driver.machine(), now).map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait_step()
    }

    fn wait_step(&mut self) -> Result<(), Error> {
        loop {
            let event = self.driver.next_event()?.ok_or(Error::Closed)?;
            if let Some(done) = session_step(event) {
                return done;
            }
        }
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// What the server advertised in its (last) EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        self.driver.machine_ref().capabilities()
    }

    /// Whether the session runs inside TLS.
    pub fn is_tls(&self) -> bool {
        self.driver.is_tls()
    }

    /// AUTH with `mechanism` even when the server does not advertise it, or when it
    /// would send a password without TLS: for servers that accept more than they list.
    /// The caller takes the risk the machine otherwise refuses.
    pub fn authenticate_forced(
        &mut self,
        mechanism: Mechanism,
        credentials: ClientCredentials,
    ) -> Result<(), Error> {
        let auth =
            ClientAuth::new(mechanism, credentials).map_err(|e| Error::Protocol(e.to_string()))?;
        let now = self.driver.now();
        self.driver
            .machine()
            .auth_forced(now, auth)
            .map_err(|e| Error::Protocol(e.into_kind().to_string()))?;
        self.wait_step()
    }

    /// AUTH with `mechanism`, or the best one the server advertises.
    pub fn authenticate(
        &mut self,
        mechanism: Option<Mechanism>,
        credentials: ClientCredentials,
    ) -> Result<(), Error> {
        let mechanism = match mechanism {
            Some(m) => m,
            None => choose_mechanism(self.capabilities(), &credentials, self.is_tls())?,
        };
        let auth =
            ClientAuth::new(mechanism, credentials).map_err(|e| Error::Protocol(e.to_string()))?;
        let now = self.driver.now();
        self.driver
            .machine()
            .auth(now, auth)
            .map_err(|e| Error::Protocol(e.into_kind().to_string()))?;
        self.wait_step()
    }

    /// Send one message, read from `body` as it goes (never held whole), to the
    /// envelope's recipients. `Ok` when at least one recipient got it; the report has
    /// each recipient's result.
    pub fn send(&mut self, envelope: Envelope, body: &mut dyn Read) -> Result<SendReport, Error> {
        let now = self.driver.now();
        let mut txn = Transaction::start(self.driver.machine(), now, envelope, self.prefer_bdat)?;
        let mut buf = std::mem::take(&mut self.body_buf);
        buf.resize(64 * 1024, 0);
        let result = self.run_transaction(&mut txn, body, &mut buf);
        self.body_buf = buf;
        result
    }

    fn run_transaction(
        &mut self,
        txn: &mut Transaction,
        body: &mut dyn Read,
        buf: &mut [u8],
    ) -> Result<SendReport, Error> {
        let mut body_done = false;
        loop {
            let event = self.driver.next_event()?.ok_or(Error::Closed)?;
            match txn.on_event(event) {
                Progress::Waiting => {}
                Progress::Done(result) => return result,
                Progress::SendBody if body_done => {}
                Progress::SendBody => body_done = self.pump_body(body, buf)?,
            }
        }
    }

    /// Write body chunks while the machine accepts them; returns whether the body ended.
    fn pump_body(&mut self, body: &mut dyn Read, buf: &mut [u8]) -> Result<bool, Error> {
        let protocol = |e: Refused<()>| Error::Protocol(e.to_string());
        while self.driver.machine_ref().body_writable() {
            let n = match body.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let now = self.driver.now();
            if n == 0 {
                self.driver.machine().finish_body(now).map_err(protocol)?;
                self.driver.flush()?;
                return Ok(true);
            }
            self.driver
                .machine()
                .send_body(now, &buf[..n])
                .map_err(protocol)?;
            self.driver.flush()?;
        }
        Ok(false)
    }

    /// RSET.
    pub fn reset(&mut self) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .rset(now)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        loop {
            match self.driver.next_event()?.ok_or(Error::Closed)? {
                Event::Reset(r) if r.code.class() == 2 => return Ok(()),
                Event::Reset(r) => return Err(Error::Rejected(format!("RSET: {r}"))),
                other => {
                    if let Some(Err(e)) = session_step(other) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// QUIT and close.
    pub fn quit(mut self) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .quit(now)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        while self.driver.next_event()?.is_some() {}
        Ok(())
    }
}
