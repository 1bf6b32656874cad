//! The one async driver loop, for every machine, runtime and futures-io stream: write what
//! `poll_transmit` gives and report it with `transmitted`, hand events out, read and feed
//! only when the machine wants input, bound every read, write and TLS handshake by the
//! machine's `poll_timeout()` with a timer and call `handle_timeout` when it passes, stop
//! at `Closed`.
//!
//! The driver's clock starts at [`Instant::ZERO`] when the driver is made: create the
//! machine at `Instant::ZERO` just before.

use std::io;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mailproto_core::{Instant, Io, Machine};

use super::{Tls, with_timeout};
use crate::adapter::{HANDSHAKE_TIMEOUT, IDLE_READ_BUF, READ_BUF, handshake_error, is_disconnect};
use crate::{Direction, Error, Tap, TlsRole};

/// A stream in plaintext or inside TLS.
enum Stream<S, R: Tls<S>> {
    Plain(S),
    ServerTls(Box<R::ServerTls>),
    ClientTls(Box<R::ClientTls>),
    /// Only while switching.
    Gone,
}

impl<S, R: Tls<S>> std::fmt::Debug for Stream<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Plain",
            Stream::ServerTls(_) => "ServerTls",
            Stream::ClientTls(_) => "ClientTls",
            Stream::Gone => "Gone",
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, R: Tls<S>> Stream<S, R> {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::ServerTls(s) => s.read(buf).await,
            Stream::ClientTls(s) => s.read(buf).await,
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf).await,
            Stream::ServerTls(s) => s.write(buf).await,
            Stream::ClientTls(s) => s.write(buf).await,
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush().await,
            Stream::ServerTls(s) => s.flush().await,
            Stream::ClientTls(s) => s.flush().await,
            Stream::Gone => Ok(()),
        }
    }

    async fn close(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.close().await,
            Stream::ServerTls(s) => s.close().await,
            Stream::ClientTls(s) => s.close().await,
            Stream::Gone => Ok(()),
        }
    }
}

/// Drives one machine over one async stream on the runtime `R`.
///
/// [`Driver::next_event`] is the whole loop, as in the blocking adapter: it flushes
/// output, returns the next event, and otherwise does what [`Machine::io`] asks.
pub struct Driver<M: Machine, S, R: Tls<S>> {
    machine: M,
    stream: Stream<S, R>,
    runtime: R,
    tls: TlsRole,
    out: Vec<u8>,
    /// The read buffer while nothing is in flight ([`IDLE_READ_BUF`]).
    small: [u8; IDLE_READ_BUF],
    /// The large read buffer, held only while reads find data ready.
    big: Option<Box<[u8]>>,
    closed: bool,
    /// The machine's clock: [`Instant::ZERO`] is when the driver was made.
    origin: std::time::Instant,
    /// Sees every byte written and read.
    tap: Option<Tap>,
    /// The peer's address, when the stream is a socket.
    peer: Option<std::net::SocketAddr>,
    /// Closed when the server goes down: the machine is then told to say goodbye.
    closing: Option<(Told, Goodbye<M>)>,
    /// I/O calls left before the session yields to the executor (see [`Driver::cooperate`]).
    budget: u32,
}

impl<M: Machine + std::fmt::Debug, S, R: Tls<S>> std::fmt::Debug for Driver<M, S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("machine", &self.machine)
            .field("stream", &self.stream)
            .field("closed", &self.closed)
            .field("tapped", &self.tap.is_some())
            .finish_non_exhaustive()
    }
}

/// Completes when a [`Closing`] closes: made once per session, polled at every wait for
/// input (a fresh `recv()` per read would register a new listener each time).
type Told = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Closed by a listener when its sessions must end: see [`Driver::set_closing`].
pub type Closing = async_channel::Receiver<()>;

/// A machine's goodbye: its `shutdown`.
pub type Goodbye<M> = fn(&mut M, Instant);

/// What ended a wait for input.
enum Woke {
    Read(Option<io::Result<usize>>),
    Closing,
}

/// I/O calls a session makes before it yields to the executor once.
const IO_BUDGET: u32 = 32;

impl<M: Machine, S: AsyncRead + AsyncWrite + Unpin, R: Tls<S>> Driver<M, S, R> {
    /// Drive `machine` over a plaintext stream on `runtime`; `tls` is used if the machine
    /// asks for STARTTLS/STLS.
    pub fn new(runtime: R, mut machine: M, stream: S, tls: TlsRole) -> Self {
        crate::trace::start_transcript(&mut machine);
        Driver {
            machine,
            stream: Stream::Plain(stream),
            runtime,
            tls,
            out: Vec::new(),
            small: [0; IDLE_READ_BUF],
            big: None,
            closed: false,
            origin: std::time::Instant::now(),
            budget: IO_BUDGET,
            tap: None,
            peer: None,
            closing: None,
        }
    }

    /// A read or write that is ready at once does not return to the executor, so a
    /// session whose peer keeps the socket busy would keep its thread and starve the
    /// other sessions (and their timers) on it: every [`IO_BUDGET`] calls it yields.
    async fn cooperate(&mut self) {
        self.budget -= 1;
        if self.budget == 0 {
            self.budget = IO_BUDGET;
            futures_lite::future::yield_now().await;
        }
    }

    /// The time now on the machine's clock, to pass to its calls.
    pub fn now(&self) -> Instant {
        clock(self.origin)
    }

    /// How long an I/O call may wait: until the machine's next deadline, or without
    /// limit.
    fn wait_for(&self) -> Option<Duration> {
        self.machine
            .poll_timeout()
            .map(|due| due.saturating_duration_since(self.now()))
    }

    /// Drive `machine` over implicit TLS (ports 465 / 995): the handshake runs first.
    pub async fn new_tls(runtime: R, machine: M, stream: S, tls: TlsRole) -> Result<Self, Error> {
        let mut driver = Self::new(runtime, machine, stream, tls);
        driver.start_tls().await?;
        Ok(driver)
    }

    /// Run the implicit-TLS handshake now (for a driver made with [`Driver::new`] and
    /// given a tap first, so the tap sees the session from its start).
    pub async fn start_tls(&mut self) -> Result<(), Error> {
        // Boxed here and below: the handshake's state (rustls) is several KiB, and held
        // inline it would make every session's task that large, idle ones too.
        Box::pin(self.handshake()).await
    }

    /// Show every byte written and read to `tap` (inside TLS: the plaintext).
    pub fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    /// When `closing` closes (the listener's grace period is over), call `goodbye` on the
    /// machine at its next wait for input (its `shutdown`: the protocol's goodbye, then
    /// the close).
    pub fn set_closing(&mut self, closing: Closing, goodbye: Goodbye<M>) {
        let told = Box::pin(async move {
            let _ = closing.recv().await;
        });
        self.closing = Some((told, goodbye));
    }

    /// Record the peer's address (the stream may not know it).
    pub fn set_peer(&mut self, peer: Option<std::net::SocketAddr>) {
        self.peer = peer;
    }

    /// The peer's address, as recorded with [`Driver::set_peer`].
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// The machine, to answer events or issue commands.
    pub fn machine(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The machine, read-only.
    pub fn machine_ref(&self) -> &M {
        &self.machine
    }

    /// Whether the connection runs inside TLS now.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::ServerTls(_) | Stream::ClientTls(_))
    }

    /// Write everything the machine has queued, each write bounded by the machine's
    /// deadline (a peer that stops reading hits the write deadline: the machine is told
    /// and closes). Bytes are reported with `transmitted` as the stream takes them.
    pub async fn flush(&mut self) -> Result<(), Error> {
        crate::trace::transcript(&mut self.machine);
        loop {
            self.out.clear();
            if self.machine.poll_transmit(&mut self.out) == 0 {
                break;
            }
            if let Some(tap) = self.tap.as_mut() {
                tap(Direction::Sent, &self.out);
            }
            if self.closed {
                let now = self.now();
                self.machine.transmitted(now, self.out.len());
                continue;
            }
            let mut written = 0;
            while written < self.out.len() {
                let limit = self.wait_for();
                let write = self.stream.write(&self.out[written..]);
                let result = match limit {
                    Some(t) => with_timeout(&self.runtime, t, write).await,
                    None => Some(write.await),
                };
                let now = self.now();
                match result {
                    None => {
                        self.machine.handle_timeout(now);
                        if self.machine.io() == Io::Closed && self.machine.poll_timeout().is_none()
                        {
                            // The write deadline passed: the output was dropped.
                            self.closed = true;
                            return Ok(());
                        }
                    }
                    Some(Ok(0)) => {
                        self.closed = true;
                        break;
                    }
                    Some(Ok(n)) => {
                        written += n;
                        self.machine.transmitted(now, n);
                        self.cooperate().await;
                    }
                    Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Some(Err(e)) if is_disconnect(&e) => {
                        self.closed = true;
                        self.machine.feed_eof(now);
                        break;
                    }
                    Some(Err(e)) => return Err(e.into()),
                }
            }
        }
        if !self.closed {
            match self.stream.flush().await {
                Err(e) if is_disconnect(&e) => self.closed = true,
                other => other?,
            }
        }
        Ok(())
    }

    /// The next event, or `None` once the session is closed (output flushed, stream
    /// closed).
    pub async fn next_event(&mut self) -> Result<Option<M::Event>, Error> {
        loop {
            self.flush().await?;
            if let Some(event) = self.machine.poll_event() {
                return Ok(Some(event));
            }
            match self.machine.io() {
                Io::Closed => {
                    self.close().await;
                    return Ok(None);
                }
                Io::AwaitingTls => match Box::pin(self.handshake()).await {
                    Ok(()) => {
                        let now = self.now();
                        self.machine.tls_established(now);
                    }
                    // A server's client that left or spoke no TLS after STARTTLS/STLS:
                    // the machine closes, reporting the plaintext it discarded (an
                    // injection attempt), and the session ends. A client sees the error.
                    Err(e) if matches!(self.tls, TlsRole::Server(_)) => {
                        tracing::info!(error = %e, "TLS handshake failed");
                        self.closed = true;
                        let now = self.now();
                        self.machine.feed_eof(now);
                        if self.machine.io() != Io::Closed {
                            return Err(e);
                        }
                    }
                    Err(e) => return Err(e),
                },
                Io::Open { wants_read: true } => self.read_once().await?,
                // Held back until a time (a failed-login delay): wait for it, reading
                // what comes meanwhile (kept, bounded) and noticing a close or shutdown.
                Io::Open { wants_read: false } if self.machine.poll_timeout().is_some() => {
                    self.read_once().await?
                }
                _ => return Err(Error::Idle),
            }
        }
    }

    /// Await `fut` (an application's answer) within the machine's deadlines: when one
    /// passes the machine is told (the application's deadline: it answers for the
    /// application and closes); `None` once the machine closed, the future dropped.
    pub async fn within_deadlines<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        futures_lite::pin!(fut);
        loop {
            let Some(limit) = self.wait_for() else {
                return Some(fut.await);
            };
            if let Some(out) = with_timeout(&self.runtime, limit, fut.as_mut()).await {
                return Some(out);
            }
            let now = self.now();
            self.machine.handle_timeout(now);
            if self.machine.io() == Io::Closed {
                return None;
            }
        }
    }

    /// `n` bytes were read at `now` (into the large buffer when `big`): shown to the
    /// tap, fed to the machine. A read that filled the small buffer means more is on its
    /// way: the next reads use the large one.
    fn received(&mut self, now: Instant, big: bool, n: usize) {
        let data = match (&self.big, big) {
            (Some(b), true) => &b[..n],
            _ => &self.small[..n],
        };
        if let Some(tap) = self.tap.as_mut() {
            tap(Direction::Received, data);
        }
        self.machine.feed(now, data);
        if !big && n == IDLE_READ_BUF {
            self.big = Some(vec![0; READ_BUF].into_boxed_slice());
        }
    }

    /// Take what the peer sent while nobody was reading (an idle client's `421`, a
    /// close), without waiting, and feed it to the machine. Returns whether the session
    /// is still open.
    pub async fn poll_idle(&mut self) -> Result<bool, Error> {
        if self.closed {
            return Ok(false);
        }
        // A read that is not ready at once is dropped: nothing was taken from the stream.
        let result = futures_lite::future::poll_once(self.stream.read(&mut self.small)).await;
        let now = self.now();
        match result {
            None => {}
            Some(Ok(0)) => self.machine.feed_eof(now),
            Some(Ok(n)) => {
                self.received(now, false, n);
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(e)) if is_disconnect(&e) => {
                self.closed = true;
                self.machine.feed_eof(now);
            }
            Some(Err(e)) => return Err(e.into()),
        }
        Ok(self.machine.io() != Io::Closed)
    }

    /// Read once (until the machine's next deadline at most) and feed the machine; when
    /// the deadline passes, tell the machine.
    async fn read_once(&mut self) -> Result<(), Error> {
        if self.closed {
            let now = self.now();
            self.machine.feed_eof(now);
            return Ok(());
        }
        // Input in flight: read into the large buffer what is ready now; once nothing is,
        // free it and wait with the small one.
        if let Some(big) = self.big.as_mut() {
            match futures_lite::future::poll_once(self.stream.read(big)).await {
                Some(Ok(n)) if n > 0 => {
                    let now = self.now();
                    self.received(now, true, n);
                    self.cooperate().await;
                    return Ok(());
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                // Nothing ready (or the end, or an error, which the wait below meets
                // again): the burst is over.
                _ => self.big = None,
            }
        }
        let limit = self.wait_for();
        let read = self.stream.read(&mut self.small);
        let read = async {
            match limit {
                Some(t) => Woke::Read(with_timeout(&self.runtime, t, read).await),
                None => Woke::Read(Some(read.await)),
            }
        };
        let woke = match &mut self.closing {
            Some((told, _)) => {
                futures_lite::future::or(read, async {
                    told.as_mut().await;
                    Woke::Closing
                })
                .await
            }
            None => read.await,
        };
        let now = self.now();
        let result = match woke {
            Woke::Read(result) => result,
            Woke::Closing => {
                if let Some((_, goodbye)) = self.closing.take() {
                    goodbye(&mut self.machine, now);
                }
                return Ok(());
            }
        };
        match result {
            None => self.machine.handle_timeout(now),
            Some(Ok(0)) => self.machine.feed_eof(now),
            Some(Ok(n)) => {
                self.received(now, false, n);
                self.cooperate().await;
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(e)) if is_disconnect(&e) => {
                self.closed = true;
                self.machine.feed_eof(now);
            }
            Some(Err(e)) => return Err(e.into()),
        }
        Ok(())
    }

    /// Replace the plaintext stream by a TLS stream and complete the handshake, within
    /// one total deadline: the machine's (STARTTLS/STLS), or [`HANDSHAKE_TIMEOUT`] for
    /// implicit TLS. The machine has already discarded any plaintext it held; this driver
    /// holds none.
    async fn handshake(&mut self) -> Result<(), Error> {
        let Stream::Plain(plain) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(Error::Tls(
                "TLS requested on a connection already in TLS".into(),
            ));
        };
        let deadline = match self.machine.io() {
            Io::AwaitingTls => self.machine.poll_timeout(),
            _ => None,
        }
        .unwrap_or_else(|| self.now() + HANDSHAKE_TIMEOUT);
        let limit = deadline.saturating_duration_since(self.now());
        let runtime = &self.runtime;
        let result = match &self.tls {
            TlsRole::Server(config) => {
                let accept = runtime.accept_tls(config.clone(), plain);
                match with_timeout(runtime, limit, accept).await {
                    Some(tls) => tls
                        .map(|tls| Stream::ServerTls(Box::new(tls)))
                        .map_err(handshake_error),
                    None => Err(Error::Timeout),
                }
            }
            TlsRole::Client(config, name) => {
                let connect = runtime.connect_tls(config.clone(), name.clone(), plain);
                match with_timeout(runtime, limit, connect).await {
                    Some(tls) => tls
                        .map(|tls| Stream::ClientTls(Box::new(tls)))
                        .map_err(handshake_error),
                    None => Err(Error::Timeout),
                }
            }
            _ => Err(Error::Tls(
                "no TLS configuration for this connection".into(),
            )),
        };
        match result {
            Ok(stream) => {
                self.stream = stream;
                Ok(())
            }
            Err(e) => {
                if matches!(e, Error::Timeout) {
                    // The machine's handshake deadline passed: it closes.
                    let now = self.now().max(deadline);
                    self.machine.handle_timeout(now);
                }
                self.closed = true;
                Err(e)
            }
        }
    }

    /// Close the stream (TLS close_notify included).
    async fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.close().await;
        }
    }

    /// Give the machine back, closing the stream.
    pub async fn into_machine(mut self) -> M {
        self.close().await;
        self.machine
    }
}

/// The time since `origin` on the machine's clock.
fn clock(origin: std::time::Instant) -> Instant {
    Instant::from_millis(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX))
}
