//! In-memory client ↔ server wiring for tests (feature `testing`).
//!
//! [`Pair`] moves bytes between two [`Machine`]s, cutting each stream at chosen points so
//! tests can show that events do not depend on how the bytes were split, and records a
//! `C:` / `S:` transcript of what crossed. It follows [`Io`]: bytes are fed only while the
//! receiver wants input, a side in [`Io::AwaitingTls`] gets a simulated handshake (after
//! the plaintext still in flight towards it is dropped and counted), and a side that
//! closes gives the other an end of stream once everything it sent has been delivered.
//!
//! The pair runs a virtual clock: every call it makes passes [`Pair::now`], the wire
//! takes every byte at once (so the write deadlines never run out on their own), and
//! [`Pair::advance`] moves the clock, firing each machine's deadlines at the times they
//! fall due. Tests of deadlines need no sleeping and no real clock.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::machine::{Io, Machine};
use crate::time::{Duration, Instant};

/// Cuts a byte stream into chunks of the given sizes, cycling through them.
#[derive(Debug, Clone)]
pub struct Splitter {
    sizes: Vec<usize>,
    next: usize,
}

impl Splitter {
    /// Chunks of these sizes in turn (zeros count as one); no sizes means whole writes.
    pub fn new(sizes: Vec<usize>) -> Self {
        Splitter { sizes, next: 0 }
    }

    /// The size of the next chunk out of `available` bytes.
    pub fn next_chunk(&mut self, available: usize) -> usize {
        if self.sizes.is_empty() {
            return available;
        }
        let n = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        n.min(available)
    }
}

/// Which side of a [`Pair`] sent some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

/// One direction of the wire: bytes sent but not yet fed.
#[derive(Debug, Default)]
struct Wire {
    in_flight: VecDeque<u8>,
    sender_closed: bool,
    eof_delivered: bool,
    dropped_at_tls: usize,
}

/// A client machine wired to a server machine in memory.
#[derive(Debug)]
pub struct Pair<C: Machine, S: Machine> {
    /// The client machine.
    pub client: C,
    /// The server machine.
    pub server: S,
    to_server: Wire,
    to_client: Wire,
    splitter: Splitter,
    transcript: Vec<(Side, Vec<u8>)>,
    now: Instant,
}

impl<C: Machine, S: Machine> Pair<C, S> {
    /// Wire `client` to `server`, delivering whole writes.
    pub fn new(client: C, server: S) -> Self {
        Self::with_splits(client, server, Vec::new())
    }

    /// Wire them, feeding each receiver in chunks of these sizes.
    pub fn with_splits(client: C, server: S, sizes: Vec<usize>) -> Self {
        Pair {
            client,
            server,
            to_server: Wire::default(),
            to_client: Wire::default(),
            splitter: Splitter::new(sizes),
            transcript: Vec::new(),
            now: Instant::ZERO,
        }
    }

    /// The virtual clock: the time every call of the pair passes (starts at
    /// [`Instant::ZERO`], the time to create the machines at).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Move the clock on by `d`, firing every deadline that falls due on the way, each
    /// at its own time and in order, and moving the bytes that follow from it. Events
    /// stay queued in the machines.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        loop {
            let due = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|at| *at <= target)
                .min();
            let Some(at) = due else {
                break;
            };
            self.now = self.now.max(at);
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                self.client.handle_timeout(self.now);
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
            }
            self.pump();
        }
        self.now = target;
    }

    /// Move bytes both ways until neither side sends nor accepts anything more. Events
    /// stay queued in the machines. Returns the number of bytes delivered.
    pub fn pump(&mut self) -> usize {
        let mut total = 0;
        loop {
            let moved = self.step();
            if moved == 0 {
                return total;
            }
            total += moved;
        }
    }

    /// Run the two machines until quiet, handing every event to the matching callback,
    /// which may answer through the machine it is given, at the time it is given.
    pub fn drive(
        &mut self,
        mut on_client: impl FnMut(&mut C, Instant, C::Event),
        mut on_server: impl FnMut(&mut S, Instant, S::Event),
    ) {
        loop {
            let mut progress = self.step();
            let now = self.now;
            while let Some(ev) = self.server.poll_event() {
                on_server(&mut self.server, now, ev);
                progress += 1;
            }
            while let Some(ev) = self.client.poll_event() {
                on_client(&mut self.client, now, ev);
                progress += 1;
            }
            if progress == 0 {
                return;
            }
        }
    }

    /// Plaintext bytes dropped at a TLS switch on the way to `side`.
    pub fn dropped_at_tls(&self, side: Side) -> usize {
        match side {
            Side::Client => self.to_client.dropped_at_tls,
            Side::Server => self.to_server.dropped_at_tls,
        }
    }

    /// Everything that crossed, as `C: ` / `S: ` lines in the order it was sent. Bytes that
    /// are not printable ASCII appear as `\xNN`; CRLF ends a line.
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for (side, bytes) in &self.transcript {
            let tag = match side {
                Side::Client => "C: ",
                Side::Server => "S: ",
            };
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                out.push_str(tag);
                let body = line.strip_suffix(b"\r\n").unwrap_or(line);
                for &b in body {
                    if (0x20..0x7f).contains(&b) {
                        out.push(char::from(b));
                    } else {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                out.push('\n');
            }
        }
        out
    }

    /// One round: collect output, deliver what the receivers accept, handle TLS and EOF.
    fn step(&mut self) -> usize {
        let now = self.now;
        collect(
            &mut self.client,
            &mut self.to_server,
            Side::Client,
            &mut self.transcript,
            now,
        );
        collect(
            &mut self.server,
            &mut self.to_client,
            Side::Server,
            &mut self.transcript,
            now,
        );
        let a = deliver(
            &mut self.to_server,
            &mut self.server,
            &mut self.splitter,
            now,
        );
        let b = deliver(
            &mut self.to_client,
            &mut self.client,
            &mut self.splitter,
            now,
        );
        a + b
    }
}

/// Take the sender's output into the wire, which takes it all at once.
fn collect<M: Machine>(
    sender: &mut M,
    wire: &mut Wire,
    side: Side,
    transcript: &mut Vec<(Side, Vec<u8>)>,
    now: Instant,
) {
    let mut out = Vec::new();
    while sender.poll_transmit(&mut out) > 0 {}
    if !out.is_empty() {
        sender.transmitted(now, out.len());
        wire.in_flight.extend(out.iter().copied());
        transcript.push((side, out));
    }
    if sender.io() == Io::Closed {
        wire.sender_closed = true;
    }
}

/// Feed the receiver what it accepts; returns bytes (or events such as EOF/TLS) delivered.
fn deliver<M: Machine>(
    wire: &mut Wire,
    receiver: &mut M,
    splitter: &mut Splitter,
    now: Instant,
) -> usize {
    match receiver.io() {
        Io::Closed => {
            wire.in_flight.clear();
            0
        }
        Io::AwaitingTls => {
            wire.dropped_at_tls += wire.in_flight.len();
            wire.in_flight.clear();
            receiver.tls_established(now);
            1
        }
        Io::Open { wants_read: false } => 0,
        Io::Open { wants_read: true } => {
            if wire.in_flight.is_empty() {
                if wire.sender_closed && !wire.eof_delivered {
                    wire.eof_delivered = true;
                    receiver.feed_eof(now);
                    return 1;
                }
                return 0;
            }
            let n = splitter.next_chunk(wire.in_flight.len());
            let chunk: Vec<u8> = wire.in_flight.drain(..n).collect();
            receiver.feed(now, &chunk);
            n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{BareLineEnding, LineReader};
    use alloc::vec;
    use proptest::prelude::*;

    /// A toy server: answers each line with `+` and the line upper-cased; `QUIT` closes,
    /// `TLS` switches to TLS after its answer.
    #[derive(Debug)]
    struct Echo {
        input: LineReader,
        out: Vec<u8>,
        closed: bool,
        awaiting_tls: bool,
        lines: Vec<Vec<u8>>,
    }

    impl Echo {
        fn new() -> Self {
            Echo {
                input: LineReader::new(64, BareLineEnding::Reject),
                out: Vec::new(),
                closed: false,
                awaiting_tls: false,
                lines: Vec::new(),
            }
        }
    }

    impl Machine for Echo {
        type Event = Vec<u8>;
        fn feed(&mut self, _now: Instant, data: &[u8]) {
            self.input.push(data);
            while let Some(line) = self.input.next_line() {
                let line = line.map(<[u8]>::to_vec).unwrap_or_else(|_| b"?".to_vec());
                self.out.push(b'+');
                self.out.extend(line.iter().map(u8::to_ascii_uppercase));
                self.out.extend_from_slice(b"\r\n");
                self.lines.push(line.clone());
                if line == b"QUIT" {
                    self.closed = true;
                    return;
                }
                if line == b"TLS" {
                    self.input.discard();
                    self.awaiting_tls = true;
                    return;
                }
            }
        }
        fn feed_eof(&mut self, _now: Instant) {
            self.closed = true;
        }
        fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
            let n = self.out.len();
            out.append(&mut self.out);
            n
        }
        fn poll_event(&mut self) -> Option<Vec<u8>> {
            None
        }
        fn io(&self) -> Io {
            if self.closed {
                Io::Closed
            } else if self.awaiting_tls {
                Io::AwaitingTls
            } else {
                Io::Open { wants_read: true }
            }
        }
        fn transmitted(&mut self, _now: Instant, _n: usize) {}
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _now: Instant) {
            self.closed = true;
        }
        fn tls_established(&mut self, _now: Instant) {
            self.awaiting_tls = false;
        }
    }

    /// A toy client: sends its script at once, reports each reply line as an event.
    #[derive(Debug)]
    struct Script {
        pending: Vec<u8>,
        input: LineReader,
        replies: VecDeque<Vec<u8>>,
        eof: bool,
    }

    impl Script {
        fn new(script: &[u8]) -> Self {
            Script {
                pending: script.to_vec(),
                input: LineReader::new(64, BareLineEnding::Reject),
                replies: VecDeque::new(),
                eof: false,
            }
        }
    }

    impl Machine for Script {
        type Event = Vec<u8>;
        fn feed(&mut self, _now: Instant, data: &[u8]) {
            self.input.push(data);
            while let Some(Ok(line)) = self.input.next_line() {
                self.replies.push_back(line.to_vec());
            }
        }
        fn feed_eof(&mut self, _now: Instant) {
            self.eof = true;
        }
        fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
            let n = self.pending.len();
            out.append(&mut self.pending);
            n
        }
        fn poll_event(&mut self) -> Option<Vec<u8>> {
            self.replies.pop_front()
        }
        fn io(&self) -> Io {
            if self.eof {
                Io::Closed
            } else {
                Io::Open { wants_read: true }
            }
        }
        fn transmitted(&mut self, _now: Instant, _n: usize) {}
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _now: Instant) {}
        fn tls_established(&mut self, _now: Instant) {}
    }

    fn run(script: &[u8], sizes: Vec<usize>) -> (Vec<Vec<u8>>, Pair<Script, Echo>) {
        let mut pair = Pair::with_splits(Script::new(script), Echo::new(), sizes);
        let mut got = Vec::new();
        pair.drive(|_, _, ev| got.push(ev), |_, _, _: Vec<u8>| {});
        (got, pair)
    }

    #[test]
    fn transcript_shows_both_sides() {
        let (got, pair) = run(b"hello\r\nQUIT\r\n", vec![]);
        assert_eq!(got, vec![b"+HELLO".to_vec(), b"+QUIT".to_vec()]);
        assert_eq!(
            pair.transcript(),
            "C: hello\nC: QUIT\nS: +HELLO\nS: +QUIT\n"
        );
        assert!(
            pair.client.eof,
            "the server's close reached the client as EOF"
        );
    }

    #[test]
    fn plaintext_after_tls_switch_is_dropped_and_counted() {
        let (got, pair) = run(b"TLS\r\nINJECTED\r\n", vec![]);
        assert_eq!(got, vec![b"+TLS".to_vec()]);
        assert_eq!(pair.server.lines, vec![b"TLS".to_vec()]);
        // The injected line was in the server's buffer (same write), not in flight.
        assert_eq!(pair.dropped_at_tls(Side::Server), 0);
        // Split so that the injected line is still in flight when the switch happens.
        let (got, pair) = run(b"TLS\r\nINJECTED\r\n", vec![5]);
        assert_eq!(got, vec![b"+TLS".to_vec()]);
        assert_eq!(pair.dropped_at_tls(Side::Server), 10);
    }

    proptest! {
        #[test]
        fn events_do_not_depend_on_splits(
            lines in proptest::collection::vec("[a-z]{0,10}", 0..10),
            sizes in proptest::collection::vec(1usize..9, 0..6),
        ) {
            let mut script = Vec::new();
            for l in &lines {
                script.extend_from_slice(l.as_bytes());
                script.extend_from_slice(b"\r\n");
            }
            let (whole, _) = run(&script, vec![]);
            let (split, _) = run(&script, sizes);
            prop_assert_eq!(whole.len(), lines.len());
            prop_assert_eq!(whole, split);
        }
    }
}
