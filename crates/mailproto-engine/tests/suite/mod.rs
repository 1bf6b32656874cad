//! The adapter test suite, shared by `mailproto-std`, `mailproto-smol` and
//! `mailproto-tokio`: each crate implements [`Adapter`] for its adapter (the async ones
//! through [`aio::Aio`], with only an [`aio::Executor`] of their own) and expands
//! [`adapter_suite!`]. Every case runs
//! over real loopback sockets; interoperability cases talk to real peers (curl, Python,
//! swaks, Dovecot, aiosmtpd) through `mailproto-testkit`, which skips them when a peer is
//! missing unless `MAILPROTO_REQUIRE_PEERS=1`.
#![allow(dead_code)]

pub mod aio;
pub mod listener;
pub mod mem;
pub mod pop3;
pub mod proxy;
pub mod smtp;
pub mod timeouts;
pub mod tracing;
pub mod transport;
pub mod waiting;

use std::net::SocketAddr;

use mailproto_core::sasl::Mechanism;
use mailproto_engine::pop3_client::Pop3Options;
use mailproto_engine::smtp_client::{SendReport, SmtpOptions};
use mailproto_engine::tls::SelfSigned;
use mailproto_engine::{Error, ListenerOptions, Tap};

pub use mem::{MemBackend, MemSink, Stored};

use std::sync::{Arc, Mutex};

use mailproto_core::pop3::server::ServerConfig as Pop3Config;
use mailproto_core::smtp::server::ServerConfig as SmtpConfig;

/// A server started by an adapter; stopped on drop.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    pub stop: Box<dyn FnMut() + Send>,
}

impl Running {
    /// A server running on `thread`, listening on `addr`; stopping calls `shutdown` and
    /// waits for the thread.
    pub fn on_thread<T: Send + 'static>(
        addr: SocketAddr,
        shutdown: impl Fn() + Send + 'static,
        thread: std::thread::JoinHandle<T>,
    ) -> Self {
        let mut thread = Some(thread);
        Running {
            addr,
            stop: Box::new(move || {
                shutdown();
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        (self.stop)();
    }
}

/// A POP3 client session, blocking whatever the adapter.
pub trait Pop3Ops {
    fn login(&mut self, user: &str, password: &str) -> Result<(), Error>;
    fn apop(&mut self, user: &str, secret: &str) -> Result<(), Error>;
    fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), Error>;
    fn stat(&mut self) -> Result<(u32, u64), Error>;
    fn list(&mut self) -> Result<Vec<(u32, u64)>, Error>;
    fn uidl(&mut self) -> Result<Vec<(u32, String)>, Error>;
    fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Error>;
    fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, Error>;
    /// RETR of every message in `msgs`, pipelined.
    fn retr_many(&mut self, msgs: &[u32]) -> Result<Vec<Vec<u8>>, Error>;
    fn dele(&mut self, msg: u32) -> Result<(), Error>;
    fn rset(&mut self) -> Result<(), Error>;
    fn is_tls(&self) -> bool;
    fn peer_addr(&self) -> Option<SocketAddr>;
    fn quit(self: Box<Self>) -> Result<(), Error>;
}

/// An SMTP client session, blocking whatever the adapter.
pub trait SmtpOps {
    fn authenticate(
        &mut self,
        mechanism: Option<Mechanism>,
        user: &str,
        password: &str,
    ) -> Result<(), Error>;
    fn authenticate_forced(
        &mut self,
        mechanism: Mechanism,
        user: &str,
        password: &str,
    ) -> Result<(), Error>;
    fn send(&mut self, from: &str, to: &[&str], body: &[u8]) -> Result<SendReport, Error>;
    fn reset(&mut self) -> Result<(), Error>;
    fn is_tls(&self) -> bool;
    fn peer_addr(&self) -> Option<SocketAddr>;
    fn quit(self: Box<Self>) -> Result<(), Error>;
}

/// What an adapter offers the suite.
pub trait Adapter {
    /// For messages.
    const NAME: &'static str;

    /// Start our POP3 server over `backend` on a loopback port, offering STLS with
    /// `cert`; with `implicit_tls` every connection starts with TLS.
    fn pop3_server(backend: MemBackend, cert: &SelfSigned, implicit_tls: bool) -> Running {
        let config = Pop3Config::default().with_pipelining(true);
        Self::pop3_server_with(
            backend,
            config,
            cert,
            implicit_tls,
            ListenerOptions::default(),
        )
    }

    /// [`Adapter::pop3_server`] with the machine configuration `config` and listener
    /// limits.
    fn pop3_server_with(
        backend: MemBackend,
        config: Pop3Config,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running;

    /// Connect our POP3 client.
    fn pop3_connect(port: u16, options: Pop3Options) -> Result<Box<dyn Pop3Ops>, Error> {
        Self::pop3_connect_tapped(port, options, None)
    }

    /// Connect our POP3 client with every byte of the session shown to `tap`.
    fn pop3_connect_tapped(
        port: u16,
        options: Pop3Options,
        tap: Option<Tap>,
    ) -> Result<Box<dyn Pop3Ops>, Error>;

    /// Start our SMTP server on a loopback port with `config`, offering STARTTLS with
    /// `cert`, storing messages in `store` through [`MemSink`] (user `alice`).
    fn smtp_server(
        config: SmtpConfig,
        store: Arc<Mutex<Vec<Stored>>>,
        cert: &SelfSigned,
        implicit_tls: bool,
    ) -> Running {
        Self::smtp_server_with(
            config,
            store,
            cert,
            implicit_tls,
            ListenerOptions::default(),
        )
    }

    /// [`Adapter::smtp_server`] with listener limits.
    fn smtp_server_with(
        config: SmtpConfig,
        store: Arc<Mutex<Vec<Stored>>>,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running;

    /// Start our SMTP server with `config` and a handler per connection that waits at
    /// `gate` ([`waiting::Gated`], or [`waiting::AsyncGated`] for async adapters).
    fn smtp_gated_server(config: SmtpConfig, gate: waiting::Gate) -> Running;

    /// The adapter's pooled SMTP transport.
    fn smtp_transport(
        config: mailproto_engine::transport::SmtpConfig,
    ) -> Box<dyn transport::TransportOps>;

    /// Connect our SMTP client.
    fn smtp_connect(port: u16, options: SmtpOptions) -> Result<Box<dyn SmtpOps>, Error> {
        Self::smtp_connect_tapped(port, options, None)
    }

    /// Connect our SMTP client with every byte of the session shown to `tap`.
    fn smtp_connect_tapped(
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Box<dyn SmtpOps>, Error>;
}

/// A recorded session: each piece with its direction, in order.
pub type Record = Arc<Mutex<Vec<(mailproto_engine::Direction, Vec<u8>)>>>;

/// A tap that records the session: what was sent and what was received, in order.
pub fn recorder() -> (Tap, Record) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let tap: Tap = Box::new(move |direction, bytes: &[u8]| {
        sink.lock().unwrap().push((direction, bytes.to_vec()));
    });
    (tap, log)
}

/// All the bytes of one direction of a recorded session, as text.
pub fn recorded(
    log: &Mutex<Vec<(mailproto_engine::Direction, Vec<u8>)>>,
    direction: mailproto_engine::Direction,
) -> String {
    let bytes: Vec<u8> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(d, _)| *d == direction)
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Expand the whole suite for one adapter type.
#[macro_export]
macro_rules! adapter_suite {
    ($adapter:ty) => {
        $crate::pop3_cases!($adapter);
        $crate::smtp_cases!($adapter);
        $crate::listener_cases!($adapter);
        $crate::proxy_cases!($adapter);
        $crate::tracing_cases!($adapter);
        $crate::timeout_cases!($adapter);
        $crate::transport_cases!($adapter);
        $crate::waiting_cases!($adapter);
    };
}
