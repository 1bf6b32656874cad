//! The one async driver loop, for every machine and any futures-io stream: write what
//! `poll_transmit` gives, hand events out, read and feed only when the machine wants
//! input, enforce `read_timeout()` with a timer, run the TLS handshake at `AwaitingTls`,
//! stop at `Closed`.

use std::io;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::{TlsAcceptor, TlsConnector, client, server};
use mailproto_core::{Io, Machine};
use mailproto_std::adapter::{HANDSHAKE_TIMEOUT, READ_BUF, handshake_error, is_disconnect};
use mailproto_std::{Error, TlsRole};

/// A stream in plaintext or inside TLS.
#[derive(Debug)]
enum Stream<S> {
    Plain(S),
    ServerTls(Box<server::TlsStream<S>>),
    ClientTls(Box<client::TlsStream<S>>),
    /// Only while switching.
    Gone,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream<S> {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::ServerTls(s) => s.read(buf).await,
            Stream::ClientTls(s) => s.read(buf).await,
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf).await,
            Stream::ServerTls(s) => s.write_all(buf).await,
            Stream::ClientTls(s) => s.write_all(buf).await,
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

/// Drives one machine over one async stream (a `smol::net::TcpStream`, or any
/// `AsyncRead + AsyncWrite` through a compat layer).
///
/// [`Driver::next_event`] is the whole loop, as in the blocking adapter: it flushes
/// output, returns the next event, and otherwise does what [`Machine::io`] asks.
#[derive(Debug)]
pub struct Driver<M: Machine, S> {
    machine: M,
    stream: Stream<S>,
    tls: TlsRole,
    out: Vec<u8>,
    buf: Box<[u8]>,
    closed: bool,
}

impl<M: Machine, S: AsyncRead + AsyncWrite + Unpin> Driver<M, S> {
    /// Drive `machine` over a plaintext stream; `tls` is used if the machine asks for
    /// STARTTLS/STLS.
    pub fn new(machine: M, stream: S, tls: TlsRole) -> Self {
        Driver {
            machine,
            stream: Stream::Plain(stream),
            tls,
            out: Vec::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
            closed: false,
        }
    }

    /// Drive `machine` over implicit TLS (ports 465 / 995): the handshake runs first.
    pub async fn new_tls(machine: M, stream: S, tls: TlsRole) -> Result<Self, Error> {
        let mut driver = Self::new(machine, stream, tls);
        driver.handshake().await?;
        Ok(driver)
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

    /// Write everything the machine has queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        loop {
            self.out.clear();
            if self.machine.poll_transmit(&mut self.out) == 0 {
                break;
            }
            if !self.closed {
                self.stream.write_all(&self.out).await?;
            }
        }
        if !self.closed {
            self.stream.flush().await?;
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
                Io::AwaitingTls => {
                    self.handshake().await?;
                    self.machine.tls_established();
                }
                Io::Open { wants_read: true } => self.read_once().await?,
                _ => return Err(Error::Idle),
            }
        }
    }

    /// Read once (honouring the machine's timeout) and feed the machine.
    async fn read_once(&mut self) -> Result<(), Error> {
        if self.closed {
            self.machine.feed_eof();
            return Ok(());
        }
        let timeout = self.machine.read_timeout().filter(|t| !t.is_zero());
        let read = self.stream.read(&mut self.buf);
        let result = match timeout {
            Some(t) => with_timeout(t, read).await,
            None => Some(read.await),
        };
        match result {
            None => self.machine.handle_timeout(),
            Some(Ok(0)) => self.machine.feed_eof(),
            Some(Ok(n)) => self.machine.feed(&self.buf[..n]),
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(e)) if is_disconnect(&e) => {
                self.closed = true;
                self.machine.feed_eof();
            }
            Some(Err(e)) => return Err(e.into()),
        }
        Ok(())
    }

    /// Replace the plaintext stream by a TLS stream and complete the handshake. The
    /// machine has already discarded any plaintext it held; this driver holds none.
    async fn handshake(&mut self) -> Result<(), Error> {
        let Stream::Plain(plain) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(Error::Tls(
                "TLS requested on a connection already in TLS".into(),
            ));
        };
        let limit = self.machine.read_timeout().unwrap_or(HANDSHAKE_TIMEOUT);
        self.stream = match &self.tls {
            TlsRole::Server(config) => {
                let accept = TlsAcceptor::from(config.clone()).accept(plain);
                let tls = with_timeout(limit, accept).await.ok_or(Error::Timeout)?;
                Stream::ServerTls(Box::new(tls.map_err(handshake_error)?))
            }
            TlsRole::Client(config, name) => {
                let connect = TlsConnector::from(config.clone()).connect(name.clone(), plain);
                let tls = with_timeout(limit, connect).await.ok_or(Error::Timeout)?;
                Stream::ClientTls(Box::new(tls.map_err(handshake_error)?))
            }
            _ => {
                return Err(Error::Tls(
                    "no TLS configuration for this connection".into(),
                ));
            }
        };
        Ok(())
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

/// `fut`'s output, or `None` when `limit` passes first.
async fn with_timeout<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        smol::Timer::after(limit).await;
        None
    })
    .await
}
