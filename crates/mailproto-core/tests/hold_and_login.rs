//! The two pieces of time the listener policy builds on: a hold (the failed-login
//! delay), which keeps replies and pipelined commands back without counting against the
//! client, and the login deadline (POP3: logging in; SMTP: the first transaction).

use mailproto_core::pop3::server::{
    CloseReason as Pop3Close, Event as Pop3Event, Maildrop, Server as Pop3Server,
    ServerConfig as Pop3Config,
};
use mailproto_core::sasl::Mechanism;
use mailproto_core::smtp::server::{CloseReason, Event, Server, ServerConfig};
use mailproto_core::time::Duration;
use mailproto_core::{Deadline, Instant, Io, Machine};

const T0: Instant = Instant::ZERO;

fn take<M: Machine>(m: &mut M, now: Instant) -> String {
    let mut out = Vec::new();
    while m.poll_transmit(&mut out) > 0 {}
    m.transmitted(now, out.len());
    String::from_utf8(out).unwrap()
}

fn events<M: Machine>(m: &mut M) -> Vec<M::Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn smtp_auth_server() -> Server {
    let mut config = ServerConfig::new("mx.test");
    config.extensions.auth = vec![Mechanism::Plain];
    config.auth_requires_tls = false;
    config.timeouts.first_transaction = None;
    let mut server = Server::new(T0, config);
    take(&mut server, T0);
    server
}

fn is_auth(e: &Event) -> bool {
    matches!(e, Event::Auth { .. })
}

#[test]
fn smtp_a_held_rejection_goes_out_at_the_end_of_the_hold_and_the_next_try_waits() {
    let mut server = smtp_auth_server();
    // Two tries pipelined: the second must not be looked at before the delay is over.
    server.feed(
        T0,
        b"EHLO c.test\r\nAUTH PLAIN AGEAYg==\r\nAUTH PLAIN AGEAYw==\r\n",
    );
    let first = events(&mut server);
    assert!(first.iter().any(is_auth), "{first:?}");
    take(&mut server, T0);
    let until = T0 + Duration::from_secs(1000);
    server.hold_until(T0, until);
    server.auth_reject(T0).unwrap();
    assert_eq!(take(&mut server, T0), "", "the rejection is held");
    assert!(events(&mut server).is_empty(), "the second try waits");
    assert_eq!(server.io(), Io::Open { wants_read: false });
    // The hold is longer than every client deadline: none of them runs meanwhile.
    assert_eq!(server.poll_timeout(), Some(until));
    let early = T0 + Duration::from_secs(999);
    server.handle_timeout(early);
    assert_eq!(take(&mut server, early), "");
    server.handle_timeout(until);
    assert!(
        take(&mut server, until).starts_with("535 5.7.8"),
        "released at the end of the hold"
    );
    let second = events(&mut server);
    assert!(second.iter().any(is_auth), "then the next try: {second:?}");
    assert_eq!(server.io(), Io::Open { wants_read: false });
}

#[test]
fn smtp_input_after_the_hold_ended_releases_it_first() {
    let mut server = smtp_auth_server();
    server.feed(T0, b"EHLO c.test\r\nAUTH PLAIN AGEAYg==\r\n");
    events(&mut server);
    take(&mut server, T0);
    server.hold_until(T0, T0 + Duration::from_secs(2));
    server.auth_reject(T0).unwrap();
    // The driver was late: input arrives after the hold's end.
    let late = T0 + Duration::from_secs(3);
    server.feed(late, b"NOOP\r\n");
    let out = take(&mut server, late);
    assert!(out.starts_with("535 5.7.8"), "{out:?}");
    assert!(
        out.contains("\r\n250 "),
        "and the NOOP is answered: {out:?}"
    );
}

#[test]
fn smtp_shutdown_ends_a_hold() {
    let mut server = smtp_auth_server();
    server.feed(T0, b"EHLO c.test\r\nAUTH PLAIN AGEAYg==\r\n");
    events(&mut server);
    take(&mut server, T0);
    server.hold_until(T0, T0 + Duration::from_secs(60));
    server.auth_reject(T0).unwrap();
    server.shutdown(T0);
    let out = take(&mut server, T0);
    assert!(out.contains("421 4.3.2"), "{out:?}");
    assert_eq!(server.io(), Io::Closed);
}

#[test]
fn smtp_a_client_without_a_transaction_is_closed_at_the_first_transaction_deadline() {
    let mut server = Server::new(T0, ServerConfig::new("mx.test"));
    take(&mut server, T0);
    // A NOOP every 4 minutes keeps the idle deadline (5 minutes) from expiring.
    let mut now = T0;
    for _ in 0..3 {
        server.feed(now, b"NOOP\r\n");
        take(&mut server, now);
        now += Duration::from_secs(4 * 60);
        if server.poll_timeout().is_some_and(|at| at <= now) {
            break;
        }
    }
    let due = server.poll_timeout().unwrap();
    assert_eq!(due, T0 + Duration::from_secs(5 * 60));
    server.handle_timeout(due);
    assert_eq!(
        take(&mut server, due),
        "421 4.4.2 mx.test Error: timeout exceeded\r\n"
    );
    let closed = events(&mut server);
    assert!(
        matches!(
            closed[..],
            [Event::Closed {
                reason: CloseReason::Timeout(Deadline::Login)
            }]
        ),
        "{closed:?}"
    );
}

#[test]
fn smtp_the_first_transaction_ends_the_deadline() {
    let mut server = Server::new(T0, ServerConfig::new("mx.test"));
    take(&mut server, T0);
    let now = T0 + Duration::from_secs(60);
    server.feed(now, b"HELO c.test\r\nMAIL FROM:<a@c.test>\r\n");
    for e in events(&mut server) {
        if matches!(e, Event::Mail { .. }) {
            server.accept(now).unwrap();
        }
    }
    take(&mut server, now);
    // Now only the idle deadline, from the last reply.
    assert_eq!(
        server.poll_timeout(),
        Some(now + Duration::from_secs(5 * 60))
    );
}

fn pop3_server() -> Pop3Server {
    let mut config = Pop3Config::default();
    config.allow_plaintext_login = true;
    let mut server = Pop3Server::new(T0, config);
    take(&mut server, T0);
    server
}

#[test]
fn pop3_a_held_failure_keeps_the_next_try_back() {
    let mut server = pop3_server();
    server.feed(T0, b"USER a\r\nPASS wrong\r\nUSER a\r\nPASS right\r\n");
    let first = events(&mut server);
    assert!(matches!(first[..], [Pop3Event::Login { .. }]), "{first:?}");
    take(&mut server, T0);
    let until = T0 + Duration::from_secs(5);
    server.hold_until(T0, until);
    server.login_failed(T0).unwrap();
    assert_eq!(take(&mut server, T0), "");
    assert!(events(&mut server).is_empty());
    assert_eq!(server.poll_timeout(), Some(until));
    server.handle_timeout(until);
    assert!(take(&mut server, until).starts_with("-ERR [AUTH]"));
    let second = events(&mut server);
    assert!(
        matches!(second[..], [Pop3Event::Login { .. }]),
        "{second:?}"
    );
    server.login_ok(until, Maildrop::new(Vec::new())).unwrap();
    assert!(take(&mut server, until).starts_with("+OK"));
}

#[test]
fn pop3_a_client_that_does_not_log_in_is_closed_at_the_login_deadline() {
    let mut server = pop3_server();
    let mut now = T0;
    // CAPA every 100 s: within the AUTHORIZATION idle deadline (2 minutes).
    while server
        .poll_timeout()
        .is_some_and(|at| at > now + Duration::from_secs(100))
    {
        now += Duration::from_secs(100);
        server.feed(now, b"CAPA\r\n");
        take(&mut server, now);
    }
    let due = server.poll_timeout().unwrap();
    assert_eq!(due, T0 + Duration::from_secs(3 * 60));
    server.handle_timeout(due);
    assert_eq!(take(&mut server, due), "", "closed without a response");
    let closed = events(&mut server);
    assert!(
        matches!(
            closed[..],
            [Pop3Event::Closed {
                reason: Pop3Close::Timeout(Deadline::Login)
            }]
        ),
        "{closed:?}"
    );
}

#[test]
fn pop3_logging_in_ends_the_login_deadline() {
    let mut server = pop3_server();
    let now = T0 + Duration::from_secs(100);
    server.feed(now, b"USER a\r\nPASS b\r\n");
    events(&mut server);
    server.login_ok(now, Maildrop::new(Vec::new())).unwrap();
    take(&mut server, now);
    assert_eq!(
        server.poll_timeout(),
        Some(now + Duration::from_secs(600)),
        "the autologout timer only"
    );
}
