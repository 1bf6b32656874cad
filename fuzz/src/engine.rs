//! Driving the engine (`mailproto-engine`) as an adapter does, in memory: the session glue
//! of the servers ([`SmtpSession`](mailproto_engine::smtp_server::SmtpSession),
//! [`Pop3Session`](mailproto_engine::pop3_server::Pop3Session)) pumped on a virtual
//! clock, and the engine's own async driver (servers and client flows) polled with
//! `block_on` over a [`Wire`] on the [`Memory`] runtime. No sockets, no threads, no
//! timers: the runtime's sleeps never end, so deadlines only fire on the virtual clock.
//!
//! The checks compare what went over the wire with what the scripted application saw,
//! with models of the two protocols written from the RFCs ([`smtp_session`],
//! [`pop3_session`], [`smtp_client`], [`pop3_client`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use mailproto_core::Machine;
use mailproto_core::time::{Duration as MachineDuration, Instant};
use mailproto_engine::aio::{Runtime, Tls};

pub mod pop3_client;
pub mod pop3_session;
pub mod smtp_client;
pub mod smtp_session;

/// The virtual clock of a pumped session, moved by the fuzz input as [`crate::Clock`]
/// is (untimed without bytes; mostly short pauses, now and then one past every
/// deadline), but as an adapter lives through time: output is written as soon as it is
/// queued (so a reply due at a deadline is not lost to the write deadline), then each
/// deadline fires at its own instant.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    /// The time of every call the pump makes.
    pub now: Instant,
    steps: Script,
    timed: bool,
    /// Whether a deadline fired.
    pub fired: bool,
}

impl VirtualClock {
    /// A clock moved by `steps` (untimed when empty).
    pub fn new(steps: &[u8]) -> Self {
        VirtualClock {
            now: Instant::ZERO,
            steps: Script::new(steps),
            timed: !steps.is_empty(),
            fired: false,
        }
    }

    /// Move on by the next step, writing output and firing the deadlines due.
    pub fn tick<M: Machine>(&mut self, machine: &mut M, output: &mut Vec<u8>) {
        if self.timed {
            let b = u64::from(self.steps.byte());
            let target = self.now + MachineDuration::from_millis(b * b * 64);
            self.until(machine, target, output);
        }
    }

    /// Write output and fire every deadline due up to `target`, in order.
    pub fn until<M: Machine>(&mut self, machine: &mut M, target: Instant, output: &mut Vec<u8>) {
        loop {
            crate::take(machine, self.now, output);
            let Some(due) = machine.poll_timeout().filter(|&due| due <= target) else {
                break;
            };
            self.now = self.now.max(due);
            self.fired = true;
            machine.handle_timeout(self.now);
            assert_ne!(
                machine.poll_timeout(),
                Some(due),
                "a deadline handled stayed due"
            );
        }
        self.now = self.now.max(target);
    }
}

/// What went over a [`Wire`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traffic {
    /// The engine read these bytes.
    Read(Vec<u8>),
    /// The engine wrote these bytes.
    Wrote(Vec<u8>),
}

/// Everything a [`Wire`] saw, shared with the test after the engine dropped the stream.
#[derive(Debug, Default)]
pub struct WireLog {
    /// Reads and writes, in order.
    pub traffic: Vec<Traffic>,
    /// Whether a read met the end of the input.
    pub eof: bool,
    /// Whether the engine closed the stream.
    pub closed: bool,
}

impl WireLog {
    /// Every byte the engine read.
    pub fn read(&self) -> Vec<u8> {
        self.traffic
            .iter()
            .filter_map(|t| match t {
                Traffic::Read(b) => Some(b.as_slice()),
                Traffic::Wrote(_) => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// Every byte the engine wrote.
    pub fn written(&self) -> Vec<u8> {
        self.traffic
            .iter()
            .filter_map(|t| match t {
                Traffic::Wrote(b) => Some(b.as_slice()),
                Traffic::Read(_) => None,
            })
            .flatten()
            .copied()
            .collect()
    }
}

/// An in-memory connection: reads give the peer's bytes in chunks of the sizes given
/// (cycled; then the end of stream), writes take at most the next write size (cycled, 0
/// meaning all), so partial writes happen. Always ready: a driver polled with `block_on`
/// never waits. Writing after close panics.
#[derive(Debug)]
pub struct Wire {
    input: Vec<u8>,
    at: usize,
    reads: Vec<usize>,
    next_read: usize,
    writes: Vec<usize>,
    next_write: usize,
    log: Arc<Mutex<WireLog>>,
}

impl Wire {
    /// A connection whose peer sends `input`; the log is shared.
    pub fn new(input: &[u8], reads: Vec<usize>, writes: Vec<usize>) -> (Self, Arc<Mutex<WireLog>>) {
        let log = Arc::new(Mutex::new(WireLog::default()));
        let wire = Wire {
            input: input.to_vec(),
            at: 0,
            reads,
            next_read: 0,
            writes,
            next_write: 0,
            log: log.clone(),
        };
        (wire, log)
    }

    fn log(&self) -> std::sync::MutexGuard<'_, WireLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The next size of `sizes` (cycled), 0 when there are none.
fn cycle(sizes: &[usize], next: &mut usize) -> usize {
    if sizes.is_empty() {
        return 0;
    }
    let n = sizes[*next % sizes.len()];
    *next += 1;
    n
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let left = this.input.len() - this.at;
        if left == 0 {
            this.log().eof = true;
            return Poll::Ready(Ok(0));
        }
        let want = match cycle(&this.reads, &mut this.next_read) {
            0 => left,
            n => n,
        };
        let n = want.min(left).min(buf.len());
        buf[..n].copy_from_slice(&this.input[this.at..this.at + n]);
        let chunk = this.input[this.at..this.at + n].to_vec();
        this.at += n;
        this.log().traffic.push(Traffic::Read(chunk));
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        assert!(!this.log().closed, "a write after the stream was closed");
        let n = match cycle(&this.writes, &mut this.next_write) {
            0 => buf.len(),
            n => n.min(buf.len()),
        };
        if n > 0 {
            this.log().traffic.push(Traffic::Wrote(buf[..n].to_vec()));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.log().closed = true;
        Poll::Ready(Ok(()))
    }
}

/// The runtime of in-memory sessions: no network (every socket call fails), no TLS (every
/// handshake fails), and sleeps that never end, so an I/O call always wins its race
/// with a deadline (the [`Wire`] is always ready).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory;

fn no_network() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "no network in the fuzz runtime")
}

impl Runtime for Memory {
    type Tcp = Wire;
    type TcpListener = ();

    fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send {
        futures_lite::future::pending()
    }

    fn spawn(&self, _: impl Future<Output = ()> + Send + 'static) {
        panic!("a session spawned a task on the fuzz runtime");
    }

    async fn resolve(&self, _: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        Err(no_network())
    }

    async fn connect(&self, _: SocketAddr) -> io::Result<Wire> {
        Err(no_network())
    }

    async fn bind(&self, _: SocketAddr) -> io::Result<()> {
        Err(no_network())
    }

    fn local_addr(_: &()) -> io::Result<SocketAddr> {
        Err(no_network())
    }

    async fn accept(&self, _: &()) -> io::Result<(Wire, SocketAddr)> {
        Err(no_network())
    }

    fn peer_addr(_: &Wire) -> io::Result<SocketAddr> {
        Err(no_network())
    }

    fn tune(_: &Wire) {}
}

impl Tls<Wire> for Memory {
    type ServerTls = Wire;
    type ClientTls = Wire;

    async fn accept_tls(&self, _: Arc<rustls::ServerConfig>, _: Wire) -> io::Result<Wire> {
        Err(io::Error::other("no TLS in the fuzz runtime"))
    }

    async fn connect_tls(
        &self,
        _: Arc<rustls::ClientConfig>,
        _: rustls::pki_types::ServerName<'static>,
        _: Wire,
    ) -> io::Result<Wire> {
        Err(io::Error::other("no TLS in the fuzz runtime"))
    }
}

/// The decisions of a scripted handler or backend, owned (the engine wants `'static`
/// handlers): the same sequence as [`crate::Choices`] over the same bytes.
#[derive(Debug, Clone)]
pub struct Script {
    bytes: Vec<u8>,
    next: usize,
}

impl Script {
    /// Decisions from `bytes` (all 0 when empty).
    pub fn new(bytes: &[u8]) -> Self {
        Script {
            bytes: bytes.to_vec(),
            next: 0,
        }
    }

    /// The next decision byte.
    pub fn byte(&mut self) -> u8 {
        crate::decision(&self.bytes, &mut self.next)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
}

/// Lock a shared log, whatever a panicking holder left.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Write sizes from a header byte: 0 (whole writes) or partial writes of 1 to 7 octets.
pub fn write_sizes(byte: u8) -> Vec<usize> {
    match byte & 7 {
        0 | 1 => Vec::new(),
        n => vec![usize::from(n), 1, usize::from(n) * 3],
    }
}

/// The lines of `bytes` cut at CRLF: each complete line (without CRLF) and where the next
/// starts. `None` when no CRLF is left.
pub fn next_line(bytes: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(from..)?;
    let at = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..at], from + at + 2))
}

/// Whether `line` holds a CR or LF (a bare line ending inside a CRLF line).
pub fn has_bare(line: &[u8]) -> bool {
    line.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// Where a dot-stuffed body that starts at `from` (at a line start) ends: the body's
/// bytes (still stuffed, with their last CRLF) and where the terminator's line ends.
pub fn dot_body(bytes: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(from..)?;
    if rest.starts_with(b".\r\n") {
        return Some((&rest[..0], from + 3));
    }
    let at = rest.windows(5).position(|w| w == b"\r\n.\r\n")?;
    Some((&rest[..at + 2], from + at + 5))
}

/// A stuffed body (CRLF lines, as [`dot_body`] gives) unstuffed: a leading dot of each
/// line removed.
pub fn unstuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// Whether every line of a stuffed body that starts with a dot starts with two (RFC
/// 5321 §4.5.2, RFC 1939 §3: a single dot there would end the body).
pub fn well_stuffed(body: &[u8]) -> bool {
    body.split_inclusive(|&b| b == b'\n')
        .all(|line| !line.starts_with(b".") || line.starts_with(b".."))
}

/// With `FUZZ_DEBUG` set, print both directions of a session (to read a crash).
pub fn debug(peer: &[u8], output: &[u8]) {
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!(
            "--- peer:\n{}",
            String::from_utf8_lossy(peer).escape_debug()
        );
        eprintln!("--- engine:\n{}", String::from_utf8_lossy(output));
    }
}
