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
//! §4.1.1.4, RFC 3030), timeouts (§4.5.3.2). With [`ServerConfig::ask_hello`] and
//! [`ServerConfig::ask_data`] the application also decides HELO/EHLO/LHLO and DATA (before
//! the `354`) or a first BDAT chunk; [`Server::new_refusing`] lets it refuse the greeting.
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
//!  any state: QUIT (221), end of stream, a deadline (421 4.4.2), error limits
//!             (421 4.7.0) ─▶ CLOSED (Event::Closed; Event::MessageAborted first if
//!             mid-body)
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
//! (`354`, `334`, `220` for STARTTLS) or when the session closes. The decision is made
//! when replies are queued; `poll_transmit` only hands out what was released. While
//! more than 32 KiB of replies wait for the client to take them, no further command is
//! processed and no input is asked for.
//!
//! # Deadlines
//!
//! [`Timeouts`]: idle (no command started), line (a command line started and not
//! ended), data (a body or BDAT chunk, extended at a minimum rate), message, session,
//! write (replies not taken), TLS handshake, and optionally the application's answer.
//! While an event awaits the application's answer the client's deadlines pause.
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
//! use mailproto_core::{Instant, Machine};
//! use mailproto_core::smtp::server::{Event, Server, ServerConfig};
//!
//! let now = Instant::ZERO;
//! let mut server = Server::new(now, ServerConfig::new("mx.example.org"));
//! let mut out = Vec::new();
//! let _ = server.poll_transmit(&mut out);
//! assert_eq!(out, b"220 mx.example.org ESMTP ready\r\n");
//! server.transmitted(now, out.len());
//!
//! server.feed(now, b"HELO client.example.net\r\nMAIL FROM:<a@example.net>\r\n");
//! assert!(matches!(server.poll_event(), Some(Event::Hello { .. })));
//! assert!(matches!(server.poll_event(), Some(Event::Mail { .. })));
//! server.accept(now).unwrap();
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
mod commands;
mod config;
mod event;
mod reply;
mod state;

#[cfg(test)]
mod tests;

#[cfg(doc)]
use crate::{Io, Machine};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use crate::dot::DotDecoder;
use crate::kernel::{self, Counter, Kernel, KernelConfig, Rules, Waiting};
use crate::line::LineReader;
use crate::sasl::ServerAuth;
use crate::smtp::{ParseConfig, Reply, ReplyCode};
use crate::time::{Deadline, Instant};

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
    k: Kernel<Event>,
    /// Line limit outside SASL exchanges.
    command_max_line: usize,
    decoder: DotDecoder,
    pending: Option<Pending>,
    /// The SASL exchange whose credentials await the application's verdict (kept for
    /// an OAuth error challenge, RFC 7628 §3.2.2).
    finished_sasl: Option<Box<ServerAuth>>,
    phase: Phase,
    session: Session,
    txn: Option<Transaction>,
    errors: Counter,
    auth_failures: Counter,
    /// AUTH exchanges started (each gets a fresh CRAM-MD5 challenge).
    auth_attempts: u32,
    /// Bodies and BDAT chunks begun so far (the key of the data deadline).
    bodies: u64,
    /// What the last EHLO/LHLO reply advertised (`None` before it, after HELO and
    /// after STARTTLS): the parameters the protocol table allows.
    advertised: Option<crate::smtp::Capabilities>,
    /// The name of a greeting awaiting the application's answer
    /// ([`ServerConfig::ask_hello`]).
    asked_hello: Option<crate::smtp::Host>,
}

impl Server {
    /// A session that starts at `now` and greets with `220 <hostname> <greeting>`
    /// (RFC 5321 §4.2, §3.1).
    pub fn new(now: Instant, config: ServerConfig) -> Server {
        let mut server = Server::build(now, config);
        let text = alloc::format!(
            "{} {}",
            server.host,
            reply::printable(&server.config.greeting)
        );
        let greeting = Reply::new(ReplyCode::SERVICE_READY, None, text.trim_end());
        server.send(&greeting, Flush::Now);
        kernel::settle(&mut server, now);
        server
    }

    /// A session that starts at `now` and refuses service with `reply` (normally
    /// `554`), then answers every command but QUIT with `503` until the client quits
    /// (RFC 5321 §3.1). A `421` reply closes the session once sent (§3.8). A reply that
    /// cannot be sent is replaced by `554 <hostname> Service unavailable`.
    pub fn new_refusing(now: Instant, config: ServerConfig, reply: Reply) -> Server {
        let mut server = Server::build(now, config);
        server.session.refusing = true;
        let mut probe = Vec::new();
        let sendable = reply.encode(&mut probe).is_ok() && reply.code.class() != 3;
        let reply = if sendable {
            reply
        } else {
            let text = alloc::format!("{} Service unavailable", server.host);
            Reply::new(ReplyCode::TRANSACTION_FAILED, None, &text)
        };
        if reply.code == ReplyCode::NOT_AVAILABLE {
            // RFC 5321 §3.1, §3.8: a 421 greeting closes the connection.
            server.close(CloseReason::Application, Some(reply));
        } else {
            server.send(&reply, Flush::Now);
        }
        kernel::settle(&mut server, now);
        server
    }

    fn build(now: Instant, config: ServerConfig) -> Server {
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
        let t = &config.timeouts;
        let kernel = KernelConfig::new(now, t.write, t.session, t.tls_handshake, t.application)
            .login_within(t.first_transaction)
            .buffering(config.limits.max_buffered);
        let input = LineReader::new(command_max_line, config.bare_line_ending);
        Server {
            host: reply::printable(&config.hostname),
            parse,
            k: Kernel::new(input, kernel, |discarded| Event::TlsInjection { discarded }),
            command_max_line,
            decoder: DotDecoder::new(config.bare_line_ending),
            pending: None,
            finished_sasl: None,
            phase: Phase::Command,
            session: Session {
                tls: config.tls_active,
                ..Session::default()
            },
            txn: None,
            errors: Counter::new(u32::try_from(config.limits.max_errors).unwrap_or(u32::MAX)),
            auth_failures: Counter::new(
                u32::try_from(config.limits.max_auth_failures).unwrap_or(u32::MAX),
            ),
            bodies: 0,
            advertised: None,
            asked_hello: None,
            auth_attempts: 0,
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

    /// The server is going down: answer `421 4.3.2 <host> Service shutting down` (RFC
    /// 5321 §3.8: a server that must shut down says so to every command, at any point)
    /// and close; a message being received is aborted ([`Event::MessageAborted`]), an
    /// answer still awaited from the application is not given. Mid-handshake nothing can
    /// be said: the session just closes. Nothing happens once closed.
    pub fn shutdown(&mut self, now: Instant) {
        crate::kernel::answer(self, now, |m| {
            if m.k.is_awaiting_tls() {
                m.close(CloseReason::Shutdown, None);
                return;
            }
            let text = alloc::format!("{} Service shutting down", m.host);
            let reply = m.status(421, 3, 2, &text);
            m.close(CloseReason::Shutdown, Some(reply));
        });
    }

    /// Hold back every reply queued (and queued meanwhile) and every command not yet
    /// acted on until `until`: the listener's delay after a failed login, so that a
    /// guesser's next try is read only then, whatever it pipelines. The client's
    /// deadlines pause meanwhile (the delay is ours); the session cap, the
    /// first-transaction deadline and shutdown still apply. Reached through
    /// [`poll_timeout`](crate::Machine::poll_timeout) like a deadline; a later call
    /// extends a hold, never shortens it.
    pub fn hold_until(&mut self, now: Instant, until: Instant) {
        crate::kernel::answer(self, now, |m| m.k.hold(until));
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
        self.errors.get() as usize
    }

    /// Sets the CRAM-MD5 challenge for the next AUTH exchange (RFC 2195 §2 wants a
    /// fresh one each time).
    pub fn set_cram_md5_challenge(&mut self, challenge: String) {
        self.config.cram_md5_challenge = Some(challenge);
    }

    /// Queues a reply; [`Flush::Now`] releases it and everything before it.
    fn send(&mut self, reply: &Reply, flush: Flush) {
        let from = self.k.queued_len();
        if reply.encode(self.k.out.buf()).is_err() {
            // Machine replies are built from printable text; this is a safety net.
            let fallback = Reply::new(ReplyCode::LOCAL_ERROR, None, "Internal error");
            let _ = fallback.encode(self.k.out.buf());
        }
        self.k.record_sent(from, true);
        if flush == Flush::Now {
            self.k.out.release();
        }
    }

    /// A body or BDAT chunk begins: its deadline, and for a new message the message cap.
    fn body_started(&mut self) {
        let now = self.k.now();
        self.k
            .timers
            .start_message(now, self.config.timeouts.message);
    }

    /// Runs buffered input through the machine until it needs more input or an answer.
    fn process(&mut self) {
        if self.k.is_held() {
            return;
        }
        loop {
            if self.pending.is_some() || self.k.out.is_full() {
                break;
            }
            let progressed = crate::kernel::step(self, |s| match s.phase {
                Phase::Command => s.next_command(),
                Phase::Sasl(_) => s.next_sasl_line(),
                Phase::Data(_) => s.data_step(),
                Phase::Chunk(_) => s.chunk_step(),
                Phase::AwaitingTls | Phase::Closed => false,
            });
            if matches!(self.phase, Phase::AwaitingTls | Phase::Closed) {
                return;
            }
            if !progressed {
                break;
            }
        }
        if self.k.is_eof() && self.pending.is_none() {
            self.close(CloseReason::PeerClosed, None);
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
        self.asked_hello = None;
        self.finished_sasl = None;
        self.txn = None;
        self.phase = Phase::Closed;
        self.k.close(Event::Closed { reason });
    }

    /// `421 4.7.0` and close, when a counter reached its limit.
    fn close_for(&mut self, reason: CloseReason, what: &str) {
        let text = alloc::format!("{} Error: {what}", self.host);
        let reply = self.status(421, 7, 0, &text);
        self.close(reason, Some(reply));
    }

    /// Counts a command error; closes the session at the limit.
    fn count_error(&mut self) {
        if self.errors.bump() {
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
            self.k.emit(Event::MessageAborted { reason });
        }
        if let Some(txn) = &mut self.txn
            && matches!(txn.chunks, Chunks::Receiving { .. })
        {
            txn.chunks = Chunks::None;
        }
        self.k.timers.end_message();
        if matches!(self.phase, Phase::Data(_) | Phase::Chunk(_)) {
            self.phase = Phase::Command;
        }
    }
}

impl Rules for Server {
    fn waiting(&self) -> Waiting {
        if self.pending.is_some() {
            return Waiting::Answer;
        }
        let t = &self.config.timeouts;
        match self.phase {
            Phase::Data(_) | Phase::Chunk(_) => Waiting::Peer {
                kind: Deadline::Body,
                key: self.bodies,
                limit: t.data,
            },
            _ => self.k.command_wait(
                crate::time::RateDeadline::fixed(t.idle),
                crate::time::RateDeadline::fixed(t.line),
                false,
            ),
        }
    }

    fn wants_read(&self) -> bool {
        self.pending.is_none()
    }

    fn on_eof(&mut self) {
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitingTls => self.close(CloseReason::PeerClosed, None),
            _ => self.process(),
        }
    }

    fn on_timeout(&mut self, deadline: Deadline) {
        let reason = CloseReason::Timeout(deadline);
        match deadline {
            // The client cannot be reached in plaintext mid-handshake, nor at all when it
            // does not read.
            Deadline::Handshake | Deadline::Write => self.close(reason, None),
            Deadline::Application => {
                let text = alloc::format!("{} Error: local timeout, try again later", self.host);
                let reply = self.status(421, 3, 0, &text);
                self.close(reason, Some(reply));
            }
            _ => {
                let text = alloc::format!("{} Error: timeout exceeded", self.host);
                let reply = self.status(421, 4, 2, &text);
                self.close(reason, Some(reply));
            }
        }
    }

    fn on_tls_established(&mut self) {
        // RFC 3207 §4.2: back to the state right after the greeting; forget EHLO, AUTH
        // and anything else learnt in plaintext.
        self.session = Session {
            tls: true,
            ..Session::default()
        };
        self.advertised = None;
        self.txn = None;
        self.k.input.set_max_line(self.command_max_line);
        self.phase = Phase::Command;
        if self.k.is_eof() {
            self.close(CloseReason::PeerClosed, None);
        }
    }

    fn on_input_overflow(&mut self) {
        self.close_for(CloseReason::InputOverflow, "too much pipelined input");
    }

    fn settle_rules(&mut self) {
        // RFC 2920 §3.2: a group's replies go out together once no complete command is
        // left to process (or the machine waits for the application and the client).
        let group_continues = !self.k.out.is_full()
            && matches!(self.phase, Phase::Command | Phase::Sasl(_))
            && self.k.input.has_line();
        if !group_continues {
            self.k.out.release();
        }
    }
}

kernel::impl_machine!(Server, Event, k, false);
