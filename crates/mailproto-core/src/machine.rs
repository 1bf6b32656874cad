//! The contract every protocol machine keeps.
//!
//! `smtp::server`, `smtp::client`, `pop3::server` and `pop3::client` all have this shape,
//! so an adapter drives any of them with one loop:
//!
//! - **Input is copied in**: [`Machine::feed`] and [`Machine::feed_eof`]. The machine owns
//!   a bounded buffer (see [`crate::line::LineReader`]).
//! - **Output is appended** to a caller buffer by [`Machine::poll_transmit`].
//! - **Events are owned values** from [`Machine::poll_event`]: no borrow of the machine
//!   survives the call, so a generic adapter loop compiles.
//! - **The application answers** through each machine's typed methods (a server replies
//!   to a command, a client issues commands). Misuse returns an error that hands the value
//!   back and leaves the state unchanged.
//! - **What the adapter must do next** is [`Machine::io`].
//! - **No clock**: [`Machine::read_timeout`] says how long the current read may wait
//!   (RFC 5321 §4.5.3.2, RFC 1939 §3 autologout); the adapter owns the timer and calls
//!   [`Machine::handle_timeout`] when it fires.
//! - **Split independence**: feeding the same bytes split at any points gives the same
//!   events (after merging adjacent body chunks). Every machine has a property test for
//!   it; `testing::Pair` (feature `testing`) splits streams at chosen points.
//!
//! # The polling order
//!
//! ```text
//! loop {
//!     while machine.poll_transmit(&mut out) > 0 { write all of `out` }   // 1. flush
//!     while let Some(ev) = machine.poll_event() { answer ev }            // 2. events
//!     if anything was written or answered in 1-2, go round again
//!     match machine.io() {                                               // 3. I/O
//!         Io::Closed => break,
//!         Io::AwaitingTls => { handshake; machine.tls_established() }
//!         Io::Open { wants_read: true } => match read(machine.read_timeout()) {
//!             Ok(0) => machine.feed_eof(),
//!             Ok(n) => machine.feed(&buf[..n]),
//!             Err(timeout) => machine.handle_timeout(),
//!         },
//!         Io::Open { wants_read: false } => unreachable in a correct
//!             application: the machine waits for an answer to an event it gave out.
//!     }
//! }
//! ```
//!
//! Output must be written before the machine is fed again: replies of a pipelined group
//! are queued together (RFC 2920 §3.2) and `poll_transmit` hands them out at once.

use alloc::vec::Vec;
use core::time::Duration;

/// What the adapter must do next, as told by [`Machine::io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Io {
    /// The connection is open. When `wants_read` is true the machine needs more input;
    /// when false it is waiting for the application to answer an event, or has output
    /// to flush first.
    Open {
        /// Whether the adapter should read from the peer now.
        wants_read: bool,
    },
    /// STARTTLS/STLS was agreed and every plaintext byte still held has been discarded:
    /// the adapter must run the TLS handshake now, without reading plaintext, and then
    /// call [`Machine::tls_established`].
    AwaitingTls,
    /// The session is over; the adapter flushes pending output and closes the connection.
    Closed,
}

/// The sans-IO machine contract (see the module documentation for the polling order).
pub trait Machine {
    /// What the machine reports to the application.
    type Event;

    /// Copy received bytes in.
    fn feed(&mut self, data: &[u8]);

    /// The peer closed its side of the connection.
    fn feed_eof(&mut self);

    /// Append bytes to send to `out`; returns how many were appended (0: nothing to send).
    #[must_use]
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize;

    /// The next event for the application, if any.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// What the adapter must do next.
    fn io(&self) -> Io;

    /// How long the current read may wait before [`Machine::handle_timeout`] is due, or
    /// `None` for no limit.
    fn read_timeout(&self) -> Option<Duration>;

    /// The read timeout expired: the machine queues its goodbye (e.g. SMTP `421 4.4.2`)
    /// and closes.
    fn handle_timeout(&mut self);

    /// The TLS handshake the machine asked for ([`Io::AwaitingTls`]) completed; the
    /// session restarts as the RFC says (SMTP: EHLO again; POP3: CAPA cache dropped).
    fn tls_established(&mut self);
}
