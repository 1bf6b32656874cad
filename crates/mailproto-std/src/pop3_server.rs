//! POP3 server API: a [`Pop3Backend`] that checks logins and opens mailboxes, a
//! [`Pop3Mailbox`] that lists, streams and deletes messages, and a blocking server that
//! runs them over the `pop3::server` machine.
//!
//! [`Pop3Session`] holds what both adapters share: it turns the machine's events into
//! backend calls and tells the adapter when a message must be streamed. Only the
//! streaming loop and the I/O live in the adapters.

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailproto_core::pop3::server::{Event, Maildrop, MessageInfo, Server, ServerConfig};
use mailproto_core::pop3::{ResponseCode, Status, UniqueId, apop_digest};
use mailproto_core::sasl::Credentials;
use mailproto_core::{Instant, Machine};

use crate::{Driver, Error, Listener, TlsRole};

/// A login attempt, in any of the forms POP3 allows.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LoginAttempt<'a> {
    /// USER/PASS, AUTH PLAIN or AUTH LOGIN.
    Password {
        /// The user name.
        user: &'a str,
        /// The password presented.
        password: &'a str,
    },
    /// APOP (RFC 1939 §7): a digest of the greeting timestamp and the shared secret.
    Apop {
        /// The user name.
        user: &'a str,
        /// The digest presented (lowercase hex).
        digest: &'a str,
        /// The timestamp of this session's greeting.
        timestamp: &'a str,
    },
    /// Another SASL mechanism (CRAM-MD5, XOAUTH2, OAUTHBEARER).
    Sasl(&'a Credentials),
}

impl LoginAttempt<'_> {
    /// The user name presented.
    pub fn user(&self) -> &str {
        match self {
            LoginAttempt::Password { user, .. } | LoginAttempt::Apop { user, .. } => user,
            LoginAttempt::Sasl(c) => c.username().unwrap_or(""),
        }
    }

    /// Whether the attempt proves knowledge of `secret` (the user's password). Bearer
    /// tokens are never equal to a password: a backend that accepts OAuth checks those
    /// itself.
    pub fn verify(&self, secret: &str) -> bool {
        match self {
            LoginAttempt::Password { password, .. } => constant_time_eq(password, secret),
            LoginAttempt::Apop {
                digest, timestamp, ..
            } => constant_time_eq(&apop_digest(timestamp, secret.as_bytes()), digest),
            LoginAttempt::Sasl(Credentials::CramMd5(response)) => {
                response.verify(secret.as_bytes())
            }
            LoginAttempt::Sasl(Credentials::Plain { password, .. }) => {
                constant_time_eq(password.expose(), secret)
            }
            LoginAttempt::Sasl(_) => false,
        }
    }
}

/// Compare without an early exit on the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a login did not open a mailbox.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginError {
    /// Wrong user or credentials (`-ERR [AUTH]`).
    Invalid,
    /// Another session holds the mailbox (`-ERR [IN-USE]`).
    InUse,
    /// The mailbox cannot be opened now (`-ERR [SYS/TEMP]`); the text says why.
    Unavailable(String),
}

/// Checks logins and opens mailboxes. Shared by every session of a server.
pub trait Pop3Backend: Send + Sync + 'static {
    /// The mailbox a session works on; dropped when the session ends (release any lock
    /// there).
    type Mailbox: Pop3Mailbox;

    /// Check a login and open (and lock) the user's mailbox.
    fn login(&self, attempt: LoginAttempt<'_>) -> Result<Self::Mailbox, LoginError>;
}

/// One user's mailbox for the length of a session.
pub trait Pop3Mailbox: Send + 'static {
    /// The messages, in the order that gives them their numbers: `(size, unique id)`,
    /// size counting CRLF line endings as two octets (RFC 1939 §11).
    fn list(&self) -> Vec<(u64, String)>;

    /// The bytes of message `index` (0-based), to be streamed.
    fn open(&mut self, index: usize) -> io::Result<Box<dyn Read + Send>>;

    /// Remove the messages at these 0-based indexes; called only in the UPDATE state
    /// after the client's QUIT.
    fn delete(&mut self, indexes: &[usize]) -> io::Result<()>;
}

/// What the adapter must do after [`Pop3Session::handle`].
#[must_use]
pub enum Next {
    /// Nothing more: read the next event.
    Continue,
    /// Stream this reader's bytes with `message_data` (flushing between chunks), then
    /// call `message_end`; on a read error call `message_abort`.
    Stream(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Next::Continue => f.write_str("Continue"),
            Next::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// One session's glue between the machine and the backend (shared by both adapters).
#[derive(Debug)]
pub struct Pop3Session<B: Pop3Backend> {
    backend: Arc<B>,
    mailbox: Option<B::Mailbox>,
}

impl<B: Pop3Backend> Pop3Session<B> {
    /// A session over `backend`.
    pub fn new(backend: Arc<B>) -> Self {
        Pop3Session {
            backend,
            mailbox: None,
        }
    }

    /// Answer one event through `server`.
    pub fn handle(
        &mut self,
        server: &mut Server,
        now: Instant,
        event: Event,
    ) -> Result<Next, Error> {
        let misuse = |e: &dyn std::fmt::Display| Error::Protocol(e.to_string());
        match event {
            Event::Login { user, password } => {
                let attempt = LoginAttempt::Password {
                    user: &user,
                    password: password.expose(),
                };
                self.login(server, now, attempt)?;
            }
            Event::Apop {
                user,
                digest,
                timestamp,
            } => {
                let attempt = LoginAttempt::Apop {
                    user: &user,
                    digest: &digest,
                    timestamp: &timestamp,
                };
                self.login(server, now, attempt)?;
            }
            Event::Auth { credentials } => {
                let attempt = match &credentials {
                    Credentials::Plain {
                        authcid, password, ..
                    } => LoginAttempt::Password {
                        user: authcid,
                        password: password.expose(),
                    },
                    other => LoginAttempt::Sasl(other),
                };
                self.login(server, now, attempt)?;
            }
            Event::Retrieve { msg, .. } => {
                let opened = match self.mailbox.as_mut() {
                    Some(mailbox) => mailbox.open(msg as usize - 1),
                    None => Err(io::ErrorKind::NotFound.into()),
                };
                match opened {
                    Ok(reader) => {
                        server.message_start(now).map_err(|e| misuse(&e))?;
                        return Ok(Next::Stream(reader));
                    }
                    Err(e) => {
                        let status = Status::err(format!("message {msg} unavailable: {e}"))
                            .with_code(ResponseCode::SysTemp);
                        server
                            .message_unavailable(now, status)
                            .map_err(|e| misuse(&e))?;
                    }
                }
            }
            Event::Update { deleted } => {
                let indexes: Vec<usize> = deleted.iter().map(|n| *n as usize - 1).collect();
                let result = match self.mailbox.as_mut() {
                    Some(mailbox) => mailbox.delete(&indexes),
                    None => Ok(()),
                };
                match result {
                    Ok(()) => server.update_done(now).map_err(|e| misuse(&e))?,
                    Err(e) => {
                        let status = Status::err(format!("some deleted messages not removed: {e}"))
                            .with_code(ResponseCode::SysTemp);
                        server.update_failed(now, status).map_err(|e| misuse(&e))?;
                    }
                }
                self.mailbox = None;
            }
            Event::Closed { .. } => self.mailbox = None,
            _ => {}
        }
        Ok(Next::Continue)
    }

    fn login(
        &mut self,
        server: &mut Server,
        now: Instant,
        attempt: LoginAttempt<'_>,
    ) -> Result<(), Error> {
        let misuse = |e: &dyn std::fmt::Display| Error::Protocol(e.to_string());
        match self.backend.login(attempt) {
            Ok(mailbox) => {
                let mut messages = Vec::new();
                for (size, uid) in mailbox.list() {
                    let uid = UniqueId::new(uid)
                        .map_err(|e| Error::Protocol(format!("backend gave a bad UIDL: {e}")))?;
                    messages.push(MessageInfo::new(size, uid));
                }
                server
                    .login_ok(now, Maildrop::new(messages))
                    .map_err(|e| misuse(&e))?;
                self.mailbox = Some(mailbox);
            }
            Err(LoginError::Invalid) => server.login_failed(now).map_err(|e| misuse(&e))?,
            Err(LoginError::InUse) => server.login_in_use(now).map_err(|e| misuse(&e))?,
            Err(LoginError::Unavailable(why)) => {
                let status = Status::err(format!("maildrop unavailable: {why}"))
                    .with_code(ResponseCode::SysTemp);
                server.login_error(now, status).map_err(|e| misuse(&e))?;
            }
        }
        Ok(())
    }
}

/// A fresh APOP timestamp `<pid.nanos.counter@host>` for one connection (RFC 1939 §7).
pub fn apop_timestamp(host: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "<{}.{}.{}@{}>",
        std::process::id(),
        now.as_nanos(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        host
    )
}

/// A blocking POP3 server: one thread per connection over a [`Listener`].
#[derive(Debug)]
pub struct Pop3Server<B: Pop3Backend> {
    backend: Arc<B>,
    config: ServerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    hostname: String,
}

impl<B: Pop3Backend> Clone for Pop3Server<B> {
    fn clone(&self) -> Self {
        Pop3Server {
            backend: self.backend.clone(),
            config: self.config.clone(),
            tls: self.tls.clone(),
            hostname: self.hostname.clone(),
        }
    }
}

impl<B: Pop3Backend> Pop3Server<B> {
    /// A server for `backend` with the machine configuration `config`. STLS is offered
    /// when [`Pop3Server::with_tls`] gives a certificate; APOP is on (a fresh timestamp
    /// per connection).
    pub fn new(backend: B, config: ServerConfig) -> Self {
        Pop3Server {
            backend: Arc::new(backend),
            config,
            tls: None,
            hostname: "localhost".into(),
        }
    }

    /// Offer STLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The host name used in APOP timestamps.
    pub fn with_hostname(mut self, host: impl Into<String>) -> Self {
        self.hostname = host.into();
        self
    }

    /// The backend, shared by all sessions.
    pub fn backend(&self) -> Arc<B> {
        self.backend.clone()
    }

    /// The machine configuration for one connection.
    pub fn session_config(&self, implicit_tls: bool) -> ServerConfig {
        self.config
            .clone()
            .with_apop_timestamp(apop_timestamp(&self.hostname))
            .with_stls_offered(self.tls.is_some() && !implicit_tls)
            .with_tls_active(implicit_tls)
    }

    fn tls_role(&self) -> TlsRole {
        self.tls.clone().map_or(TlsRole::None, TlsRole::Server)
    }

    /// Serve one connection to its end.
    pub fn serve_connection(&self, tcp: TcpStream, implicit_tls: bool) -> Result<(), Error> {
        let machine = Server::new(Instant::ZERO, self.session_config(implicit_tls));
        let mut driver = if implicit_tls {
            Driver::new_tls(machine, tcp, self.tls_role())?
        } else {
            Driver::new(machine, tcp, self.tls_role())
        };
        let mut session = Pop3Session::new(self.backend.clone());
        let mut buf = vec![0u8; crate::adapter::READ_BUF];
        while let Some(event) = driver.next_event()? {
            let now = driver.now();
            if let Next::Stream(mut reader) = session.handle(driver.machine(), now, event)? {
                stream_message(&mut driver, &mut *reader, &mut buf)?;
            }
        }
        Ok(())
    }

    /// Accept connections on `listener` until it is shut down. With `implicit_tls` every
    /// connection starts with the TLS handshake (POP3S, port 995).
    pub fn run(self, listener: Listener, implicit_tls: bool) -> std::io::Result<()> {
        let server = self.clone();
        listener.serve(
            move |tcp| {
                let _ = server.serve_connection(tcp, implicit_tls);
            },
            busy,
        )
    }
}

/// Stream one message through the machine, flushing between chunks. A client that
/// stops reading hits the write deadline: the machine closes, and streaming stops.
fn stream_message(
    driver: &mut Driver<Server>,
    reader: &mut dyn Read,
    buf: &mut [u8],
) -> Result<(), Error> {
    let misuse = |e: &dyn std::fmt::Display| Error::Protocol(e.to_string());
    loop {
        let n = match reader.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                let now = driver.now();
                driver
                    .machine()
                    .message_abort(now)
                    .map_err(|e| misuse(&e))?;
                return Ok(());
            }
        };
        if n == 0 {
            break;
        }
        let now = driver.now();
        let more = driver
            .machine()
            .message_data(now, &buf[..n])
            .map_err(|e| misuse(&e))?;
        driver.flush()?;
        if driver.machine_ref().io() == mailproto_core::Io::Closed {
            return Ok(());
        }
        if !more {
            break;
        }
    }
    let now = driver.now();
    driver.machine().message_end(now).map_err(|e| misuse(&e))
}

/// The greeting that turns away a connection over the limit (RFC 2449 §8.1:
/// `[SYS/TEMP]`).
pub fn busy_reply() -> Vec<u8> {
    let mut out = Vec::new();
    let status =
        Status::err("too many connections, try again later").with_code(ResponseCode::SysTemp);
    let _ = status.encode(&mut out);
    out
}

fn busy(mut tcp: TcpStream) {
    use std::io::Write;
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = tcp.write_all(&busy_reply());
}
