//! The blocking SMTP server: the engine's [`SmtpHandler`] and [`SmtpSession`] over the
//! `smtp::server` machine, one thread per connection.
//!
//! ```no_run
//! use mailproto_std::smtp_server::{SmtpHandler, SmtpServer};
//! use mailproto_std::{Listener, ListenerOptions};
//! use mailproto_core::smtp::server::ServerConfig;
//!
//! /// Counts the bytes of every message it accepts.
//! #[derive(Default)]
//! struct Sink(u64);
//!
//! impl SmtpHandler for Sink {
//!     fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
//!         self.0 += chunk.len() as u64;
//!         Ok(())
//!     }
//! }
//!
//! let server = SmtpServer::new(ServerConfig::new("localhost"), |_peer| Sink::default());
//! let listener = Listener::bind("127.0.0.1:2525", ListenerOptions::default())?;
//! server.run(listener, false)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use mailproto_core::Instant;
use mailproto_core::smtp::server::{Server, ServerConfig};

use crate::{Closing, Driver, Error, Listener};
use mailproto_engine::Admitted;
use mailproto_engine::trace;

pub use mailproto_engine::smtp_server::*;

/// A blocking SMTP server: one thread per connection over a [`Listener`].
pub struct SmtpServer<H, F> {
    service: SmtpService<H, F>,
}

impl<H, F> std::fmt::Debug for SmtpServer<H, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.service.fmt(f)
    }
}

impl<H, F> Clone for SmtpServer<H, F> {
    fn clone(&self) -> Self {
        SmtpServer {
            service: self.service.clone(),
        }
    }
}

impl<H: SmtpHandler, F: HandlerFactory<H>> SmtpServer<H, F> {
    /// A server with the machine configuration `config`, making a handler per
    /// connection with `factory`.
    pub fn new(config: ServerConfig, factory: F) -> Self {
        SmtpServer {
            service: SmtpService::new(config, factory),
        }
    }

    /// Offer STARTTLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(self, tls: Arc<rustls::ServerConfig>) -> Self {
        SmtpServer {
            service: self.service.with_tls(tls),
        }
    }

    /// The configuration, factory and certificate every session is made from.
    pub fn service(&self) -> &SmtpService<H, F> {
        &self.service
    }

    /// Serve one connection to its end.
    pub fn serve_connection(&self, tcp: TcpStream, implicit_tls: bool) -> Result<(), Error> {
        self.serve_until(tcp, implicit_tls, None)
    }

    /// [`SmtpServer::serve_connection`]; once `closing` is set, the session answers
    /// `421 4.3.2` at its next wait for a command and ends.
    pub fn serve_until(
        &self,
        tcp: TcpStream,
        implicit_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error> {
        self.serve_client(tcp, None, implicit_tls, closing)
    }

    /// [`SmtpServer::serve_until`] for a client the listener admitted: its limits
    /// apply, and a PROXY header's TLS counts as the session's.
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
        let span = trace::session_span("smtp", peer, inside_tls);
        let _entered = span.enter();
        let result = self.session(tcp, peer, client, implicit_tls, inside_tls, closing);
        trace::session_end(&result);
        result
    }

    fn session(
        &self,
        tcp: TcpStream,
        peer: Option<SocketAddr>,
        client: Option<Admitted>,
        implicit_tls: bool,
        inside_tls: bool,
        closing: Option<Closing>,
    ) -> Result<(), Error> {
        let service = &self.service;
        let mut session = SmtpSession::for_client(service.handler(peer), client);
        // The handler may refuse (or hold) the greeting.
        let machine = session.connect(service.session_config(inside_tls), Instant::ZERO);
        let mut driver = if implicit_tls {
            Driver::new_tls(machine, tcp, service.tls_role())?
        } else {
            Driver::new(machine, tcp, service.tls_role())
        };
        if let Some(closing) = closing {
            driver.set_closing(closing, Server::shutdown);
        }
        while let Some(event) = driver.next_event()? {
            let now = driver.now();
            session.handle(driver.machine(), now, event)?;
        }
        Ok(())
    }

    /// Accept connections on `listener` until it is shut down. With `implicit_tls` every
    /// connection starts with the TLS handshake (submissions, port 465).
    pub fn run(self, listener: Listener, implicit_tls: bool) -> io::Result<()> {
        let server = self.clone();
        let hostname = self.service.hostname().to_owned();
        listener.serve(
            move |tcp, client, closing| {
                let _ = server.serve_admitted(tcp, client, implicit_tls, Some(closing));
            },
            move |refused| busy_reply(&hostname, refused),
        )
    }
}
