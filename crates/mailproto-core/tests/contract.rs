//! One contract, four machines: the cases every machine keeps the same way, run against
//! the SMTP server, the SMTP client, the POP3 server and the POP3 client with the core
//! alone and a virtual clock.
//!
//! Each machine is described once by a [`Subject`] (how to bring it to the point a case
//! needs, and how to read its events); each case is written once, generically, and
//! instantiated for the four subjects at the bottom.

use std::fmt::{Debug, Display};

use mailproto_core::pop3;
use mailproto_core::smtp::{self, Domain, Host};
use mailproto_core::time::{Deadline, Duration, Instant, RateDeadline};
use mailproto_core::{Io, Machine, Misuse};
use proptest::prelude::*;

const T0: Instant = Instant::ZERO;
const LINE: Duration = Duration::from_secs(60);
const IDLE: Duration = Duration::from_secs(120);
const REPLY: Duration = Duration::from_secs(120);
const WRITE: RateDeadline = RateDeadline::new(Duration::from_secs(10), 500);
/// Input a machine holds when it did not ask for it (the kernel's default).
const MAX_BUFFERED: usize = 64 * 1024;

/// What a case needs to know of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// `Closed`, with the deadline if a timeout closed it, and whether input overflowed.
    Closed {
        timeout: Option<Deadline>,
        overflow: bool,
    },
    /// Plaintext discarded at the TLS switch.
    Injection(usize),
    Other,
}

/// One machine, as the contract cases drive it.
trait Subject {
    type M: Machine + Debug;
    /// The machine waiting on its peer for a line: a server for its next command (the
    /// idle deadline runs), a client for the reply to a command it wrote (the reply
    /// deadline runs). Output so far has been taken.
    fn waiting(now: Instant) -> Self::M;
    /// The first octets of a line the peer starts and does not finish.
    const PARTIAL: &'static [u8];
    /// The deadline that runs while nothing arrives, and its limit.
    const SILENCE: (Deadline, Duration);
    /// The deadline that runs once a line has started, and its limit (the start of the
    /// wait it measures: `true` if from the line's first octet, `false` if from the
    /// command that asked for the reply).
    const STARTED: (Deadline, Duration, bool);
    /// The minimum rate, in octets per second, that extends the started-line deadline
    /// (0: none).
    const STARTED_RATE: u32;
    fn seen(event: &<Self::M as Machine>::Event) -> Seen;
    /// Bring the machine to a state where it does not ask for input because the
    /// application must act (an answer due, or an event not taken).
    fn make_busy(m: &mut Self::M, now: Instant);
    /// The application acts (answers, or takes its events).
    fn act(m: &mut Self::M, now: Instant);
    /// Queue output for the peer (a command or a reply) and return its length.
    fn queue_output(m: &mut Self::M, now: Instant);
    /// The machine right after it agreed to switch to TLS, with `extra` fed in the same
    /// chunk as what made it switch.
    fn switched_to_tls(now: Instant, extra: &[u8]) -> Self::M;
    /// A call the machine must refuse now; its error, displayed.
    fn misuse(m: &mut Self::M, now: Instant) -> String;
    /// What the peer sends in the timing property: a session's worth of commands
    /// (servers) or the reply to the outstanding command (clients), no body.
    const SCRIPT: &'static [u8];
    /// Answer whatever the application is asked now, if anything.
    fn respond(m: &mut Self::M, now: Instant);
}

/// Every byte the machine hands out, reported as taken at `now`.
fn take<M: Machine>(m: &mut M, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    while m.poll_transmit(&mut out) > 0 {}
    m.transmitted(now, out.len());
    out
}

fn events<S: Subject>(m: &mut S::M) -> Vec<Seen> {
    std::iter::from_fn(|| m.poll_event())
        .map(|e| S::seen(&e))
        .collect()
}

fn closes(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter()
        .filter(|s| matches!(s, Seen::Closed { .. }))
        .collect()
}

/// Fire every deadline due up to `until`, each at its own time; output is taken as it
/// appears when `take_output`. Returns the time of the last deadline fired.
fn run_until<M: Machine>(
    m: &mut M,
    now: &mut Instant,
    until: Instant,
    take_output: bool,
) -> Option<Instant> {
    let mut fired = None;
    loop {
        if take_output {
            take(m, *now);
        }
        match m.poll_timeout() {
            Some(due) if due <= until => {
                *now = (*now).max(due);
                m.handle_timeout(*now);
                fired = Some(*now);
                if m.poll_timeout() == Some(due) {
                    panic!("handle_timeout at {due} left the same deadline due");
                }
            }
            _ => break,
        }
    }
    *now = (*now).max(until);
    fired
}

/// A wrapper that accepts only the crate's one misuse type.
fn describe<K: Display, T>(error: Misuse<K, T>) -> String {
    error.to_string()
}

// ---------------------------------------------------------------------------------------
// The cases.

/// A peer that drips a line one octet at a time, each octet well inside the deadline,
/// is closed at the deadline of the line (or reply) all the same.
fn drip_past_the_line_deadline<S: Subject>() {
    let mut now = T0;
    let mut m = S::waiting(now);
    let _ = events::<S>(&mut m);
    let (kind, limit, from_first_byte) = S::STARTED;
    let start = if from_first_byte {
        Instant::from_secs(5)
    } else {
        T0
    };
    run_until(&mut m, &mut now, Instant::from_secs(5), true);
    let mut fed = 0u64;
    let step = limit / 8;
    let mut seen = Vec::new();
    for &b in S::PARTIAL.iter().chain(std::iter::repeat(&b'x')).take(40) {
        if m.io() == Io::Closed {
            break;
        }
        m.feed(now, &[b]);
        fed += 1;
        seen.extend(events::<S>(&mut m));
        let next = now + step;
        run_until(&mut m, &mut now, next, true);
        seen.extend(events::<S>(&mut m));
    }
    let bound = RateDeadline::new(limit, S::STARTED_RATE).expiry(start, fed);
    assert_eq!(m.io(), Io::Closed, "a drip kept the session open");
    assert!(now <= bound + step, "closed at {now}, deadline {bound}");
    assert_eq!(
        closes(&seen),
        [&Seen::Closed {
            timeout: Some(kind),
            overflow: false
        }]
    );
}

/// Nothing arrives: the session closes exactly at the silence deadline, not a
/// millisecond before.
fn silence_past_the_idle_deadline<S: Subject>() {
    let mut now = T0;
    let mut m = S::waiting(now);
    let _ = events::<S>(&mut m);
    let (kind, limit) = S::SILENCE;
    let due = T0 + limit;
    assert_eq!(m.poll_timeout(), Some(due));
    m.handle_timeout(due - Duration::from_millis(1));
    assert!(events::<S>(&mut m).is_empty(), "early handle_timeout acted");
    assert_ne!(m.io(), Io::Closed);
    run_until(&mut m, &mut now, due, true);
    assert_eq!(now, due);
    assert_eq!(
        closes(&events::<S>(&mut m)),
        [&Seen::Closed {
            timeout: Some(kind),
            overflow: false
        }]
    );
    assert_eq!(m.io(), Io::Closed);
}

/// Output the peer never takes expires at the write deadline, counted from when it was
/// queued; the session closes and nothing more is handed out.
fn output_not_taken_past_the_write_deadline<S: Subject>() {
    let mut now = Instant::from_secs(3);
    let mut m = S::waiting(T0);
    let _ = events::<S>(&mut m);
    S::queue_output(&mut m, now);
    let _ = events::<S>(&mut m);
    let mut handed = Vec::new();
    while m.poll_transmit(&mut handed) > 0 {}
    assert!(!handed.is_empty(), "nothing was queued");
    let due = WRITE.expiry(now, 0);
    assert!(m.poll_timeout().is_some_and(|t| t <= due));
    run_until(&mut m, &mut now, due, false);
    assert_eq!(
        closes(&events::<S>(&mut m)),
        [&Seen::Closed {
            timeout: Some(Deadline::Write),
            overflow: false
        }]
    );
    assert_eq!(m.io(), Io::Closed);
    let mut after = Vec::new();
    assert_eq!(
        m.poll_transmit(&mut after),
        0,
        "output after a write expiry"
    );
    assert_eq!(m.poll_timeout(), None);
}

/// A reader that takes one octet every 2 s earns 2 ms each at 500 octets/s and is cut off
/// shortly after the write deadline, with most of the output untaken.
fn slow_reader_below_the_minimum_rate<S: Subject>() {
    let mut now = Instant::from_secs(1);
    let mut m = S::waiting(T0);
    let _ = events::<S>(&mut m);
    S::queue_output(&mut m, now);
    let _ = events::<S>(&mut m);
    let start = now;
    let mut handed = Vec::new();
    while m.poll_transmit(&mut handed) > 0 {}
    assert!(handed.len() > 6, "too little output for the case");
    let mut taken = 0u64;
    let mut closed_at = None;
    while m.io() != Io::Closed && (taken as usize) < handed.len() {
        let next = now + Duration::from_secs(2);
        closed_at = run_until(&mut m, &mut now, next, false);
        if m.io() == Io::Closed {
            break;
        }
        m.transmitted(now, 1);
        taken += 1;
    }
    assert_eq!(m.io(), Io::Closed, "a slow reader kept the session");
    assert!((taken as usize) < handed.len());
    let closed_at = closed_at.expect("closed by a deadline");
    assert_eq!(
        closed_at,
        WRITE.expiry(start, taken),
        "closed at {closed_at}"
    );
    assert_eq!(
        closes(&events::<S>(&mut m)),
        [&Seen::Closed {
            timeout: Some(Deadline::Write),
            overflow: false
        }]
    );
}

/// Time the application takes does not count against the peer: far past every peer
/// deadline nothing expires, and the peer's deadline counts again from the answer.
fn application_slower_than_a_peer_deadline<S: Subject>() {
    let mut now = Instant::from_secs(1);
    let mut m = S::waiting(T0);
    let _ = events::<S>(&mut m);
    S::make_busy(&mut m, now);
    let later = now + 10 * IDLE.max(REPLY);
    run_until(&mut m, &mut now, later, true);
    assert_ne!(
        m.io(),
        Io::Closed,
        "the application's time was charged to the peer"
    );
    S::act(&mut m, now);
    let _ = events::<S>(&mut m);
    take(&mut m, now);
    if let Some(due) = m.poll_timeout() {
        assert!(due > now, "a deadline was already due after the answer");
    }
}

/// Input fed while the machine does not ask for any is kept up to the buffer limit, and
/// beyond it the session closes for overflow: the same in all four machines.
fn input_fed_while_not_wanted<S: Subject>() {
    let now = Instant::from_secs(1);
    let mut m = S::waiting(T0);
    let _ = events::<S>(&mut m);
    S::make_busy(&mut m, now);
    assert_eq!(m.io(), Io::Open { wants_read: false });
    // A little is kept.
    m.feed(now, b"N");
    assert_ne!(m.io(), Io::Closed);
    // Too much closes.
    m.feed(now, &vec![b'x'; MAX_BUFFERED + 1]);
    let seen = events::<S>(&mut m);
    assert_eq!(
        closes(&seen),
        [&Seen::Closed {
            timeout: None,
            overflow: true
        }]
    );
    assert_eq!(m.io(), Io::Closed);
}

/// Plaintext after the switch to TLS is never acted upon and is reported once, with every
/// octet counted: those in the same chunk as the switch and those fed while the
/// handshake is awaited.
fn injected_plaintext_at_the_tls_boundary<S: Subject>() {
    let now = Instant::from_secs(1);
    let injected = b"INJECTED\r\n";
    let mut m = S::switched_to_tls(now, injected);
    assert_eq!(m.io(), Io::AwaitingTls);
    let before: Vec<Seen> = events::<S>(&mut m);
    assert!(!before.iter().any(|s| matches!(s, Seen::Injection(_))));
    m.feed(now, b"MORE");
    m.tls_established(now);
    let after = events::<S>(&mut m);
    let reports: Vec<&Seen> = after
        .iter()
        .filter(|s| matches!(s, Seen::Injection(_)))
        .collect();
    assert_eq!(reports, [&Seen::Injection(injected.len() + 4)]);
    assert!(matches!(m.io(), Io::Open { .. }));
    // Reported at the close instead when the handshake never completes.
    let mut m = S::switched_to_tls(now, injected);
    let _ = events::<S>(&mut m);
    m.feed_eof(now);
    let seen = events::<S>(&mut m);
    assert_eq!(
        seen.iter()
            .filter(|s| matches!(s, Seen::Injection(_)))
            .collect::<Vec<_>>(),
        [&Seen::Injection(injected.len())]
    );
    assert_eq!(closes(&seen).len(), 1);
}

/// A misuse call returns the crate's misuse type and changes nothing.
fn misuse_leaves_the_state_unchanged<S: Subject>() {
    let now = Instant::from_secs(1);
    let mut m = S::waiting(T0);
    let _ = events::<S>(&mut m);
    let before = format!("{m:?}");
    let (io, due) = (m.io(), m.poll_timeout());
    let error = S::misuse(&mut m, now);
    assert!(error.contains("refused"), "{error}");
    assert_eq!(format!("{m:?}"), before);
    assert_eq!((m.io(), m.poll_timeout()), (io, due));
    assert!(events::<S>(&mut m).is_empty());
    assert!(take(&mut m, now).is_empty());
}

/// One `Closed` event, and nothing handed out after it but the goodbye queued with it,
/// whatever is fed or called afterwards.
fn close_once<S: Subject>() {
    let mut now = Instant::from_secs(1);
    let mut m = S::waiting(T0);
    let _ = events::<S>(&mut m);
    m.feed_eof(now);
    let mut seen = events::<S>(&mut m);
    take(&mut m, now);
    assert_eq!(m.io(), Io::Closed);
    m.feed(now, b"QUIT\r\n");
    m.feed_eof(now);
    S::queue_output(&mut m, now);
    m.tls_established(now);
    now += Duration::from_secs(100_000);
    m.handle_timeout(now);
    seen.extend(events::<S>(&mut m));
    assert_eq!(closes(&seen).len(), 1, "{seen:?}");
    assert_eq!(
        seen.last().map(|s| matches!(s, Seen::Closed { .. })),
        Some(true)
    );
    assert!(take(&mut m, now).is_empty(), "output after the close");
    assert_eq!(m.poll_timeout(), None);
}

/// Under the deadlines, timing never changes the events: the script fed at once, or
/// cut anywhere and fed at random times (pauses short enough that no line or reply
/// overruns its deadline), gives the same events.
fn timing_does_not_change_events<S: Subject>(schedule: &[(usize, u16)])
where
    <S::M as Machine>::Event: Debug,
{
    /// Answers and takes events until the machine asks nothing more.
    fn settle<S: Subject>(m: &mut S::M, now: Instant, seen: &mut Vec<String>)
    where
        <S::M as Machine>::Event: Debug,
    {
        loop {
            let before = seen.len();
            seen.extend(std::iter::from_fn(|| m.poll_event()).map(|e| format!("{e:?}")));
            S::respond(m, now);
            seen.extend(std::iter::from_fn(|| m.poll_event()).map(|e| format!("{e:?}")));
            take(m, now);
            if seen.len() == before {
                return;
            }
        }
    }
    let run = |schedule: &[(usize, u16)]| {
        let mut now = T0;
        let mut m = S::waiting(now);
        let mut seen = Vec::new();
        let mut rest = S::SCRIPT;
        let mut cuts = schedule.iter().cycle();
        while !rest.is_empty() && m.io() != Io::Closed {
            let (size, pause) = if schedule.is_empty() {
                (rest.len(), 0)
            } else {
                *cuts.next().unwrap()
            };
            let n = size.clamp(1, rest.len());
            let next = now + Duration::from_millis(u64::from(pause));
            run_until(&mut m, &mut now, next, true);
            settle::<S>(&mut m, now, &mut seen);
            m.feed(now, &rest[..n]);
            rest = &rest[n..];
            settle::<S>(&mut m, now, &mut seen);
        }
        seen
    };
    assert_eq!(run(schedule), run(&[]));
}

/// Random drips and pauses never keep a session past the deadline that bounds it.
fn random_timing_is_bounded<S: Subject>(gaps: &[(u16, u8)]) {
    let mut now = T0;
    let mut m = S::waiting(now);
    let _ = events::<S>(&mut m);
    let (_, limit, from_first_byte) = S::STARTED;
    let mut first_byte: Option<Instant> = None;
    let mut fed = 0u64;
    let line = S::PARTIAL.iter().copied().chain(std::iter::repeat(b'x'));
    let mut line = line.take(400);
    for &(gap_ms, count) in gaps {
        let next = now + Duration::from_millis(u64::from(gap_ms) * 100);
        run_until(&mut m, &mut now, next, true);
        if m.io() == Io::Closed {
            break;
        }
        let chunk: Vec<u8> = line.by_ref().take(usize::from(count % 4)).collect();
        if !chunk.is_empty() {
            first_byte.get_or_insert(now);
            fed += chunk.len() as u64;
            m.feed(now, &chunk);
        }
        let _ = events::<S>(&mut m);
    }
    let start = if from_first_byte {
        first_byte
    } else {
        Some(T0)
    };
    let (_, silence) = S::SILENCE;
    let bound = match start {
        Some(start) => RateDeadline::new(limit, S::STARTED_RATE).expiry(start, fed),
        None => T0 + silence,
    };
    if now > bound {
        assert_eq!(m.io(), Io::Closed, "open at {now}, bound {bound}");
    }
    if m.io() != Io::Closed {
        assert!(
            m.poll_timeout()
                .is_some_and(|t| t <= bound.max(T0 + silence))
        );
    }
}

// ---------------------------------------------------------------------------------------
// The four subjects.

fn host(name: &str) -> Host {
    Host::Domain(Domain::new(name).unwrap())
}

struct SmtpServer;

impl SmtpServer {
    fn config() -> smtp::server::ServerConfig {
        let mut config = smtp::server::ServerConfig::new("mx.example.org");
        config.extensions.starttls = true;
        let t = &mut config.timeouts;
        t.idle = IDLE;
        t.line = LINE;
        t.write = WRITE;
        config
    }
}

impl Subject for SmtpServer {
    type M = smtp::server::Server;
    const PARTIAL: &'static [u8] = b"NOOP";
    const SILENCE: (Deadline, Duration) = (Deadline::Idle, IDLE);
    const STARTED: (Deadline, Duration, bool) = (Deadline::Line, LINE, true);
    const STARTED_RATE: u32 = 0;

    fn waiting(now: Instant) -> Self::M {
        let mut m = smtp::server::Server::new(now, Self::config());
        take(&mut m, now);
        m.feed(now, b"EHLO client.example.net\r\n");
        take(&mut m, now);
        m
    }

    fn seen(event: &smtp::server::Event) -> Seen {
        use smtp::server::{CloseReason, Event};
        match event {
            Event::Closed { reason } => Seen::Closed {
                timeout: match reason {
                    CloseReason::Timeout(d) => Some(*d),
                    _ => None,
                },
                overflow: *reason == CloseReason::InputOverflow,
            },
            Event::TlsInjection { discarded } => Seen::Injection(*discarded),
            _ => Seen::Other,
        }
    }

    fn make_busy(m: &mut Self::M, now: Instant) {
        m.feed(now, b"MAIL FROM:<a@example.net>\r\n");
        let _ = events::<Self>(m);
        assert!(m.awaiting().is_some());
    }

    fn act(m: &mut Self::M, now: Instant) {
        m.accept(now).unwrap();
    }

    fn queue_output(m: &mut Self::M, now: Instant) {
        m.feed(now, b"HELP\r\n");
    }

    fn switched_to_tls(now: Instant, extra: &[u8]) -> Self::M {
        let mut m = Self::waiting(now);
        let mut line = b"STARTTLS\r\n".to_vec();
        line.extend_from_slice(extra);
        m.feed(now, &line);
        take(&mut m, now);
        m
    }

    fn misuse(m: &mut Self::M, now: Instant) -> String {
        describe(m.accept(now).unwrap_err())
    }

    const SCRIPT: &'static [u8] =
        b"NOOP\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n\
        RCPT TO:<c@example.org>\r\nRSET\r\nHELP\r\nVRFY postmaster\r\nQUIT\r\n";

    fn respond(m: &mut Self::M, now: Instant) {
        if m.awaiting().is_some() {
            m.accept(now).unwrap();
        }
    }
}

struct SmtpClient;

impl SmtpClient {
    fn config() -> smtp::client::ClientConfig {
        let mut config = smtp::client::ClientConfig::new(host("client.example.net"));
        let t = &mut config.timeouts;
        t.greeting = REPLY;
        t.command = REPLY;
        t.write = WRITE;
        config
    }

    fn ready(now: Instant, ehlo: &[u8]) -> smtp::client::Client {
        let mut m = smtp::client::Client::new(now, Self::config());
        m.feed(now, b"220 mx.example.org ESMTP\r\n");
        let _ = events::<Self>(&mut m);
        m.ehlo(now).unwrap();
        take(&mut m, now);
        m.feed(now, ehlo);
        let _ = events::<Self>(&mut m);
        assert!(m.is_ready());
        m
    }
}

impl Subject for SmtpClient {
    type M = smtp::client::Client;
    const PARTIAL: &'static [u8] = b"250";
    const SILENCE: (Deadline, Duration) = (Deadline::Reply, REPLY);
    const STARTED: (Deadline, Duration, bool) = (Deadline::Reply, REPLY, false);
    const STARTED_RATE: u32 = 0;

    fn waiting(now: Instant) -> Self::M {
        let mut m = Self::ready(now, b"250 mx.example.org\r\n");
        m.noop(now).unwrap();
        take(&mut m, now);
        m
    }

    fn seen(event: &smtp::client::Event) -> Seen {
        use smtp::client::{CloseReason, Event};
        match event {
            Event::Closed { reason } => Seen::Closed {
                timeout: match reason {
                    CloseReason::Timeout(d) => Some(*d),
                    _ => None,
                },
                overflow: *reason == CloseReason::InputOverflow,
            },
            Event::TlsInjection { discarded } => Seen::Injection(*discarded),
            _ => Seen::Other,
        }
    }

    fn make_busy(m: &mut Self::M, now: Instant) {
        // The reply arrives and its event is not taken.
        m.feed(now, b"250 2.0.0 Ok\r\n");
    }

    fn act(m: &mut Self::M, _now: Instant) {
        while m.poll_event().is_some() {}
    }

    fn queue_output(m: &mut Self::M, now: Instant) {
        if !m.is_ready() {
            m.feed(now, b"250 2.0.0 Ok\r\n");
            while m.poll_event().is_some() {}
        }
        let _ = m.vrfy(now, "postmaster@example.org".into());
    }

    fn switched_to_tls(now: Instant, extra: &[u8]) -> Self::M {
        let mut m = Self::ready(now, b"250-mx.example.org\r\n250 STARTTLS\r\n");
        m.starttls(now).unwrap();
        take(&mut m, now);
        let mut reply = b"220 2.0.0 Ready to start TLS\r\n".to_vec();
        reply.extend_from_slice(extra);
        m.feed(now, &reply);
        m
    }

    fn misuse(m: &mut Self::M, now: Instant) -> String {
        // A reply is outstanding: the machine is busy.
        describe(m.vrfy(now, "postmaster".into()).unwrap_err())
    }

    const SCRIPT: &'static [u8] = b"250-2.0.0 first line\r\n250 2.0.0 Ok\r\n";

    fn respond(_m: &mut Self::M, _now: Instant) {}
}

struct Pop3Server;

impl Pop3Server {
    fn config() -> pop3::server::ServerConfig {
        let mut t = pop3::server::Timeouts::default();
        t.authorization_idle = IDLE;
        t.idle = IDLE;
        t.line = LINE;
        t.write = WRITE;
        pop3::server::ServerConfig::default()
            .with_stls_offered(true)
            .with_plaintext_login(true)
            .with_timeouts(t)
    }
}

impl Subject for Pop3Server {
    type M = pop3::server::Server;
    const PARTIAL: &'static [u8] = b"NOOP";
    const SILENCE: (Deadline, Duration) = (Deadline::Idle, IDLE);
    const STARTED: (Deadline, Duration, bool) = (Deadline::Line, LINE, true);
    const STARTED_RATE: u32 = 0;

    fn waiting(now: Instant) -> Self::M {
        let mut m = pop3::server::Server::new(now, Self::config());
        take(&mut m, now);
        m
    }

    fn seen(event: &pop3::server::Event) -> Seen {
        use pop3::server::{CloseReason, Event};
        match event {
            Event::Closed { reason } => Seen::Closed {
                timeout: match reason {
                    CloseReason::Timeout(d) => Some(*d),
                    _ => None,
                },
                overflow: *reason == CloseReason::InputOverflow,
            },
            Event::TlsInjection { discarded } => Seen::Injection(*discarded),
            _ => Seen::Other,
        }
    }

    fn make_busy(m: &mut Self::M, now: Instant) {
        m.feed(now, b"USER mrose\r\nPASS tanstaaf\r\n");
        let _ = events::<Self>(m);
        assert_eq!(m.awaiting(), pop3::server::Awaiting::Login);
    }

    fn act(m: &mut Self::M, now: Instant) {
        m.login_ok(now, pop3::server::Maildrop::new(Vec::new()))
            .unwrap();
    }

    fn queue_output(m: &mut Self::M, now: Instant) {
        m.feed(now, b"CAPA\r\n");
    }

    fn switched_to_tls(now: Instant, extra: &[u8]) -> Self::M {
        let mut m = Self::waiting(now);
        let mut line = b"STLS\r\n".to_vec();
        line.extend_from_slice(extra);
        m.feed(now, &line);
        take(&mut m, now);
        m
    }

    fn misuse(m: &mut Self::M, now: Instant) -> String {
        describe(m.login_failed(now).unwrap_err())
    }

    const SCRIPT: &'static [u8] =
        b"CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nSTAT\r\nLIST\r\nNOOP\r\nQUIT\r\n";

    fn respond(m: &mut Self::M, now: Instant) {
        if m.awaiting() == pop3::server::Awaiting::Login {
            m.login_ok(now, pop3::server::Maildrop::new(Vec::new()))
                .unwrap();
        }
    }
}

struct Pop3Client;

impl Pop3Client {
    fn config() -> pop3::client::ClientConfig {
        let mut config = pop3::client::ClientConfig::default();
        config.timeouts.response = RateDeadline::new(REPLY, 500);
        config.timeouts.write = WRITE;
        config
    }

    fn greeted(now: Instant) -> pop3::client::Client {
        let mut m = pop3::client::Client::new(now, Self::config());
        m.feed(now, b"+OK POP3 server ready\r\n");
        let _ = events::<Self>(&mut m);
        m
    }
}

impl Subject for Pop3Client {
    type M = pop3::client::Client;
    const PARTIAL: &'static [u8] = b"+OK";
    const SILENCE: (Deadline, Duration) = (Deadline::Reply, REPLY);
    const STARTED: (Deadline, Duration, bool) = (Deadline::Reply, REPLY, false);
    const STARTED_RATE: u32 = 500;

    fn waiting(now: Instant) -> Self::M {
        let mut m = Self::greeted(now);
        m.user(now, "mrose").unwrap();
        take(&mut m, now);
        m
    }

    fn seen(event: &pop3::client::Event) -> Seen {
        use pop3::client::{CloseReason, Event};
        match event {
            Event::Closed { reason } => Seen::Closed {
                timeout: match reason {
                    CloseReason::Timeout(d) => Some(*d),
                    _ => None,
                },
                overflow: *reason == CloseReason::InputOverflow,
            },
            Event::TlsInjection { discarded } => Seen::Injection(*discarded),
            _ => Seen::Other,
        }
    }

    fn make_busy(m: &mut Self::M, now: Instant) {
        m.feed(now, b"+OK mrose is known\r\n");
    }

    fn act(m: &mut Self::M, _now: Instant) {
        while m.poll_event().is_some() {}
    }

    fn queue_output(m: &mut Self::M, now: Instant) {
        // USER is answered, then a command long enough for the slow reader goes out.
        m.feed(now, b"+OK\r\n");
        while m.poll_event().is_some() {}
        let _ = m.pass(now, &pop3::Secret::from("tanstaaf"));
    }

    fn switched_to_tls(now: Instant, extra: &[u8]) -> Self::M {
        let mut m = Self::greeted(now);
        m.stls(now).unwrap();
        take(&mut m, now);
        let mut reply = b"+OK Begin TLS negotiation\r\n".to_vec();
        reply.extend_from_slice(extra);
        m.feed(now, &reply);
        m
    }

    fn misuse(m: &mut Self::M, now: Instant) -> String {
        // RETR before a login.
        describe(m.retr(now, 1).unwrap_err())
    }

    const SCRIPT: &'static [u8] = b"+OK mrose is a real hoopy frood\r\n";

    fn respond(_m: &mut Self::M, _now: Instant) {}
}

macro_rules! contract {
    ($($module:ident: $subject:ty),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn drip_past_the_line_deadline() {
                super::drip_past_the_line_deadline::<$subject>();
            }

            #[test]
            fn silence_past_the_idle_deadline() {
                super::silence_past_the_idle_deadline::<$subject>();
            }

            #[test]
            fn output_not_taken_past_the_write_deadline() {
                super::output_not_taken_past_the_write_deadline::<$subject>();
            }

            #[test]
            fn slow_reader_below_the_minimum_rate() {
                super::slow_reader_below_the_minimum_rate::<$subject>();
            }

            #[test]
            fn application_slower_than_a_peer_deadline() {
                super::application_slower_than_a_peer_deadline::<$subject>();
            }

            #[test]
            fn input_fed_while_not_wanted() {
                super::input_fed_while_not_wanted::<$subject>();
            }

            #[test]
            fn injected_plaintext_at_the_tls_boundary() {
                super::injected_plaintext_at_the_tls_boundary::<$subject>();
            }

            #[test]
            fn misuse_leaves_the_state_unchanged() {
                super::misuse_leaves_the_state_unchanged::<$subject>();
            }

            #[test]
            fn close_once() {
                super::close_once::<$subject>();
            }

            proptest! {
                #[test]
                fn timing_does_not_change_events(
                    // Pauses under a second: even a line cut into single octets stays within its
                    // deadline.
                    schedule in proptest::collection::vec((1usize..12, 0u16..1000), 1..20),
                ) {
                    super::timing_does_not_change_events::<$subject>(&schedule);
                }

                #[test]
                fn random_timing_is_bounded(
                    gaps in proptest::collection::vec((0u16..1200, any::<u8>()), 1..60),
                ) {
                    super::random_timing_is_bounded::<$subject>(&gaps);
                }
            }
        }
    )*};
}

contract! {
    smtp_server: SmtpServer,
    smtp_client: SmtpClient,
    pop3_server: Pop3Server,
    pop3_client: Pop3Client,
}
