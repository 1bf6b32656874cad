//! Sending mail the way applications do: a transport configured once (a builder or a
//! URL), shared between threads and tasks, keeping a pool of SMTP sessions to its relay,
//! behind a [`Transport`] trait (blocking) and an [`AsyncTransport`] trait (async) with
//! test doubles: [`StubTransport`] records what would be sent, [`FileTransport`] writes
//! `.eml` files.
//!
//! What is not I/O lives here: the configuration ([`SmtpConfig`]), the pool's
//! bookkeeping ([`Idle`]: which idle session to reuse, which to close, on the caller's
//! clock), and the retry rule ([`retry_safe`]). Each adapter's `SmtpTransport` is the
//! I/O around it.
//!
//! # Retry safety
//!
//! A message whose end of data (the final `.`, or `BDAT … LAST`) went out without a
//! reply may have been delivered: it is never sent again by the transport, and the
//! error says the outcome is unknown ([`Error::OutcomeUnknown`]). Only a failure before
//! the end of data on a reused session (the relay closed it while idle, a `421`) is
//! retried, once, on a new connection.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproto_core::Instant;
use mailproto_core::sasl::Mechanism;
use mailproto_core::smtp::Host;

use crate::Error;
use crate::message::Message;
use crate::pop3_client::Security;
use crate::smtp_client::{SendReport, SmtpOptions};
use crate::tls::ClientTls;

/// How a transport reaches its relay: address, TLS, credentials, EHLO name, timeouts and
/// the pool. Build it with [`SmtpConfig::relay`] (submission, port 587, STARTTLS
/// required), [`SmtpConfig::relay_tls`] (implicit TLS, port 465), [`SmtpConfig::plain`]
/// (no TLS, port 25: a local server) or [`SmtpConfig::from_url`], then the `with_`
/// methods.
#[derive(Clone)]
#[non_exhaustive]
pub struct SmtpConfig {
    /// The relay's host name or address (certificates are checked against it).
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// The session options (TLS mode and roots, EHLO name, timeouts, BDAT).
    pub options: SmtpOptions,
    /// AUTH credentials, if the relay needs them.
    pub credentials: Option<(String, String)>,
    /// The AUTH mechanism; `None`: the best one the relay offers.
    pub mechanism: Option<Mechanism>,
    /// The pool of sessions.
    pub pool: PoolOptions,
}

impl fmt::Debug for SmtpConfig {
    /// The password is not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("options", &self.options)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("mechanism", &self.mechanism)
            .field("pool", &self.pool)
            .finish()
    }
}

impl SmtpConfig {
    /// A submission relay (RFC 6409): port 587, STARTTLS required.
    pub fn relay(host: &str) -> Self {
        Self::new(host, 587, Security::StartTls)
    }

    /// A submission relay with implicit TLS (RFC 8314 §3.3): port 465.
    pub fn relay_tls(host: &str) -> Self {
        Self::new(host, 465, Security::ImplicitTls)
    }

    /// A server without TLS, port 25 (a local server or a test; credentials are then
    /// refused by the client, as they would travel in the clear).
    pub fn plain(host: &str) -> Self {
        Self::new(host, 25, Security::Plain)
    }

    fn new(host: &str, port: u16, security: Security) -> Self {
        let options = SmtpOptions::default().with_security(security);
        SmtpConfig {
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            options,
            credentials: None,
            mechanism: None,
            pool: PoolOptions::default(),
        }
    }

    /// From a URL: `smtp://[user[:password]@]host[:port][?tls=required|opportunistic|none]`
    /// (default port 587, STARTTLS required; `tls=none` with port 25 by default),
    /// `smtps://[user[:password]@]host[:port]` (implicit TLS, default port 465). User
    /// and password are percent-decoded. More query keys: `ehlo=NAME` (the EHLO name),
    /// `timeout=SECONDS` (connect timeout), `auth=MECHANISM` (e.g. `PLAIN`),
    /// `pool=N` (most sessions open at once), `bdat=true` (BDAT when offered).
    pub fn from_url(url: &str) -> Result<Self, UrlError> {
        let parsed = url::Url::parse(url).map_err(|e| UrlError(format!("{url:?}: {e}")))?;
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(UrlError(format!("{url:?}: no host"))),
        };
        let mut config = match parsed.scheme() {
            "smtp" => Self::relay(&host),
            "smtps" => Self::relay_tls(&host),
            other => {
                return Err(UrlError(format!(
                    "{url:?}: scheme {other:?}: use smtp:// (STARTTLS) or smtps:// (implicit TLS)"
                )));
            }
        };
        let mut port_default = true;
        if let Some(port) = parsed.port() {
            config.port = port;
            port_default = false;
        }
        for (key, value) in parsed.query_pairs() {
            match (&*key, &*value) {
                ("tls", "required") if parsed.scheme() == "smtp" => {
                    config.options.security = Security::StartTls;
                }
                ("tls", "opportunistic") if parsed.scheme() == "smtp" => {
                    config.options.security = Security::StartTlsOpportunistic;
                }
                ("tls", "none") if parsed.scheme() == "smtp" => {
                    config.options.security = Security::Plain;
                    if port_default {
                        config.port = 25;
                    }
                }
                ("tls", other) => {
                    return Err(UrlError(format!(
                        "tls={other:?}: with smtp:// use required, opportunistic or none; \
                         smtps:// is always TLS"
                    )));
                }
                ("ehlo", name) => {
                    let host = crate::smtp_client::host_name(name)
                        .map_err(|e| UrlError(format!("ehlo={name:?}: {e}")))?;
                    config.options.config.hostname = host;
                }
                ("timeout", secs) => {
                    let secs: u64 = secs
                        .parse()
                        .map_err(|_| UrlError(format!("timeout={secs:?}: seconds expected")))?;
                    config.options.connect_timeout = Duration::from_secs(secs);
                }
                ("auth", name) => {
                    let mechanism = name
                        .parse()
                        .map_err(|_| UrlError(format!("auth={name:?}: unknown mechanism")))?;
                    config.mechanism = Some(mechanism);
                }
                ("pool", n) => {
                    config.pool.max_connections = n
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| UrlError(format!("pool={n:?}: a count above 0")))?;
                }
                ("bdat", b) => config.options.prefer_bdat = b == "true" || b == "1",
                (other, _) => return Err(UrlError(format!("unknown URL parameter {other:?}"))),
            }
        }
        if !parsed.username().is_empty() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| UrlError("user or password: not UTF-8".into()))
            };
            let user = decode(parsed.username())?;
            let password = decode(parsed.password().unwrap_or(""))?;
            config.credentials = Some((user, password));
        }
        Ok(config)
    }

    /// Authenticate as `user` (the mechanism: the best the relay offers over TLS).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Use this AUTH mechanism.
    pub fn with_mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Connect to this port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// TLS use (e.g. [`Security::StartTlsOpportunistic`]).
    pub fn with_security(mut self, security: Security) -> Self {
        self.options.security = security;
        self
    }

    /// How the relay's certificate is checked (the roots are loaded once per
    /// `ClientTls`, shared by its clones).
    pub fn with_tls(mut self, tls: ClientTls) -> Self {
        self.options.tls = tls;
        self
    }

    /// The name sent with EHLO (default `localhost`: set it to this host's name).
    pub fn with_ehlo_name(mut self, name: Host) -> Self {
        self.options.config.hostname = name;
        self
    }

    /// The whole session options.
    pub fn with_options(mut self, options: SmtpOptions) -> Self {
        self.options = options;
        self
    }

    /// The pool's limits.
    pub fn with_pool(mut self, pool: PoolOptions) -> Self {
        self.pool = pool;
        self
    }
}

/// A URL that [`SmtpConfig::from_url`] cannot use; the text says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SMTP URL: {}", self.0)
    }
}

impl std::error::Error for UrlError {}

/// The pool of SMTP sessions a transport keeps to its relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Sessions open at once, at most (busy and idle); default 4.
    pub max_connections: usize,
    /// Idle sessions kept, at most; default 4.
    pub max_idle: usize,
    /// An idle session older than this is closed (QUIT) instead of reused; default 60 s
    /// (servers close idle clients after some minutes: RFC 5321 §4.5.3.2.7 gives 5).
    pub idle_timeout: Duration,
    /// Messages sent over one session before it is closed; default 100 (many relays
    /// limit messages per connection).
    pub max_messages: usize,
    /// A send waits at most this long for a session when `max_connections` are busy;
    /// default 30 s.
    pub wait: Duration,
    /// A session idle for longer than this is checked with `RSET` before reuse (a
    /// shorter idle is only checked for a `421` or close that arrived meanwhile);
    /// default 5 s.
    pub check_after: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 4,
            max_idle: 4,
            idle_timeout: Duration::from_secs(60),
            max_messages: 100,
            wait: Duration::from_secs(30),
            check_after: Duration::from_secs(5),
        }
    }
}

impl PoolOptions {
    /// No reuse: a new session per message, closed after it.
    pub fn none() -> Self {
        PoolOptions {
            max_idle: 0,
            ..PoolOptions::default()
        }
    }

    /// Sessions open at once, at most.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Idle sessions kept, at most.
    pub fn with_max_idle(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }

    /// Idle sessions older than this are closed.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Messages over one session, at most.
    pub fn with_max_messages(mut self, n: usize) -> Self {
        self.max_messages = n.max(1);
        self
    }

    /// How long a send waits for a free session.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Idle time after which a session is checked with `RSET` before reuse.
    pub fn with_check_after(mut self, after: Duration) -> Self {
        self.check_after = after;
        self
    }
}

/// A session put back into the pool.
#[derive(Debug)]
struct Parked<C> {
    session: C,
    since: Instant,
    sent: usize,
}

/// A session taken from the pool for one message.
#[derive(Debug)]
pub struct Reused<C> {
    /// The session.
    pub session: C,
    /// Messages it has sent so far.
    pub sent: usize,
    /// Whether it was idle long enough to be checked with `RSET` first.
    pub check: bool,
}

/// The pool's bookkeeping, on the caller's clock: the idle sessions (most recently used
/// first) and how many sessions are open. The adapters keep it under a lock and do the
/// I/O (connect, check, QUIT) outside it.
#[derive(Debug)]
pub struct Idle<C> {
    options: PoolOptions,
    parked: VecDeque<Parked<C>>,
    open: usize,
}

/// What a send does next, from [`Idle::take`].
#[derive(Debug)]
pub enum Take<C> {
    /// Reuse this idle session.
    Reuse(Reused<C>),
    /// Open a new session (counted as open from now on; give it back with
    /// [`Idle::put`] or report it gone with [`Idle::gone`]).
    Open,
    /// Every session is busy: wait for one to be given back.
    Wait,
}

impl<C> Idle<C> {
    /// An empty pool with these limits.
    pub fn new(options: PoolOptions) -> Self {
        Idle {
            options,
            parked: VecDeque::new(),
            open: 0,
        }
    }

    /// The limits.
    pub fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// Sessions open (busy or idle).
    pub fn open(&self) -> usize {
        self.open
    }

    /// Sessions idle.
    pub fn idle(&self) -> usize {
        self.parked.len()
    }

    /// A session for one message at `now`; sessions idle past the idle timeout are
    /// handed to `close` (no longer counted as open).
    pub fn take(&mut self, now: Instant, mut close: impl FnMut(C)) -> Take<C> {
        for session in self.expire(now) {
            close(session);
        }
        if let Some(p) = self.parked.pop_front() {
            let idle = now.saturating_duration_since(p.since);
            return Take::Reuse(Reused {
                session: p.session,
                sent: p.sent,
                check: idle >= self.options.check_after,
            });
        }
        if self.open < self.options.max_connections.max(1) {
            self.open += 1;
            Take::Open
        } else {
            Take::Wait
        }
    }

    /// Room for a new session, not an idle one (a retry wants a fresh connection): an
    /// idle session is handed to `close` to make room when every slot is taken.
    pub fn take_fresh(&mut self, now: Instant, mut close: impl FnMut(C)) -> Take<C> {
        for session in self.expire(now) {
            close(session);
        }
        if self.open < self.options.max_connections.max(1) {
            self.open += 1;
            return Take::Open;
        }
        match self.parked.pop_back() {
            // One closed, one opened: as many open as before.
            Some(p) => {
                close(p.session);
                Take::Open
            }
            None => Take::Wait,
        }
    }

    /// Give back a session that has sent `sent` messages and is ready for another, at
    /// `now`. Returns it when it must be closed instead (its message limit, or the idle
    /// limit reached); it then no longer counts as open.
    pub fn put(&mut self, session: C, sent: usize, now: Instant) -> Option<C> {
        if sent >= self.options.max_messages || self.parked.len() >= self.options.max_idle {
            self.open = self.open.saturating_sub(1);
            return Some(session);
        }
        self.parked.push_front(Parked {
            session,
            since: now,
            sent,
        });
        None
    }

    /// A session taken (or a slot from [`Take::Open`]) is gone: failed or closed.
    pub fn gone(&mut self) {
        self.open = self.open.saturating_sub(1);
    }

    /// The idle sessions past the idle timeout at `now`, removed.
    pub fn expire(&mut self, now: Instant) -> Vec<C> {
        let timeout = self.options.idle_timeout;
        let mut expired = Vec::new();
        while let Some(p) = self.parked.back() {
            if now.saturating_duration_since(p.since) < timeout {
                break;
            }
            if let Some(p) = self.parked.pop_back() {
                expired.push(p.session);
                self.open = self.open.saturating_sub(1);
            }
        }
        expired
    }

    /// Every idle session, removed (the transport is closing).
    pub fn drain(&mut self) -> Vec<C> {
        let drained: Vec<C> = self.parked.drain(..).map(|p| p.session).collect();
        self.open = self.open.saturating_sub(drained.len());
        drained
    }
}

/// What every adapter's transport keeps: the configuration and the pool under its lock,
/// with the pool's clock.
#[derive(Debug)]
pub struct Shared<C> {
    config: SmtpConfig,
    pool: Mutex<Idle<C>>,
    origin: std::time::Instant,
}

impl<C> Shared<C> {
    /// For the relay `config` names, with an empty pool.
    pub fn new(config: SmtpConfig) -> Self {
        Shared {
            pool: Mutex::new(Idle::new(config.pool)),
            config,
            origin: std::time::Instant::now(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// The pool, locked (a poisoned lock is taken as it is: its state stays consistent).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Idle<C>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pool's clock now.
    pub fn now(&self) -> Instant {
        let elapsed = self.origin.elapsed();
        Instant::from_millis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }

    /// Sessions open (busy or idle) and idle.
    pub fn sessions(&self) -> (usize, usize) {
        let pool = self.lock();
        (pool.open(), pool.idle())
    }

    /// [`Idle::take`] (or [`Idle::take_fresh`] when `fresh`) under `pool`, now; with
    /// the sessions that expired, for the caller to close outside the lock.
    pub fn take(&self, pool: &mut Idle<C>, fresh: bool) -> (Take<C>, Vec<C>) {
        let mut expired = Vec::new();
        let now = self.now();
        let take = if fresh {
            pool.take_fresh(now, |c| expired.push(c))
        } else {
            pool.take(now, |c| expired.push(c))
        };
        (take, expired)
    }

    /// [`Idle::put`] now.
    pub fn put(&self, session: C, sent: usize) -> Option<C> {
        let now = self.now();
        self.lock().put(session, sent, now)
    }
}

/// Whether a send that failed with `error` may be tried again on a new session: only
/// when the end of data was not sent (`data_ended` false) and the failure is the
/// session's, not the relay's verdict on the message (a `4xx`/`5xx` to MAIL, RCPT or
/// DATA is an answer and is returned as it is; a session that closed under MAIL, a
/// `421`, an I/O error or timeout before the end of data is retried).
pub fn retry_safe(error: &Error, data_ended: bool) -> bool {
    if data_ended {
        return false;
    }
    match error {
        Error::Rejected(crate::Refusal::Smtp { command, .. }) => *command == "session",
        Error::Rejected(_)
        | Error::RecipientsRejected(_)
        | Error::Unsupported(_)
        | Error::Message(_) => false,
        Error::OutcomeUnknown(_) => false,
        _ => true,
    }
}

/// The error of a send that failed after its end of data went out: the relay may have
/// delivered it, so it is not sent again.
pub fn outcome_unknown(error: Error, data_ended: bool) -> Error {
    match error {
        e @ (Error::Rejected(_) | Error::RecipientsRejected(_)) => e,
        e if data_ended => Error::OutcomeUnknown(Box::new(e)),
        e => e,
    }
}

/// Sends messages, blocking. Implemented by each adapter's SMTP transport and by the
/// test doubles here, so an application's code can take `&dyn Transport` or
/// `impl Transport` and its tests a [`StubTransport`].
pub trait Transport: Send + Sync {
    /// Send `message` to its envelope's recipients.
    fn send(&self, message: &Message) -> Result<SendReport, Error>;
}

/// Sends messages, async. See [`Transport`].
pub trait AsyncTransport: Send + Sync {
    /// Send `message` to its envelope's recipients.
    fn send(&self, message: &Message) -> impl Future<Output = Result<SendReport, Error>> + Send;
}

/// A transport that sends nothing: it records each message (envelope and bytes) and
/// answers as told, for an application's tests. Clones share the record.
#[derive(Clone, Default)]
pub struct StubTransport {
    sent: Arc<Mutex<Vec<Message>>>,
    fail: Option<Arc<FailWhen>>,
}

type FailWhen = dyn Fn(&Message) -> Option<Error> + Send + Sync;

impl fmt::Debug for StubTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StubTransport")
            .field("sent", &self.sent.lock().map(|s| s.len()).unwrap_or(0))
            .field("failing", &self.fail.is_some())
            .finish()
    }
}

impl StubTransport {
    /// A stub that accepts every message for every recipient.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stub that answers `error` where `fail` returns one (e.g. a refused recipient),
    /// and accepts the rest.
    pub fn failing(fail: impl Fn(&Message) -> Option<Error> + Send + Sync + 'static) -> Self {
        StubTransport {
            sent: Arc::default(),
            fail: Some(Arc::new(fail)),
        }
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, message: &Message) -> Result<SendReport, Error> {
        if let Some(e) = self.fail.as_ref().and_then(|f| f(message)) {
            return Err(e);
        }
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.clone());
        Ok(crate::smtp_client::accepted_report(message.envelope()))
    }
}

impl Transport for StubTransport {
    fn send(&self, message: &Message) -> Result<SendReport, Error> {
        self.record(message)
    }
}

impl AsyncTransport for StubTransport {
    fn send(&self, message: &Message) -> impl Future<Output = Result<SendReport, Error>> + Send {
        let result = self.record(message);
        async move { result }
    }
}

/// A transport that writes each message to a directory as `NAME.eml` (the bytes that
/// would be sent: CRLF line endings, no `Bcc:`), with its envelope beside it in
/// `NAME.envelope` (`MAIL FROM:<…>` and one `RCPT TO:<…>` per line). Files are written
/// under a temporary name and renamed, so a reader never sees half a message.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl FileTransport {
    /// Write into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FileTransport {
            dir,
            counter: Arc::default(),
        })
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&self, message: &Message) -> Result<SendReport, Error> {
        use std::sync::atomic::Ordering;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.{:09}.{}.{n}",
            stamp.as_secs(),
            stamp.subsec_nanos(),
            std::process::id()
        );
        let envelope = message.envelope();
        let mut listing = format!("MAIL FROM:{}\r\n", envelope.from);
        for (to, _) in &envelope.recipients {
            listing.push_str(&format!("RCPT TO:{to}\r\n"));
        }
        for (ext, bytes) in [("envelope", listing.as_bytes()), ("eml", message.bytes())] {
            let tmp = self.dir.join(format!(".{name}.{ext}.tmp"));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, self.dir.join(format!("{name}.{ext}")))?;
        }
        Ok(crate::smtp_client::accepted_report(envelope))
    }
}

impl Transport for FileTransport {
    fn send(&self, message: &Message) -> Result<SendReport, Error> {
        self.write(message)
    }
}

impl AsyncTransport for FileTransport {
    fn send(&self, message: &Message) -> impl Future<Output = Result<SendReport, Error>> + Send {
        let this = self.clone();
        let message = message.clone();
        blocking::unblock(move || this.write(&message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::ZERO;

    fn secs(n: u64) -> Instant {
        T0 + mailproto_core::time::Duration::from_secs(n)
    }

    #[test]
    fn reuse_most_recent_first_and_bounded_open() {
        let options = PoolOptions::default().with_max_connections(2);
        let mut pool: Idle<&str> = Idle::new(options);
        assert!(matches!(pool.take(T0, drop), Take::Open));
        assert!(matches!(pool.take(T0, drop), Take::Open));
        assert!(matches!(pool.take(T0, drop), Take::Wait));
        assert_eq!(pool.put("a", 1, secs(1)), None);
        assert_eq!(pool.put("b", 1, secs(2)), None);
        let Take::Reuse(r) = pool.take(secs(3), drop) else {
            panic!("an idle session");
        };
        assert_eq!((r.session, r.sent, r.check), ("b", 1, false));
        pool.gone();
        assert_eq!(pool.open(), 1);
        assert!(matches!(
            pool.take(secs(3), drop),
            Take::Reuse(Reused { session: "a", .. })
        ));
        assert!(matches!(pool.take(secs(3), drop), Take::Open));
    }

    #[test]
    fn idle_timeout_message_limit_and_check() {
        let options = PoolOptions::default()
            .with_idle_timeout(Duration::from_secs(60))
            .with_max_messages(3)
            .with_check_after(Duration::from_secs(5));
        let mut pool: Idle<&str> = Idle::new(options);
        assert!(matches!(pool.take(T0, drop), Take::Open));
        assert_eq!(pool.put("a", 3, T0), Some("a"), "message limit");
        assert_eq!(pool.open(), 0);
        assert!(matches!(pool.take(T0, drop), Take::Open));
        assert_eq!(pool.put("b", 1, T0), None);
        let Take::Reuse(r) = pool.take(secs(10), drop) else {
            panic!("reuse");
        };
        assert!(r.check, "idle 10 s: checked with RSET first");
        assert_eq!(pool.put(r.session, 2, secs(10)), None);
        let mut closed = Vec::new();
        assert!(matches!(
            pool.take(secs(70), |s| closed.push(s)),
            Take::Open
        ));
        assert_eq!(closed, ["b"], "idle past the timeout: closed, not reused");
        assert_eq!(pool.open(), 1);
    }

    #[test]
    fn max_idle_zero_keeps_nothing() {
        let mut pool: Idle<&str> = Idle::new(PoolOptions::none());
        assert!(matches!(pool.take(T0, drop), Take::Open));
        assert_eq!(pool.put("a", 1, T0), Some("a"));
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn only_failures_before_the_end_of_data_are_retried() {
        let io = || Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(retry_safe(&io(), false));
        assert!(!retry_safe(&io(), true));
        assert!(matches!(
            outcome_unknown(io(), true),
            Error::OutcomeUnknown(_)
        ));
        assert!(matches!(outcome_unknown(io(), false), Error::Io(_)));
        let reply = mailproto_core::smtp::Reply::new(
            mailproto_core::smtp::ReplyCode::new(550).unwrap(),
            None,
            "no",
        );
        let refused = crate::smtp_client::refused("MAIL", reply.clone());
        assert!(!retry_safe(&refused, false), "an answer is not retried");
        let closing = crate::smtp_client::refused("session", reply);
        assert!(retry_safe(&closing, false), "a 421 while idle is");
    }

    #[test]
    fn urls() {
        let c = SmtpConfig::from_url("smtps://alice:p%40ss@mail.example.org").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("mail.example.org", 465));
        assert_eq!(c.options.security, Security::ImplicitTls);
        assert_eq!(
            c.credentials,
            Some(("alice".to_string(), "p@ss".to_string()))
        );
        let c = SmtpConfig::from_url("smtp://[::1]:2525?tls=opportunistic&ehlo=me.example&pool=2")
            .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 2525));
        assert_eq!(c.options.security, Security::StartTlsOpportunistic);
        assert_eq!(c.pool.max_connections, 2);
        assert_eq!(
            c.options.config.hostname,
            crate::smtp_client::host_name("me.example").unwrap()
        );
        let c = SmtpConfig::from_url("smtp://localhost?tls=none").unwrap();
        assert_eq!((c.port, c.options.security), (25, Security::Plain));
        let c = SmtpConfig::from_url("smtp://relay.example").unwrap();
        assert_eq!((c.port, c.options.security), (587, Security::StartTls));
        assert!(format!("{c:?}").contains("relay.example"));
        let secret = SmtpConfig::from_url("smtp://u:hunter2@h").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        for bad in [
            "http://x",
            "smtp://x?tls=maybe",
            "smtps://x?tls=none",
            "smtp://x?frobnicate=1",
            "smtp://x?pool=0",
            "smtp://",
        ] {
            assert!(SmtpConfig::from_url(bad).is_err(), "{bad}");
        }
    }
}
