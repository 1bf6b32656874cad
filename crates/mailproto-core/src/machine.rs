//! The contract every protocol machine keeps.
//!
//! `smtp::server`, `smtp::client`, `pop3::server` and `pop3::client` all have this shape,
//! so an adapter drives any of them with one loop:
//!
//! - **Input is copied in**: [`Machine::feed`] and [`Machine::feed_eof`]. The machine owns
//!   a bounded buffer (see [`crate::line::LineReader`]): input fed while it does not ask
//!   for any ([`Io::Open`] with `wants_read: false`) is kept up to its limit, and beyond
//!   it the session closes.
//! - **Output is appended** to a caller buffer by [`Machine::poll_transmit`], which hands
//!   out what is queued and does nothing else. The adapter reports how much of it the
//!   peer has taken with [`Machine::transmitted`].
//! - **Events are owned values** from [`Machine::poll_event`]: no borrow of the machine
//!   survives the call, so a generic adapter loop compiles.
//! - **The application answers** through each machine's typed methods (a server replies
//!   to a command, a client issues commands). Misuse returns a [`Misuse`] error that hands
//!   the value back and leaves the state unchanged.
//! - **What the adapter must do next** is [`Machine::io`].
//! - **Time is an input**: every call that can start, move or end a deadline takes the
//!   current [`Instant`]; [`Machine::poll_timeout`] names the earliest deadline due and
//!   [`Machine::handle_timeout`] acts on it. The machine never reads a clock (see
//!   [`crate::time`]). Deadlines cover waiting for a command (idle), completing a line
//!   (a drip of single octets never extends it), a body and a whole message (extended
//!   only at a minimum data rate), the peer taking output (write), a reply (clients), a
//!   TLS handshake, and a session's life. Time the application takes to answer does not
//!   count against the peer.
//! - **Split independence**: feeding the same bytes split at any points gives the same
//!   events (after merging adjacent body chunks); so does feeding them at any times
//!   within the deadlines. Every machine has property tests for it; `testing::Pair`
//!   (feature `testing`) splits streams at chosen points and runs a virtual clock.
//!
//! # The polling order
//!
//! ```text
//! loop {
//!     now = clock();
//!     while machine.poll_transmit(&mut out) > 0 {}                       // 1. output
//!     write `out` (at most until machine.poll_timeout()); after each write of n bytes:
//!         machine.transmitted(now, n)
//!     while let Some(ev) = machine.poll_event() { answer ev (at `now`) }   // 2. events
//!     if anything was written or answered in 1-2, go round again
//!     match machine.io() {                                                // 3. input
//!         Io::Closed => break (after the output is written),
//!         Io::AwaitingTls => { handshake until poll_timeout(); machine.tls_established(now) }
//!         Io::Open { wants_read } => wait for input (if wants_read) or for the
//!             application, at most until machine.poll_timeout():
//!             data     => machine.feed(now, &buf[..n]),
//!             end      => machine.feed_eof(now),
//!             deadline => machine.handle_timeout(now),
//!     }
//! }
//! ```
//!
//! Output must be taken before the machine is fed again: replies of a pipelined group
//! are released together (RFC 2920 §3.2) and `poll_transmit` hands them out at once.
//! The core crate's examples (`examples/core_smtp_server.rs`,
//! `examples/core_pop3_client.rs`) show this loop over a `TcpStream`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::time::Instant;

/// What the adapter must do next, as told by [`Machine::io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Io {
    /// The connection is open. When `wants_read` is true the machine takes more input;
    /// when false it waits for the application (an answer to an event, events to be
    /// taken) or for its output to be taken first. A client reads even between
    /// commands, so an unsolicited reply or the server closing surfaces as an event.
    Open {
        /// Whether the adapter should read from the peer now.
        wants_read: bool,
    },
    /// STARTTLS/STLS was agreed and every plaintext byte still held has been discarded:
    /// the adapter must run the TLS handshake now, without reading plaintext, and then
    /// call [`Machine::tls_established`].
    AwaitingTls,
    /// The session is over; the adapter writes the output still queued (the goodbye,
    /// under the write deadline) and closes the connection.
    Closed,
}

/// The sans-IO machine contract (see the module documentation for the polling order).
pub trait Machine {
    /// What the machine reports to the application.
    type Event;

    /// Copy received bytes in, at `now`.
    fn feed(&mut self, now: Instant, data: &[u8]);

    /// The peer closed its side of the connection, at `now`.
    fn feed_eof(&mut self, now: Instant);

    /// Append the bytes queued for the peer to `out`; returns how many were appended
    /// (0: nothing to send). Nothing else changes: report what the peer took with
    /// [`Machine::transmitted`].
    #[must_use]
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize;

    /// The peer took `n` more of the bytes handed out by [`Machine::poll_transmit`] (a
    /// write of `n` bytes completed at `now`). Progress extends the write deadline only
    /// at its minimum rate.
    fn transmitted(&mut self, now: Instant, n: usize);

    /// The next event for the application, if any.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// What the adapter must do next.
    fn io(&self) -> Io;

    /// The earliest deadline due, or `None` when nothing is timed (a client between
    /// commands with nothing queued). Call [`Machine::handle_timeout`] once the clock
    /// reaches it; calls before it change nothing.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// The clock reached [`Machine::poll_timeout`]: the machine ends the session, with
    /// its goodbye where the protocol has one (SMTP server `421 4.4.2`; POP3 closes
    /// without UPDATE). A write deadline drops the output instead, as the peer is not
    /// taking it.
    fn handle_timeout(&mut self, now: Instant);

    /// The TLS handshake the machine asked for ([`Io::AwaitingTls`]) completed; the
    /// session restarts as the RFC says (SMTP: EHLO again; POP3: CAPA cache dropped).
    fn tls_established(&mut self, now: Instant);

    /// Start (or stop) keeping a [transcript](crate::transcript) of the session for
    /// [`Machine::poll_transcript`]: the lines received, credentials masked, and the
    /// status lines sent. Off by default; machines that keep none ignore it.
    fn record_transcript(&mut self, on: bool) {
        let _ = on;
    }

    /// The next transcript line, once [`Machine::record_transcript`] turned it on.
    #[must_use]
    fn poll_transcript(&mut self) -> Option<crate::transcript::Line> {
        None
    }
}

/// A call the machine refused: what was wrong (`kind`, the machine's own enum), which
/// call, and the value handed back. The machine's state is unchanged.
///
/// Every machine returns this one type; each names it for its kinds
/// ([`smtp::server::AnswerError`](crate::smtp::server::AnswerError),
/// [`smtp::client::Refused`](crate::smtp::client::Refused),
/// [`pop3::server::MisuseError`](crate::pop3::server::MisuseError),
/// [`pop3::client::Refused`](crate::pop3::client::Refused)).
#[derive(Clone, PartialEq, Eq)]
pub struct Misuse<K, T> {
    call: &'static str,
    kind: K,
    /// Boxed so that `Result<(), Misuse<K, T>>` stays small on the success path.
    value: Box<T>,
}

impl<K, T> Misuse<K, T> {
    /// `call` refused for `kind`, handing `value` back.
    pub fn new(call: &'static str, kind: K, value: T) -> Self {
        Misuse {
            call,
            kind,
            value: Box::new(value),
        }
    }

    /// The method that was refused, e.g. `"login_ok"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// What was wrong.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// The value handed back.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// What was wrong, dropping the value.
    pub fn into_kind(self) -> K {
        self.kind
    }

    /// The value handed back, dropping the error.
    pub fn into_value(self) -> T {
        *self.value
    }

    /// Both parts.
    pub fn into_parts(self) -> (K, T) {
        (self.kind, *self.value)
    }
}

impl<K: fmt::Debug, T> fmt::Debug for Misuse<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value may hold credentials: it is not printed.
        f.debug_struct("Misuse")
            .field("call", &self.call)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<K: fmt::Display, T> fmt::Display for Misuse<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {}", self.call, self.kind)
    }
}

impl<K: fmt::Debug + fmt::Display, T> core::error::Error for Misuse<K, T> {}
