//! The one driver loop, for every machine: write what `poll_transmit` gives and report it
//! with `transmitted`, hand events out, read and feed only when the machine wants input,
//! bound every read, write and TLS handshake by the machine's `poll_timeout()` and call
//! `handle_timeout` when it passes, stop at `Closed`.
//!
//! The driver's clock starts at [`Instant::ZERO`] when the driver is made: create the
//! machine at `Instant::ZERO` just before (as the servers and clients here do).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use mailproto_core::{Instant, Io, Machine};

use crate::adapter::{HANDSHAKE_TIMEOUT, READ_BUF, handshake_error, is_disconnect, is_timeout};
use crate::{Direction, Error, Tap, TlsRole};

/// A TCP stream, in plaintext or inside TLS.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    ServerTls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    ClientTls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Only while switching.
    Gone,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::ServerTls(s) => Some(&s.sock),
            Stream::ClientTls(s) => Some(&s.sock),
            Stream::Gone => None,
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Stream::ServerTls(_) | Stream::ClientTls(_))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::ServerTls(s) => s.read(buf),
            Stream::ClientTls(s) => s.read(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::ServerTls(s) => s.write(buf),
            Stream::ClientTls(s) => s.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::ServerTls(s) => s.flush(),
            Stream::ClientTls(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

/// Drives one machine over one TCP connection.
///
/// [`Driver::next_event`] is the whole loop: it flushes output, returns the next event
/// for the application, and otherwise does what [`Machine::io`] asks (read, handshake,
/// close). A server answers each event through [`Driver::machine`]; a client issues a
/// command through it and calls `next_event` until the reply's event arrives.
pub struct Driver<M: Machine> {
    machine: M,
    tap: Option<Tap>,
    stream: Stream,
    tls: TlsRole,
    out: Vec<u8>,
    buf: Box<[u8]>,
    closed: bool,
    /// Set when the server goes down: the machine is then told to say goodbye.
    closing: Option<(Closing, Goodbye<M>)>,
    peer: Option<std::net::SocketAddr>,
    /// The read timeout set on the socket, to skip the system call when unchanged.
    read_timeout: Option<std::time::Duration>,
    /// The write timeout set on the socket, likewise.
    write_timeout: Option<std::time::Duration>,
    /// The machine's clock: [`Instant::ZERO`] is when the driver was made.
    origin: std::time::Instant,
}

impl<M: Machine + std::fmt::Debug> std::fmt::Debug for Driver<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("machine", &self.machine)
            .field("stream", &self.stream)
            .field("closed", &self.closed)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<M: Machine> Driver<M> {
    /// Drive `machine` over a plaintext connection; `tls` is used if the machine asks for
    /// STARTTLS/STLS.
    pub fn new(mut machine: M, tcp: TcpStream, tls: TlsRole) -> Self {
        mailproto_engine::adapter::tune_tcp(&tcp);
        mailproto_engine::trace::start_transcript(&mut machine);
        let peer = tcp.peer_addr().ok();
        Driver {
            machine,
            tap: None,
            stream: Stream::Plain(tcp),
            tls,
            out: Vec::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
            closed: false,
            closing: None,
            peer,
            read_timeout: None,
            write_timeout: None,
            origin: std::time::Instant::now(),
        }
    }

    /// The time now on the machine's clock, to pass to its calls.
    pub fn now(&self) -> Instant {
        clock(self.origin)
    }

    /// How long a socket call may wait: until the machine's next deadline (at least a
    /// millisecond, as a zero timeout means none), or without limit.
    fn wait_for(&self) -> Option<std::time::Duration> {
        self.machine.poll_timeout().map(|due| {
            let left = due.saturating_duration_since(self.now());
            left.max(std::time::Duration::from_millis(1))
        })
    }

    /// Drive `machine` over implicit TLS (ports 465 / 995): the handshake runs first.
    pub fn new_tls(machine: M, tcp: TcpStream, tls: TlsRole) -> Result<Self, Error> {
        let mut driver = Self::new(machine, tcp, tls);
        driver.start_tls()?;
        Ok(driver)
    }

    /// Run the TLS handshake now, before any protocol byte (implicit TLS).
    pub fn start_tls(&mut self) -> Result<(), Error> {
        self.handshake()
    }

    /// When `closing` is set (the listener's grace period is over; it also shuts the
    /// socket's reading side to wake a blocked read), call `goodbye` on the machine at
    /// its next wait for input (its `shutdown`: the protocol's goodbye, then the close).
    pub fn set_closing(&mut self, closing: Closing, goodbye: Goodbye<M>) {
        self.closing = Some((closing, goodbye));
    }

    /// Tell the machine to say goodbye if the server is going down; whether it was.
    fn goodbye_due(&mut self) -> bool {
        let due = self
            .closing
            .as_ref()
            .is_some_and(|(closing, _)| closing.load(std::sync::atomic::Ordering::SeqCst));
        if due && let Some((_, goodbye)) = self.closing.take() {
            let now = self.now();
            goodbye(&mut self.machine, now);
        }
        due
    }

    /// Show every byte written and read to `tap`.
    pub fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    /// The machine, to answer events or issue commands.
    pub fn machine(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The machine, read-only.
    pub fn machine_ref(&self) -> &M {
        &self.machine
    }

    /// The peer's address, when known.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// Whether the connection runs inside TLS now.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// Write everything the machine has queued, each write bounded by the machine's
    /// deadline (a peer that stops reading hits the write deadline: the machine is told
    /// and closes). Bytes are reported with `transmitted` as the socket takes them.
    pub fn flush(&mut self) -> Result<(), Error> {
        mailproto_engine::trace::transcript(&mut self.machine);
        loop {
            self.out.clear();
            if self.machine.poll_transmit(&mut self.out) == 0 {
                break;
            }
            if let Some(tap) = self.tap.as_mut() {
                tap(Direction::Sent, &self.out);
            }
            if self.closed {
                // Nobody to send to: the bytes are gone.
                let now = self.now();
                self.machine.transmitted(now, self.out.len());
                continue;
            }
            let mut written = 0;
            while written < self.out.len() {
                let timeout = self.wait_for();
                if !timeout_holds(self.write_timeout, timeout)
                    && let Some(tcp) = self.stream.tcp()
                {
                    tcp.set_write_timeout(timeout)?;
                    self.write_timeout = timeout;
                }
                match self.stream.write(&self.out[written..]) {
                    Ok(0) => {
                        self.closed = true;
                        break;
                    }
                    Ok(n) => {
                        written += n;
                        let now = self.now();
                        self.machine.transmitted(now, n);
                    }
                    Err(e) if is_timeout(&e) => {
                        let now = self.now();
                        self.machine.handle_timeout(now);
                        if self.machine.io() == Io::Closed && self.machine.poll_timeout().is_none()
                        {
                            // The write deadline passed: the output was dropped.
                            self.closed = true;
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if is_disconnect(&e) => {
                        self.closed = true;
                        let now = self.now();
                        self.machine.feed_eof(now);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !self.closed {
            match self.stream.flush() {
                Err(e) if is_disconnect(&e) => self.closed = true,
                other => other?,
            }
        }
        Ok(())
    }

    /// The next event, or `None` once the session is closed (output flushed, socket shut
    /// down).
    pub fn next_event(&mut self) -> Result<Option<M::Event>, Error> {
        loop {
            self.flush()?;
            if let Some(event) = self.machine.poll_event() {
                return Ok(Some(event));
            }
            match self.machine.io() {
                Io::Closed => {
                    self.close();
                    return Ok(None);
                }
                Io::AwaitingTls => match self.handshake() {
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
                Io::Open { wants_read: true } => self.read_once()?,
                // Held back until a time (a failed-login delay): wait for it, reading
                // what comes meanwhile (kept, bounded) and noticing a close or shutdown.
                Io::Open { wants_read: false } if self.machine.poll_timeout().is_some() => {
                    self.read_once()?
                }
                Io::Open { wants_read: false } => return Err(Error::Idle),
                _ => return Err(Error::Idle),
            }
        }
    }

    /// `n` bytes were read into the buffer at `now`: shown to the tap, fed to the machine.
    fn received(&mut self, now: Instant, n: usize) {
        if let Some(tap) = self.tap.as_mut() {
            tap(Direction::Received, &self.buf[..n]);
        }
        self.machine.feed(now, &self.buf[..n]);
    }

    /// Take what the peer sent while nobody was reading (an idle client's `421`, a
    /// close), without waiting, and feed it to the machine. Returns whether the session
    /// is still open.
    pub fn poll_idle(&mut self) -> Result<bool, Error> {
        if self.closed {
            return Ok(false);
        }
        let Some(tcp) = self.stream.tcp() else {
            return Ok(false);
        };
        tcp.set_nonblocking(true)?;
        let result = self.stream.read(&mut self.buf);
        if let Some(tcp) = self.stream.tcp() {
            tcp.set_nonblocking(false)?;
        }
        let now = self.now();
        match result {
            Ok(0) => self.machine.feed_eof(now),
            Ok(n) => self.received(now, n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) if is_disconnect(&e) => {
                self.closed = true;
                self.machine.feed_eof(now);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(self.machine.io() != Io::Closed)
    }

    /// Read once (until the machine's next deadline at most) and feed the machine; when
    /// the deadline passes, tell the machine.
    fn read_once(&mut self) -> Result<(), Error> {
        if self.closed {
            let now = self.now();
            self.machine.feed_eof(now);
            return Ok(());
        }
        let timeout = self.wait_for();
        if !timeout_holds(self.read_timeout, timeout)
            && let Some(tcp) = self.stream.tcp()
        {
            tcp.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        if self.goodbye_due() {
            return Ok(());
        }
        let result = self.stream.read(&mut self.buf);
        if !matches!(result, Ok(n) if n > 0) && self.goodbye_due() {
            // The listener shut the reading side to end this wait.
            return Ok(());
        }
        let now = self.now();
        match result {
            Ok(0) => self.machine.feed_eof(now),
            Ok(n) => self.received(now, n),
            Err(e) if is_timeout(&e) => self.machine.handle_timeout(now),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_disconnect(&e) => {
                self.closed = true;
                self.machine.feed_eof(now);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Replace the plaintext stream by a TLS stream and complete the handshake, within
    /// one total deadline: the machine's (STARTTLS/STLS), or [`HANDSHAKE_TIMEOUT`] from
    /// now for implicit TLS. The machine has already discarded any plaintext it held;
    /// this driver holds none (every read is fed whole).
    fn handshake(&mut self) -> Result<(), Error> {
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(Error::Tls(
                "TLS requested on a connection already in TLS".into(),
            ));
        };
        let deadline = match self.machine.io() {
            Io::AwaitingTls => self.machine.poll_timeout(),
            _ => None,
        }
        .unwrap_or_else(|| self.now() + HANDSHAKE_TIMEOUT);
        let origin = self.origin;
        // Each socket call waits at most for what is left of the deadline.
        let arm = |tcp: &TcpStream| -> Result<(), Error> {
            let left = deadline.saturating_duration_since(clock(origin));
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            tcp.set_read_timeout(Some(left))?;
            tcp.set_write_timeout(Some(left))?;
            Ok(())
        };
        self.read_timeout = None;
        self.write_timeout = None;
        let result = match &self.tls {
            TlsRole::None => Err(Error::Tls(
                "no TLS configuration for this connection".into(),
            )),
            TlsRole::Server(config) => {
                let conn = rustls::ServerConnection::new(config.clone())?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut done = Ok(());
                while s.conn.is_handshaking() {
                    done = arm(&s.sock).and_then(|()| {
                        s.conn
                            .complete_io(&mut s.sock)
                            .map(|_| ())
                            .map_err(handshake_error)
                    });
                    if done.is_err() {
                        break;
                    }
                }
                self.stream = Stream::ServerTls(Box::new(s));
                done
            }
            TlsRole::Client(config, name) => {
                let conn = rustls::ClientConnection::new(config.clone(), name.clone())?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut done = Ok(());
                while s.conn.is_handshaking() {
                    done = arm(&s.sock).and_then(|()| {
                        s.conn
                            .complete_io(&mut s.sock)
                            .map(|_| ())
                            .map_err(handshake_error)
                    });
                    if done.is_err() {
                        break;
                    }
                }
                self.stream = Stream::ClientTls(Box::new(s));
                done
            }
        };
        if let Err(Error::Timeout) = result {
            // The machine's handshake deadline passed: it closes (nothing can be sent in
            // plaintext mid-handshake).
            let now = self.now().max(deadline);
            self.machine.handle_timeout(now);
            self.closed = true;
        }
        result
    }

    /// Flush what is left and close the connection.
    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        match &mut self.stream {
            Stream::ServerTls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
            Stream::ClientTls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
            _ => {}
        }
        if let Some(tcp) = self.stream.tcp() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }

    /// Give the machine back, closing the connection.
    pub fn into_machine(mut self) -> M {
        self.close();
        self.machine
    }
}

/// A machine's goodbye: its `shutdown`.
pub type Goodbye<M> = fn(&mut M, Instant);

/// Set by a listener when its sessions must end: see [`Driver::set_closing`].
pub type Closing = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// The time since `origin` on the machine's clock.
fn clock(origin: std::time::Instant) -> Instant {
    Instant::from_millis(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX))
}

/// Whether the timeout a socket has (`set`) may stay for a call that must wait at most
/// `wanted`: it must not wait past the deadline, and may end the wait early, after at
/// least half of it (the driver then calls again with a fresh timeout; a machine's
/// `handle_timeout` before its deadline changes nothing). What is left of a deadline
/// shrinks with every call and the machines' deadlines differ by state (a command, a
/// message body), so resetting the timeout exactly would cost a system call per read
/// and per write.
fn timeout_holds(set: Option<std::time::Duration>, wanted: Option<std::time::Duration>) -> bool {
    match (set, wanted) {
        (Some(set), Some(wanted)) => set <= wanted && set >= wanted / 2,
        (set, wanted) => set == wanted,
    }
}
