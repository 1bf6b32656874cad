//! The read-side deadlines of a session: what the peer owes now, the whole-message and
//! session caps, and the application's optional answer deadline.

use crate::time::{Deadline, Duration, Instant, RateDeadline};

/// What the machine waits for, as its rules see it after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Nothing is owed by the peer (a client between commands, a closed session): no
    /// read deadline.
    Nothing,
    /// The application decides: the peer's deadlines pause.
    Answer,
    /// The machine itself holds its replies back (a failed-login delay): the peer's
    /// deadlines pause and the application's does not run.
    Held,
    /// The peer owes something. A wait with the same `kind` and `key` as the one armed
    /// is the same wait: its start stays, so input that does not complete it (a drip)
    /// never moves its deadline.
    Peer {
        kind: Deadline,
        key: u64,
        limit: RateDeadline,
    },
}

/// The wait armed now.
#[derive(Debug, Clone, Copy)]
struct Armed {
    kind: Deadline,
    key: u64,
    limit: RateDeadline,
    start: Instant,
    progress: u64,
    /// When the last octet of progress arrived.
    last: Instant,
}

impl Armed {
    /// A wait armed at `now` with `progress` octets already made.
    fn new(kind: Deadline, key: u64, limit: RateDeadline, now: Instant, progress: u64) -> Self {
        Armed {
            kind,
            key,
            limit,
            start: now,
            progress,
            last: now,
        }
    }

    fn expiry(&self) -> Instant {
        self.limit
            .expiry_after(self.start, self.progress, self.last)
    }
}

/// The limits the kernel applies whatever the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionLimits {
    /// Whole-session cap, from the machine's creation.
    pub(crate) session: Option<Duration>,
    /// The TLS handshake after STARTTLS/STLS.
    pub(crate) handshake: Duration,
    /// The application's answer to an event.
    pub(crate) application: Option<Duration>,
    /// Logging in (POP3) or opening the first transaction (SMTP), from the machine's
    /// creation; it pauses while the application decides, not while the machine holds
    /// its replies back.
    pub(crate) login: Option<Duration>,
}

/// The read-side deadlines.
#[derive(Debug)]
pub(crate) struct Timers {
    limits: SessionLimits,
    armed: Option<Armed>,
    message: Option<Instant>,
    session: Option<Instant>,
    login: Option<Instant>,
    /// Since when the application decides or the machine holds (peer deadlines
    /// paused), and which of the two.
    paused_at: Option<Instant>,
    paused_for: Waiting,
    application: Option<Instant>,
}

impl Timers {
    pub(crate) fn new(now: Instant, limits: SessionLimits) -> Timers {
        Timers {
            session: limits.session.map(|d| now + d),
            login: limits.login.map(|d| now + d),
            limits,
            armed: None,
            message: None,
            paused_at: None,
            paused_for: Waiting::Nothing,
            application: None,
        }
    }

    pub(crate) fn handshake_limit(&self) -> Duration {
        self.limits.handshake
    }

    /// `n` octets of the wait `waiting` were read at `now`. The rules credit what they
    /// consume, as they consume it, so that octets which arrive in one read with the
    /// line that opens a body count for the body, not for the line. A wait not armed
    /// yet is armed now, with that progress.
    pub(crate) fn credit(&mut self, now: Instant, waiting: Waiting, n: usize) {
        let Waiting::Peer { kind, key, limit } = waiting else {
            return;
        };
        if n == 0 {
            return;
        }
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        match &mut self.armed {
            Some(a) if a.kind == kind && a.key == key => {
                a.progress = a.progress.saturating_add(n);
                a.last = now;
            }
            _ => self.armed = Some(Armed::new(kind, key, limit, now, n)),
        }
    }

    /// Start the whole-message cap (a body begins).
    pub(crate) fn start_message(&mut self, now: Instant, limit: Option<Duration>) {
        self.message = limit.map(|d| now + d);
    }

    /// The message ended: its cap goes.
    pub(crate) fn end_message(&mut self) {
        self.message = None;
    }

    /// The client logged in (or opened its first transaction): the login deadline goes.
    pub(crate) fn logged_in(&mut self) {
        self.login = None;
    }

    /// Bring the deadlines in line with what the rules wait for after a call at `now`.
    pub(crate) fn sync(&mut self, now: Instant, waiting: Waiting) {
        if matches!(waiting, Waiting::Answer | Waiting::Held) {
            if self.paused_at.is_none() {
                self.paused_at = Some(now);
                self.paused_for = waiting;
                self.application = match waiting {
                    Waiting::Answer => self.limits.application.map(|d| now + d),
                    _ => None,
                };
            }
            return;
        }
        if let Some(paused) = self.paused_at.take() {
            // The time the application took does not count against the peer.
            let pause = now - paused;
            if let Some(a) = &mut self.armed {
                a.start += pause;
                a.last += pause;
            }
            if let Some(m) = &mut self.message {
                *m += pause;
            }
            if self.paused_for == Waiting::Answer
                && let Some(l) = &mut self.login
            {
                *l += pause;
            }
            self.application = None;
        }
        match waiting {
            Waiting::Nothing | Waiting::Answer | Waiting::Held => self.armed = None,
            Waiting::Peer { kind, key, limit } => match &mut self.armed {
                Some(a) if a.kind == kind && a.key == key => a.limit = limit,
                _ => self.armed = Some(Armed::new(kind, key, limit, now, 0)),
            },
        }
    }

    /// The session is over: no read deadline is left.
    pub(crate) fn clear(&mut self) {
        self.armed = None;
        self.message = None;
        self.session = None;
        self.login = None;
        self.paused_at = None;
        self.application = None;
    }

    /// The earliest read-side deadline with its kind.
    pub(crate) fn next(&self) -> Option<(Instant, Deadline)> {
        let mut best: Option<(Instant, Deadline)> = None;
        let mut consider = |at: Option<Instant>, kind: Deadline| {
            if let Some(at) = at
                && best.is_none_or(|(b, _)| at < b)
            {
                best = Some((at, kind));
            }
        };
        consider(self.session, Deadline::Session);
        if self.paused_at.is_some() {
            consider(self.application, Deadline::Application);
        } else {
            if let Some(a) = &self.armed {
                consider(Some(a.expiry()), a.kind);
            }
            consider(self.message, Deadline::Message);
        }
        // After the peer's own deadlines: on a tie, they name the cause.
        if self.paused_at.is_none() || self.paused_for == Waiting::Held {
            consider(self.login, Deadline::Login);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SessionLimits = SessionLimits {
        session: Some(Duration::from_secs(100)),
        handshake: Duration::from_secs(60),
        application: None,
        login: None,
    };

    fn line(key: u64) -> Waiting {
        Waiting::Peer {
            kind: Deadline::Line,
            key,
            limit: RateDeadline::fixed(Duration::from_secs(10)),
        }
    }

    #[test]
    fn the_same_wait_keeps_its_start() {
        let mut t = Timers::new(Instant::ZERO, LIMITS);
        t.sync(Instant::from_secs(1), line(0));
        t.credit(Instant::from_secs(1), line(0), 1);
        t.sync(Instant::from_secs(5), line(0));
        assert_eq!(t.next(), Some((Instant::from_secs(11), Deadline::Line)));
        t.sync(Instant::from_secs(6), line(1));
        assert_eq!(t.next(), Some((Instant::from_secs(16), Deadline::Line)));
    }

    #[test]
    fn an_answer_pauses_the_peer_and_shifts_its_deadline() {
        let mut t = Timers::new(Instant::ZERO, LIMITS);
        t.sync(Instant::from_secs(1), line(0));
        t.sync(Instant::from_secs(2), Waiting::Answer);
        // Only the session cap runs while the application decides.
        assert_eq!(t.next(), Some((Instant::from_secs(100), Deadline::Session)));
        t.sync(Instant::from_secs(50), line(0));
        assert_eq!(t.next(), Some((Instant::from_secs(59), Deadline::Line)));
    }

    #[test]
    fn a_hold_pauses_the_peer_without_the_application_deadline() {
        let limits = SessionLimits {
            application: Some(Duration::from_secs(5)),
            ..LIMITS
        };
        let mut t = Timers::new(Instant::ZERO, limits);
        t.sync(Instant::from_secs(1), line(0));
        t.sync(Instant::from_secs(2), Waiting::Held);
        assert_eq!(t.next(), Some((Instant::from_secs(100), Deadline::Session)));
        t.sync(Instant::from_secs(30), line(0));
        assert_eq!(t.next(), Some((Instant::from_secs(39), Deadline::Line)));
    }

    #[test]
    fn the_login_deadline_pauses_for_the_application_not_for_a_hold() {
        let limits = SessionLimits {
            login: Some(Duration::from_secs(20)),
            ..LIMITS
        };
        let mut t = Timers::new(Instant::ZERO, limits);
        t.sync(Instant::from_secs(1), line(0));
        assert_eq!(t.next(), Some((Instant::from_secs(11), Deadline::Line)));
        // The application's time does not count; a hold's does.
        t.sync(Instant::from_secs(5), Waiting::Answer);
        assert_eq!(t.next(), Some((Instant::from_secs(100), Deadline::Session)));
        t.sync(Instant::from_secs(9), line(1));
        assert_eq!(t.next(), Some((Instant::from_secs(19), Deadline::Line)));
        t.sync(Instant::from_secs(10), Waiting::Held);
        assert_eq!(t.next(), Some((Instant::from_secs(24), Deadline::Login)));
        t.logged_in();
        assert_eq!(t.next(), Some((Instant::from_secs(100), Deadline::Session)));
    }
}
