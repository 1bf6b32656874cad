//! POP3 over async streams: the server (same [`Pop3Backend`] as the blocking adapter)
//! and the client (connect, login, STAT/LIST/UIDL/TOP, RETR streamed into an
//! `AsyncWrite`, DELE, RSET, QUIT).

use std::io::Read;
use std::sync::Arc;

use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use mailproto_core::pop3::client::{Client, ClientConfig, Event as ClientEvent, Refused};
use mailproto_core::pop3::server::{Server, ServerConfig};
use mailproto_core::pop3::{Capabilities, ScanListing, Status, UniqueIdListing};
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_core::{Instant, Machine};
use mailproto_engine::pop3_client::{Pop3Options, Reply, Security, Step, retr_all, step};
use mailproto_engine::pop3_server::{Next, Pop3Backend, Pop3Session, Streamed, stream_step};
use mailproto_engine::{Error, Tap, TlsRole};
use smol::net::TcpStream;

use crate::{Driver, Listener};

/// An async POP3 server: one task per connection.
#[derive(Debug)]
pub struct Pop3Server<B: Pop3Backend> {
    inner: mailproto_engine::pop3_server::Pop3Service<B>,
}

impl<B: Pop3Backend> Clone for Pop3Server<B> {
    fn clone(&self) -> Self {
        Pop3Server {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Pop3Backend> Pop3Server<B> {
    /// A server for `backend` with the machine configuration `config`.
    pub fn new(backend: B, config: ServerConfig) -> Self {
        Pop3Server {
            inner: mailproto_engine::pop3_server::Pop3Service::new(backend, config),
        }
    }

    /// Offer STLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.inner = self.inner.with_tls(tls);
        self
    }

    /// The host name used in APOP timestamps.
    pub fn with_hostname(mut self, host: impl Into<String>) -> Self {
        self.inner = self.inner.with_hostname(host);
        self
    }

    /// Serve one connection to its end.
    pub async fn serve_connection<S>(&self, stream: S, implicit_tls: bool) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let machine = Server::new(Instant::ZERO, self.inner.session_config(implicit_tls));
        let role = self.inner.tls_role();
        let mut driver = if implicit_tls {
            Driver::new_tls(machine, stream, role).await?
        } else {
            Driver::new(machine, stream, role)
        };
        let mut session = Pop3Session::new(self.inner.backend());
        let mut buf = vec![0u8; mailproto_engine::adapter::READ_BUF];
        while let Some(event) = driver.next_event().await? {
            let now = driver.now();
            if let Next::Stream(mut reader) = session.handle(driver.machine(), now, event)? {
                stream_message(&mut driver, &mut *reader, &mut buf).await?;
            }
        }
        Ok(())
    }

    /// Accept connections on `listener` until it is shut down.
    pub async fn run(self, listener: Listener, implicit_tls: bool) -> std::io::Result<()> {
        let server = self.clone();
        listener
            .serve(
                move |tcp| {
                    let server = server.clone();
                    async move {
                        let _ = server.serve_connection(tcp, implicit_tls).await;
                    }
                },
                |mut tcp: TcpStream| async move {
                    let _ = tcp
                        .write_all(&mailproto_engine::pop3_server::busy_reply())
                        .await;
                },
            )
            .await
    }
}

/// Stream one message through the machine, flushing between chunks.
async fn stream_message<S: AsyncRead + AsyncWrite + Unpin>(
    driver: &mut Driver<Server, S>,
    reader: &mut (dyn Read + Send),
    buf: &mut [u8],
) -> Result<(), Error> {
    loop {
        let now = driver.now();
        match stream_step(driver.machine(), now, reader, buf)? {
            Streamed::Done => return Ok(()),
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
#[derive(Debug)]
pub struct Pop3Client<S> {
    driver: Driver<Client, S>,
    greeting: Status,
}

impl Pop3Client<TcpStream> {
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
        let tcp = crate::connect_tcp(host, port, options.connect_timeout).await?;
        let tls = options.security.tls_role(host, &options.tls)?;
        Self::over(tcp, tls, options.security, options.config, tap).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Client<S> {
    /// Run a session over an already connected stream.
    pub async fn over(
        stream: S,
        tls: TlsRole,
        security: Security,
        mut config: ClientConfig,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let implicit = security == Security::ImplicitTls;
        config.tls_active = implicit;
        let machine = Client::new(Instant::ZERO, config);
        let mut driver = Driver::new(machine, stream, tls);
        if let Some(tap) = tap {
            driver.set_tap(tap);
        }
        if implicit {
            driver.start_tls().await?;
        }
        let greeting = loop {
            match driver.next_event().await? {
                Some(ClientEvent::Greeting { status, .. }) => break status,
                Some(ClientEvent::Closed { reason }) => {
                    return Err(Error::Rejected(format!("greeting refused: {reason}")));
                }
                Some(_) => {}
                None => return Err(Error::Closed),
            }
        };
        let mut client = Pop3Client { driver, greeting };
        if matches!(
            security,
            Security::StartTls | Security::StartTlsOpportunistic
        ) {
            let caps = client.capa().await.ok();
            if caps.is_some_and(|c| c.contains("STLS")) {
                client.run(Client::stls).await?;
                client.capa().await.ok();
            } else if security == Security::StartTls {
                return Err(Error::Tls("the server does not offer STLS".into()));
            }
        }
        Ok(client)
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
                mailproto_engine::pop3_client::choose_mechanism(&caps, &credentials, self.is_tls())?
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
    /// RETR of several messages, pipelined (RFC 2449 §6.6 allows it without asking): all
    /// commands go out at once, then each message is written to the sink `open` gives
    /// for it, in order.
    pub async fn retr_many<W: AsyncWrite + Unpin>(
        &mut self,
        msgs: &[u32],
        mut open: impl FnMut(u32) -> std::io::Result<W>,
    ) -> Result<(), Error> {
        let now = self.driver.now();
        retr_all(self.driver.machine(), now, msgs)?;
        for &msg in msgs {
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
