//! The servers' transcripts: every command line and status line in order, credentials
//! masked (AUTH initial responses, SASL lines, PASS, APOP digests), message contents never
//! recorded, nothing kept unless asked for.

use mailproto_core::pop3::UniqueId;
use mailproto_core::pop3::server::{
    Event as Pop3Event, Maildrop, MessageInfo, Server as Pop3Server, ServerConfig as Pop3Config,
};
use mailproto_core::sasl::Mechanism;
use mailproto_core::smtp::server::{Event, Server, ServerConfig};
use mailproto_core::{Instant, Machine};

const T0: Instant = Instant::ZERO;

fn take<M: Machine>(m: &mut M) {
    let mut out = Vec::new();
    while m.poll_transmit(&mut out) > 0 {}
    m.transmitted(T0, out.len());
}

fn transcript<M: Machine>(m: &mut M) -> Vec<String> {
    std::iter::from_fn(|| m.poll_transcript())
        .map(|l| l.to_string())
        .collect()
}

/// Answer every SMTP event as a plain server would.
fn answer(server: &mut Server) {
    while let Some(event) = server.poll_event() {
        match event {
            Event::Auth { .. } => server.auth_accept(T0).unwrap(),
            Event::Mail { .. } | Event::Rcpt { .. } | Event::MessageEnd { .. } => {
                server.accept(T0).unwrap()
            }
            _ => {}
        }
    }
}

#[test]
fn smtp_transcript_masks_credentials_and_leaves_bodies_out() {
    let mut config = ServerConfig::new("mx.test");
    config.extensions.auth = vec![Mechanism::Plain, Mechanism::Login];
    config.auth_requires_tls = false;
    let mut server = Server::new(T0, config);
    server.record_transcript(true);
    take(&mut server);
    let input: &[&[u8]] = &[
        b"EHLO c.test\r\n",
        b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        // Refused (already authenticated): what follows is not a command, but the
        // client's credentials, which stay masked.
        b"AUTH LOGIN\r\n",
        b"YWxpY2U=\r\n",
        b"c2VjcmV0\r\n",
        b"MAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n",
        b"Subject: hidden body\r\n\r\ntop secret text\r\n.\r\n",
        b"NOOP\r\nQUIT\r\n",
    ];
    for chunk in input {
        server.feed(T0, chunk);
        answer(&mut server);
        take(&mut server);
    }
    let lines = transcript(&mut server);
    let all = lines.join("\n");
    for secret in [
        "AGFsaWNlAHNlY3JldA==",
        "YWxpY2U=",
        "c2VjcmV0",
        "hidden body",
        "top secret",
    ] {
        assert!(!all.contains(secret), "{secret} in\n{all}");
    }
    let expected_prefix = [
        "S: 220 mx.test ESMTP ready",
        "C: EHLO c.test",
        "S: 250-mx.test greets c.test",
    ];
    assert_eq!(lines[..3], expected_prefix, "{all}");
    let from = |line: &str| {
        lines
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line} in\n{all}"))
    };
    let plain = from("C: AUTH PLAIN ***");
    assert!(lines[plain + 1].starts_with("S: 235 "), "{all}");
    let login = from("C: AUTH LOGIN");
    assert!(lines[login + 1].starts_with("S: 503 "), "{all}");
    assert_eq!(
        lines[login + 2..login + 6],
        ["C: ***", "S: 500 5.5.1 ***", "C: ***", "S: 500 5.5.2 ***"],
        "{all}"
    );
    let data = from("C: DATA");
    assert!(lines[data + 1].starts_with("S: 354 "), "{all}");
    assert_eq!(
        lines[data + 2],
        "C: .",
        "the body is not in the transcript, its end is: {all}"
    );
    assert!(lines[data + 3].starts_with("S: 250 "), "{all}");
    assert_eq!(
        lines[lines.len() - 4..][..2],
        ["C: NOOP".to_string(), lines[lines.len() - 3].clone()]
    );
    assert_eq!(lines[lines.len() - 2], "C: QUIT", "{all}");
    assert!(lines[lines.len() - 1].starts_with("S: 221 "), "{all}");
}

#[test]
fn pop3_transcript_masks_passwords_and_counts_listing_lines() {
    let mut config = Pop3Config::default();
    config.allow_plaintext_login = true;
    let mut server = Pop3Server::new(T0, config);
    server.record_transcript(true);
    take(&mut server);
    server.feed(T0, b"USER alice\r\nPASS wonderland\r\n");
    assert!(matches!(server.poll_event(), Some(Pop3Event::Login { .. })));
    let info = |n: u64| MessageInfo::new(n, UniqueId::new(format!("u{n}")).unwrap());
    server
        .login_ok(T0, Maildrop::new(vec![info(10), info(20)]))
        .unwrap();
    take(&mut server);
    server.feed(
        T0,
        b"LIST\r\nAPOP alice 0123456789abcdef0123456789abcdef\r\nQUIT\r\n",
    );
    while server.poll_event().is_some() {}
    take(&mut server);
    let lines = transcript(&mut server);
    let all = lines.join("\n");
    assert!(
        !all.contains("wonderland") && !all.contains("0123456789abcdef"),
        "{all}"
    );
    assert!(lines[0].starts_with("S: +OK "), "the greeting: {all}");
    assert_eq!(lines[1], "C: USER alice", "{all}");
    assert!(lines.contains(&"C: PASS ***".to_string()), "{all}");
    assert!(lines.contains(&"C: APOP alice ***".to_string()), "{all}");
    let list = lines.iter().position(|l| l == "C: LIST").unwrap();
    assert!(
        lines[list + 1].starts_with("S: +OK ") && lines[list + 1].ends_with(" [3 more lines]"),
        "{all}"
    );
}

#[test]
fn nothing_is_kept_unless_asked_for() {
    let mut server = Server::new(T0, ServerConfig::new("mx.test"));
    take(&mut server);
    server.feed(T0, b"EHLO c.test\r\n");
    take(&mut server);
    assert_eq!(server.poll_transcript(), None);
    // Turned on later: from then on.
    server.record_transcript(true);
    server.feed(T0, b"NOOP\r\n");
    take(&mut server);
    assert_eq!(transcript(&mut server)[0], "C: NOOP");
    server.record_transcript(false);
    server.feed(T0, b"NOOP\r\n");
    assert_eq!(server.poll_transcript(), None);
}
