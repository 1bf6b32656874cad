//! The output queue: bytes queued by the rules, handed out by `poll_transmit`, confirmed
//! by `transmitted`, with the write deadline that covers them.

use alloc::vec::Vec;

use zeroize::Zeroize;

use crate::time::{Instant, RateDeadline};

/// Output queued beyond which a server processes no further command and reads no
/// further input until the peer has taken some (a flood of pipelined commands whose
/// replies are not read cannot grow memory).
pub(crate) const OUTPUT_HIGH_WATER: usize = 32 * 1024;

/// Bytes on their way to the peer.
///
/// `buf[..ready]` may be handed out; `buf[ready..]` is held back until the rules
/// release it (the rest of a pipelined group's replies, RFC 2920 §3.2). Handed-out bytes
/// the adapter has not yet reported as transmitted are `unconfirmed`. While any byte is
/// ready or unconfirmed the write deadline runs: it started when the first of them was
/// queued and is extended only at the limit's minimum rate by confirmed bytes.
#[derive(Debug)]
pub(crate) struct Output {
    buf: Vec<u8>,
    ready: usize,
    unconfirmed: usize,
    limit: RateDeadline,
    /// When the current write wait began, with the octets confirmed since and when the
    /// last of them was.
    since: Option<(Instant, u64, Instant)>,
    /// Zero what was handed out (client output may hold PASS or a SASL response).
    wipe: bool,
}

impl Output {
    pub(crate) fn new(limit: RateDeadline, wipe: bool) -> Output {
        Output {
            buf: Vec::new(),
            ready: 0,
            unconfirmed: 0,
            limit,
            since: None,
            wipe,
        }
    }

    /// The buffer to encode into; what is appended is held until [`Output::release`].
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// What is queued and not yet handed out.
    pub(crate) fn queued(&self) -> &[u8] {
        &self.buf
    }

    /// Everything queued may go out.
    pub(crate) fn release(&mut self) {
        self.ready = self.buf.len();
    }

    /// Append `bytes` and release everything queued.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.release();
    }

    /// Change the write limit (e.g. the SMTP client's data-block limit while a body is
    /// sent, RFC 5321 §4.5.3.2.5); a wait in progress keeps its start.
    pub(crate) fn set_limit(&mut self, limit: RateDeadline) {
        self.limit = limit;
    }

    /// Octets queued or handed out and not yet confirmed.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() + self.unconfirmed
    }

    /// Whether a write wait runs (or starts at the end of this call): something is
    /// ready to hand out or handed out and not confirmed.
    pub(crate) fn is_writing(&self) -> bool {
        self.ready > 0 || self.unconfirmed > 0
    }

    /// Whether the queue is past [`OUTPUT_HIGH_WATER`].
    pub(crate) fn is_full(&self) -> bool {
        self.pending() >= OUTPUT_HIGH_WATER
    }

    /// Hand out what is ready: no other effect.
    pub(crate) fn hand_out(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.ready;
        if n == 0 {
            return 0;
        }
        out.extend_from_slice(&self.buf[..n]);
        if self.wipe {
            self.buf[..n].zeroize();
        }
        self.buf.drain(..n);
        self.ready = 0;
        self.unconfirmed = self.unconfirmed.saturating_add(n);
        n
    }

    /// The peer took `n` of the handed-out octets at `now`.
    pub(crate) fn transmitted(&mut self, now: Instant, n: usize) {
        let n = n.min(self.unconfirmed);
        self.unconfirmed -= n;
        if let Some((_, progress, last)) = &mut self.since
            && n > 0
        {
            *progress = progress.saturating_add(n as u64);
            *last = now;
        }
    }

    /// Start or end the write wait after a call at `now`.
    pub(crate) fn settle(&mut self, now: Instant) {
        if self.ready == 0 && self.unconfirmed == 0 {
            self.since = None;
        } else if self.since.is_none() {
            self.since = Some((now, 0, now));
        }
    }

    /// When the write wait expires, if one runs.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since
            .map(|(start, progress, last)| self.limit.expiry_after(start, progress, last))
    }

    /// Drop everything queued and forget what was handed out (the peer will never take
    /// it: the write deadline expired).
    pub(crate) fn discard(&mut self) {
        if self.wipe {
            self.buf.zeroize();
        }
        self.buf.clear();
        self.ready = 0;
        self.unconfirmed = 0;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn held_bytes_wait_for_release_and_start_no_deadline() {
        let mut o = Output::new(RateDeadline::new(Duration::from_secs(3), 500), false);
        o.buf().extend_from_slice(b"250 Ok\r\n");
        o.settle(Instant::ZERO);
        assert_eq!(o.deadline(), None);
        let mut out = Vec::new();
        assert_eq!(o.hand_out(&mut out), 0);
        o.release();
        o.settle(Instant::from_secs(1));
        assert_eq!(o.deadline(), Some(Instant::from_secs(4)));
        assert_eq!(o.hand_out(&mut out), 8);
        assert_eq!(out, b"250 Ok\r\n");
        // Handed out but not confirmed: the deadline still runs.
        o.settle(Instant::from_secs(2));
        assert_eq!(o.deadline(), Some(Instant::from_secs(4)));
        o.transmitted(Instant::from_secs(2), 8);
        o.settle(Instant::from_secs(2));
        assert_eq!(o.deadline(), None);
    }

    #[test]
    fn confirmed_bytes_extend_at_the_minimum_rate() {
        let mut o = Output::new(RateDeadline::new(Duration::from_secs(3), 500), true);
        o.push(&[b'x'; 2000]);
        o.settle(Instant::ZERO);
        let mut out = Vec::new();
        let _ = o.hand_out(&mut out);
        o.transmitted(Instant::from_secs(2), 1000);
        assert_eq!(o.deadline(), Some(Instant::from_secs(5)));
        // Nothing more taken: no later than 3 s after the last progress.
        o.transmitted(Instant::from_secs(2), 1000);
        assert_eq!(o.deadline(), Some(Instant::from_secs(5)));
        o.discard();
        assert_eq!(o.pending(), 0);
        assert_eq!(o.deadline(), None);
    }
}
