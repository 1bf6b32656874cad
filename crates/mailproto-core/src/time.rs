//! Time as an input: a crate-owned [`Instant`], the kinds of [`Deadline`] the machines
//! keep, and the [`RateDeadline`] that progress may extend.
//!
//! The core never reads a clock. The caller passes the current time into every call
//! that can start, move or end a deadline (`feed(now, ..)`, `transmitted(now, ..)`, the
//! application's answers, ...), asks [`Machine::poll_timeout`](crate::Machine::poll_timeout)
//! for the earliest deadline due, and calls
//! [`Machine::handle_timeout`](crate::Machine::handle_timeout) when its clock reaches it.
//! An [`Instant`] counts milliseconds from an origin the caller chooses (the start of the
//! process, the Unix epoch, zero in a test), the way smoltcp does in `no_std`: the same
//! model serves a virtual clock in tests and a monotonic clock in an adapter, and any
//! other timer built on the core (pool idle timeouts, login penalties, rate limits,
//! back-off) can use it as well.
//!
//! ```
//! use mailproto_core::time::{Duration, Instant};
//!
//! let t0 = Instant::from_millis(1_000);
//! let due = t0 + Duration::from_secs(300);
//! assert_eq!(due.as_millis(), 301_000);
//! assert_eq!(due - t0, Duration::from_secs(300));
//! assert_eq!(t0.saturating_duration_since(due), Duration::ZERO);
//! ```

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

pub use core::time::Duration;

/// A point in time: milliseconds since an origin the caller chooses.
///
/// Only differences between instants of one clock mean anything. Arithmetic saturates:
/// a deadline far in the future stays far in the future instead of wrapping.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// The latest representable instant ("never", for a deadline).
    pub const MAX: Instant = Instant { millis: u64::MAX };

    /// `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant { millis }
    }

    /// `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            millis: secs.saturating_mul(1000),
        }
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// `self + d`, at most [`Instant::MAX`]. A duration with a fraction of a millisecond
    /// is rounded up, so a deadline is never earlier than asked for.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant {
            millis: self.millis.saturating_add(millis_ceil(d)),
        }
    }

    /// `self - d`, at least [`Instant::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Instant {
        Instant {
            millis: self.millis.saturating_sub(millis_ceil(d)),
        }
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

/// Whole milliseconds in `d`, rounded up; saturates at `u64::MAX`.
fn millis_ceil(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        self.saturating_sub(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// The time from `earlier` to `self`; zero if `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// Seconds since the origin with milliseconds, e.g. `12.005s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.millis / 1000, self.millis % 1000)
    }
}

/// A time limit that progress may extend, at no more than a minimum rate.
///
/// The deadline starts at `timeout` after the wait began; every octet that moves extends
/// it by `1 / min_rate` seconds, but never past `timeout` after the last octet moved. A
/// peer that keeps moving at least `min_rate` octets per second never reaches it; one
/// that drips an octet now and then gains almost nothing and is cut off shortly after
/// `timeout`; one that moves a lot at once and then stops (a reader that fills the
/// socket buffers, then takes nothing) is cut off `timeout` after it stopped. This is
/// Postfix's `smtpd_per_request_deadline` with `smtpd_min_data_rate`, with that last
/// bound added. With `min_rate` 0 progress extends nothing: the limit is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RateDeadline {
    /// The time allowed before any progress is counted.
    pub timeout: Duration,
    /// Octets per second that keep the deadline from coming closer; 0: no extension.
    pub min_rate: u32,
}

impl RateDeadline {
    /// `timeout`, extended by one second for every `min_rate` octets moved.
    pub const fn new(timeout: Duration, min_rate: u32) -> RateDeadline {
        RateDeadline { timeout, min_rate }
    }

    /// A fixed `timeout` that progress does not extend.
    pub const fn fixed(timeout: Duration) -> RateDeadline {
        RateDeadline {
            timeout,
            min_rate: 0,
        }
    }

    /// The same limit with another timeout (the rate kept).
    pub const fn with_timeout(self, timeout: Duration) -> RateDeadline {
        RateDeadline {
            timeout,
            min_rate: self.min_rate,
        }
    }

    /// When a wait that began at `start`, has moved `progress` octets and moved the last
    /// of them at `last`, expires.
    pub fn expiry_after(&self, start: Instant, progress: u64, last: Instant) -> Instant {
        self.expiry(start, progress)
            .min(last.max(start).saturating_add(self.timeout))
    }

    /// When a wait that began at `start` and has moved `progress` octets expires,
    /// progress counted at the minimum rate only (see [`RateDeadline::expiry_after`]).
    pub fn expiry(&self, start: Instant, progress: u64) -> Instant {
        let extension = if self.min_rate == 0 {
            0
        } else {
            progress.saturating_mul(1000) / u64::from(self.min_rate)
        };
        start
            .saturating_add(self.timeout)
            .saturating_add(Duration::from_millis(extension))
    }
}

/// Which deadline expired: the reason carried by a machine's `Closed` event after
/// [`Machine::handle_timeout`](crate::Machine::handle_timeout).
///
/// The defaults of each are in the machines' `Timeouts` and in docs/design.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Deadline {
    /// Waiting for the first octet of the next command (server; RFC 5321 §4.5.3.2.7,
    /// RFC 1939 §3 autologout).
    Idle,
    /// From a command line's first octet to its line end, however the octets drip in.
    Line,
    /// One DATA body or BDAT chunk, extended only at the minimum data rate.
    Body,
    /// The whole message, from its first body octet to its end, across BDAT chunks.
    Message,
    /// The whole session, from its start.
    Session,
    /// Output queued and not taken by the peer, extended only at the minimum rate.
    Write,
    /// The reply (SMTP client) or response (POP3 client) to the command outstanding,
    /// or the greeting (RFC 5321 §4.5.3.2).
    Reply,
    /// The TLS handshake after STARTTLS/STLS.
    Handshake,
    /// The application's answer to an event (only when configured; it never counts
    /// against the peer).
    Application,
    /// Logging in (POP3 server) or opening the first mail transaction (SMTP server),
    /// from the session's start: a client that connects and never gets to the point
    /// does not keep its connection.
    Login,
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deadline::Idle => "idle deadline (no command)",
            Deadline::Line => "line deadline (command line not completed)",
            Deadline::Body => "body deadline (message data too slow)",
            Deadline::Message => "message deadline (whole message too slow)",
            Deadline::Session => "session lifetime",
            Deadline::Write => "write deadline (peer not reading)",
            Deadline::Reply => "reply deadline",
            Deadline::Handshake => "TLS handshake deadline",
            Deadline::Application => "application answer deadline",
            Deadline::Login => "login deadline (not logged in or no transaction in time)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_millisecond_durations_round_up() {
        let t = Instant::from_millis(10);
        assert_eq!(t + Duration::from_micros(1), Instant::from_millis(11));
        assert_eq!(t + Duration::from_millis(5), Instant::from_millis(15));
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
    }

    #[test]
    fn a_drip_earns_almost_nothing() {
        let limit = RateDeadline::new(Duration::from_secs(3), 500);
        let start = Instant::ZERO;
        assert_eq!(limit.expiry(start, 0), Instant::from_secs(3));
        // 16 octets, one every 2 s: 32 ms of extension.
        assert_eq!(limit.expiry(start, 16), Instant::from_millis(3_032));
        // 500 octets a second for 10 s: 10 s of extension.
        assert_eq!(limit.expiry(start, 5_000), Instant::from_secs(13));
        assert_eq!(
            RateDeadline::fixed(Duration::from_secs(3)).expiry(start, 1 << 40),
            Instant::from_secs(3)
        );
    }

    #[test]
    fn a_burst_then_silence_is_cut_off_after_the_silence() {
        let limit = RateDeadline::new(Duration::from_secs(3), 500);
        // 10 MB taken at once at t=1 s: no more than 3 s after that.
        let start = Instant::ZERO;
        assert_eq!(
            limit.expiry_after(start, 10_000_000, Instant::from_secs(1)),
            Instant::from_secs(4)
        );
        // Steady progress: the rate decides.
        assert_eq!(
            limit.expiry_after(start, 16, Instant::from_secs(30)),
            Instant::from_millis(3_032)
        );
    }

    #[test]
    fn display_is_seconds_with_millis() {
        assert_eq!(
            alloc::format!("{}", Instant::from_millis(12_005)),
            "12.005s"
        );
    }
}
