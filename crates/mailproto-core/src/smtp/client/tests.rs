//! Unit tests of the client machine's internals (the transcript tests are in
//! `tests/smtp_client.rs`).

const T0: crate::time::Instant = crate::time::Instant::ZERO;

use crate::sasl::ClientAuth;
use crate::time::{Duration, Instant};
use crate::{Io, Machine};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::smtp::{Domain, ForwardPath, Host, MailParams, Mailbox, RcptParams, ReversePath};

fn client(lmtp: bool, caps: &[u8]) -> Client {
    let mut config = ClientConfig::new(Host::Domain(Domain::new("c.example").unwrap()));
    config.lmtp = lmtp;
    let mut c = Client::new(T0, config);
    c.feed(T0, b"220 s\r\n");
    c.ehlo(T0).unwrap();
    c.feed(T0, caps);
    assert!(c.is_ready());
    while c.poll_event().is_some() {}
    let mut out = Vec::new();
    while c.poll_transmit(&mut out) > 0 {}
    c.transmitted(T0, out.len());
    c
}

fn rcpts(n: usize) -> Vec<(ForwardPath, RcptParams)> {
    (0..n)
        .map(|i| {
            let m = Mailbox {
                local_part: alloc::format!("r{i}"),
                domain: Host::Domain(Domain::new("x.example").unwrap()),
            };
            (ForwardPath::Mailbox(m), RcptParams::default())
        })
        .collect()
}

fn envelope(c: &mut Client, n: usize, mode: BodyMode) {
    c.send_envelope(T0, ReversePath::Null, MailParams::default(), rcpts(n), mode)
        .unwrap();
}

#[test]
fn pipelined_group_queues_one_expectation_per_command() {
    let mut c = client(false, b"250-s\r\n250 PIPELINING\r\n");
    envelope(&mut c, 2, BodyMode::Data);
    assert_eq!(
        Vec::from(c.expect.clone()),
        vec![
            Expect::Mail,
            Expect::Rcpt { index: 0 },
            Expect::Rcpt { index: 1 },
            Expect::Data
        ]
    );
    // The oldest outstanding reply (MAIL, 5 minutes) sets the deadline.
    assert_eq!(c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
}

#[test]
fn lmtp_lone_dot_expects_no_reply() {
    let mut c = client(true, b"250-s\r\n250 PIPELINING\r\n");
    envelope(&mut c, 1, BodyMode::Data);
    c.feed(T0, b"250 ok\r\n550 no\r\n354 go\r\n");
    let mut out = Vec::new();
    let _ = c.poll_transmit(&mut out);
    assert!(out.ends_with(b"DATA\r\n.\r\n"));
    assert!(c.is_ready());
    assert!(matches!(
        core::iter::from_fn(|| c.poll_event()).last(),
        Some(Event::TransactionFailed {
            reason: FailureReason::NoValidRecipients,
            ..
        })
    ));
}

#[test]
fn lmtp_bdat_last_is_answered_per_recipient() {
    let mut c = client(true, b"250-s\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    envelope(&mut c, 2, BodyMode::Bdat);
    c.send_last_body(T0, b"hi").unwrap();
    c.feed(T0, b"250 ok\r\n250 ok\r\n250 ok\r\n250 a\r\n");
    assert_eq!(Vec::from(c.expect.clone()), vec![Expect::Lmtp { pos: 1 }]);
    // The write deadline of the chunk (not reported as taken) comes first: take it.
    let mut out = Vec::new();
    while c.poll_transmit(&mut out) > 0 {}
    c.transmitted(T0, out.len());
    assert_eq!(c.poll_timeout(), Some(T0 + Duration::from_secs(600)));
    c.feed(T0, b"550 b\r\n");
    assert!(c.is_ready());
    let events: Vec<Event> = core::iter::from_fn(|| c.poll_event()).collect();
    let lmtp: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::LmtpReply { index, last, .. } => Some((*index, *last)),
            _ => None,
        })
        .collect();
    assert_eq!(lmtp, [(0, false), (1, true)]);
}

#[test]
fn tls_established_outside_awaiting_tls_is_ignored() {
    let mut c = client(false, b"250 s\r\n");
    c.tls_established(T0);
    assert!(!c.is_tls());
    assert!(c.poll_event().is_none());
    assert!(c.is_ready());
}

#[test]
fn closing_keeps_queued_output_and_ignores_input() {
    let mut c = client(false, b"250 s\r\n");
    c.quit(T0).unwrap();
    let due = c.poll_timeout().unwrap();
    c.handle_timeout(due);
    c.feed(T0, b"221 late\r\n");
    c.feed_eof(T0);
    let events: Vec<Event> = core::iter::from_fn(|| c.poll_event()).collect();
    let closed: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Closed { .. }))
        .collect();
    assert_eq!(closed.len(), 1, "closed once");
    // The QUIT was never taken: the write deadline came first and dropped it.
    assert!(matches!(
        closed[0],
        Event::Closed {
            reason: CloseReason::Timeout(crate::time::Deadline::Write)
        }
    ));
    let mut out = Vec::new();
    assert_eq!(c.poll_transmit(&mut out), 0);
    assert_eq!(c.io(), Io::Closed);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn the_data_block_write_limit_applies_while_a_body_is_open() {
    let t = Timeouts::default();
    let mut c = client(false, b"250-s\r\n250 PIPELINING\r\n");
    let at = Instant::from_secs(10);
    envelope(&mut c, 1, BodyMode::Data);
    c.feed(at, b"250 ok\r\n250 ok\r\n");
    let mut out = Vec::new();
    while c.poll_transmit(&mut out) > 0 {}
    c.transmitted(at, out.len());
    c.feed(at, b"354 go\r\n");
    c.send_body(at, b"line\r\n").unwrap();
    // A body is open: the data-block limit (3 minutes, RFC 5321 §4.5.3.2.5).
    assert_eq!(c.poll_timeout(), Some(at + t.data_block));
    out.clear();
    while c.poll_transmit(&mut out) > 0 {}
    c.transmitted(at, out.len());
    c.finish_body(at).unwrap();
    assert_eq!(c.poll_timeout(), Some(at + t.write.timeout));
}

#[test]
fn auth_rounds_are_bounded() {
    let mut config = ClientConfig::new(Host::Domain(Domain::new("c.example").unwrap()));
    config.max_auth_rounds = 2;
    config.tls_active = true;
    let mut c = Client::new(T0, config);
    c.feed(T0, b"220 s\r\n");
    c.ehlo(T0).unwrap();
    c.feed(T0, b"250-s\r\n250 AUTH LOGIN\r\n");
    let creds = crate::sasl::ClientCredentials::password("u", "p");
    let auth = ClientAuth::new(crate::sasl::Mechanism::Login, creds).unwrap();
    c.auth(T0, auth).unwrap();
    c.feed(T0, b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n334 \r\n");
    let mut out = Vec::new();
    let _ = c.poll_transmit(&mut out);
    assert!(out.ends_with(b"dQ==\r\ncA==\r\n*\r\n"), "{out:?}");
}
