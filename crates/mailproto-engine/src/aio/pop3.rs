//! POP3 over async streams on any [`Runtime`]: the server (an [`AsyncPop3Backend`],
//! awaited for logins, opening messages and UPDATE) and the client (connect, login,
//! STAT/LIST/UIDL/TOP, RETR streamed into an `AsyncWrite`, DELE, RSET, QUIT).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mailproto_core::pop3::client::{Client, ClientConfig, Refused};
use mailproto_core::pop3::server::{Server, ServerConfig};
use mailproto_core::pop3::{Capabilities, ScanListing, Status, UniqueIdListing};
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_core::{Instant, Machine};

use super::{Closing, Driver, Listener, Runtime, Tls, connect_tcp};
use tracing::Instrument;

use crate::Admitted;
use crate::pop3_client::{Pop3Options, Reply, Security, Step, retr_some, step};
use crate::pop3_server::{
    AsyncMessage, AsyncPop3Backend, AsyncPop3Mailbox, FlushPacing, Pop3Call, Pop3Context,
    Pop3Service, Streamed, busy_reply, command_user, commanded, deleted, logged_in, opened,
    pop3_call, stream_piece,
};
use crate::{Error, Tap, TlsRole};

/// An async POP3 server on the runtime `R`: one task per connection, the
/// [`AsyncPop3Backend`] awaited for every login, message and UPDATE.
#[derive(Debug)]
pub struct Pop3Server<R, B: AsyncPop3Backend> {
    runtime: R,
    service: Pop3Service<B>,
}

impl<R: Clone, B: AsyncPop3Backend> Clone for Pop3Server<R, B> {
    fn clone(&self) -> Self {
        Pop3Server {
            runtime: self.runtime.clone(),
            service: self.service.clone(),
        }
    }
}

impl<R: Runtime, B: AsyncPop3Backend> Pop3Server<R, B> {
    /// A server for `backend` with the machine configuration `config`.
    pub fn new(backend: B, config: ServerConfig) -> Self {
        Pop3Server {
            runtime: R::default(),
            service: Pop3Service::new(backend, config),
        }
    }

    /// Run handshakes and timers on `runtime`.
    pub fn with_runtime(mut self, runtime: R) -> Self {
        self.runtime = runtime;
        self
    }

    /// Offer STLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.service = self.service.with_tls(tls);
        self
    }

    /// The host name used in APOP timestamps.
    pub fn with_hostname(mut self, host: impl Into<String>) -> Self {
        self.service = self.service.with_hostname(host);
        self
    }

    /// The backend, configuration and certificate every session is made from.
    pub fn service(&self) -> &Pop3Service<B> {
        &self.service
    }

    /// Serve one connection to its end.
    pub async fn serve_connection<S>(&self, stream: S, implicit_tls: bool) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        self.serve_until(stream, implicit_tls, None).await
    }

    /// [`Pop3Server::serve_connection`]; when `closing` closes, the session answers
    /// `-ERR [SYS/TEMP]` at its next wait for a command and ends without UPDATE.
    pub async fn serve_until<S>(
        &self,
        stream: S,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        self.serve_client(stream, None, implicit_tls, closing).await
    }

    /// [`Pop3Server::serve_until`] for a client the listener admitted: its failed-login
    /// delay applies, and a PROXY header's TLS counts as the session's.
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
        self.serve_client(stream, Some(client), implicit_tls, closing)
            .await
    }

    async fn serve_client<S>(
        &self,
        stream: S,
        client: Option<Admitted>,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        let inside_tls = implicit_tls || client.as_ref().is_some_and(Admitted::tls_by_proxy);
        let peer = client.as_ref().map(Admitted::peer);
        let span = crate::trace::session_span("pop3", peer, inside_tls);
        let result = self
            .session(stream, client.as_ref(), implicit_tls, inside_tls, closing)
            .instrument(span.clone())
            .await;
        span.in_scope(|| crate::trace::session_end(&result));
        result
    }

    async fn session<S>(
        &self,
        stream: S,
        client: Option<&Admitted>,
        implicit_tls: bool,
        inside_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        R: Tls<S>,
    {
        let machine = Server::new(Instant::ZERO, self.service.session_config(inside_tls));
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
        let backend = self.service.backend();
        let peer = client.map(Admitted::peer);
        let mut mailbox: Option<B::Mailbox> = None;
        // The user logged in, for the backend's decisions about commands.
        let mut user_in: Option<String> = None;
        let mut buf = vec![0u8; crate::adapter::READ_BUF];
        while let Some(event) = driver.next_event().await? {
            crate::trace::pop3_event(&event);
            let Some(call) = pop3_call(event) else {
                continue;
            };
            match call {
                Pop3Call::Login(login) => {
                    let user = login.attempt().user().to_owned();
                    let login = backend.login_from(login.attempt(), peer);
                    let Some(result) = driver.within_deadlines(login).await else {
                        // The machine answered for the backend and closed: flush, end.
                        continue;
                    };
                    let now = driver.now();
                    match result {
                        Ok(opened) => {
                            logged_in(driver.machine(), now, Ok(opened.list()), client, &user)?;
                            mailbox = Some(opened);
                            user_in = Some(user);
                        }
                        Err(e) => logged_in(driver.machine(), now, Err(e), client, &user)?,
                    }
                }
                Pop3Call::Command(command) => {
                    let user = command_user(&command, user_in.as_deref());
                    let context = Pop3Context::new(peer, user);
                    let decide = backend.command(&context, &command);
                    let Some(result) = driver.within_deadlines(decide).await else {
                        continue;
                    };
                    let now = driver.now();
                    commanded(driver.machine(), now, result)?;
                }
                Pop3Call::Open(msg) => {
                    let result = match mailbox.as_mut() {
                        Some(mailbox) => {
                            let open = mailbox.open(msg as usize - 1);
                            let Some(result) = driver.within_deadlines(open).await else {
                                continue;
                            };
                            result
                        }
                        None => Err(std::io::ErrorKind::NotFound.into()),
                    };
                    let now = driver.now();
                    if let Some(mut reader) = opened(driver.machine(), now, msg, result)? {
                        stream_message(&mut driver, &mut reader, &mut buf).await?;
                    }
                }
                Pop3Call::Delete(indexes) => {
                    let result = match mailbox.as_mut() {
                        Some(mailbox) => mailbox.delete(&indexes).await,
                        None => Ok(()),
                    };
                    let now = driver.now();
                    deleted(driver.machine(), now, result)?;
                    mailbox = None;
                }
                _ => mailbox = None,
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
                |mut tcp, refused| async move {
                    let _ = tcp.write_all(&busy_reply(refused)).await;
                    let _ = tcp.flush().await;
                },
            )
            .await
    }
}

/// Stream one message through the machine, flushing between chunks as
/// [`FlushPacing`] says.
async fn stream_message<S: AsyncRead + AsyncWrite + Unpin, R: Tls<S>>(
    driver: &mut Driver<Server, S, R>,
    reader: &mut AsyncMessage,
    buf: &mut [u8],
) -> Result<(), Error> {
    let mut pacing = FlushPacing::default();
    loop {
        let read = loop {
            match reader.read(buf).await {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = *read.as_ref().unwrap_or(&0);
        let now = driver.now();
        match stream_piece(driver.machine(), now, read, buf)? {
            Streamed::Done => return Ok(()),
            Streamed::Flush if !pacing.flush_now(n, buf.len()) => {}
            Streamed::Flush => {
                driver.flush().await?;
                if driver.machine_ref().io() == mailproto_core::Io::Closed {
                    // The client stopped reading: the write deadline closed the session.
                    return Ok(());
                }
            }
        }
    }
}

/// An async POP3 client session.
pub struct Pop3Client<R: Tls<S>, S> {
    driver: Driver<Client, S, R>,
    greeting: Status,
}

impl<R: Tls<S>, S> std::fmt::Debug for Pop3Client<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Client")
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Tls<<R as Runtime>::Tcp>> Pop3Client<R, <R as Runtime>::Tcp> {
    /// Connect to `host:port`, read the greeting, and secure the session as `options`
    /// say.
    pub async fn connect(host: &str, port: u16, options: Pop3Options) -> Result<Self, Error> {
        Self::connect_tapped(host, port, options, None).await
    }

    /// [`Pop3Client::connect`], with every byte of the session shown to `tap` (for a
    /// transcript; inside TLS the plaintext).
    pub async fn connect_tapped(
        host: &str,
        port: u16,
        options: Pop3Options,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let runtime = R::default();
        let tcp = connect_tcp(&runtime, host, port, options.connect_timeout).await?;
        let peer = R::peer_addr(&tcp).ok();
        let tls = options.security.tls_role(host, &options.tls)?;
        let mut client =
            Self::over_on(runtime, tcp, tls, options.security, options.config, tap).await?;
        client.driver.set_peer(peer);
        Ok(client)
    }
}

impl<R: Tls<S>, S: AsyncRead + AsyncWrite + Unpin> Pop3Client<R, S> {
    /// Run a session over an already connected stream.
    pub async fn over(
        stream: S,
        tls: TlsRole,
        security: Security,
        config: ClientConfig,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        Self::over_on(R::default(), stream, tls, security, config, tap).await
    }

    /// [`Pop3Client::over`], with timers and handshakes on `runtime`.
    pub async fn over_on(
        runtime: R,
        stream: S,
        tls: TlsRole,
        security: Security,
        mut config: ClientConfig,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let implicit = security == Security::ImplicitTls;
        config.tls_active = implicit;
        let machine = Client::new(Instant::ZERO, config);
        let mut driver = Driver::new(runtime, machine, stream, tls);
        if let Some(tap) = tap {
            driver.set_tap(tap);
        }
        if implicit {
            driver.start_tls().await?;
        }
        let greeting = loop {
            let event = driver.next_event().await?.ok_or(Error::Closed)?;
            if let Some(greeting) = crate::pop3_client::greeting_step(event) {
                break greeting?;
            }
        };
        let mut client = Pop3Client { driver, greeting };
        if matches!(
            security,
            Security::StartTls | Security::StartTlsOpportunistic
        ) {
            let offered = client.capa().await.ok().is_some_and(|c| c.contains("STLS"));
            if crate::pop3_client::wants_stls(security, offered)? {
                client.run(Client::stls).await?;
                client.capa().await.ok();
            }
        }
        Ok(client)
    }

    /// The server's address (for a client made with `connect`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.driver.peer_addr()
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Status {
        &self.greeting
    }

    /// Whether the session runs inside TLS.
    pub fn is_tls(&self) -> bool {
        self.driver.is_tls()
    }

    async fn run<F>(&mut self, issue: F) -> Result<Reply, Error>
    where
        F: FnOnce(&mut Client, Instant) -> Result<(), Refused<()>>,
    {
        let now = self.driver.now();
        issue(self.driver.machine(), now).map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait(&mut futures_lite::io::sink()).await
    }

    async fn wait<W: AsyncWrite + Unpin + ?Sized>(&mut self, sink: &mut W) -> Result<Reply, Error> {
        loop {
            let event = self.driver.next_event().await?.ok_or(Error::Closed)?;
            match step(event) {
                Step::Pending => {}
                Step::Data(d) => sink.write_all(&d).await?,
                Step::Done(r) => return r,
            }
        }
    }

    /// CAPA.
    pub async fn capa(&mut self) -> Result<Capabilities, Error> {
        match self.run(Client::capa).await? {
            Reply::Capabilities(c) => Ok(c),
            other => Err(Error::Protocol(format!(
                "CAPA: unexpected answer {other:?}"
            ))),
        }
    }

    /// USER and PASS.
    pub async fn login(&mut self, user: &str, password: &Secret<String>) -> Result<(), Error> {
        self.run(|c, now| c.user(now, user)).await?;
        self.run(|c, now| c.pass(now, password)).await.map(drop)
    }

    /// APOP.
    pub async fn apop(&mut self, user: &str, secret: &Secret<String>) -> Result<(), Error> {
        self.run(|c, now| c.apop(now, user, secret)).await.map(drop)
    }

    /// AUTH with `mechanism`, or the best one the server lists in CAPA.
    pub async fn auth(
        &mut self,
        mechanism: Option<Mechanism>,
        credentials: ClientCredentials,
    ) -> Result<(), Error> {
        let mechanism = match mechanism {
            Some(m) => m,
            None => {
                let caps = self.capa().await?;
                crate::pop3_client::choose_mechanism(&caps, &credentials, self.is_tls())?
            }
        };
        let auth =
            ClientAuth::new(mechanism, credentials).map_err(|e| Error::Protocol(e.to_string()))?;
        let now = self.driver.now();
        self.driver
            .machine()
            .auth(now, auth)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait(&mut futures_lite::io::sink()).await.map(drop)
    }

    /// STAT: `(messages, octets)`.
    pub async fn stat(&mut self) -> Result<(u32, u64), Error> {
        match self.run(Client::stat).await? {
            Reply::Stat(s) => Ok((s.count, s.size)),
            other => Err(Error::Protocol(format!(
                "STAT: unexpected answer {other:?}"
            ))),
        }
    }

    /// LIST.
    pub async fn list(&mut self) -> Result<Vec<ScanListing>, Error> {
        match self.run(|c, now| c.list(now, None)).await? {
            Reply::ScanList(l) => Ok(l),
            other => Err(Error::Protocol(format!(
                "LIST: unexpected answer {other:?}"
            ))),
        }
    }

    /// UIDL.
    pub async fn uidl(&mut self) -> Result<Vec<UniqueIdListing>, Error> {
        match self.run(|c, now| c.uidl(now, None)).await? {
            Reply::UidlList(l) => Ok(l),
            other => Err(Error::Protocol(format!(
                "UIDL: unexpected answer {other:?}"
            ))),
        }
    }

    /// RETR `msg`, streaming into `out`.
    pub async fn retr<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        msg: u32,
        out: &mut W,
    ) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .retr(now, msg)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait(out).await.map(drop)
    }

    /// TOP `msg lines`, streaming into `out`.
    /// RETR of several messages, pipelined (RFC 2449 §6.6 allows it without asking): the
    /// commands go out as far as the machine takes them
    /// ([`ClientConfig::max_pending`](mailproto_core::pop3::client::ClientConfig)
    /// outstanding) and are topped up as answers complete; each message is written to
    /// the sink `open` gives for it, in order.
    pub async fn retr_many<W: AsyncWrite + Unpin>(
        &mut self,
        msgs: &[u32],
        mut open: impl FnMut(u32) -> std::io::Result<W>,
    ) -> Result<(), Error> {
        let mut issued = 0;
        for (read, &msg) in msgs.iter().enumerate() {
            if issued < msgs.len() {
                let now = self.driver.now();
                // The message read next must be asked for by now.
                let needed = (read + 1).saturating_sub(issued);
                issued += retr_some(self.driver.machine(), now, &msgs[issued..], needed)?;
            }
            let mut out = open(msg)?;
            self.wait(&mut out).await?;
            out.flush().await?;
        }
        Ok(())
    }

    /// TOP.
    pub async fn top<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        msg: u32,
        lines: u32,
        out: &mut W,
    ) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .top(now, msg, lines)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait(out).await.map(drop)
    }

    /// DELE.
    pub async fn dele(&mut self, msg: u32) -> Result<(), Error> {
        self.run(|c, now| c.dele(now, msg)).await.map(drop)
    }

    /// RSET.
    pub async fn rset(&mut self) -> Result<(), Error> {
        self.run(Client::rset).await.map(drop)
    }

    /// NOOP.
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.run(Client::noop).await.map(drop)
    }

    /// QUIT.
    pub async fn quit(mut self) -> Result<(), Error> {
        self.run(Client::quit).await?;
        while self.driver.next_event().await?.is_some() {}
        Ok(())
    }
}
