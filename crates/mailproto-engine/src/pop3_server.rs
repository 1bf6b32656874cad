//! POP3 server API: a [`Pop3Backend`] that checks logins and opens mailboxes, and a
//! [`Pop3Mailbox`] that lists, streams and deletes messages.
//!
//! [`Pop3Session`] holds what every adapter shares: it turns the machine's events into
//! backend calls and tells the adapter when a message must be streamed.
//! [`Pop3Service`] holds the backend, the configuration and the certificate. Only the
//! streaming loop and the I/O live in the adapters.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mailproto_core::Instant;
use mailproto_core::pop3::server::{Event, Maildrop, MessageInfo, Server, ServerConfig};
use mailproto_core::pop3::{Command, ResponseCode, Status, UniqueId, apop_digest};
use mailproto_core::sasl::Credentials;
use mailproto_core::secret::Secret;

use crate::Admitted;
use crate::{Error, TlsRole};

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

/// Who a POP3 session serves, for the backend's decisions.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Pop3Context<'a> {
    /// The client's address (the PROXY protocol's client behind a trusted proxy), when
    /// known.
    pub peer: Option<SocketAddr>,
    /// The user logged in (TRANSACTION), or the name a USER command gives.
    pub user: Option<&'a str>,
}

impl<'a> Pop3Context<'a> {
    /// A session of `peer` for `user`.
    pub fn new(peer: Option<SocketAddr>, user: Option<&'a str>) -> Self {
        Pop3Context { peer, user }
    }
}

/// How the backend refuses a command ([`Pop3Backend::command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandRefusal {
    /// Answer with this `-ERR` (e.g. `-ERR [SYS/TEMP] busy`); the command has no
    /// effect and the session goes on.
    Err(Status),
    /// Answer with this `-ERR`, if any, and close the connection without UPDATE
    /// (nothing is deleted).
    Close(Option<Status>),
}

/// Checks logins and opens mailboxes. Shared by every session of a server.
pub trait Pop3Backend: Send + Sync + 'static {
    /// The mailbox a session works on; dropped when the session ends (release any lock
    /// there).
    type Mailbox: Pop3Mailbox;

    /// Check a login and open (and lock) the user's mailbox.
    fn login(&self, attempt: LoginAttempt<'_>) -> Result<Self::Mailbox, LoginError>;

    /// [`login`](Self::login) from the client at `peer` (when known): what the engine
    /// calls. Default: `login`, the address unused.
    fn login_from(
        &self,
        attempt: LoginAttempt<'_>,
        peer: Option<SocketAddr>,
    ) -> Result<Self::Mailbox, LoginError> {
        let _ = peer;
        self.login(attempt)
    }

    /// A command the machine answers itself (USER, CAPA, STAT, LIST, UIDL, DELE, NOOP,
    /// RSET), before it does: `Err` refuses it ([`CommandRefusal`]). Default: allow.
    fn command(&self, context: &Pop3Context<'_>, command: &Command) -> Result<(), CommandRefusal> {
        let _ = (context, command);
        Ok(())
    }
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

/// A login attempt, owned: taken from the machine's event, or copied from a
/// [`LoginAttempt`] to cross to a thread pool ([`OffloadBackend`]).
#[derive(Debug)]
pub struct Login(Owned);

#[derive(Debug)]
enum Owned {
    Password {
        user: String,
        password: Secret<String>,
    },
    Apop {
        user: String,
        digest: String,
        timestamp: String,
    },
    Sasl(Credentials),
}

impl Login {
    /// The login `event` carries, if it is one.
    fn from_event(event: Event) -> Option<Self> {
        Some(Login(match event {
            Event::Login { user, password } => Owned::Password { user, password },
            Event::Apop {
                user,
                digest,
                timestamp,
            } => Owned::Apop {
                user,
                digest,
                timestamp,
            },
            Event::Auth {
                credentials:
                    Credentials::Plain {
                        authcid, password, ..
                    },
            } => Owned::Password {
                user: authcid,
                password,
            },
            Event::Auth { credentials } => Owned::Sasl(credentials),
            _ => return None,
        }))
    }

    /// The attempt, in the form the backend checks.
    pub fn attempt(&self) -> LoginAttempt<'_> {
        match &self.0 {
            Owned::Password { user, password } => LoginAttempt::Password {
                user,
                password: password.expose(),
            },
            Owned::Apop {
                user,
                digest,
                timestamp,
            } => LoginAttempt::Apop {
                user,
                digest,
                timestamp,
            },
            Owned::Sasl(credentials) => LoginAttempt::Sasl(credentials),
        }
    }
}

impl From<LoginAttempt<'_>> for Login {
    fn from(attempt: LoginAttempt<'_>) -> Self {
        Login(match attempt {
            LoginAttempt::Password { user, password } => Owned::Password {
                user: user.into(),
                password: Secret::from(password),
            },
            LoginAttempt::Apop {
                user,
                digest,
                timestamp,
            } => Owned::Apop {
                user: user.into(),
                digest: digest.into(),
                timestamp: timestamp.into(),
            },
            LoginAttempt::Sasl(credentials) => Owned::Sasl(credentials.clone()),
        })
    }
}

/// What a POP3 session asks its backend, in either colour: the engine's "decide this"
/// requests. The blocking adapter calls a [`Pop3Backend`], the async ones await an
/// [`AsyncPop3Backend`]; what the machine is told about each answer is one piece of code
/// ([`logged_in`], [`opened`], [`deleted`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Pop3Call {
    /// Check the login and open the mailbox; tell the machine with [`logged_in`].
    Login(Login),
    /// Decide a command ([`Pop3Backend::command`]); tell the machine with
    /// [`commanded`].
    Command(Command),
    /// Open message `msg` (1-based) to stream it; tell the machine with [`opened`].
    Open(u32),
    /// UPDATE: remove these 0-based indexes; tell the machine with [`deleted`], then
    /// release the mailbox.
    Delete(Vec<usize>),
    /// The session ended: release the mailbox (and its lock) without UPDATE.
    Release,
}

/// The backend call `event` needs, if any.
pub fn pop3_call(event: Event) -> Option<Pop3Call> {
    match event {
        Event::Login { .. } | Event::Apop { .. } | Event::Auth { .. } => {
            Login::from_event(event).map(Pop3Call::Login)
        }
        Event::Command { command } => Some(Pop3Call::Command(command)),
        Event::Retrieve { msg, .. } => Some(Pop3Call::Open(msg)),
        Event::Update { deleted } => Some(Pop3Call::Delete(
            deleted.iter().map(|n| *n as usize - 1).collect(),
        )),
        Event::Closed { .. } => Some(Pop3Call::Release),
        _ => None,
    }
}

fn misuse(e: &dyn std::fmt::Display) -> Error {
    Error::Protocol(e.to_string())
}

/// Tell the machine how a login went: with the mailbox's listing, or why not. With the
/// listener's `client`, a failure is answered after the client's failed-login delay
/// (the machine holds the answer and the client's next command meanwhile) and a
/// success forgets the client's failures.
pub fn logged_in(
    server: &mut Server,
    now: Instant,
    result: Result<Vec<(u64, String)>, LoginError>,
    client: Option<&Admitted>,
    user: &str,
) -> Result<(), Error> {
    match &result {
        Ok(_) => {
            if let Some(client) = client {
                client.login_succeeded();
            }
            crate::trace::logged_in(user);
            tracing::info!("logged in");
        }
        Err(LoginError::Invalid) => {
            let delay = client.map(Admitted::login_failed).unwrap_or_default();
            tracing::warn!(
                client = client.map(|c| c.peer().ip().to_string()),
                delay_ms = delay.as_millis() as u64,
                "authentication failed"
            );
            if !delay.is_zero() {
                server.hold_until(now, now + delay);
            }
        }
        Err(e) => tracing::info!(error = ?e, "login refused"),
    }
    match result {
        Ok(listing) => {
            let mut messages = Vec::with_capacity(listing.len());
            for (size, uid) in listing {
                let uid = UniqueId::new(uid)
                    .map_err(|e| Error::Protocol(format!("backend gave a bad UIDL: {e}")))?;
                messages.push(MessageInfo::new(size, uid));
            }
            server
                .login_ok(now, Maildrop::new(messages))
                .map_err(|e| misuse(&e))
        }
        Err(LoginError::Invalid) => server.login_failed(now).map_err(|e| misuse(&e)),
        Err(LoginError::InUse) => server.login_in_use(now).map_err(|e| misuse(&e)),
        Err(LoginError::Unavailable(why)) => {
            let status = Status::err(format!("maildrop unavailable: {why}"))
                .with_code(ResponseCode::SysTemp);
            server.login_error(now, status).map_err(|e| misuse(&e))
        }
    }
}

/// Tell the machine the backend's decision about a command.
pub fn commanded(
    server: &mut Server,
    now: Instant,
    result: Result<(), CommandRefusal>,
) -> Result<(), Error> {
    match result {
        Ok(()) => server.command_allow(now).map_err(|e| misuse(&e)),
        Err(CommandRefusal::Err(status)) => {
            server.command_refuse(now, status).map_err(|e| misuse(&e))
        }
        Err(CommandRefusal::Close(status)) => {
            tracing::info!("session closed by the backend");
            server.command_close(now, status).map_err(|e| misuse(&e))
        }
    }
}

/// Tell the machine whether message `msg` could be opened; when it could, stream it.
pub fn opened<T>(
    server: &mut Server,
    now: Instant,
    msg: u32,
    result: io::Result<T>,
) -> Result<Option<T>, Error> {
    match result {
        Ok(reader) => {
            server.message_start(now).map_err(|e| misuse(&e))?;
            Ok(Some(reader))
        }
        Err(e) => {
            let status = Status::err(format!("message {msg} unavailable: {e}"))
                .with_code(ResponseCode::SysTemp);
            server
                .message_unavailable(now, status)
                .map_err(|e| misuse(&e))?;
            Ok(None)
        }
    }
}

/// Tell the machine how UPDATE went.
pub fn deleted(server: &mut Server, now: Instant, result: io::Result<()>) -> Result<(), Error> {
    match result {
        Ok(()) => server.update_done(now).map_err(|e| misuse(&e)),
        Err(e) => {
            let status = Status::err(format!("some deleted messages not removed: {e}"))
                .with_code(ResponseCode::SysTemp);
            server.update_failed(now, status).map_err(|e| misuse(&e))
        }
    }
}

/// One session's glue between the machine and a blocking backend.
#[derive(Debug)]
pub struct Pop3Session<B: Pop3Backend> {
    backend: Arc<B>,
    mailbox: Option<B::Mailbox>,
    client: Option<Admitted>,
    peer: Option<SocketAddr>,
    /// The user logged in.
    user: Option<String>,
}

impl<B: Pop3Backend> Pop3Session<B> {
    /// A session over `backend`.
    pub fn new(backend: Arc<B>) -> Self {
        Self::for_client(backend, None)
    }

    /// A session of the listener's `client` (held until the session ends): a failed
    /// login is answered after its failed-login delay.
    pub fn for_client(backend: Arc<B>, client: Option<Admitted>) -> Self {
        Pop3Session {
            backend,
            mailbox: None,
            peer: client.as_ref().map(Admitted::peer),
            client,
            user: None,
        }
    }

    /// The client's address, for the backend ([`Pop3Backend::login_from`],
    /// [`Pop3Backend::command`]); a listener's client gives its own.
    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// Answer one event through `server`.
    pub fn handle(
        &mut self,
        server: &mut Server,
        now: Instant,
        event: Event,
    ) -> Result<Next, Error> {
        crate::trace::pop3_event(&event);
        let client = self.client.as_ref();
        match pop3_call(event) {
            Some(Pop3Call::Login(login)) => {
                let user = login.attempt().user().to_owned();
                match self.backend.login_from(login.attempt(), self.peer) {
                    Ok(mailbox) => {
                        logged_in(server, now, Ok(mailbox.list()), client, &user)?;
                        self.mailbox = Some(mailbox);
                        self.user = Some(user);
                    }
                    Err(e) => logged_in(server, now, Err(e), client, &user)?,
                }
            }
            Some(Pop3Call::Command(command)) => {
                let user = command_user(&command, self.user.as_deref());
                let context = Pop3Context::new(self.peer, user);
                let result = self.backend.command(&context, &command);
                commanded(server, now, result)?;
            }
            Some(Pop3Call::Open(msg)) => {
                let result = match self.mailbox.as_mut() {
                    Some(mailbox) => mailbox.open(msg as usize - 1),
                    None => Err(io::ErrorKind::NotFound.into()),
                };
                if let Some(reader) = opened(server, now, msg, result)? {
                    return Ok(Next::Stream(reader));
                }
            }
            Some(Pop3Call::Delete(indexes)) => {
                let result = match self.mailbox.as_mut() {
                    Some(mailbox) => mailbox.delete(&indexes),
                    None => Ok(()),
                };
                deleted(server, now, result)?;
                self.mailbox = None;
            }
            Some(Pop3Call::Release) => self.mailbox = None,
            None => {}
        }
        Ok(Next::Continue)
    }
}

/// The user a command's decision concerns: the name USER gives, else the session's.
pub fn command_user<'a>(command: &'a Command, session_user: Option<&'a str>) -> Option<&'a str> {
    match command {
        Command::User(name) => Some(name),
        _ => session_user,
    }
}

/// [`Pop3Backend`] for the async adapters: a login may await a database or a directory
/// without holding up other sessions.
pub trait AsyncPop3Backend: Send + Sync + 'static {
    /// The mailbox a session works on; dropped when the session ends (release any lock
    /// there).
    type Mailbox: AsyncPop3Mailbox;

    /// Check a login and open (and lock) the user's mailbox.
    fn login(
        &self,
        attempt: LoginAttempt<'_>,
    ) -> impl Future<Output = Result<Self::Mailbox, LoginError>> + Send;

    /// [`login`](Self::login) from the client at `peer` ([`Pop3Backend::login_from`]).
    /// Default: `login`.
    fn login_from(
        &self,
        attempt: LoginAttempt<'_>,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<Self::Mailbox, LoginError>> + Send {
        let _ = peer;
        self.login(attempt)
    }

    /// A command the machine answers itself, before it does
    /// ([`Pop3Backend::command`]). Default: allow.
    fn command(
        &self,
        context: &Pop3Context<'_>,
        command: &Command,
    ) -> impl Future<Output = Result<(), CommandRefusal>> + Send {
        let _ = (context, command);
        async { Ok(()) }
    }
}

/// The bytes of one message, read as the client takes them.
pub type AsyncMessage = Box<dyn futures_lite::AsyncRead + Send + Unpin>;

/// [`Pop3Mailbox`] for the async adapters.
pub trait AsyncPop3Mailbox: Send + 'static {
    /// The messages, in the order that gives them their numbers: `(size, unique id)`.
    fn list(&self) -> Vec<(u64, String)>;

    /// The bytes of message `index` (0-based), to be streamed.
    fn open(&mut self, index: usize) -> impl Future<Output = io::Result<AsyncMessage>> + Send;

    /// Remove the messages at these 0-based indexes; called only in the UPDATE state
    /// after the client's QUIT.
    fn delete(&mut self, indexes: &[usize]) -> impl Future<Output = io::Result<()>> + Send;
}

/// A blocking [`Pop3Backend`] used as an [`AsyncPop3Backend`], called inline on the
/// executor: for backends that never wait (in memory, tests).
#[derive(Debug, Default, Clone)]
pub struct InlineBackend<B>(pub B);

/// The mailbox of an [`InlineBackend`].
#[derive(Debug)]
pub struct InlineMailbox<M>(pub M);

impl<B: Pop3Backend> AsyncPop3Backend for InlineBackend<B> {
    type Mailbox = InlineMailbox<B::Mailbox>;
    async fn login(&self, attempt: LoginAttempt<'_>) -> Result<Self::Mailbox, LoginError> {
        self.0.login(attempt).map(InlineMailbox)
    }
    async fn login_from(
        &self,
        attempt: LoginAttempt<'_>,
        peer: Option<SocketAddr>,
    ) -> Result<Self::Mailbox, LoginError> {
        self.0.login_from(attempt, peer).map(InlineMailbox)
    }
    async fn command(
        &self,
        context: &Pop3Context<'_>,
        command: &Command,
    ) -> Result<(), CommandRefusal> {
        self.0.command(context, command)
    }
}

impl<M: Pop3Mailbox> AsyncPop3Mailbox for InlineMailbox<M> {
    fn list(&self) -> Vec<(u64, String)> {
        self.0.list()
    }
    async fn open(&mut self, index: usize) -> io::Result<AsyncMessage> {
        let reader = self.0.open(index)?;
        Ok(Box::new(futures_lite::io::AssertAsync::new(reader)))
    }
    async fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        self.0.delete(indexes)
    }
}

/// A blocking [`Pop3Backend`] used as an [`AsyncPop3Backend`] with logins, opening
/// messages, reading them and UPDATE run on a thread pool (the `blocking` crate's, which
/// works under any executor): for backends on disk or behind a database.
#[derive(Debug)]
pub struct OffloadBackend<B>(Arc<B>);

impl<B: Pop3Backend> OffloadBackend<B> {
    /// Run `backend`'s calls on the pool.
    pub fn new(backend: B) -> Self {
        OffloadBackend(Arc::new(backend))
    }

    /// [`OffloadBackend::new`] for a backend already shared (with a blocking server).
    pub fn from_shared(backend: Arc<B>) -> Self {
        OffloadBackend(backend)
    }
}

/// The mailbox of an [`OffloadBackend`].
#[derive(Debug)]
pub struct OffloadMailbox<M> {
    /// `None` only while a call runs on the pool (or after it panicked there).
    mailbox: Option<M>,
    /// The listing, taken at login.
    listing: Vec<(u64, String)>,
}

impl<B: Pop3Backend> AsyncPop3Backend for OffloadBackend<B> {
    type Mailbox = OffloadMailbox<B::Mailbox>;

    async fn login(&self, attempt: LoginAttempt<'_>) -> Result<Self::Mailbox, LoginError> {
        self.login_from(attempt, None).await
    }

    async fn login_from(
        &self,
        attempt: LoginAttempt<'_>,
        peer: Option<SocketAddr>,
    ) -> Result<Self::Mailbox, LoginError> {
        let backend = self.0.clone();
        let attempt = Login::from(attempt);
        blocking::unblock(move || {
            let mailbox = backend.login_from(attempt.attempt(), peer)?;
            let listing = mailbox.list();
            Ok(OffloadMailbox {
                mailbox: Some(mailbox),
                listing,
            })
        })
        .await
    }

    async fn command(
        &self,
        context: &Pop3Context<'_>,
        command: &Command,
    ) -> Result<(), CommandRefusal> {
        self.command_offloaded(context, command).await
    }
}

impl<B: Pop3Backend> OffloadBackend<B> {
    /// [`Pop3Backend::command`] on the pool.
    async fn command_offloaded(
        &self,
        context: &Pop3Context<'_>,
        command: &Command,
    ) -> Result<(), CommandRefusal> {
        let backend = self.0.clone();
        let (peer, user) = (context.peer, context.user.map(str::to_owned));
        let command = command.clone();
        blocking::unblock(move || {
            backend.command(&Pop3Context::new(peer, user.as_deref()), &command)
        })
        .await
    }
}

impl<M: Pop3Mailbox> OffloadMailbox<M> {
    async fn run<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut M) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let mut mailbox = self
            .mailbox
            .take()
            .ok_or_else(|| io::Error::other("mailbox lost"))?;
        let (mailbox, out) = blocking::unblock(move || {
            let out = call(&mut mailbox);
            (mailbox, out)
        })
        .await;
        self.mailbox = Some(mailbox);
        out
    }
}

impl<M: Pop3Mailbox> AsyncPop3Mailbox for OffloadMailbox<M> {
    fn list(&self) -> Vec<(u64, String)> {
        self.listing.clone()
    }
    async fn open(&mut self, index: usize) -> io::Result<AsyncMessage> {
        let reader = self.run(move |m| m.open(index)).await?;
        Ok(Box::new(blocking::Unblock::new(reader)))
    }
    async fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        let indexes = indexes.to_vec();
        self.run(move |m| m.delete(&indexes)).await
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

/// What every adapter's POP3 server holds: the backend, the machine configuration, the
/// certificate and the host name for APOP timestamps; it makes the machine
/// configuration of each connection.
#[derive(Debug)]
pub struct Pop3Service<B> {
    backend: Arc<B>,
    config: ServerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    hostname: String,
}

impl<B> Clone for Pop3Service<B> {
    fn clone(&self) -> Self {
        Pop3Service {
            backend: self.backend.clone(),
            config: self.config.clone(),
            tls: self.tls.clone(),
            hostname: self.hostname.clone(),
        }
    }
}

impl<B> Pop3Service<B> {
    /// A server for `backend` with the machine configuration `config`. STLS is offered
    /// when [`Pop3Service::with_tls`] gives a certificate; APOP is on (a fresh timestamp
    /// per connection).
    pub fn new(backend: B, config: ServerConfig) -> Self {
        Pop3Service {
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

    /// The machine configuration the sessions start from.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The host name used in APOP timestamps.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The certificate offered, if any.
    pub fn tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.tls.as_ref()
    }

    /// The machine configuration for one connection.
    pub fn session_config(&self, implicit_tls: bool) -> ServerConfig {
        self.config
            .clone()
            .with_apop_timestamp(apop_timestamp(&self.hostname))
            .with_stls_offered(self.tls.is_some() && !implicit_tls)
            .with_tls_active(implicit_tls)
            // The backend decides the commands the machine answers (its default allows).
            .with_ask_commands(true)
    }

    /// The TLS role of a connection.
    pub fn tls_role(&self) -> TlsRole {
        self.tls.clone().map_or(TlsRole::None, TlsRole::Server)
    }
}

/// The greeting that turns away a connection over the limit (RFC 2449 §8.1:
/// `[SYS/TEMP]`).
pub fn busy_reply(refused: crate::Refused) -> Vec<u8> {
    let mut out = Vec::new();
    let why = match refused {
        crate::Refused::Busy => "too many connections",
        crate::Refused::TooMany => "too many connections from your address",
        crate::Refused::TooFast => "too many connections a minute from your address",
        _ => "connections are accepted through the proxy only",
    };
    let status = Status::err(format!("{why}, try again later")).with_code(ResponseCode::SysTemp);
    let _ = status.encode(&mut out);
    out
}

/// When an adapter's streaming loop flushes: after every piece, except that a piece
/// shorter than the buffer (a file's last, usually) is held once, so the next read (its
/// end) can add the terminator and the status line, piece and terminator go out in one
/// write. At most two pieces wait unflushed, whatever the reader does.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlushPacing {
    held: bool,
}

impl FlushPacing {
    /// After a piece of `read` octets read into a buffer of `capacity`, for which
    /// [`stream_piece`] answered [`Streamed::Flush`]: whether to flush now.
    pub fn flush_now(&mut self, read: usize, capacity: usize) -> bool {
        if read < capacity && !self.held {
            self.held = true;
            return false;
        }
        self.held = false;
        true
    }
}

/// Where streaming a message stands after [`stream_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed {
    /// A piece went to the machine: flush it, then (unless the session closed, e.g. at
    /// the write deadline because the client stopped reading) call again.
    Flush,
    /// The message is over: ended, or aborted because the mailbox could not be read
    /// (the client gets `-ERR`, the session goes on).
    Done,
}

/// One step of streaming a message (RETR, TOP) from the mailbox's `reader` through the
/// machine: read a piece into `buf` and hand it over with [`stream_piece`]. The
/// adapter's loop only flushes between steps.
pub fn stream_step(
    server: &mut Server,
    now: Instant,
    reader: &mut dyn Read,
    buf: &mut [u8],
) -> Result<Streamed, Error> {
    let read = read_piece(reader, buf);
    stream_piece(server, now, read, buf)
}

/// One read of a message from the mailbox's `reader` into `buf`, retried when
/// interrupted: what [`stream_piece`] takes.
pub fn read_piece(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Hand one read of a message (`read` octets of `buf`, or the reader's error) to the
/// machine: end the message at the end of the reader or when the machine wants no more
/// (TOP's line count), abort it when the reader failed.
pub fn stream_piece(
    server: &mut Server,
    now: Instant,
    read: io::Result<usize>,
    buf: &[u8],
) -> Result<Streamed, Error> {
    let Ok(n) = read else {
        server.message_abort(now).map_err(|e| misuse(&e))?;
        return Ok(Streamed::Done);
    };
    if n > 0
        && server
            .message_data(now, &buf[..n])
            .map_err(|e| misuse(&e))?
    {
        return Ok(Streamed::Flush);
    }
    server.message_end(now).map_err(|e| misuse(&e))?;
    Ok(Streamed::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailproto_core::Machine;

    /// One message: `body`, read in pieces of 4 octets; with `fail_after` the reader
    /// fails once that many octets were given.
    struct Backend {
        body: &'static [u8],
        fail_after: Option<usize>,
    }

    struct Mailbox {
        body: &'static [u8],
        fail_after: Option<usize>,
    }

    struct Piecewise {
        body: &'static [u8],
        at: usize,
        fail_after: Option<usize>,
    }

    impl Read for Piecewise {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_after.is_some_and(|n| self.at >= n) {
                return Err(io::Error::other("disk gone"));
            }
            let n = buf.len().min(4).min(self.body.len() - self.at);
            buf[..n].copy_from_slice(&self.body[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Pop3Backend for Backend {
        type Mailbox = Mailbox;
        fn login(&self, _: LoginAttempt<'_>) -> Result<Mailbox, LoginError> {
            Ok(Mailbox {
                body: self.body,
                fail_after: self.fail_after,
            })
        }
    }

    impl Pop3Mailbox for Mailbox {
        fn list(&self) -> Vec<(u64, String)> {
            vec![(self.body.len() as u64, "uid-1".into())]
        }
        fn open(&mut self, _: usize) -> io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(Piecewise {
                body: self.body,
                at: 0,
                fail_after: self.fail_after,
            }))
        }
        fn delete(&mut self, _: &[usize]) -> io::Result<()> {
            Ok(())
        }
    }

    /// Log in, send `command`, stream what it asks for with [`stream_step`] (taking the
    /// output after every step, as an adapter's flush does), then NOOP: the whole
    /// transcript the client receives.
    fn session(backend: Backend, command: &str) -> String {
        let now = Instant::ZERO;
        let config = ServerConfig::default().with_plaintext_login(true);
        let mut server = Server::new(now, config);
        let mut session = Pop3Session::new(Arc::new(backend));
        let mut wire = Vec::new();
        let mut buf = [0u8; 64];
        let take = |server: &mut Server, wire: &mut Vec<u8>| {
            let mut out = Vec::new();
            while server.poll_transmit(&mut out) > 0 {}
            server.transmitted(now, out.len());
            wire.extend_from_slice(&out);
        };
        let input = format!("USER u\r\nPASS p\r\n{command}\r\nNOOP\r\n");
        server.feed(now, input.as_bytes());
        for _ in 0..100 {
            take(&mut server, &mut wire);
            let Some(event) = server.poll_event() else {
                break;
            };
            if let Next::Stream(mut reader) = session.handle(&mut server, now, event).unwrap() {
                while stream_step(&mut server, now, &mut *reader, &mut buf).unwrap()
                    == Streamed::Flush
                {
                    take(&mut server, &mut wire);
                }
            }
        }
        take(&mut server, &mut wire);
        String::from_utf8(wire).unwrap()
    }

    #[test]
    fn a_message_is_streamed_whole_and_the_session_goes_on() {
        let body = b"Subject: x\r\n\r\n.dot\r\nend\r\n";
        let wire = session(
            Backend {
                body,
                fail_after: None,
            },
            "RETR 1",
        );
        assert!(
            wire.ends_with("+OK 25 octets\r\nSubject: x\r\n\r\n..dot\r\nend\r\n.\r\n+OK\r\n"),
            "{wire:?}"
        );
    }

    #[test]
    fn top_stops_at_its_line_count() {
        let body = b"A: 1\r\n\r\nl1\r\nl2\r\nl3\r\n";
        let wire = session(
            Backend {
                body,
                fail_after: None,
            },
            "TOP 1 1",
        );
        assert!(wire.contains("A: 1\r\n\r\nl1\r\n.\r\n"), "{wire:?}");
        assert!(!wire.contains("l2"), "{wire:?}");
    }

    #[test]
    fn a_mailbox_that_fails_mid_message_aborts_it_and_the_session_closes() {
        let body = b"Subject: x\r\n\r\nmore than eight octets\r\n";
        let wire = session(
            Backend {
                body,
                fail_after: Some(8),
            },
            "RETR 1",
        );
        // Part of the message went out and then nothing: no terminator (that would make a
        // partial message look complete) and no answer to the NOOP (the session closed
        // without UPDATE).
        assert!(wire.ends_with("+OK 38 octets\r\nSubject:"), "{wire:?}");
    }

    /// A session as every adapter configures it (asks on), from `peer`: what the client
    /// typing `input` receives.
    fn asked_session<B: Pop3Backend>(backend: B, peer: Option<SocketAddr>, input: &str) -> String {
        let now = Instant::ZERO;
        let config = ServerConfig::default().with_plaintext_login(true);
        let service = Pop3Service::new(backend, config);
        let mut server = Server::new(now, service.session_config(false));
        let mut session = Pop3Session::new(service.backend()).with_peer(peer);
        let mut wire = Vec::new();
        server.feed(now, input.as_bytes());
        for _ in 0..100 {
            let mut out = Vec::new();
            while server.poll_transmit(&mut out) > 0 {}
            server.transmitted(now, out.len());
            wire.extend_from_slice(&out);
            let Some(event) = server.poll_event() else {
                break;
            };
            assert!(matches!(
                session.handle(&mut server, now, event).unwrap(),
                Next::Continue
            ));
        }
        String::from_utf8(wire).unwrap()
    }

    #[test]
    fn the_default_command_hook_allows_everything() {
        let backend = Backend {
            body: b"x\r\n",
            fail_after: None,
        };
        let wire = asked_session(
            backend,
            None,
            "CAPA\r\nUSER u\r\nPASS p\r\nSTAT\r\nLIST\r\nUIDL 1\r\nDELE 1\r\nRSET\r\nNOOP\r\n",
        );
        assert!(wire.contains("+OK send PASS\r\n"), "{wire}");
        assert!(wire.contains("+OK 1 3\r\n+OK 1 message (3 octets)\r\n1 3\r\n.\r\n"));
        assert!(
            wire.contains("+OK 1 uid-1\r\n+OK message 1 deleted\r\n"),
            "{wire}"
        );
        assert!(wire.ends_with("+OK\r\n"), "{wire}");
    }

    /// Refuses STAT, closes at DELE, and records what it was told.
    struct Strict {
        seen: std::sync::Mutex<Vec<String>>,
    }

    impl Pop3Backend for Strict {
        type Mailbox = Mailbox;
        fn login(&self, _: LoginAttempt<'_>) -> Result<Mailbox, LoginError> {
            unreachable!("the engine calls login_from")
        }
        fn login_from(
            &self,
            attempt: LoginAttempt<'_>,
            peer: Option<SocketAddr>,
        ) -> Result<Mailbox, LoginError> {
            let seen = format!("login {} from {peer:?}", attempt.user());
            self.seen.lock().unwrap().push(seen);
            Ok(Mailbox {
                body: b"x\r\n",
                fail_after: None,
            })
        }
        fn command(
            &self,
            context: &Pop3Context<'_>,
            command: &Command,
        ) -> Result<(), CommandRefusal> {
            let seen = format!(
                "{} {:?} {:?}",
                command.keyword(),
                context.user,
                context.peer
            );
            self.seen.lock().unwrap().push(seen);
            match command {
                Command::Stat => Err(CommandRefusal::Err(
                    Status::err("busy").with_code(ResponseCode::SysTemp),
                )),
                Command::Dele(_) => Err(CommandRefusal::Close(None)),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn the_backend_is_told_the_peer_and_decides_each_command() {
        let backend = Strict {
            seen: std::sync::Mutex::new(Vec::new()),
        };
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let service_backend = Arc::new(backend);
        // The service shares the backend: look at what it saw through the Arc.
        let now = Instant::ZERO;
        let config = ServerConfig::default().with_plaintext_login(true);
        let mut server = Server::new(now, Pop3Service::new((), config).session_config(false));
        let mut session = Pop3Session::new(service_backend.clone()).with_peer(Some(peer));
        server.feed(now, b"USER u\r\nPASS p\r\nSTAT\r\nDELE 1\r\nNOOP\r\n");
        let mut wire = Vec::new();
        while let Some(event) = {
            while server.poll_transmit(&mut wire) > 0 {}
            server.poll_event()
        } {
            let _ = session.handle(&mut server, now, event).unwrap();
        }
        while server.poll_transmit(&mut wire) > 0 {}
        let wire = String::from_utf8(wire).unwrap();
        assert!(
            wire.ends_with("+OK u's maildrop has 1 message (3 octets)\r\n-ERR [SYS/TEMP] busy\r\n"),
            "the DELE closed the session without an answer: {wire}"
        );
        assert_eq!(server.io(), mailproto_core::Io::Closed);
        let seen = service_backend.seen.lock().unwrap().clone();
        let peer = Some(peer);
        assert_eq!(
            seen,
            [
                format!("USER Some(\"u\") {peer:?}"),
                format!("login u from {peer:?}"),
                format!("STAT Some(\"u\") {peer:?}"),
                format!("DELE Some(\"u\") {peer:?}"),
            ]
        );
    }
}
