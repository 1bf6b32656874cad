//! The POP3 client state machine (RFC 1939, with CAPA and PIPELINING from RFC 2449, STLS
//! from RFC 2595, AUTH from RFC 5034, UTF8 from RFC 6856).
//!
//! [`Client`] is sans-IO (see [`crate::machine`] for the polling loop): feed it the
//! server's bytes, take the commands it writes with
//! [`poll_transmit`](Machine::poll_transmit), and read what happened from
//! [`poll_event`](Machine::poll_event). The application issues commands with typed
//! methods ([`Client::user`], [`Client::retr`], ...); each is queued, written when the
//! session allows, and answered by events in issue order.
//!
//! # States
//!
//! ```text
//!   connect                       -ERR greeting, EOF, timeout, abort(),
//!      |                          a line that is not +OK/-ERR, an over-long line
//!      v                                  (from any state)
//! +-----------+                                   |
//! | Greeting  |  the client writes nothing yet    v
//! +-----------+                              +--------+
//!      | +OK greeting                        | Closed |
//!      v                                     +--------+
//! +---------------+  STLS +OK   +-------------+    ^
//! | Authorization |------------>| AwaitingTls |    |
//! |               |<------------|             |    | QUIT answered
//! +---------------+ tls_        +-------------+    | (+OK or -ERR)
//!      | PASS / APOP / AUTH  established():        |
//!      | answered +OK        TlsReady, CAPA        |
//!      v                     cache dropped         |
//! +---------------+                                |
//! |  Transaction  |--------------------------------+
//! +---------------+
//! ```
//!
//! Inside Authorization and Transaction every response is read the same way: a status
//! line, framed by the shared [`LineReader`] and bounded by
//! [`Limits::status_line`](crate::pop3::Limits::status_line); for a `+OK` to CAPA, a
//! bare AUTH, LIST, UIDL, RETR or TOP the dot-terminated lines that follow go through the
//! shared [`DotDecoder`] until `CRLF . CRLF`, and the bytes after
//! the terminator belong to the next response. A message body is handed out as
//! [`Event::MessageData`] chunks as it arrives and is never held whole.
//!
//! # Sending commands
//!
//! Nothing is written before the greeting. Then, without PIPELINING, one command is
//! outstanding at a time and the next is written when the previous answer is complete.
//! When the last CAPA answer advertised PIPELINING (RFC 2449 §6.6), every queued command
//! is written at once (up to [`ClientConfig::pipeline_window`] octets outstanding) and
//! answers are matched in order. AUTH, STLS and QUIT are written last in a group: nothing
//! follows them until they are answered, so a command can never be taken for a SASL
//! response or cross the TLS boundary. The capabilities are forgotten after STLS
//! (RFC 2595 §4) and after a login (RFC 2449 §5): CAPA again to pipeline further.
//!
//! # STLS and response injection
//!
//! When the `+OK` to STLS arrives, every byte received after it in plaintext is thrown
//! away unread (CVE-2021-22947 / CVE-2020-14954 class), as is anything fed before
//! [`tls_established`](Machine::tls_established); the count is reported once as
//! [`Event::TlsInjection`] before [`Event::TlsReady`].
//!
//! # Example: the RFC 1939 §10 session
//!
//! ```
//! use mailproto_core::{Instant, Machine};
//! use mailproto_core::pop3::Secret;
//! use mailproto_core::pop3::client::{Client, ClientConfig, CommandKind, Event};
//!
//! let now = Instant::ZERO;
//! let mut client = Client::new(now, ClientConfig::default());
//! let mut wire = Vec::new();
//! client.feed(now, b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
//! assert!(matches!(client.poll_event(), Some(Event::Greeting { .. })));
//!
//! client.apop(now, "mrose", &Secret::from("tanstaaf"))?;
//! client.stat(now)?;
//! let _ = client.poll_transmit(&mut wire);
//! client.transmitted(now, wire.len());
//! assert_eq!(wire, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
//!
//! client.feed(now, b"+OK mrose's maildrop has 2 messages (320 octets)\r\n");
//! assert!(matches!(
//!     client.poll_event(),
//!     Some(Event::LoggedIn { command: CommandKind::Apop, .. })
//! ));
//! wire.clear();
//! let _ = client.poll_transmit(&mut wire);
//! assert_eq!(wire, b"STAT\r\n");
//! client.feed(now, b"+OK 2 320\r\n");
//! assert!(matches!(client.poll_event(), Some(Event::Stat(s)) if s.count == 2));
//! # Ok::<(), mailproto_core::pop3::client::Refused<()>>(())
//! ```

mod commands;
mod config;
mod error;
mod event;
mod listing;
mod read;

#[cfg(test)]
mod tests;

#[cfg(doc)]
use crate::{Io, Machine};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroize;

pub use config::{ClientConfig, Timeouts};
pub use error::{ClientError, Refused};
pub use event::{CloseReason, CommandKind, Event, ProtocolError, ResponseError, SessionState};

use crate::dot::DotDecoder;
use crate::kernel::{self, Kernel, KernelConfig, Rules, Waiting};
use crate::line::{BareLineEnding, LineReader};
use crate::pop3::Capabilities;
use crate::secret::Secret;
use crate::time::{Deadline, Instant};

use listing::Listing;

/// The POP3 client machine. See the [module documentation](self) for its states and
/// the order of commands on the wire.
///
/// Drive it with the loop of [`crate::machine`]: flush
/// [`poll_transmit`](Machine::poll_transmit), answer every
/// [`poll_event`](Machine::poll_event) (issuing commands is the answer), then do what
/// [`io`](Machine::io) says: read until [`poll_timeout`](Machine::poll_timeout) and
/// [`feed`](Machine::feed), run the TLS handshake, or close. Commands may be issued at any
/// time, even before the greeting; they are written when the session allows.
pub struct Client {
    config: ClientConfig,
    /// Input, output (zeroed once handed out: it may hold PASS or a SASL response),
    /// events and deadlines.
    k: Kernel<Event>,
    /// Responses (and the greeting) read so far: the key of the response deadline.
    responses: u64,
    /// Commands issued and not yet answered, in issue order.
    queue: VecDeque<Expect>,
    /// How many commands at the front of `queue` have been written.
    sent: usize,
    /// Octets of the written, unanswered commands.
    in_flight: usize,
    phase: Phase,
    stage: Stage,
    apop_timestamp: Option<String>,
    capa: Capa,
    tls_active: bool,
    utf8_issued: bool,
    last_issued: Option<CommandKind>,
}

/// Where the reader stands.
#[derive(Debug)]
enum Phase {
    /// Expecting a status line (or a SASL continuation).
    Line,
    /// Inside the dot-terminated part of a multi-line `+OK` answer.
    Body(Body),
    /// STLS was accepted; nothing is read until the handshake is done.
    AwaitingTls,
    Closed,
}

/// The RFC 1939 state, apart from the TLS wait and the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    Authorization,
    Transaction,
}

/// What the client knows of the server's capabilities (RFC 2449 §5).
#[derive(Debug)]
enum Capa {
    /// Not asked since the session (re)started.
    Unknown,
    /// CAPA was refused: the server predates RFC 2449; probe with the commands instead.
    Unsupported,
    /// The last CAPA answer.
    Known(Capabilities),
}

#[derive(Debug)]
struct Body {
    decoder: DotDecoder,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    /// RETR or TOP: streamed as [`Event::MessageData`].
    Message,
    /// CAPA, AUTH, LIST, UIDL: collected and parsed.
    Listing(Listing),
}

/// A command issued and not yet answered.
#[derive(Debug)]
struct Expect {
    kind: CommandKind,
    /// The encoded line; zeroed once written.
    line: Secret<Vec<u8>>,
    len: usize,
    /// The SASL exchange of an AUTH command.
    sasl: Option<crate::sasl::ClientExchange>,
}

impl Client {
    /// A client for a connection opened at `now`: it waits for the greeting.
    pub fn new(now: Instant, config: ClientConfig) -> Self {
        let input = LineReader::new(config.limits.status_line, BareLineEnding::Keep);
        let t = &config.timeouts;
        let kernel =
            KernelConfig::new(now, t.write, t.session, t.tls_handshake, None).wiping_output();
        let mut client = Client {
            tls_active: config.tls_active,
            k: Kernel::new(input, kernel, |discarded| Event::TlsInjection { discarded }),
            config,
            responses: 0,
            queue: VecDeque::new(),
            sent: 0,
            in_flight: 0,
            phase: Phase::Line,
            stage: Stage::Greeting,
            apop_timestamp: None,
            capa: Capa::Unknown,
            utf8_issued: false,
            last_issued: None,
        };
        kernel::settle(&mut client, now);
        client
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The session state.
    pub fn state(&self) -> SessionState {
        match (&self.phase, self.stage) {
            (Phase::Closed, _) => SessionState::Closed,
            (Phase::AwaitingTls, _) => SessionState::AwaitingTls,
            (_, Stage::Greeting) => SessionState::Greeting,
            (_, Stage::Authorization) => SessionState::Authorization,
            (_, Stage::Transaction) => SessionState::Transaction,
        }
    }

    /// The APOP timestamp of a `+OK` greeting (RFC 1939 §7), brackets included.
    pub fn apop_timestamp(&self) -> Option<&str> {
        self.apop_timestamp.as_deref()
    }

    /// The capabilities of the last CAPA answer, unless STLS or a login dropped them.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        match &self.capa {
            Capa::Known(caps) => Some(caps),
            _ => None,
        }
    }

    /// Whether the last CAPA was refused with `-ERR`: the server predates RFC 2449, so
    /// the client has to probe (try a command, accept `-ERR`).
    pub fn capa_unsupported(&self) -> bool {
        matches!(self.capa, Capa::Unsupported)
    }

    /// Whether commands are pipelined: the last CAPA answer advertised PIPELINING
    /// (RFC 2449 §6.6).
    pub fn pipelining(&self) -> bool {
        self.capabilities()
            .is_some_and(|caps| caps.contains("PIPELINING"))
    }

    /// Whether the connection is protected by TLS (implicit, or after STLS).
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Commands issued and not yet answered (written or still queued).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// End the session at once, without QUIT (e.g. after
    /// [`Event::TlsInjection`]): queued commands are dropped, and
    /// [`Event::Closed`] with [`CloseReason::Aborted`] follows. Output already queued
    /// is still handed out by [`poll_transmit`](Machine::poll_transmit).
    pub fn abort(&mut self, now: Instant) {
        kernel::answer(self, now, |m| m.close(CloseReason::Aborted));
    }

    /// Whether a response (or the greeting) is awaited.
    fn expecting(&self) -> bool {
        matches!(self.phase, Phase::Line | Phase::Body(_))
            && (self.stage == Stage::Greeting || self.sent > 0)
    }

    /// Write every queued command the session allows now (see the module docs).
    fn send_ready(&mut self) {
        if !matches!(self.phase, Phase::Line | Phase::Body(_)) || self.stage == Stage::Greeting {
            return;
        }
        let pipelining = self.pipelining();
        while let Some(len) = self.queue.get(self.sent).map(|p| p.len) {
            if self.sent > 0 {
                let after_barrier = self
                    .queue
                    .get(self.sent - 1)
                    .is_some_and(|p| is_barrier(p.kind));
                let window = self.in_flight.saturating_add(len) > self.config.pipeline_window;
                if !pipelining || after_barrier || window {
                    break;
                }
            }
            if let Some(p) = self.queue.get_mut(self.sent) {
                if let Some(t) = self.k.transcript.as_mut() {
                    t.sent_command(p.line.expose());
                }
                self.k.out.push(p.line.expose());
                p.line.expose_mut().zeroize();
            }
            self.sent += 1;
            self.in_flight = self.in_flight.saturating_add(len);
        }
    }

    /// The front command is answered: report it and write what may follow.
    fn complete(&mut self, event: Option<Event>) {
        if let Some(done) = self.queue.pop_front() {
            self.sent = self.sent.saturating_sub(1);
            self.in_flight = self.in_flight.saturating_sub(done.len);
        }
        self.responses += 1;
        if let Some(event) = event {
            self.k.emit(event);
        }
        self.send_ready();
    }

    fn close(&mut self, reason: CloseReason) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.phase = Phase::Closed;
        self.queue.clear();
        self.sent = 0;
        self.in_flight = 0;
        self.k.close(Event::Closed { reason });
    }
}

/// Commands after which nothing is written until they are answered: AUTH (a following
/// command would be read as a SASL response), STLS (RFC 2595 §4) and QUIT.
fn is_barrier(kind: CommandKind) -> bool {
    // The protocol table's rule; a bare AUTH only asks for the mechanism list, which is
    // no SASL exchange.
    crate::pop3::table::rule(kind.verb()).ends_group && kind != CommandKind::AuthList
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .field("pending", &self.queue.len())
            .field("sent", &self.sent)
            .field("pipelining", &self.pipelining())
            .field("tls_active", &self.tls_active)
            .field("buffered_input", &self.k.input.len())
            .field("queued_output", &self.k.out.pending())
            .finish_non_exhaustive()
    }
}

impl Rules for Client {
    /// The greeting, or the response to the oldest command written. Between commands
    /// the client still reads, untimed.
    fn waiting(&self) -> Waiting {
        if self.expecting() {
            Waiting::Peer {
                kind: Deadline::Reply,
                key: self.responses,
                limit: self.config.timeouts.response,
            }
        } else {
            Waiting::Nothing
        }
    }

    fn wants_read(&self) -> bool {
        true
    }

    fn on_eof(&mut self) {
        self.close(CloseReason::PeerClosed);
    }

    fn on_timeout(&mut self, deadline: Deadline) {
        self.close(CloseReason::Timeout(deadline));
    }

    fn on_tls_established(&mut self) {
        self.tls_active = true;
        self.phase = Phase::Line;
        self.k.emit(Event::TlsReady);
        self.send_ready();
    }

    fn on_input_overflow(&mut self) {
        self.close(CloseReason::InputOverflow);
    }

    fn settle_rules(&mut self) {
        self.k.out.release();
    }
}

kernel::impl_machine!(Client, Event, k, true);
