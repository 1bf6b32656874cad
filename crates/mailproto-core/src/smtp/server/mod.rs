//! The SMTP (RFC 5321) and LMTP (RFC 2033) server state machine, sans-IO.
//!
//! [`Server`] implements [`Machine`]: the adapter feeds it the client's bytes, writes what
//! [`poll_transmit`](Machine::poll_transmit) hands out, and gives each [`Event`] to the
//! application, which decides every MAIL, RCPT, end of message, AUTH and (optionally)
//! VRFY/EXPN through typed answers ([`Server::accept`], [`Server::reply`],
//! [`Server::reject`], [`Server::reply_lmtp`], [`Server::auth_accept`],
//! [`Server::auth_reject`], [`Server::auth_reject_with_challenge`]). Everything else the machine answers itself: greeting,
//! EHLO capabilities, sequence errors (RFC 5321 §4.1.4, §4.3.2), syntax errors, limits,
//! the SASL exchange (RFC 4954), STARTTLS (RFC 3207), DATA/BDAT framing (RFC 5321
//! §4.1.1.4, RFC 3030), timeouts (§4.5.3.2).
//!
//! # States
//!
//! ```text
//!  new() ─220─▶ CONNECTED                  new_refusing() ─554─▶ REFUSING
//!                  │ HELO/EHLO/LHLO: 250,               QUIT: 221 ─▶ CLOSED
//!                  │ Event::Hello                       anything else: 503
//!                  ▼
//!   ┌─────────▶ GREETED ── AUTH ─▶ SASL (334 …) ─▶ Event::Auth ─▶ 235/535 ─▶ GREETED
//!   │              │  └─── STARTTLS: 220, Event::TlsStarting ─▶ AWAITING_TLS
//!   │              │        ─ tls_established() ─▶ CONNECTED (EHLO again, RFC 3207 §4.2)
//!   │              │ MAIL: Event::Mail, answered 2xx
//!   │              ▼
//!   │           IN_MAIL ── RCPT: Event::Rcpt, answered 2xx ─▶ HAS_RECIPIENTS
//!   │                                                          │            │
//!   │                          DATA: 354, Event::DataStart     │            │ BDAT n [LAST]
//!   │                                           ┌──────────────┘            ▼
//!   │                                           ▼                      BDAT_CHUNK (n octets,
//!   │                                       DATA_BODY                  Event::BodyChunk …)
//!   │                                           │ Event::BodyChunk …    │ not LAST: 250, back
//!   │                                           │ … CRLF.CRLF           │ to HAS_RECIPIENTS
//!   │                                           ▼                       ▼ LAST
//!   └── answered (250 …) ◀── Event::MessageEnd / Event::MessageAborted ◀┘
//!
//!  RSET, or HELO/EHLO/LHLO in a transaction: Event::Reset ─▶ GREETED
//!  any state: QUIT (221), end of stream, timeout (421 4.4.2), error limits (421 4.7.0)
//!             ─▶ CLOSED (Event::Closed; Event::MessageAborted first if mid-body)
//! ```
//!
//! While an event awaits its answer the machine reads no further command
//! ([`Server::awaiting`] tells which answer; `io()` reports `wants_read: false`).
//!
//! # Pipelining (RFC 2920 §3.2)
//!
//! Commands that arrive together are processed in order, one reply each. Replies to
//! RSET, MAIL, RCPT, BDAT chunks and the end of a message are held while another complete
//! command is buffered, so a group's replies leave in one write; replies to EHLO, DATA,
//! VRFY, EXPN, NOOP, HELP, QUIT, AUTH, STARTTLS and to unrecognised commands are released
//! at once, and so is everything when the input is exhausted, when the client must wait
//! (`354`, `334`, `220` for STARTTLS) or when the session closes.
//!
//! # Bodies
//!
//! DATA bodies go through [`DotDecoder`]: only `CRLF.CRLF` ends them, so none of the SMTP smuggling variants (`\n.\n`, `\r.\r\n`, ...) can end a
//! message early and start a second transaction. Under [`BareLineEnding::Reject`] a body
//! with a bare CR or LF is read to its end and refused. BDAT chunks are read raw, by
//! count. Memory stays bounded: each input is handed out as one [`Event::BodyChunk`] and
//! the machine asks for no more input until the events are taken.
//!
//! # Example
//!
//! ```
//! use mailproto_core::Machine;
//! use mailproto_core::smtp::server::{Event, Server, ServerConfig};
//!
//! let mut server = Server::new(ServerConfig::new("mx.example.org"));
//! let mut out = Vec::new();
//! let _ = server.poll_transmit(&mut out);
//! assert_eq!(out, b"220 mx.example.org ESMTP ready\r\n");
//!
//! server.feed(b"HELO client.example.net\r\nMAIL FROM:<a@example.net>\r\n");
//! assert!(matches!(server.poll_event(), Some(Event::Hello { .. })));
//! assert!(matches!(server.poll_event(), Some(Event::Mail { .. })));
//! server.accept().unwrap();
//! out.clear();
//! let _ = server.poll_transmit(&mut out);
//! assert_eq!(
//!     out,
//!     b"250 mx.example.org greets client.example.net\r\n250 2.1.0 Ok\r\n"
//! );
//! ```
//!
//! [`BareLineEnding::Reject`]: crate::line::BareLineEnding::Reject

mod answer;
mod auth;
mod body;
mod command;
mod config;
mod event;
mod reply;
mod state;

#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::dot::DotDecoder;
use crate::line::LineReader;
use crate::machine::{Io, Machine};
use crate::sasl::ServerAuth;
use crate::smtp::{ParseConfig, Reply, ReplyCode};

pub use config::{Extensions, ServerConfig, ServerLimits, Timeouts};
pub use event::{AbortReason, Answer, AnswerError, AnswerErrorKind, Awaiting, CloseReason, Event};

use state::{
    ChunkOutcome, ChunkState, Chunks, DataState, Flush, Pending, Phase, Session, Transaction,
};

/// The SMTP / LMTP server state machine. See the [module documentation](self).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    /// Host name with anything unprintable replaced, for reply texts.
    host: String,
    parse: ParseConfig,
    input: LineReader,
    /// Line limit outside SASL exchanges.
    command_max_line: usize,
    decoder: DotDecoder,
    /// Replies not handed out yet.
    out: Vec<u8>,
    /// `out[..urgent]` must be handed out even while a pipelined group is pending.
    urgent: usize,
    events: VecDeque<Event>,
    pending: Option<Pending>,
    /// The SASL exchange whose credentials await the application's verdict (kept for
    /// an OAuth error challenge, RFC 7628 §3.2.2).
    finished_sasl: Option<Box<ServerAuth>>,
    phase: Phase,
    session: Session,
    txn: Option<Transaction>,
    errors: usize,
    auth_failures: usize,
    eof: bool,
}

impl Server {
    /// A session that greets with `220 <hostname> <greeting>` (RFC 5321 §4.2, §3.1).
    pub fn new(config: ServerConfig) -> Server {
        let mut server = Server::build(config);
        let text = alloc::format!(
            "{} {}",
            server.host,
            reply::printable(&server.config.greeting)
        );
        let greeting = Reply::new(ReplyCode::SERVICE_READY, None, text.trim_end());
        server.send(&greeting, Flush::Now);
        server
    }

    /// A session that refuses service with `reply` (normally `554`), then answers every
    /// command but QUIT with `503` until the client quits (RFC 5321 §3.1). A reply that
    /// cannot be sent is replaced by `554 <hostname> Service unavailable`.
    pub fn new_refusing(config: ServerConfig, reply: Reply) -> Server {
        let mut server = Server::build(config);
        server.session.refusing = true;
        let mut probe = Vec::new();
        let sendable = reply.encode(&mut probe).is_ok() && reply.code.class() != 3;
        let reply = if sendable {
            reply
        } else {
            let text = alloc::format!("{} Service unavailable", server.host);
            Reply::new(ReplyCode::TRANSACTION_FAILED, None, &text)
        };
        server.send(&reply, Flush::Now);
        server
    }

    fn build(config: ServerConfig) -> Server {
        let limits = &config.limits.parse;
        let mut command_max_line = limits
            .command_line
            .saturating_add(limits.param_allowance)
            .max(limits.command_line);
        if !config.extensions.auth.is_empty() {
            command_max_line = command_max_line.max(limits.auth_line);
        }
        let parse = ParseConfig {
            limits: limits.clone(),
            smtputf8: config.extensions.smtputf8,
            allow_space_after_colon: config.allow_space_after_colon,
            reject_unknown_params: false,
        };
        Server {
            host: reply::printable(&config.hostname),
            parse,
            input: LineReader::new(command_max_line, config.bare_line_ending),
            command_max_line,
            decoder: DotDecoder::new(config.bare_line_ending),
            out: Vec::new(),
            urgent: 0,
            events: VecDeque::new(),
            pending: None,
            finished_sasl: None,
            phase: Phase::Command,
            session: Session {
                tls: config.tls_active,
                ..Session::default()
            },
            txn: None,
            errors: 0,
            auth_failures: 0,
            eof: false,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The answer the machine waits for, if any.
    pub fn awaiting(&self) -> Option<Awaiting> {
        self.pending.map(Pending::public)
    }

    /// Whether TLS is active (implicit TLS, or after STARTTLS and the handshake).
    pub fn is_tls(&self) -> bool {
        self.session.tls
    }

    /// Whether an AUTH exchange succeeded in this session.
    pub fn is_authenticated(&self) -> bool {
        self.session.authenticated
    }

    /// Whether a mail transaction is open (MAIL accepted, not yet ended or reset).
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Recipients accepted in the open transaction.
    pub fn accepted_recipients(&self) -> usize {
        self.txn.as_ref().map_or(0, |t| t.recipients)
    }

    /// Command errors counted so far (see [`ServerLimits::max_errors`]).
    pub fn error_count(&self) -> usize {
        self.errors
    }

    /// Sets the CRAM-MD5 challenge for the next AUTH exchange (RFC 2195 §2 wants a
    /// fresh one each time).
    pub fn set_cram_md5_challenge(&mut self, challenge: String) {
        self.config.cram_md5_challenge = Some(challenge);
    }

    /// Queues a reply.
    fn send(&mut self, reply: &Reply, flush: Flush) {
        if reply.encode(&mut self.out).is_err() {
            // Machine replies are built from printable text; this is a safety net.
            let fallback = Reply::new(ReplyCode::LOCAL_ERROR, None, "Internal error");
            let _ = fallback.encode(&mut self.out);
        }
        if flush == Flush::Now {
            self.urgent = self.out.len();
        }
    }

    /// Runs buffered input through the machine until it needs more input or an answer.
    fn process(&mut self) {
        loop {
            if self.pending.is_some() {
                return;
            }
            let progressed = match self.phase {
                Phase::Command => self.next_command(),
                Phase::Sasl(_) => self.next_sasl_line(),
                Phase::Data(_) => self.data_step(),
                Phase::Chunk(_) => self.chunk_step(),
                Phase::AwaitingTls | Phase::Closed => return,
            };
            if !progressed {
                break;
            }
        }
        if self.eof {
            self.close(CloseReason::Eof, None);
        }
    }

    /// Ends the session: queues `reply`, aborts a body in progress, emits `Closed`.
    fn close(&mut self, reason: CloseReason, reply: Option<Reply>) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        if let Some(reply) = reply {
            self.send(&reply, Flush::Now);
        }
        self.abort_body(AbortReason::SessionEnded);
        self.pending = None;
        self.finished_sasl = None;
        self.txn = None;
        self.input.discard();
        self.phase = Phase::Closed;
        self.events.push_back(Event::Closed { reason });
    }

    /// `421 4.7.0` and close, when a counter reached its limit.
    fn close_for(&mut self, reason: CloseReason, what: &str) {
        let text = alloc::format!("{} Error: {what}", self.host);
        let reply = self.status(421, 7, 0, &text);
        self.close(reason, Some(reply));
    }

    /// Counts a command error; closes the session at the limit.
    fn count_error(&mut self) {
        self.errors = self.errors.saturating_add(1);
        let max = self.config.limits.max_errors;
        if max > 0 && self.errors >= max {
            self.close_for(CloseReason::TooManyErrors, "too many errors");
        }
    }

    /// Whether a body was given to the application and not yet ended.
    fn body_in_progress(&self) -> bool {
        match &self.phase {
            Phase::Data(_) => true,
            Phase::Chunk(c) => matches!(c.outcome, ChunkOutcome::Deliver),
            _ => matches!(
                self.txn,
                Some(Transaction {
                    chunks: Chunks::Receiving { .. },
                    ..
                })
            ),
        }
    }

    /// Emits `MessageAborted` for a body in progress and leaves the body phase.
    fn abort_body(&mut self, reason: AbortReason) {
        if self.body_in_progress() {
            let reason = match &self.phase {
                Phase::Data(DataState {
                    failure: Some(f), ..
                }) => *f,
                _ => reason,
            };
            self.events.push_back(Event::MessageAborted { reason });
        }
        if let Some(txn) = &mut self.txn
            && matches!(txn.chunks, Chunks::Receiving { .. })
        {
            txn.chunks = Chunks::None;
        }
        if matches!(self.phase, Phase::Data(_) | Phase::Chunk(_)) {
            self.phase = Phase::Command;
        }
    }
}

impl Machine for Server {
    type Event = Event;

    fn feed(&mut self, data: &[u8]) {
        match self.phase {
            // Plaintext after STARTTLS's 220 is never acted upon (RFC 3207 §4.2).
            Phase::Closed | Phase::AwaitingTls => {}
            _ if self.eof => {}
            _ => {
                self.input.push(data);
                self.process();
            }
        }
    }

    fn feed_eof(&mut self) {
        if self.eof {
            return;
        }
        self.eof = true;
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitingTls => self.close(CloseReason::Eof, None),
            _ => self.process(),
        }
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let hold = matches!(self.phase, Phase::Command | Phase::Sasl(_)) && self.input.has_line();
        let n = if hold { self.urgent } else { self.out.len() };
        out.extend_from_slice(&self.out[..n]);
        self.out.drain(..n);
        self.urgent = self.urgent.saturating_sub(n);
        n
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn io(&self) -> Io {
        match self.phase {
            Phase::Closed => Io::Closed,
            Phase::AwaitingTls => Io::AwaitingTls,
            _ => Io::Open {
                wants_read: self.pending.is_none()
                    && self.events.is_empty()
                    && !self.eof
                    && self.input.len() < self.max_buffered(),
            },
        }
    }

    fn read_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Closed | Phase::AwaitingTls => None,
            Phase::Data(_) | Phase::Chunk(_) => Some(self.config.timeouts.data_block),
            Phase::Command | Phase::Sasl(_) => Some(self.config.timeouts.command),
        }
    }

    fn handle_timeout(&mut self) {
        if matches!(self.phase, Phase::AwaitingTls) {
            // Mid-handshake a plaintext reply would only corrupt the TLS stream.
            return self.close(CloseReason::Timeout, None);
        }
        let text = alloc::format!("{} Error: timeout exceeded", self.host);
        let reply = self.status(421, 4, 2, &text);
        self.close(CloseReason::Timeout, Some(reply));
    }

    fn tls_established(&mut self) {
        if !matches!(self.phase, Phase::AwaitingTls) {
            return;
        }
        // RFC 3207 §4.2: back to the state right after the greeting; forget EHLO, AUTH
        // and anything else learnt in plaintext.
        self.session = Session {
            tls: true,
            ..Session::default()
        };
        self.txn = None;
        self.input.discard();
        self.input.set_max_line(self.command_max_line);
        self.phase = Phase::Command;
        if self.eof {
            self.close(CloseReason::Eof, None);
        }
    }
}

impl Server {
    fn max_buffered(&self) -> usize {
        self.config
            .limits
            .max_buffered
            .max(self.command_max_line.saturating_mul(2))
    }
}
