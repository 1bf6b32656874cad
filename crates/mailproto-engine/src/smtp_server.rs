//! SMTP server API: an [`SmtpHandler`] per connection that decides MAIL, RCPT, AUTH and
//! the end of each message and receives the body as it streams.
//!
//! [`SmtpSession`] holds what every adapter shares: it turns the machine's events into
//! handler calls and the handler's answers into replies. [`SmtpService`] holds the
//! configuration, the handler factory and the certificate; the adapters' `SmtpServer`
//! wrap it with their I/O.
//!
//! ```
//! use mailproto_engine::smtp_server::SmtpHandler;
//!
//! /// Counts the bytes of every message it accepts.
//! #[derive(Default)]
//! struct Sink(u64);
//!
//! impl SmtpHandler for Sink {
//!     fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
//!         self.0 += chunk.len() as u64;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! Every adapter's `SmtpServer::new(config, |_peer| Sink::default())` runs it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mailproto_core::Instant;
use mailproto_core::sasl::Credentials;
use mailproto_core::smtp::server::{Awaiting, Event, Server, ServerConfig};
use mailproto_core::smtp::{
    EnhancedCode, ForwardPath, Host, MailParams, RcptParams, Reply, ReplyCode, ReversePath,
};

use crate::{Admitted, Error, Refused, TlsRole};

/// What an AUTH exchange's credentials lead to ([`SmtpHandler::auth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthVerdict {
    /// `235 2.7.0 Authentication successful`.
    Accept,
    /// `535 5.7.8 Authentication credentials invalid`: a failed login (the listener's
    /// failed-login delay applies, and the machine's count of failures).
    Reject,
    /// Answer with this reply instead: e.g. `454 4.7.0 Temporary authentication
    /// failure` (RFC 4954 §6); `421` closes the session. A 2xx reply authenticates.
    Reply(Reply),
}

/// Decides what one SMTP connection may do and receives its messages. Every method has a
/// default, so a sink that accepts everything implements only [`SmtpHandler::data`].
///
/// The calls come in session order: [`connect`](Self::connect) once, before the
/// greeting; [`hello`](Self::hello) at each HELO/EHLO/LHLO; [`auth`](Self::auth);
/// then per message [`mail`](Self::mail), [`rcpt`](Self::rcpt),
/// [`data_command`](Self::data_command), [`data_start`](Self::data_start),
/// [`data`](Self::data)..., [`data_end`](Self::data_end) and [`reset`](Self::reset).
pub trait SmtpHandler: Send + 'static {
    /// The connection is open (the handler was made for its peer) and the greeting is
    /// due: `Err(reply)` refuses service with it instead of `220` (RFC 5321 §3.1):
    /// `554` then answers every command but QUIT with `503`; `421` closes at once. A
    /// handler that waits here holds the greeting. Default: greet.
    fn connect(&mut self) -> Result<(), Reply> {
        Ok(())
    }

    /// HELO (`extended` false), EHLO or LHLO with the client's `domain`: `Err(reply)`
    /// refuses it (the client may greet again; `421` closes). Default: accept, with the
    /// machine's `250` and capabilities.
    fn hello(&mut self, domain: &Host, extended: bool) -> Result<(), Reply> {
        let _ = (domain, extended);
        Ok(())
    }

    /// AUTH: whether these credentials are valid (RFC 4954). Default: refuse. Called by
    /// the default [`auth`](Self::auth); a handler that needs another reply implements
    /// that instead.
    fn authenticate(&mut self, credentials: &Credentials) -> bool {
        let _ = credentials;
        false
    }

    /// AUTH: accept, reject or answer otherwise ([`AuthVerdict`]). Default:
    /// [`authenticate`](Self::authenticate)'s yes or no.
    fn auth(&mut self, credentials: &Credentials) -> AuthVerdict {
        if self.authenticate(credentials) {
            AuthVerdict::Accept
        } else {
            AuthVerdict::Reject
        }
    }

    /// MAIL FROM: `Err(reply)` refuses the sender. Default: accept.
    fn mail(&mut self, from: &ReversePath, params: &MailParams) -> Result<(), Reply> {
        let _ = (from, params);
        Ok(())
    }

    /// RCPT TO: `Err(reply)` refuses this recipient. Default: accept.
    fn rcpt(&mut self, to: &ForwardPath, params: &RcptParams) -> Result<(), Reply> {
        let _ = (to, params);
        Ok(())
    }

    /// DATA, before the `354`, or the first BDAT chunk of a transaction: `Err(reply)`
    /// answers DATA with it instead of `354` (RFC 5321 §4.1.1.4; the transaction ends,
    /// [`reset`](Self::reset) follows), or the chunk once its octets are read and
    /// dropped, and every later chunk of the transaction (RFC 3030 §2). Default: go
    /// ahead.
    fn data_command(&mut self) -> Result<(), Reply> {
        Ok(())
    }

    /// The message body starts (after `354`, or with the first BDAT chunk).
    fn data_start(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// A piece of the body, unstuffed, in order. An error refuses the message at its
    /// end with `451 4.3.0` (the rest of the body is still read and dropped).
    fn data(&mut self, chunk: &[u8]) -> io::Result<()>;

    /// The body is complete: `Ok(())` accepts it (`250`); `Err(reply)` refuses it.
    fn data_end(&mut self) -> Result<(), Reply> {
        Ok(())
    }

    /// The body was abandoned (too big, bare line ending, connection lost): drop what
    /// was received.
    fn data_abort(&mut self) {}

    /// The transaction was reset (RSET, a new EHLO, the end of a message).
    fn reset(&mut self) {}
}

/// What a session asks its handler to decide or take: the engine's "decide this"
/// requests, one per handler method. The blocking adapter answers them by calling an
/// [`SmtpHandler`], the async adapters by awaiting an [`AsyncSmtpHandler`]; the session
/// logic around them ([`SmtpGlue`]) is the same for both.
#[derive(Debug)]
#[non_exhaustive]
pub enum Call {
    /// [`SmtpHandler::connect`]; answered with [`Answer::Verdict`].
    Connect,
    /// [`SmtpHandler::hello`]; answered with [`Answer::Verdict`].
    Hello(Host, bool),
    /// [`SmtpHandler::auth`]; answered with [`Answer::AuthVerdict`].
    Authenticate(Credentials),
    /// [`SmtpHandler::mail`]; answered with [`Answer::Verdict`].
    Mail(ReversePath, MailParams),
    /// [`SmtpHandler::rcpt`]; answered with [`Answer::Verdict`].
    Rcpt(ForwardPath, RcptParams),
    /// [`SmtpHandler::data_command`]; answered with [`Answer::Verdict`].
    DataCommand,
    /// [`SmtpHandler::data_start`]; answered with [`Answer::Stored`].
    DataStart,
    /// [`SmtpHandler::data`]; answered with [`Answer::Stored`].
    Data(Vec<u8>),
    /// [`SmtpHandler::data_end`]; answered with [`Answer::Verdict`].
    DataEnd,
    /// [`SmtpHandler::data_abort`]; answered with [`Answer::Done`].
    DataAbort,
    /// [`SmtpHandler::reset`]; answered with [`Answer::Done`].
    Reset,
}

/// A handler's answer to a [`Call`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Answer {
    /// Whether the credentials are valid.
    Auth(bool),
    /// What the credentials lead to.
    AuthVerdict(AuthVerdict),
    /// Accept, or refuse with this reply.
    Verdict(Result<(), Reply>),
    /// Whether the body (or its start) was taken.
    Stored(io::Result<()>),
    /// Nothing to report.
    Done,
}

/// Call `handler` for one request (the blocking colour).
pub fn answer_blocking<H: SmtpHandler + ?Sized>(handler: &mut H, call: Call) -> Answer {
    match call {
        Call::Connect => Answer::Verdict(handler.connect()),
        Call::Hello(domain, extended) => Answer::Verdict(handler.hello(&domain, extended)),
        Call::Authenticate(credentials) => Answer::AuthVerdict(handler.auth(&credentials)),
        Call::Mail(from, params) => Answer::Verdict(handler.mail(&from, &params)),
        Call::Rcpt(to, params) => Answer::Verdict(handler.rcpt(&to, &params)),
        Call::DataCommand => Answer::Verdict(handler.data_command()),
        Call::DataStart => Answer::Stored(handler.data_start()),
        Call::Data(chunk) => Answer::Stored(handler.data(&chunk)),
        Call::DataEnd => Answer::Verdict(handler.data_end()),
        Call::DataAbort => {
            handler.data_abort();
            Answer::Done
        }
        Call::Reset => {
            handler.reset();
            Answer::Done
        }
    }
}

/// Await `handler` for one request (the async colour).
pub async fn answer_async<H: AsyncSmtpHandler + ?Sized>(handler: &mut H, call: Call) -> Answer {
    match call {
        Call::Connect => Answer::Verdict(handler.connect().await),
        Call::Hello(domain, extended) => Answer::Verdict(handler.hello(&domain, extended).await),
        Call::Authenticate(credentials) => Answer::AuthVerdict(handler.auth(&credentials).await),
        Call::Mail(from, params) => Answer::Verdict(handler.mail(&from, &params).await),
        Call::Rcpt(to, params) => Answer::Verdict(handler.rcpt(&to, &params).await),
        Call::DataCommand => Answer::Verdict(handler.data_command().await),
        Call::DataStart => Answer::Stored(handler.data_start().await),
        Call::Data(chunk) => Answer::Stored(handler.data(&chunk).await),
        Call::DataEnd => Answer::Verdict(handler.data_end().await),
        Call::DataAbort => {
            handler.data_abort().await;
            Answer::Done
        }
        Call::Reset => {
            handler.reset().await;
            Answer::Done
        }
    }
}

/// Which answer the glue waits for, and what it does with it.
#[derive(Debug)]
enum Asked {
    Auth,
    Command,
    /// DATA or a first BDAT: on acceptance the body starts.
    DataCommand,
    Body,
    /// The handler decides the end of the message.
    End,
    /// The body failed earlier: the message is refused with this error once the handler
    /// dropped it.
    AbortAtEnd(io::Error),
    /// Nothing to do with the answer.
    Nothing,
}

/// One connection's session logic between the machine and its handler, in either
/// colour: [`SmtpGlue::on_event`] turns an event into the [`Call`] to make (or answers
/// it itself), [`SmtpGlue::on_answer`] turns the handler's [`Answer`] into replies and
/// maybe one more call. The adapter only makes the calls.
#[derive(Debug, Default)]
pub struct SmtpGlue {
    /// The body could not be stored: the rest is dropped and the message refused.
    failed: Option<io::Error>,
    asked: Option<Asked>,
    /// The listener's client: its message rate and failed-login delay.
    client: Option<Admitted>,
    /// The user of the AUTH being decided.
    user: Option<String>,
}

fn misuse(e: &dyn std::fmt::Display) -> Error {
    Error::Protocol(e.to_string())
}

impl SmtpGlue {
    /// A session with nothing asked yet.
    pub fn new() -> Self {
        SmtpGlue::default()
    }

    /// A session of the listener's `client` (held until the session ends): `MAIL` past
    /// its message rate is refused with `451 4.7.1`, and a failed AUTH is answered
    /// after its failed-login delay.
    pub fn for_client(client: Option<Admitted>) -> Self {
        SmtpGlue {
            client,
            ..SmtpGlue::default()
        }
    }

    /// The listener's client, if any.
    pub fn client(&self) -> Option<&Admitted> {
        self.client.as_ref()
    }

    /// The call `event` needs, if any (VRFY and EXPN are answered here).
    pub fn on_event(
        &mut self,
        server: &mut Server,
        now: Instant,
        event: Event,
    ) -> Result<Option<Call>, Error> {
        let (asked, call) = match event {
            Event::Auth { credentials, .. } => {
                self.user = credentials.username().map(str::to_owned);
                (Asked::Auth, Call::Authenticate(credentials))
            }
            Event::Mail { .. } if self.client.as_ref().is_some_and(|c| !c.message_allowed()) => {
                let ip = self.client.as_ref().map(|c| c.peer().ip());
                tracing::warn!(client = ?ip, "message rate limit reached");
                let text = match ip {
                    Some(ip) => format!("Error: too much mail from {ip}, try again later"),
                    None => "Error: too much mail, try again later".to_owned(),
                };
                server
                    .reply(now, reply(451, (4, 7, 1), &text))
                    .map_err(|e| misuse(&e))?;
                return Ok(None);
            }
            Event::Hello { domain, extended } if server.awaiting() == Some(Awaiting::Hello) => {
                (Asked::Command, Call::Hello(domain, extended))
            }
            Event::Mail { from, params } => (Asked::Command, Call::Mail(from, params)),
            Event::Rcpt { to, params } => (Asked::Command, Call::Rcpt(to, params)),
            Event::DataStart { .. } if matches!(server.awaiting(), Some(Awaiting::Data { .. })) => {
                (Asked::DataCommand, Call::DataCommand)
            }
            Event::DataStart { .. } => (Asked::Body, Call::DataStart),
            Event::BodyChunk(chunk) if self.failed.is_none() => (Asked::Body, Call::Data(chunk)),
            Event::MessageEnd { .. } => match self.failed.take() {
                Some(e) => (Asked::AbortAtEnd(e), Call::DataAbort),
                None => (Asked::End, Call::DataEnd),
            },
            Event::MessageAborted { .. } => {
                self.failed = None;
                (Asked::Nothing, Call::DataAbort)
            }
            Event::Vrfy(_) | Event::Expn(_) => {
                let answer = reply(252, (2, 5, 0), "Cannot VRFY user, but will accept message");
                server.reply(now, answer).map_err(|e| misuse(&e))?;
                return Ok(None);
            }
            Event::Reset => (Asked::Nothing, Call::Reset),
            Event::Closed { .. } if self.failed.take().is_some() => {
                (Asked::Nothing, Call::DataAbort)
            }
            _ => return Ok(None),
        };
        self.asked = Some(asked);
        Ok(Some(call))
    }

    /// Apply the handler's answer to the last call; the call that follows, if any (the
    /// end of a message resets the transaction).
    pub fn on_answer(
        &mut self,
        server: &mut Server,
        now: Instant,
        answer: Answer,
    ) -> Result<Option<Call>, Error> {
        let Some(asked) = self.asked.take() else {
            return Ok(None);
        };
        match (asked, answer) {
            (Asked::Auth, Answer::Auth(true) | Answer::AuthVerdict(AuthVerdict::Accept)) => {
                self.logged_in();
                server.auth_accept(now).map_err(|e| misuse(&e))?
            }
            (Asked::Auth, Answer::AuthVerdict(AuthVerdict::Reply(reply))) => {
                if reply.code.class() == 2 {
                    self.logged_in();
                } else {
                    // Not a wrong password (e.g. 454 4.7.0): no failed-login delay.
                    tracing::info!(code = reply.code.get(), "authentication answered");
                }
                server.reply(now, reply).map_err(|e| misuse(&e))?
            }
            (Asked::Auth, _) => {
                let delay = self
                    .client
                    .as_ref()
                    .map(Admitted::login_failed)
                    .unwrap_or_default();
                tracing::warn!(
                    client = self.client.as_ref().map(|c| c.peer().ip().to_string()),
                    delay_ms = delay.as_millis() as u64,
                    "authentication failed"
                );
                if !delay.is_zero() {
                    server.hold_until(now, now + delay);
                }
                server.auth_reject(now).map_err(|e| misuse(&e))?
            }
            (Asked::Command, Answer::Verdict(Err(refusal))) => {
                server.reply(now, refusal).map_err(|e| misuse(&e))?
            }
            (Asked::Command, _) => server.accept(now).map_err(|e| misuse(&e))?,
            (Asked::DataCommand, Answer::Verdict(Err(refusal))) if refusal.code.class() != 2 => {
                server.reply(now, refusal).map_err(|e| misuse(&e))?
            }
            (Asked::DataCommand, _) => {
                server.accept(now).map_err(|e| misuse(&e))?;
                self.asked = Some(Asked::Body);
                return Ok(Some(Call::DataStart));
            }
            (Asked::Body, Answer::Stored(Err(e))) => self.failed = Some(e),
            (Asked::Body, _) => {}
            (Asked::End, answer) => {
                let verdict = match answer {
                    Answer::Verdict(v) => v,
                    _ => Ok(()),
                };
                self.end_message(server, now, verdict)?;
                self.asked = Some(Asked::Nothing);
                return Ok(Some(Call::Reset));
            }
            (Asked::AbortAtEnd(e), _) => {
                self.end_message(server, now, Err(local_error(&e)))?;
                self.asked = Some(Asked::Nothing);
                return Ok(Some(Call::Reset));
            }
            (Asked::Nothing, _) => {}
        }
        Ok(None)
    }

    /// An AUTH succeeded: the listener forgets the client's failures.
    fn logged_in(&self) {
        if let Some(client) = &self.client {
            client.login_succeeded();
        }
        crate::trace::logged_in(self.user.as_deref().unwrap_or(""));
        tracing::info!("authenticated");
    }

    /// The machine for a new connection, greeting as the handler's answer to
    /// [`Call::Connect`] says: `220`, or its refusal ([`Server::new_refusing`]: `554`
    /// then `503` to all but QUIT, `421` closes).
    pub fn greeting(config: ServerConfig, now: Instant, answer: Answer) -> Server {
        match answer {
            Answer::Verdict(Err(refusal)) => {
                tracing::info!(code = refusal.code.get(), "service refused at connect");
                Server::new_refusing(now, config, refusal)
            }
            _ => Server::new(now, config),
        }
    }

    /// The replies to the end of a message: one for SMTP; one per accepted recipient for
    /// LMTP (RFC 2033 §4.2), each given the same way.
    fn end_message(
        &mut self,
        server: &mut Server,
        now: Instant,
        verdict: Result<(), Reply>,
    ) -> Result<(), Error> {
        let due = match server.awaiting() {
            Some(Awaiting::MessageEnd { replies }) => replies.max(1),
            _ => 1,
        };
        for _ in 0..due {
            match &verdict {
                Ok(()) => server.accept(now).map_err(|e| misuse(&e))?,
                Err(reply) => server.reply(now, reply.clone()).map_err(|e| misuse(&e))?,
            }
        }
        Ok(())
    }
}

/// One connection's glue between the machine and a blocking handler.
#[derive(Debug)]
pub struct SmtpSession<H> {
    handler: H,
    glue: SmtpGlue,
}

impl<H: SmtpHandler> SmtpSession<H> {
    /// A session answering through `handler`.
    pub fn new(handler: H) -> Self {
        Self::for_client(handler, None)
    }

    /// A session of the listener's `client` (see [`SmtpGlue::for_client`]).
    pub fn for_client(handler: H, client: Option<Admitted>) -> Self {
        SmtpSession {
            handler,
            glue: SmtpGlue::for_client(client),
        }
    }

    /// The handler.
    pub fn handler(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Ask the handler about the new connection ([`SmtpHandler::connect`]) and make
    /// the machine greeting as it decided, from `config` (e.g.
    /// [`SmtpService::session_config`]).
    pub fn connect(&mut self, config: ServerConfig, now: Instant) -> Server {
        let answer = answer_blocking(&mut self.handler, Call::Connect);
        SmtpGlue::greeting(config, now, answer)
    }

    /// Answer one event through `server`.
    pub fn handle(&mut self, server: &mut Server, now: Instant, event: Event) -> Result<(), Error> {
        crate::trace::smtp_event(&event);
        let mut call = self.glue.on_event(server, now, event)?;
        while let Some(c) = call {
            let answer = answer_blocking(&mut self.handler, c);
            call = self.glue.on_answer(server, now, answer)?;
        }
        Ok(())
    }
}

/// [`SmtpHandler`] for the async adapters: each decision can await storage or the
/// network without holding up other sessions. While [`AsyncSmtpHandler::data`] has not
/// returned, the session reads nothing more from its client (the body is never queued
/// in memory beyond one read).
pub trait AsyncSmtpHandler: Send + 'static {
    /// The greeting is due: `Err(reply)` refuses service ([`SmtpHandler::connect`]).
    /// Awaiting here holds the greeting without holding up other sessions. Default:
    /// greet.
    fn connect(&mut self) -> impl Future<Output = Result<(), Reply>> + Send {
        async { Ok(()) }
    }

    /// HELO/EHLO/LHLO: `Err(reply)` refuses it ([`SmtpHandler::hello`]). Default:
    /// accept.
    fn hello(
        &mut self,
        domain: &Host,
        extended: bool,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (domain, extended);
        async { Ok(()) }
    }

    /// AUTH: whether these credentials are valid (RFC 4954). Default: refuse. Called by
    /// the default [`auth`](Self::auth).
    fn authenticate(&mut self, credentials: &Credentials) -> impl Future<Output = bool> + Send {
        let _ = credentials;
        async { false }
    }

    /// AUTH: accept, reject or answer otherwise ([`AuthVerdict`]). Default:
    /// [`authenticate`](Self::authenticate)'s yes or no.
    fn auth(&mut self, credentials: &Credentials) -> impl Future<Output = AuthVerdict> + Send {
        let valid = self.authenticate(credentials);
        async move {
            if valid.await {
                AuthVerdict::Accept
            } else {
                AuthVerdict::Reject
            }
        }
    }

    /// MAIL FROM: `Err(reply)` refuses the sender. Default: accept.
    fn mail(
        &mut self,
        from: &ReversePath,
        params: &MailParams,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (from, params);
        async { Ok(()) }
    }

    /// RCPT TO: `Err(reply)` refuses this recipient. Default: accept.
    fn rcpt(
        &mut self,
        to: &ForwardPath,
        params: &RcptParams,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (to, params);
        async { Ok(()) }
    }

    /// DATA before `354`, or the first BDAT chunk: `Err(reply)` refuses the body
    /// ([`SmtpHandler::data_command`]). Default: go ahead.
    fn data_command(&mut self) -> impl Future<Output = Result<(), Reply>> + Send {
        async { Ok(()) }
    }

    /// The message body starts.
    fn data_start(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        async { Ok(()) }
    }

    /// A piece of the body, unstuffed, in order; an error refuses the message at its
    /// end with `451 4.3.0`.
    fn data(&mut self, chunk: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// The body is complete: `Ok(())` accepts it; `Err(reply)` refuses it.
    fn data_end(&mut self) -> impl Future<Output = Result<(), Reply>> + Send {
        async { Ok(()) }
    }

    /// The body was abandoned: drop what was received.
    fn data_abort(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The transaction was reset.
    fn reset(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A blocking [`SmtpHandler`] used as an [`AsyncSmtpHandler`], called inline on the
/// executor: for handlers that never wait (in-memory sinks, counters, tests). A handler
/// that writes files or talks to the network should be async.
#[derive(Debug, Default, Clone)]
pub struct Inline<H>(pub H);

impl<H: SmtpHandler> AsyncSmtpHandler for Inline<H> {
    async fn connect(&mut self) -> Result<(), Reply> {
        self.0.connect()
    }
    async fn hello(&mut self, domain: &Host, extended: bool) -> Result<(), Reply> {
        self.0.hello(domain, extended)
    }
    async fn authenticate(&mut self, credentials: &Credentials) -> bool {
        self.0.authenticate(credentials)
    }
    async fn auth(&mut self, credentials: &Credentials) -> AuthVerdict {
        self.0.auth(credentials)
    }
    async fn data_command(&mut self) -> Result<(), Reply> {
        self.0.data_command()
    }
    async fn mail(&mut self, from: &ReversePath, params: &MailParams) -> Result<(), Reply> {
        self.0.mail(from, params)
    }
    async fn rcpt(&mut self, to: &ForwardPath, params: &RcptParams) -> Result<(), Reply> {
        self.0.rcpt(to, params)
    }
    async fn data_start(&mut self) -> io::Result<()> {
        self.0.data_start()
    }
    async fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.data(chunk)
    }
    async fn data_end(&mut self) -> Result<(), Reply> {
        self.0.data_end()
    }
    async fn data_abort(&mut self) {
        self.0.data_abort()
    }
    async fn reset(&mut self) {
        self.0.reset()
    }
}

/// A single-line reply with an enhanced status code.
pub fn reply(code: u16, (class, subject, detail): (u8, u16, u16), text: &str) -> Reply {
    let code = ReplyCode::new(code).unwrap_or(ReplyCode::TRANSACTION_FAILED);
    let enhanced = EnhancedCode {
        class,
        subject,
        detail,
    };
    Reply::new(code, Some(enhanced), text)
}

/// `451 4.3.0` for a local failure while storing a message (RFC 5321 §4.2.3, RFC 3463).
fn local_error(e: &io::Error) -> Reply {
    reply(
        451,
        (4, 3, 0),
        &format!("Local error in processing: {}", e.kind()),
    )
}

/// Makes a handler for each connection, given the peer's address.
pub trait HandlerFactory<H>: Fn(Option<SocketAddr>) -> H + Send + Sync + 'static {}
impl<H, F: Fn(Option<SocketAddr>) -> H + Send + Sync + 'static> HandlerFactory<H> for F {}

/// What every adapter's SMTP server holds: the machine configuration, the handler
/// factory and the TLS certificate; it makes the handler and the machine configuration
/// of each connection.
pub struct SmtpService<H, F> {
    factory: Arc<F>,
    config: ServerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    _handler: std::marker::PhantomData<fn() -> H>,
}

impl<H, F> std::fmt::Debug for SmtpService<H, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpService")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl<H, F> Clone for SmtpService<H, F> {
    fn clone(&self) -> Self {
        SmtpService {
            factory: self.factory.clone(),
            config: self.config.clone(),
            tls: self.tls.clone(),
            _handler: std::marker::PhantomData,
        }
    }
}

impl<H, F: HandlerFactory<H>> SmtpService<H, F> {
    /// A server with the machine configuration `config`, making a handler per
    /// connection with `factory`.
    pub fn new(config: ServerConfig, factory: F) -> Self {
        SmtpService {
            factory: Arc::new(factory),
            config,
            tls: None,
            _handler: std::marker::PhantomData,
        }
    }

    /// Offer STARTTLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A handler for a new connection.
    pub fn handler(&self, peer: Option<SocketAddr>) -> H {
        (self.factory)(peer)
    }

    /// The handler factory, shared (to build a server of another colour from it).
    pub fn factory(&self) -> Arc<F> {
        self.factory.clone()
    }

    /// The machine configuration the sessions start from.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The certificate offered, if any.
    pub fn tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.tls.as_ref()
    }

    /// The machine configuration for one connection.
    pub fn session_config(&self, implicit_tls: bool) -> ServerConfig {
        let mut config = self.config.clone();
        config.extensions.starttls = self.tls.is_some() && !implicit_tls;
        config.tls_active = implicit_tls;
        // The handler decides greetings and DATA (its defaults accept, as the machine
        // would).
        config.ask_hello = true;
        config.ask_data = true;
        if config.cram_md5_challenge.is_none() {
            // RFC 2195 §2: a fresh msg-id-like challenge per session.
            let challenge = crate::pop3_server::apop_timestamp(&config.hostname);
            config.cram_md5_challenge = Some(challenge);
        }
        config
    }

    /// The host name the server greets with.
    pub fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// The TLS role of a connection.
    pub fn tls_role(&self) -> TlsRole {
        self.tls.clone().map_or(TlsRole::None, TlsRole::Server)
    }
}

/// The greeting that turns away a connection over a limit (RFC 5321 §3.1: `421`; RFC
/// 3463: `4.3.2` system busy, `4.7.0` the client's own limit).
pub fn busy_reply(hostname: &str, refused: Refused) -> Vec<u8> {
    let (enhanced, why) = match refused {
        Refused::Busy => ((4, 3, 2), "Too many connections"),
        Refused::TooMany => ((4, 7, 0), "Too many connections from your address"),
        Refused::TooFast => ((4, 7, 0), "Too many connections a minute from your address"),
        _ => ((4, 7, 0), "Connections are accepted through the proxy only"),
    };
    let busy = reply(421, enhanced, &format!("{hostname} {why}, try again later"));
    let mut out = Vec::new();
    let _ = busy.encode(&mut out);
    out
}

/// A blocking [`SmtpHandler`] used as an [`AsyncSmtpHandler`] with each call run on a
/// thread pool (the `blocking` crate's, which works under any executor): for handlers
/// that write files, fsync or wait on a database, so that no session stalls the
/// executor. Each call moves the handler to the pool and back, so calls stay in order.
#[derive(Debug)]
pub struct Offload<H> {
    /// `None` only while a call runs on the pool (or after it panicked there).
    handler: Option<H>,
}

impl<H: SmtpHandler> Offload<H> {
    /// Run `handler`'s calls on the pool.
    pub fn new(handler: H) -> Self {
        Offload {
            handler: Some(handler),
        }
    }

    /// Run `call` on the handler on the pool; `None` if the handler was lost.
    async fn run<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut H) -> T + Send + 'static,
    ) -> Option<T> {
        let mut handler = self.handler.take()?;
        let (handler, out) = blocking::unblock(move || {
            let out = call(&mut handler);
            (handler, out)
        })
        .await;
        self.handler = Some(handler);
        Some(out)
    }
}

/// The answer when an offloaded handler is gone: `451 4.3.0`.
fn handler_lost() -> Reply {
    local_error(&io::Error::other("handler lost"))
}

impl<H: SmtpHandler> AsyncSmtpHandler for Offload<H> {
    async fn connect(&mut self) -> Result<(), Reply> {
        let verdict = self.run(|h| h.connect()).await;
        verdict.unwrap_or_else(|| Err(handler_lost()))
    }
    async fn hello(&mut self, domain: &Host, extended: bool) -> Result<(), Reply> {
        let domain = domain.clone();
        let verdict = self.run(move |h| h.hello(&domain, extended)).await;
        verdict.unwrap_or_else(|| Err(handler_lost()))
    }
    async fn authenticate(&mut self, credentials: &Credentials) -> bool {
        let credentials = credentials.clone();
        let valid = self.run(move |h| h.authenticate(&credentials)).await;
        valid.unwrap_or(false)
    }
    async fn auth(&mut self, credentials: &Credentials) -> AuthVerdict {
        let credentials = credentials.clone();
        let verdict = self.run(move |h| h.auth(&credentials)).await;
        verdict.unwrap_or(AuthVerdict::Reject)
    }
    async fn data_command(&mut self) -> Result<(), Reply> {
        let verdict = self.run(|h| h.data_command()).await;
        verdict.unwrap_or_else(|| Err(handler_lost()))
    }
    async fn mail(&mut self, from: &ReversePath, params: &MailParams) -> Result<(), Reply> {
        let (from, params) = (from.clone(), params.clone());
        let verdict = self.run(move |h| h.mail(&from, &params)).await;
        verdict.unwrap_or_else(|| Err(handler_lost()))
    }
    async fn rcpt(&mut self, to: &ForwardPath, params: &RcptParams) -> Result<(), Reply> {
        let (to, params) = (to.clone(), params.clone());
        let verdict = self.run(move |h| h.rcpt(&to, &params)).await;
        verdict.unwrap_or_else(|| Err(handler_lost()))
    }
    async fn data_start(&mut self) -> io::Result<()> {
        let stored = self.run(|h| h.data_start()).await;
        stored.unwrap_or_else(|| Err(io::Error::other("handler lost")))
    }
    async fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        let chunk = chunk.to_vec();
        let stored = self.run(move |h| h.data(&chunk)).await;
        stored.unwrap_or_else(|| Err(io::Error::other("handler lost")))
    }
    async fn data_end(&mut self) -> Result<(), Reply> {
        let verdict = self.run(|h| h.data_end()).await;
        verdict.unwrap_or_else(|| Err(handler_lost()))
    }
    async fn data_abort(&mut self) {
        self.run(|h| h.data_abort()).await;
    }
    async fn reset(&mut self) {
        self.run(|h| h.reset()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailproto_core::Machine;
    use mailproto_core::sasl::Mechanism;

    const T0: Instant = Instant::ZERO;

    /// The configuration every adapter gives a session (the engine's asks on).
    fn config() -> ServerConfig {
        let mut config = ServerConfig::new("mx.example");
        config.extensions.auth = vec![Mechanism::Plain];
        config.auth_requires_tls = false;
        SmtpService::new(config, |_| ()).session_config(false)
    }

    /// Take the machine's output and answer its events until it needs input.
    fn pump<H: SmtpHandler>(session: &mut SmtpSession<H>, server: &mut Server, wire: &mut String) {
        loop {
            let mut out = Vec::new();
            while server.poll_transmit(&mut out) > 0 {}
            server.transmitted(T0, out.len());
            wire.push_str(&String::from_utf8_lossy(&out));
            let Some(event) = server.poll_event() else {
                return;
            };
            session.handle(server, T0, event).unwrap();
        }
    }

    /// What a client typing `lines` one at a time receives from a session of `handler`.
    fn transcript<H: SmtpHandler>(handler: H, lines: &[&str]) -> String {
        let mut session = SmtpSession::new(handler);
        let mut server = session.connect(config(), T0);
        let mut wire = String::new();
        pump(&mut session, &mut server, &mut wire);
        for line in lines {
            server.feed(T0, format!("{line}\r\n").as_bytes());
            pump(&mut session, &mut server, &mut wire);
        }
        wire
    }

    /// Implements only `data`: every new hook keeps its default.
    #[derive(Default)]
    struct Sink(Vec<u8>);

    impl SmtpHandler for Sink {
        fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
            self.0.extend_from_slice(chunk);
            Ok(())
        }
    }

    const AUTH_PLAIN: &str = "AUTH PLAIN AGFsaWNlAHB3"; // alice / pw

    #[test]
    fn the_defaults_greet_accept_ehlo_and_data_and_refuse_auth() {
        let wire = transcript(
            Sink::default(),
            &[
                "EHLO c.example",
                AUTH_PLAIN,
                "MAIL FROM:<a@c.example>",
                "RCPT TO:<b@mx.example>",
                "DATA",
                "hi\r\n.",
                "BDAT 4 LAST\r\nab", // the CRLF the helper adds is in the chunk
            ],
        );
        assert!(wire.starts_with("220 mx.example ESMTP ready\r\n"), "{wire}");
        assert!(
            wire.contains("250-mx.example greets c.example\r\n"),
            "{wire}"
        );
        assert!(wire.contains("535 5.7.8 Authentication credentials invalid\r\n"));
        assert!(wire.contains("354 End data with"), "{wire}");
        assert!(wire.contains("250 2.0.0 Ok: queued\r\n"), "{wire}");
        // The BDAT after the message: no transaction.
        assert!(
            wire.ends_with("503 5.5.1 Error: need MAIL command\r\n"),
            "{wire}"
        );
    }

    /// A handler whose new hooks answer as told.
    #[derive(Default)]
    struct Picky {
        connect: Option<Reply>,
        hello: Option<Reply>,
        auth: Option<AuthVerdict>,
        data: Option<Reply>,
        /// The EHLO domains seen.
        domains: Vec<String>,
        valid: bool,
    }

    impl SmtpHandler for Picky {
        fn connect(&mut self) -> Result<(), Reply> {
            self.connect.clone().map_or(Ok(()), Err)
        }
        fn hello(&mut self, domain: &Host, extended: bool) -> Result<(), Reply> {
            assert!(extended);
            let mut name = Vec::new();
            domain.encode(&mut name).unwrap();
            self.domains.push(String::from_utf8(name).unwrap());
            self.hello.clone().map_or(Ok(()), Err)
        }
        fn authenticate(&mut self, _: &Credentials) -> bool {
            self.valid
        }
        fn auth(&mut self, credentials: &Credentials) -> AuthVerdict {
            match &self.auth {
                Some(verdict) => verdict.clone(),
                None => {
                    if self.authenticate(credentials) {
                        AuthVerdict::Accept
                    } else {
                        AuthVerdict::Reject
                    }
                }
            }
        }
        fn data_command(&mut self) -> Result<(), Reply> {
            self.data.clone().map_or(Ok(()), Err)
        }
        fn data(&mut self, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn connect_refuses_with_554_then_503_until_quit() {
        let handler = Picky {
            connect: Some(reply(554, (5, 7, 1), "no")),
            ..Picky::default()
        };
        let wire = transcript(handler, &["EHLO c.example", "QUIT"]);
        assert_eq!(
            wire,
            "554 5.7.1 no\r\n\
             503 5.5.1 Bad sequence of commands: service refused, send QUIT\r\n\
             221 2.0.0 Bye\r\n"
        );
    }

    #[test]
    fn connect_refusing_with_421_closes() {
        let handler = Picky {
            connect: Some(reply(421, (4, 3, 2), "mx.example busy")),
            ..Picky::default()
        };
        let mut session = SmtpSession::new(handler);
        let mut server = session.connect(config(), T0);
        let mut wire = String::new();
        pump(&mut session, &mut server, &mut wire);
        assert_eq!(wire, "421 4.3.2 mx.example busy\r\n");
        assert_eq!(server.io(), mailproto_core::Io::Closed);
    }

    #[test]
    fn hello_sees_the_domain_and_may_refuse() {
        let handler = Picky {
            hello: Some(reply(550, (5, 7, 1), "not from you")),
            ..Picky::default()
        };
        let mut session = SmtpSession::new(handler);
        let mut server = session.connect(config(), T0);
        let mut wire = String::new();
        server.feed(T0, b"EHLO bad.example\r\nMAIL FROM:<a@b.example>\r\n");
        pump(&mut session, &mut server, &mut wire);
        assert!(
            wire.ends_with("550 5.7.1 not from you\r\n503 5.5.1 Error: send HELO/EHLO first\r\n"),
            "{wire}"
        );
        assert_eq!(session.handler().domains, ["bad.example"]);
    }

    #[test]
    fn auth_answers_with_the_handlers_reply_or_its_yes() {
        let temporary = Picky {
            auth: Some(AuthVerdict::Reply(reply(
                454,
                (4, 7, 0),
                "temporary authentication failure",
            ))),
            ..Picky::default()
        };
        let wire = transcript(temporary, &["EHLO c.example", AUTH_PLAIN]);
        assert!(
            wire.ends_with("454 4.7.0 temporary authentication failure\r\n"),
            "{wire}"
        );
        let closing = Picky {
            auth: Some(AuthVerdict::Reply(reply(421, (4, 3, 0), "bye"))),
            ..Picky::default()
        };
        let wire = transcript(closing, &["EHLO c.example", AUTH_PLAIN, "NOOP"]);
        assert!(wire.ends_with("421 4.3.0 bye\r\n"), "closed: {wire}");
        // The default `auth` asks `authenticate`.
        let valid = Picky {
            valid: true,
            ..Picky::default()
        };
        let wire = transcript(valid, &["EHLO c.example", AUTH_PLAIN]);
        assert!(
            wire.ends_with("235 2.7.0 Authentication successful\r\n"),
            "{wire}"
        );
    }

    #[test]
    fn data_command_answers_instead_of_354_and_at_the_first_bdat() {
        let refusing = || Picky {
            data: Some(reply(554, (5, 7, 1), "no data")),
            ..Picky::default()
        };
        let envelope = ["EHLO c.example", "MAIL FROM:<a@c.example>", "RCPT TO:<b@x>"];
        let mut lines = envelope.to_vec();
        lines.push("DATA");
        let wire = transcript(refusing(), &lines);
        assert!(
            wire.ends_with("250 2.1.5 Ok\r\n554 5.7.1 no data\r\n"),
            "{wire}"
        );
        let mut lines = envelope.to_vec();
        lines.push("BDAT 5 LAST\r\nabc");
        let wire = transcript(refusing(), &lines);
        assert!(
            wire.ends_with("250 2.1.5 Ok\r\n554 5.7.1 no data\r\n"),
            "{wire}"
        );
    }

    #[test]
    fn the_async_colour_asks_the_same_hooks() {
        let handler = Inline(Picky {
            connect: Some(reply(554, (5, 7, 1), "no")),
            ..Picky::default()
        });
        let mut handler = Offload::new(handler.0);
        let answer = futures_lite::future::block_on(answer_async(&mut handler, Call::Connect));
        let mut server = SmtpGlue::greeting(config(), T0, answer);
        let mut out = Vec::new();
        let _ = server.poll_transmit(&mut out);
        assert_eq!(out, b"554 5.7.1 no\r\n");
        // Defaults through Inline: EHLO accepted, AUTH refused.
        let mut sink = Inline(Sink::default());
        let domain = Host::Domain(mailproto_core::smtp::Domain::new("c.example").unwrap());
        let hello =
            futures_lite::future::block_on(answer_async(&mut sink, Call::Hello(domain, true)));
        assert!(matches!(hello, Answer::Verdict(Ok(()))));
        let plain = Credentials::Plain {
            authzid: None,
            authcid: "alice".into(),
            password: "pw".to_string().into(),
        };
        let auth =
            futures_lite::future::block_on(answer_async(&mut sink, Call::Authenticate(plain)));
        assert!(matches!(auth, Answer::AuthVerdict(AuthVerdict::Reject)));
        let data = futures_lite::future::block_on(answer_async(&mut sink, Call::DataCommand));
        assert!(matches!(data, Answer::Verdict(Ok(()))));
    }
}
