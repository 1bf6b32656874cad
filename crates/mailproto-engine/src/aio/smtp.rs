//! SMTP over async streams on any [`Runtime`]: the server (an [`AsyncSmtpHandler`] per
//! connection, awaited for every decision) and the client (connect with the same security
//! modes, AUTH, a message streamed from an `AsyncRead` with per-recipient results).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mailproto_core::Instant;
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::smtp::client::{Client, Refused};
use mailproto_core::smtp::server::{Server, ServerConfig};
use mailproto_core::smtp::{Capabilities, Reply};

use super::{Closing, Driver, Listener, Runtime, Tls, connect_tcp};
use tracing::Instrument;

use crate::Admitted;
use crate::message::Message;
use crate::pop3_client::Security;
use crate::smtp_client::{
    Envelope, Progress, SendReport, SmtpOptions, Transaction, choose_mechanism, message_envelope,
    reset_step, session_step,
};
use crate::smtp_server::{
    AsyncSmtpHandler, Call, HandlerFactory, SmtpGlue, SmtpService, answer_async, busy_reply,
};
use crate::{Error, Tap, TlsRole};

/// An async SMTP server on the runtime `R`: one task per connection, each decision of
/// the connection's [`AsyncSmtpHandler`] awaited (other sessions go on meanwhile).
pub struct SmtpServer<R, H, F> {
    runtime: R,
    service: SmtpService<H, F>,
}

impl<R, H, F> std::fmt::Debug for SmtpServer<R, H, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.service.fmt(f)
    }
}

impl<R: Clone, H, F> Clone for SmtpServer<R, H, F> {
    fn clone(&self) -> Self {
        SmtpServer {
            runtime: self.runtime.clone(),
            service: self.service.clone(),
        }
    }
}

impl<R: Runtime, H: AsyncSmtpHandler, F: HandlerFactory<H>> SmtpServer<R, H, F> {
    /// A server with the machine configuration `config`, making a handler per
    /// connection with `factory`.
    pub fn new(config: ServerConfig, factory: F) -> Self {
        SmtpServer {
            runtime: R::default(),
            service: SmtpService::new(config, factory),
        }
    }

    /// Run handshakes and timers on `runtime` (the listener decides where sessions are
    /// spawned).
    pub fn with_runtime(mut self, runtime: R) -> Self {
        self.runtime = runtime;
        self
    }

    /// Offer STARTTLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.service = self.service.with_tls(tls);
        self
    }

    /// The configuration, factory and certificate every session is made from.
    pub fn service(&self) -> &SmtpService<H, F> {
        &self.service
    }

    /// Serve one connection to its end.
    pub async fn serve_connection<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
        implicit_tls: bool,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        self.serve_until(stream, peer, implicit_tls, None).await
    }

    /// [`SmtpServer::serve_connection`]; when `closing` closes, the session answers
    /// `421 4.3.2` at its next wait for a command and ends.
    pub async fn serve_until<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        self.serve_client(stream, peer, None, implicit_tls, closing)
            .await
    }

    /// [`SmtpServer::serve_until`] for a client the listener admitted: its limits
    /// apply, and a PROXY header's TLS counts as the session's.
    pub async fn serve_admitted<S>(
        &self,
        stream: S,
        client: Admitted,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        let peer = Some(client.peer());
        self.serve_client(stream, peer, Some(client), implicit_tls, closing)
            .await
    }

    async fn serve_client<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
        client: Option<Admitted>,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        let inside_tls = implicit_tls || client.as_ref().is_some_and(Admitted::tls_by_proxy);
        let span = crate::trace::session_span("smtp", peer, inside_tls);
        let result = self
            .session(stream, peer, client, implicit_tls, inside_tls, closing)
            .instrument(span.clone())
            .await;
        span.in_scope(|| crate::trace::session_end(&result));
        result
    }

    async fn session<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
        client: Option<Admitted>,
        implicit_tls: bool,
        inside_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        let mut handler = self.service.handler(peer);
        // The handler may refuse (or hold, awaiting) the greeting.
        let connect = answer_async(&mut handler, Call::Connect).await;
        let config = self.service.session_config(inside_tls);
        let machine = SmtpGlue::greeting(config, Instant::ZERO, connect);
        let role = self.service.tls_role();
        let runtime = self.runtime.clone();
        let mut driver = if implicit_tls {
            Driver::new_tls(runtime, machine, stream, role).await?
        } else {
            Driver::new(runtime, machine, stream, role)
        };
        if let Some(closing) = closing {
            driver.set_closing(closing, Server::shutdown);
        }
        let mut glue = SmtpGlue::for_client(client);
        while let Some(event) = driver.next_event().await? {
            let now = driver.now();
            crate::trace::smtp_event(&event);
            let mut call = glue.on_event(driver.machine(), now, event)?;
            // The session reads nothing while the handler decides: a handler slow to take
            // body chunks holds the client back (at most one read is queued).
            while let Some(c) = call {
                let decision = answer_async(&mut handler, c);
                let Some(answer) = driver.within_deadlines(decision).await else {
                    // The application's deadline passed: the machine answered `421` and
                    // closed; the handler's call was dropped.
                    break;
                };
                let now = driver.now();
                call = glue.on_answer(driver.machine(), now, answer)?;
            }
        }
        Ok(())
    }

    /// Accept connections on `listener` until it is shut down.
    pub async fn run(self, listener: Listener<R>, implicit_tls: bool) -> std::io::Result<()>
    where
        R: Runtime + Tls<<R as Runtime>::Tcp>,
    {
        let server = self.clone();
        let hostname = self.service.hostname().to_owned();
        listener
            .serve(
                move |tcp, client, closing| {
                    let server = server.clone();
                    async move {
                        let closing = Some(closing);
                        let _ = server
                            .serve_admitted(tcp, client, implicit_tls, closing)
                            .await;
                    }
                },
                move |mut tcp, refused| {
                    let busy = busy_reply(&hostname, refused);
                    async move {
                        let _ = tcp.write_all(&busy).await;
                        let _ = tcp.flush().await;
                    }
                },
            )
            .await
    }
}

/// An async SMTP client session.
pub struct SmtpClient<R: Tls<S>, S> {
    driver: Driver<Client, S, R>,
    greeting: Reply,
    prefer_bdat: bool,
    /// The body read buffer, kept across messages.
    body_buf: Vec<u8>,
    /// Whether the last message's end of data went out.
    data_ended: bool,
}

impl<R: Tls<S>, S> std::fmt::Debug for SmtpClient<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Tls<<R as Runtime>::Tcp>> SmtpClient<R, <R as Runtime>::Tcp> {
    /// Connect to `host:port`, read the greeting, EHLO, and secure the session as
    /// `options` say.
    pub async fn connect(host: &str, port: u16, options: SmtpOptions) -> Result<Self, Error> {
        Self::connect_tapped(host, port, options, None).await
    }

    /// Connect as `config` says (address, TLS, EHLO name) and authenticate with its
    /// credentials, if any.
    pub async fn connect_with(config: &crate::transport::SmtpConfig) -> Result<Self, Error> {
        let mut client = Self::connect(&config.host, config.port, config.options.clone()).await?;
        if let Some((user, password)) = &config.credentials {
            let credentials = ClientCredentials::password(user, password);
            client
                .authenticate(config.mechanism.clone(), credentials)
                .await?;
        }
        Ok(client)
    }

    /// [`SmtpClient::connect`], with every byte of the session shown to `tap` (for a
    /// transcript; inside TLS the plaintext).
    pub async fn connect_tapped(
        host: &str,
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let runtime = R::default();
        let tcp = connect_tcp(&runtime, host, port, options.connect_timeout).await?;
        let peer = R::peer_addr(&tcp).ok();
        let tls = options.security.tls_role(host, &options.tls)?;
        let mut client = Self::over_on(runtime, tcp, tls, options, tap).await?;
        client.driver.set_peer(peer);
        Ok(client)
    }
}

impl<R: Tls<S>, S: AsyncRead + AsyncWrite + Unpin> SmtpClient<R, S> {
    /// Run a session over an already connected stream.
    pub async fn over(
        stream: S,
        tls: TlsRole,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        Self::over_on(R::default(), stream, tls, options, tap).await
    }

    /// [`SmtpClient::over`], with timers and handshakes on `runtime`.
    pub async fn over_on(
        runtime: R,
        stream: S,
        tls: TlsRole,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let implicit = options.security == Security::ImplicitTls;
        let machine = Client::new(Instant::ZERO, options.machine_config());
        let diagnose = |e| crate::smtp_client::diagnose(e, options.security, options.greeting_wait);
        let mut driver = Driver::new(runtime, machine, stream, tls);
        if let Some(tap) = tap {
            driver.set_tap(tap);
        }
        if implicit {
            driver.start_tls().await.map_err(diagnose)?;
        }
        let greeting = loop {
            let event = driver
                .next_event()
                .await
                .map_err(diagnose)?
                .ok_or(Error::Closed)?;
            if let Some(greeting) = crate::smtp_client::greeting_step(event) {
                break greeting.map_err(diagnose)?;
            }
        };
        let mut client = SmtpClient {
            driver,
            greeting,
            prefer_bdat: options.prefer_bdat,
            body_buf: Vec::new(),
            data_ended: false,
        };
        client.step(Client::ehlo).await?;
        if crate::smtp_client::wants_starttls(options.security, client.capabilities())? {
            client.step(Client::starttls).await?;
            client.step(Client::ehlo).await?;
        }
        Ok(client)
    }

    async fn step<F>(&mut self, issue: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Client, Instant) -> Result<(), Refused<()>>,
    {
        let now = self.driver.now();
        issue(self.driver.machine(), now).map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait_step().await
    }

    async fn wait_step(&mut self) -> Result<(), Error> {
        loop {
            let event = self.driver.next_event().await?.ok_or(Error::Closed)?;
            if let Some(done) = session_step(event) {
                return done;
            }
        }
    }

    /// The server's address (for a client made with `connect`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.driver.peer_addr()
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
    pub async fn authenticate_forced(
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
        self.wait_step().await
    }

    /// AUTH with `mechanism`, or the best one the server advertises.
    pub async fn authenticate(
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
        self.wait_step().await
    }

    /// Send `message` to its envelope's recipients, with `BODY=8BITMIME`, `SMTPUTF8`
    /// and `SIZE` as its content and the server call for (refused before sending when
    /// the server lacks what it needs).
    pub async fn send_message(&mut self, message: &Message) -> Result<SendReport, Error> {
        self.data_ended = false;
        let envelope = message_envelope(message, self.capabilities())?;
        self.send(envelope, &mut message.bytes()).await
    }

    /// Whether the last send's end of data went out: when it failed without a reply
    /// after that, the message may have been delivered.
    pub fn data_ended(&self) -> bool {
        self.data_ended
    }

    /// Whether the session can take another message: whatever the server sent while
    /// the session was idle (a `421`, a close) is read without waiting.
    pub async fn is_usable(&mut self) -> bool {
        let open = self.driver.poll_idle().await.unwrap_or(false);
        while mailproto_core::Machine::poll_event(self.driver.machine()).is_some() {}
        open && self.driver.machine_ref().is_ready()
    }

    /// Send one message read from `body` as it goes, to the envelope's recipients.
    pub async fn send<B: AsyncRead + Unpin + ?Sized>(
        &mut self,
        envelope: Envelope,
        body: &mut B,
    ) -> Result<SendReport, Error> {
        let now = self.driver.now();
        let mut txn = Transaction::start(self.driver.machine(), now, envelope, self.prefer_bdat)?;
        let mut buf = std::mem::take(&mut self.body_buf);
        buf.resize(64 * 1024, 0);
        let result = self.run_transaction(&mut txn, body, &mut buf).await;
        self.body_buf = buf;
        result
    }

    async fn run_transaction<B: AsyncRead + Unpin + ?Sized>(
        &mut self,
        txn: &mut Transaction,
        body: &mut B,
        buf: &mut [u8],
    ) -> Result<SendReport, Error> {
        let mut body_done = false;
        loop {
            let event = self.driver.next_event().await?.ok_or(Error::Closed)?;
            match txn.on_event(event) {
                Progress::Waiting => {}
                Progress::Done(result) => return result,
                Progress::SendBody if body_done => {}
                Progress::SendBody => {
                    body_done = self.pump_body(body, buf).await?;
                    self.data_ended = body_done;
                }
            }
        }
    }

    /// Write body chunks while the machine accepts them; returns whether the body ended.
    async fn pump_body<B: AsyncRead + Unpin + ?Sized>(
        &mut self,
        body: &mut B,
        buf: &mut [u8],
    ) -> Result<bool, Error> {
        let protocol = |e: Refused<()>| Error::Protocol(e.to_string());
        while self.driver.machine_ref().body_writable() {
            let n = body.read(buf).await?;
            let now = self.driver.now();
            if n == 0 {
                self.driver.machine().finish_body(now).map_err(protocol)?;
                self.driver.flush().await?;
                return Ok(true);
            }
            self.driver
                .machine()
                .send_body(now, &buf[..n])
                .map_err(protocol)?;
            self.driver.flush().await?;
        }
        Ok(false)
    }

    /// RSET: abandon any transaction state on the server and check the session is
    /// alive (RFC 5321 §4.1.1.5).
    pub async fn reset(&mut self) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .rset(now)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        loop {
            let event = self.driver.next_event().await?.ok_or(Error::Closed)?;
            if let Some(done) = reset_step(event) {
                return done;
            }
        }
    }

    /// QUIT and close.
    pub async fn quit(mut self) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .quit(now)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        while self.driver.next_event().await?.is_some() {}
        Ok(())
    }
}
