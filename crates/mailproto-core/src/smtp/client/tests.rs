//! Unit tests of the client machine's internals (the transcript tests are in
//! `tests/smtp_client.rs`).

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::*;
use crate::smtp::{Domain, ForwardPath, Host, MailParams, Mailbox, RcptParams, ReversePath};

fn client(lmtp: bool, caps: &[u8]) -> Client {
    let mut config = ClientConfig::new(Host::Domain(Domain::new("c.example").unwrap()));
    config.lmtp = lmtp;
    let mut c = Client::new(config);
    c.feed(b"220 s\r\n");
    c.ehlo().unwrap();
    c.feed(caps);
    assert!(c.is_ready(), "{:?}", c.events);
    c.events.clear();
    c.out.clear();
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
    c.send_envelope(ReversePath::Null, MailParams::default(), rcpts(n), mode)
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
    assert_eq!(c.read_timeout(), Some(Duration::from_secs(300)));
}

#[test]
fn lmtp_lone_dot_expects_no_reply() {
    let mut c = client(true, b"250-s\r\n250 PIPELINING\r\n");
    envelope(&mut c, 1, BodyMode::Data);
    c.feed(b"250 ok\r\n550 no\r\n354 go\r\n");
    let mut out = Vec::new();
    let _ = c.poll_transmit(&mut out);
    assert!(out.ends_with(b"DATA\r\n.\r\n"));
    assert!(c.is_ready());
    assert!(matches!(
        c.events.back(),
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
    c.send_last_body(b"hi").unwrap();
    c.feed(b"250 ok\r\n250 ok\r\n250 ok\r\n250 a\r\n");
    assert_eq!(Vec::from(c.expect.clone()), vec![Expect::Lmtp { pos: 1 }]);
    assert_eq!(c.read_timeout(), Some(Duration::from_secs(600)));
    c.feed(b"550 b\r\n");
    assert!(c.is_ready());
    let lmtp: Vec<_> = c
        .events
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
    c.tls_established();
    assert!(!c.is_tls());
    assert!(c.events.is_empty());
    assert!(c.is_ready());
}

#[test]
fn closing_keeps_queued_output_and_ignores_input() {
    let mut c = client(false, b"250 s\r\n");
    c.quit().unwrap();
    c.handle_timeout();
    c.feed(b"221 late\r\n");
    c.feed_eof();
    let closed: Vec<_> = c
        .events
        .iter()
        .filter(|e| matches!(e, Event::Closed { .. }))
        .collect();
    assert_eq!(closed.len(), 1, "closed once");
    let mut out = Vec::new();
    assert_eq!(c.poll_transmit(&mut out), 6);
    assert_eq!(out, b"QUIT\r\n");
    assert_eq!(c.io(), Io::Closed);
    assert_eq!(c.read_timeout(), None);
}

#[test]
fn write_timeout_only_while_a_body_is_open() {
    let mut c = client(false, b"250-s\r\n250 PIPELINING\r\n");
    assert_eq!(c.write_timeout(), None);
    envelope(&mut c, 1, BodyMode::Data);
    assert_eq!(c.write_timeout(), None);
    c.feed(b"250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(c.write_timeout(), Some(Duration::from_secs(180)));
    c.finish_body().unwrap();
    assert_eq!(c.write_timeout(), None);
}

#[test]
fn auth_rounds_are_bounded() {
    let mut config = ClientConfig::new(Host::Domain(Domain::new("c.example").unwrap()));
    config.max_auth_rounds = 2;
    config.tls_active = true;
    let mut c = Client::new(config);
    c.feed(b"220 s\r\n");
    c.ehlo().unwrap();
    c.feed(b"250-s\r\n250 AUTH LOGIN\r\n");
    let creds = crate::sasl::ClientCredentials::password("u", "p");
    let auth = ClientAuth::new(crate::sasl::Mechanism::Login, creds).unwrap();
    c.auth(auth).unwrap();
    c.feed(b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n334 \r\n");
    let mut out = Vec::new();
    let _ = c.poll_transmit(&mut out);
    assert!(out.ends_with(b"dQ==\r\ncA==\r\n*\r\n"), "{out:?}");
}
