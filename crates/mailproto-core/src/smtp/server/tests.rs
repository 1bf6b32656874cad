//! Unit tests of the server machine's internals; the transcript tests are in
//! `tests/smtp_server.rs`.

const T0: crate::time::Instant = crate::time::Instant::ZERO;

use crate::time::{Deadline, Duration};
use crate::{Io, Machine};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::reply::printable;
use super::*;
use crate::sasl::Mechanism;
use crate::smtp::EnhancedCode;

fn drain(server: &mut Server) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(e) = server.poll_event() {
        v.push(e);
    }
    v
}

/// What the server hands out, reported as taken at once.
fn output(server: &mut Server) -> String {
    let mut out = Vec::new();
    while server.poll_transmit(&mut out) > 0 {}
    server.transmitted(T0, out.len());
    String::from_utf8(out).unwrap()
}

/// A server past EHLO, output and events taken.
fn greeted(config: ServerConfig) -> Server {
    let mut s = Server::new(T0, config);
    s.feed(T0, b"EHLO c.example\r\n");
    drain(&mut s);
    output(&mut s);
    s
}

#[test]
fn printable_replaces_controls_and_non_ascii() {
    assert_eq!(printable("a\r\nb\x00c\u{e9}d~"), "a??b?c?d~");
}

#[test]
fn hostname_cannot_inject_lines() {
    let mut s = Server::new(T0, ServerConfig::new("evil\r\n250 injected"));
    assert_eq!(output(&mut s), "220 evil??250 injected ESMTP ready\r\n");
}

#[test]
fn refusing_with_an_unsendable_reply_falls_back_to_554() {
    let bad = Reply::new(ReplyCode::TRANSACTION_FAILED, None, "a\r\nb");
    let mut s = Server::new_refusing(T0, ServerConfig::new("mx.example"), bad);
    assert_eq!(output(&mut s), "554 mx.example Service unavailable\r\n");
    let intermediate = Reply::new(ReplyCode::START_MAIL_INPUT, None, "go");
    let mut s = Server::new_refusing(T0, ServerConfig::new("mx.example"), intermediate);
    assert_eq!(output(&mut s), "554 mx.example Service unavailable\r\n");
}

#[test]
fn enhanced_codes_follow_the_configuration() {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.enhanced_status_codes = false;
    let mut s = greeted(config);
    s.feed(T0, b"NOOP\r\nFOO\r\n");
    assert_eq!(
        output(&mut s),
        "250 Ok\r\n500 Error: command not recognized\r\n"
    );
    let s = greeted(ServerConfig::new("mx.example"));
    assert_eq!(
        s.status(354, 0, 0, "go").enhanced,
        None,
        "no enhanced code on 3xx (RFC 2034 §3)"
    );
    assert_eq!(
        s.status(452, 5, 3, "x").enhanced,
        Some(EnhancedCode::new(4, 5, 3))
    );
}

#[test]
fn credentials_stay_out_of_debug_output() {
    let mut config = ServerConfig::new("mx.example");
    config.tls_active = true;
    config.extensions.auth = vec![Mechanism::Plain];
    let mut s = greeted(config);
    s.feed(T0, b"AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n");
    let events = drain(&mut s);
    let shown = format!("{events:?} {s:?}");
    assert!(shown.contains("tim"));
    assert!(!shown.contains("tanstaaf"), "{shown}");
}

#[test]
fn input_limit_stops_reading() {
    let mut config = ServerConfig::new("mx.example");
    config.limits.max_buffered = 4096;
    let mut s = greeted(config);
    assert_eq!(s.k.max_buffered(), 4096);
    s.feed(T0, b"MAIL FROM:<a@example.net>\r\n");
    drain(&mut s);
    assert_eq!(s.io(), Io::Open { wants_read: false }, "awaiting an answer");
    // An adapter that feeds anyway: the bytes wait up to the limit.
    let junk = [b'x'; 3000];
    s.feed(T0, &junk);
    assert_eq!(s.io(), Io::Open { wants_read: false });
    s.accept(T0).unwrap();
    // The junk (no line end yet) was dropped as an over-long line.
    assert_eq!(s.io(), Io::Open { wants_read: true });
    assert!(s.k.input.len() < 4096);
    // Beyond the limit, input not asked for closes the session.
    s.feed(T0, b"\r\nRCPT TO:<b@example.org>\r\n");
    drain(&mut s);
    s.feed(T0, &[b'y'; 5000]);
    assert_eq!(
        drain(&mut s).last(),
        Some(&Event::Closed {
            reason: CloseReason::InputOverflow
        })
    );
    assert!(output(&mut s).ends_with("421 4.7.0 mx.example Error: too much pipelined input\r\n"));
}

#[test]
fn max_buffered_holds_at_least_two_longest_lines() {
    let mut config = ServerConfig::new("mx.example");
    config.limits.max_buffered = 10;
    let s = Server::new(T0, config.clone());
    assert_eq!(s.k.max_buffered(), 2 * (512 + 1000));
    config.extensions.auth = vec![Mechanism::Plain];
    let s = Server::new(T0, config);
    assert_eq!(s.k.max_buffered(), 2 * 12288);
}

#[test]
fn bdat_chunk_uses_the_data_block_timeout() {
    let mut s = greeted(ServerConfig::new("mx.example"));
    s.feed(T0, b"MAIL FROM:<a@example.net>\r\n");
    drain(&mut s);
    s.accept(T0).unwrap();
    s.feed(T0, b"RCPT TO:<b@example.org>\r\n");
    drain(&mut s);
    s.accept(T0).unwrap();
    let t = Timeouts::default();
    s.feed(T0, b"BDAT 10\r\nabc");
    // The chunk's data deadline (the octets that armed it count for the wait before).
    assert_eq!(s.poll_timeout(), Some(t.data.expiry(T0, 0)));
    s.feed(T0, b"defghij");
    output(&mut s);
    assert_eq!(s.poll_timeout(), Some(T0 + t.idle));
    let events = drain(&mut s);
    assert_eq!(
        events,
        [
            Event::DataStart { chunked: true },
            Event::BodyChunk(b"abc".to_vec()),
            Event::BodyChunk(b"defghij".to_vec())
        ]
    );
}

#[test]
fn sasl_challenges_are_released_at_once() {
    let mut config = ServerConfig::new("mx.example");
    config.tls_active = true;
    config.extensions.auth = vec![Mechanism::Login];
    let mut s = greeted(config);
    // The client pipelines the user name right behind AUTH (not allowed, but harmless).
    s.feed(T0, b"AUTH LOGIN\r\ndGlt\r\n");
    assert_eq!(output(&mut s), "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
    assert_eq!(s.k.input.max_line(), 12288, "SASL line allowance");
    s.feed(T0, b"*\r\n");
    assert_eq!(output(&mut s), "501 5.0.0 Authentication cancelled\r\n");
    assert_eq!(s.k.input.max_line(), s.command_max_line);
}

#[test]
fn answers_after_close_are_refused() {
    let mut config = ServerConfig::new("mx.example");
    config.timeouts.application = Some(Duration::from_secs(30));
    let mut s = greeted(config);
    s.feed(T0, b"MAIL FROM:<a@example.net>\r\n");
    drain(&mut s);
    // Only the application's own deadline runs while it decides.
    assert_eq!(s.poll_timeout(), Some(T0 + Duration::from_secs(30)));
    s.handle_timeout(T0 + Duration::from_secs(30));
    assert_eq!(
        drain(&mut s),
        [Event::Closed {
            reason: CloseReason::Timeout(Deadline::Application)
        }]
    );
    assert_eq!(
        s.accept(T0).unwrap_err().kind(),
        &AnswerErrorKind::NothingPending
    );
    assert_eq!(s.io(), Io::Closed);
    // Feeding a closed machine does nothing.
    s.feed(T0, b"NOOP\r\n");
    drain(&mut s);
    assert_eq!(
        output(&mut s),
        "421 4.3.0 mx.example Error: local timeout, try again later\r\n"
    );
}

#[test]
fn timeout_during_the_handshake_sends_nothing() {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.starttls = true;
    let mut s = greeted(config);
    s.feed(T0, b"STARTTLS\r\n");
    assert_eq!(output(&mut s), "220 2.0.0 Ready to start TLS\r\n");
    let due = s.poll_timeout().unwrap();
    assert_eq!(due, T0 + s.config.timeouts.tls_handshake);
    s.handle_timeout(due);
    assert_eq!(output(&mut s), "");
    assert_eq!(
        drain(&mut s).last(),
        Some(&Event::Closed {
            reason: CloseReason::Timeout(Deadline::Handshake)
        })
    );
    assert_eq!(s.io(), Io::Closed);
}

#[test]
fn tls_established_outside_awaiting_tls_is_ignored() {
    let mut s = greeted(ServerConfig::new("mx.example"));
    s.tls_established(T0);
    assert!(!s.is_tls());
    assert_eq!(s.session.hello, Some(true));
}
