//! SMTP server API: an [`SmtpHandler`] per connection that decides MAIL, RCPT, AUTH and
//! the end of each message and receives the body as it streams.
//!
//! [`SmtpSession`] holds what every adapter shares: it turns the machine's events into
//! handler calls and the handler's answers into replies. [`SmtpService`] holds the
//! configuration, the handler factory and the certificate; the adapters' `SmtpServer`
//! wrap it with their I/O.
//!
//! ```
//! use mailproto_engine::smtp_server::SmtpHandler;
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
//! ```
//!
//! Every adapter's `SmtpServer::new(config, |_peer| Sink::default())` runs it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mailproto_core::Instant;
use mailproto_core::sasl::Credentials;
use mailproto_core::smtp::server::{Awaiting, Event, Server, ServerConfig};
use mailproto_core::smtp::{
    EnhancedCode, ForwardPath, MailParams, RcptParams, Reply, ReplyCode, ReversePath,
};

use crate::{Error, TlsRole};

/// Decides what one SMTP connection may do and receives its messages. Every method has a
/// default, so a sink that accepts everything implements only [`SmtpHandler::data`].
pub trait SmtpHandler: Send + 'static {
    /// AUTH: whether these credentials are valid (RFC 4954). Default: refuse.
    fn authenticate(&mut self, credentials: &Credentials) -> bool {
        let _ = credentials;
        false
    }

    /// MAIL FROM: `Err(reply)` refuses the sender. Default: accept.
    fn mail(&mut self, from: &ReversePath, params: &MailParams) -> Result<(), Reply> {
        let _ = (from, params);
        Ok(())
    }

    /// RCPT TO: `Err(reply)` refuses this recipient. Default: accept.
    fn rcpt(&mut self, to: &ForwardPath, params: &RcptParams) -> Result<(), Reply> {
        let _ = (to, params);
        Ok(())
    }

    /// The message body starts (after `354`, or with the first BDAT chunk).
    fn data_start(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// A piece of the body, unstuffed, in order. An error refuses the message at its
    /// end with `451 4.3.0` (the rest of the body is still read and dropped).
    fn data(&mut self, chunk: &[u8]) -> io::Result<()>;

    /// The body is complete: `Ok(())` accepts it (`250`); `Err(reply)` refuses it.
    fn data_end(&mut self) -> Result<(), Reply> {
        Ok(())
    }

    /// The body was abandoned (too big, bare line ending, connection lost): drop what
    /// was received.
    fn data_abort(&mut self) {}

    /// The transaction was reset (RSET, a new EHLO, the end of a message).
    fn reset(&mut self) {}
}

/// One connection's glue between the machine and its handler (shared by both adapters).
#[derive(Debug)]
pub struct SmtpSession<H> {
    handler: H,
    failed: Option<io::Error>,
}

impl<H: SmtpHandler> SmtpSession<H> {
    /// A session answering through `handler`.
    pub fn new(handler: H) -> Self {
        SmtpSession {
            handler,
            failed: None,
        }
    }

    /// The handler.
    pub fn handler(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Answer one event through `server`.
    pub fn handle(&mut self, server: &mut Server, now: Instant, event: Event) -> Result<(), Error> {
        let misuse = |e: &dyn std::fmt::Display| Error::Protocol(e.to_string());
        match event {
            Event::Auth { credentials, .. } => {
                if self.handler.authenticate(&credentials) {
                    server.auth_accept(now).map_err(|e| misuse(&e))?;
                } else {
                    server.auth_reject(now).map_err(|e| misuse(&e))?;
                }
            }
            Event::Mail { from, params } => match self.handler.mail(&from, &params) {
                Ok(()) => server.accept(now).map_err(|e| misuse(&e))?,
                Err(reply) => server.reply(now, reply).map_err(|e| misuse(&e))?,
            },
            Event::Rcpt { to, params } => match self.handler.rcpt(&to, &params) {
                Ok(()) => server.accept(now).map_err(|e| misuse(&e))?,
                Err(reply) => server.reply(now, reply).map_err(|e| misuse(&e))?,
            },
            Event::DataStart { .. } => {
                self.failed = self.handler.data_start().err();
            }
            Event::BodyChunk(chunk) if self.failed.is_none() => {
                self.failed = self.handler.data(&chunk).err();
            }
            Event::MessageEnd { .. } => {
                let answer = match self.failed.take() {
                    Some(e) => {
                        self.handler.data_abort();
                        Err(local_error(&e))
                    }
                    None => self.handler.data_end(),
                };
                // One answer for SMTP; one per accepted recipient for LMTP (RFC 2033
                // §4.2), each given the same way.
                let due = match server.awaiting() {
                    Some(Awaiting::MessageEnd { replies }) => replies.max(1),
                    _ => 1,
                };
                for _ in 0..due {
                    match &answer {
                        Ok(()) => server.accept(now).map_err(|e| misuse(&e))?,
                        Err(reply) => server.reply(now, reply.clone()).map_err(|e| misuse(&e))?,
                    }
                }
                self.handler.reset();
            }
            Event::MessageAborted { .. } => {
                self.failed = None;
                self.handler.data_abort();
            }
            Event::Vrfy(_) | Event::Expn(_) => {
                let answer = reply(252, (2, 5, 0), "Cannot VRFY user, but will accept message");
                server.reply(now, answer).map_err(|e| misuse(&e))?;
            }
            Event::Reset => self.handler.reset(),
            Event::Closed { .. } if self.failed.take().is_some() => {
                self.handler.data_abort();
            }
            _ => {}
        }
        Ok(())
    }
}

/// A single-line reply with an enhanced status code.
pub fn reply(code: u16, (class, subject, detail): (u8, u16, u16), text: &str) -> Reply {
    let code = ReplyCode::new(code).unwrap_or(ReplyCode::TRANSACTION_FAILED);
    let enhanced = EnhancedCode {
        class,
        subject,
        detail,
    };
    Reply::new(code, Some(enhanced), text)
}

/// `451 4.3.0` for a local failure while storing a message (RFC 5321 §4.2.3, RFC 3463).
fn local_error(e: &io::Error) -> Reply {
    reply(
        451,
        (4, 3, 0),
        &format!("Local error in processing: {}", e.kind()),
    )
}

/// Makes a handler for each connection, given the peer's address.
pub trait HandlerFactory<H>: Fn(Option<SocketAddr>) -> H + Send + Sync + 'static {}
impl<H, F: Fn(Option<SocketAddr>) -> H + Send + Sync + 'static> HandlerFactory<H> for F {}

/// What every adapter's SMTP server holds: the machine configuration, the handler
/// factory and the TLS certificate; it makes the handler and the machine configuration
/// of each connection.
pub struct SmtpService<H, F> {
    factory: Arc<F>,
    config: ServerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    _handler: std::marker::PhantomData<fn() -> H>,
}

impl<H, F> std::fmt::Debug for SmtpService<H, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpService")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl<H, F> Clone for SmtpService<H, F> {
    fn clone(&self) -> Self {
        SmtpService {
            factory: self.factory.clone(),
            config: self.config.clone(),
            tls: self.tls.clone(),
            _handler: std::marker::PhantomData,
        }
    }
}

impl<H: SmtpHandler, F: HandlerFactory<H>> SmtpService<H, F> {
    /// A server with the machine configuration `config`, making a handler per
    /// connection with `factory`.
    pub fn new(config: ServerConfig, factory: F) -> Self {
        SmtpService {
            factory: Arc::new(factory),
            config,
            tls: None,
            _handler: std::marker::PhantomData,
        }
    }

    /// Offer STARTTLS (and allow implicit TLS) with this certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A handler for a new connection.
    pub fn handler(&self, peer: Option<SocketAddr>) -> H {
        (self.factory)(peer)
    }

    /// The machine configuration for one connection.
    pub fn session_config(&self, implicit_tls: bool) -> ServerConfig {
        let mut config = self.config.clone();
        config.extensions.starttls = self.tls.is_some() && !implicit_tls;
        config.tls_active = implicit_tls;
        if config.cram_md5_challenge.is_none() {
            // RFC 2195 §2: a fresh msg-id-like challenge per session.
            let challenge = crate::pop3_server::apop_timestamp(&config.hostname);
            config.cram_md5_challenge = Some(challenge);
        }
        config
    }

    /// The host name the server greets with.
    pub fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// The TLS role of a connection.
    pub fn tls_role(&self) -> TlsRole {
        self.tls.clone().map_or(TlsRole::None, TlsRole::Server)
    }
}

/// The greeting that turns away a connection over the limit (RFC 5321 §3.1: `421`).
pub fn busy_reply(hostname: &str) -> Vec<u8> {
    let busy = reply(
        421,
        (4, 3, 2),
        &format!("{hostname} Too many connections, try again later"),
    );
    let mut out = Vec::new();
    let _ = busy.encode(&mut out);
    out
}
