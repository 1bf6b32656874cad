//! The blocking POP3 server: the engine's [`Pop3Backend`] and [`Pop3Session`] over the
//! `pop3::server` machine, one thread per connection; messages are streamed from the
//! mailbox's reader as the client takes them.

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;

use mailproto_core::pop3::server::{Server, ServerConfig};
use mailproto_core::{Instant, Machine};

use crate::{Closing, Driver, Error, Listener};
use mailproto_engine::Admitted;
use mailproto_engine::trace;

pub use mailproto_engine::pop3_server::*;

/// A blocking POP3 server: one thread per connection over a [`Listener`].
#[derive(Debug)]
pub struct Pop3Server<B: Pop3Backend> {
    service: Pop3Service<B>,
}

impl<B: Pop3Backend> Clone for Pop3Server<B> {
    fn clone(&self) -> Self {
        Pop3Server {
            service: self.service.clone(),
        }
    }
}

impl<B: Pop3Backend> Pop3Server<B> {
    /// A server for `backend` with the machine configuration `config`. STLS is offered
    /// when [`Pop3Server::with_tls`] gives a certificate; APOP is on (a fresh timestamp
    /// per connection).
    pub fn new(backend: B, config: ServerConfig) -> Self {
        Pop3Server {
            service: Pop3Service::new(backend, config),
        }
    }

    /// Offer STLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(self, tls: Arc<rustls::ServerConfig>) -> Self {
        Pop3Server {
            service: self.service.with_tls(tls),
        }
    }

    /// The host name used in APOP timestamps.
    pub fn with_hostname(self, host: impl Into<String>) -> Self {
        Pop3Server {
            service: self.service.with_hostname(host),
        }
    }

    /// The backend, configuration and certificate every session is made from.
    pub fn service(&self) -> &Pop3Service<B> {
        &self.service
    }

    /// Serve one connection to its end.
    pub fn serve_connection(&self, tcp: TcpStream, implicit_tls: bool) -> Result<(), Error> {
        self.serve_until(tcp, implicit_tls, None)
    }

    /// [`Pop3Server::serve_connection`]; once `closing` is set, the session answers
    /// `-ERR [SYS/TEMP]` at its next wait for a command and ends without UPDATE.
    pub fn serve_until(
        &self,
        tcp: TcpStream,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error> {
        self.serve_client(tcp, None, implicit_tls, closing)
    }

    /// [`Pop3Server::serve_until`] for a client the listener admitted: its failed-login
    /// delay applies, and a PROXY header's TLS counts as the session's.
    pub fn serve_admitted(
        &self,
        tcp: TcpStream,
        client: Admitted,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error> {
        self.serve_client(tcp, Some(client), implicit_tls, closing)
    }

    fn serve_client(
        &self,
        tcp: TcpStream,
        client: Option<Admitted>,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error> {
        let inside_tls = implicit_tls || client.as_ref().is_some_and(Admitted::tls_by_proxy);
        let peer = client.as_ref().map(Admitted::peer).or(tcp.peer_addr().ok());
        let span = trace::session_span("pop3", peer, inside_tls);
        let _entered = span.enter();
        let result = self.session(tcp, peer, client, implicit_tls, inside_tls, closing);
        trace::session_end(&result);
        result
    }

    fn session(
        &self,
        tcp: TcpStream,
        peer: Option<std::net::SocketAddr>,
        client: Option<Admitted>,
        implicit_tls: bool,
        inside_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error> {
        let service = &self.service;
        let machine = Server::new(Instant::ZERO, service.session_config(inside_tls));
        let mut driver = if implicit_tls {
            Driver::new_tls(machine, tcp, service.tls_role())?
        } else {
            Driver::new(machine, tcp, service.tls_role())
        };
        if let Some(closing) = closing {
            driver.set_closing(closing, Server::shutdown);
        }
        let mut session = Pop3Session::for_client(service.backend(), client).with_peer(peer);
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
            move |tcp, client, closing| {
                let _ = server.serve_admitted(tcp, client, implicit_tls, Some(closing));
            },
            busy_reply,
        )
    }
}

/// Stream one message through the machine, flushing between chunks as
/// [`FlushPacing`] says. A client that stops reading hits the write deadline: the
/// machine closes, and streaming stops.
fn stream_message(
    driver: &mut Driver<Server>,
    reader: &mut dyn Read,
    buf: &mut [u8],
) -> Result<(), Error> {
    let mut pacing = FlushPacing::default();
    loop {
        let read = read_piece(reader, buf);
        let n = *read.as_ref().unwrap_or(&0);
        let now = driver.now();
        match stream_piece(driver.machine(), now, read, buf)? {
            Streamed::Done => return Ok(()),
            Streamed::Flush if !pacing.flush_now(n, buf.len()) => {}
            Streamed::Flush => {
                driver.flush()?;
                if driver.machine_ref().io() == mailproto_core::Io::Closed {
                    // The client stopped reading: the write deadline closed the session.
                    return Ok(());
                }
            }
        }
    }
}
