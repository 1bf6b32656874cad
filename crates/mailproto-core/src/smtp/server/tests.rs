//! Unit tests of the server machine's internals; the transcript tests are in
//! `tests/smtp_server.rs`.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

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

fn output(server: &mut Server) -> String {
    let mut out = Vec::new();
    while server.poll_transmit(&mut out) > 0 {}
    String::from_utf8(out).unwrap()
}

/// A server past EHLO, output and events taken.
fn greeted(config: ServerConfig) -> Server {
    let mut s = Server::new(config);
    s.feed(b"EHLO c.example\r\n");
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
    let mut s = Server::new(ServerConfig::new("evil\r\n250 injected"));
    assert_eq!(output(&mut s), "220 evil??250 injected ESMTP ready\r\n");
}

#[test]
fn refusing_with_an_unsendable_reply_falls_back_to_554() {
    let bad = Reply::new(ReplyCode::TRANSACTION_FAILED, None, "a\r\nb");
    let mut s = Server::new_refusing(ServerConfig::new("mx.example"), bad);
    assert_eq!(output(&mut s), "554 mx.example Service unavailable\r\n");
    let intermediate = Reply::new(ReplyCode::START_MAIL_INPUT, None, "go");
    let mut s = Server::new_refusing(ServerConfig::new("mx.example"), intermediate);
    assert_eq!(output(&mut s), "554 mx.example Service unavailable\r\n");
}

#[test]
fn enhanced_codes_follow_the_configuration() {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.enhanced_status_codes = false;
    let mut s = greeted(config);
    s.feed(b"NOOP\r\nFOO\r\n");
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
    s.feed(b"AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n");
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
    assert_eq!(s.max_buffered(), 4096);
    s.feed(b"MAIL FROM:<a@example.net>\r\n");
    drain(&mut s);
    assert_eq!(s.io(), Io::Open { wants_read: false }, "awaiting an answer");
    // An adapter that feeds anyway: the bytes wait, the machine still refuses more.
    let junk = [b'x'; 5000];
    s.feed(&junk);
    assert_eq!(s.io(), Io::Open { wants_read: false });
    s.accept().unwrap();
    // The junk (no line end yet) was dropped as an over-long line.
    assert_eq!(s.io(), Io::Open { wants_read: true });
    assert!(s.input.len() < 4096);
}

#[test]
fn max_buffered_holds_at_least_two_longest_lines() {
    let mut config = ServerConfig::new("mx.example");
    config.limits.max_buffered = 10;
    let s = Server::new(config.clone());
    assert_eq!(s.max_buffered(), 2 * (512 + 1000));
    config.extensions.auth = vec![Mechanism::Plain];
    let s = Server::new(config);
    assert_eq!(s.max_buffered(), 2 * 12288);
}

#[test]
fn bdat_chunk_uses_the_data_block_timeout() {
    let mut s = greeted(ServerConfig::new("mx.example"));
    s.feed(b"MAIL FROM:<a@example.net>\r\n");
    drain(&mut s);
    s.accept().unwrap();
    s.feed(b"RCPT TO:<b@example.org>\r\n");
    drain(&mut s);
    s.accept().unwrap();
    s.feed(b"BDAT 10\r\nabc");
    assert_eq!(s.read_timeout(), Some(Duration::from_secs(180)));
    s.feed(b"defghij");
    assert_eq!(s.read_timeout(), Some(Duration::from_secs(300)));
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
    s.feed(b"AUTH LOGIN\r\ndGlt\r\n");
    assert_eq!(output(&mut s), "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
    assert_eq!(s.input.max_line(), 12288, "SASL line allowance");
    s.feed(b"*\r\n");
    assert_eq!(output(&mut s), "501 5.0.0 Authentication cancelled\r\n");
    assert_eq!(s.input.max_line(), s.command_max_line);
}

#[test]
fn answers_after_close_are_refused() {
    let mut s = greeted(ServerConfig::new("mx.example"));
    s.feed(b"MAIL FROM:<a@example.net>\r\n");
    drain(&mut s);
    s.handle_timeout();
    assert_eq!(
        s.accept().unwrap_err().kind(),
        &AnswerErrorKind::NothingPending
    );
    assert_eq!(s.io(), Io::Closed);
    // Feeding a closed machine does nothing.
    s.feed(b"NOOP\r\n");
    drain(&mut s);
    assert_eq!(
        output(&mut s),
        "421 4.4.2 mx.example Error: timeout exceeded\r\n"
    );
}

#[test]
fn timeout_during_the_handshake_sends_nothing() {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.starttls = true;
    let mut s = greeted(config);
    s.feed(b"STARTTLS\r\n");
    assert_eq!(output(&mut s), "220 2.0.0 Ready to start TLS\r\n");
    s.handle_timeout();
    assert_eq!(output(&mut s), "");
    assert_eq!(s.io(), Io::Closed);
}

#[test]
fn tls_established_outside_awaiting_tls_is_ignored() {
    let mut s = greeted(ServerConfig::new("mx.example"));
    s.tls_established();
    assert!(!s.is_tls());
    assert_eq!(s.session.hello, Some(true));
}
