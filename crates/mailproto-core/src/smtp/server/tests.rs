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

/// A server asking the application about greetings and bodies, past its greeting.
fn asking() -> Server {
    let config = ServerConfig::new("mx.example")
        .with_ask_hello(true)
        .with_ask_data(true);
    let mut s = Server::new(T0, config);
    output(&mut s);
    s
}

/// `asking()` past an accepted EHLO and MAIL/RCPT.
fn asking_in_transaction() -> Server {
    let mut s = asking();
    s.feed(T0, b"EHLO c.example\r\n");
    drain(&mut s);
    s.accept(T0).unwrap();
    s.feed(T0, b"MAIL FROM:<a@c.example>\r\nRCPT TO:<b@mx.example>\r\n");
    assert!(matches!(drain(&mut s)[..], [Event::Mail { .. }]));
    s.accept(T0).unwrap();
    assert!(matches!(drain(&mut s)[..], [Event::Rcpt { .. }]));
    s.accept(T0).unwrap();
    output(&mut s);
    s
}

#[test]
fn an_asked_ehlo_waits_for_the_application_and_gets_the_capabilities_at_accept() {
    let mut s = asking();
    s.feed(T0, b"EHLO c.example\r\n");
    assert_eq!(
        drain(&mut s),
        [Event::Hello {
            domain: crate::smtp::Host::Domain(crate::smtp::Domain::new("c.example").unwrap()),
            extended: true
        }]
    );
    assert_eq!(s.awaiting(), Some(Awaiting::Hello));
    assert_eq!(output(&mut s), "", "no reply before the answer");
    s.accept(T0).unwrap();
    let out = output(&mut s);
    assert!(
        out.starts_with("250-mx.example greets c.example\r\n"),
        "{out}"
    );
    assert!(out.contains("250-PIPELINING\r\n"), "{out}");
}

#[test]
fn a_refused_ehlo_leaves_the_session_ungreeted_and_may_be_retried() {
    let mut s = asking();
    s.feed(T0, b"EHLO bad.example\r\nMAIL FROM:<a@b.example>\r\n");
    drain(&mut s);
    s.reject(
        T0,
        ReplyCode::MAILBOX_UNAVAILABLE,
        Some(EnhancedCode::new(5, 7, 1)),
        "not you",
    )
    .unwrap();
    assert_eq!(
        output(&mut s),
        "550 5.7.1 not you\r\n503 5.5.1 Error: send HELO/EHLO first\r\n"
    );
    // C: HELO again: asked again; a 2xx reply is an acceptance with the machine's words.
    s.feed(T0, b"HELO good.example\r\n");
    assert!(matches!(
        drain(&mut s)[..],
        [Event::Hello {
            extended: false,
            ..
        }]
    ));
    s.reply(T0, Reply::new(ReplyCode::OK, None, "ignored"))
        .unwrap();
    assert_eq!(output(&mut s), "250 mx.example greets good.example\r\n");
}

#[test]
fn an_ehlo_refused_with_421_closes() {
    let mut s = asking();
    s.feed(T0, b"EHLO c.example\r\n");
    drain(&mut s);
    s.reject(T0, ReplyCode::NOT_AVAILABLE, None, "go away")
        .unwrap();
    assert_eq!(output(&mut s), "421 go away\r\n");
    assert_eq!(
        drain(&mut s),
        [Event::Closed {
            reason: CloseReason::Application
        }]
    );
    assert_eq!(s.io(), Io::Closed);
}

#[test]
fn an_asked_ehlo_resets_a_transaction_only_once_accepted() {
    let mut s = asking_in_transaction();
    s.feed(T0, b"EHLO c.example\r\n");
    drain(&mut s);
    s.reject(T0, ReplyCode::TRANSACTION_FAILED, None, "no")
        .unwrap();
    assert!(
        s.in_transaction(),
        "a refused EHLO is not acceptable: no reset"
    );
    s.feed(T0, b"EHLO c.example\r\n");
    drain(&mut s);
    s.accept(T0).unwrap();
    assert_eq!(drain(&mut s), [Event::Reset]);
    assert!(!s.in_transaction());
}

#[test]
fn an_asked_data_is_answered_before_the_354() {
    let mut s = asking_in_transaction();
    s.feed(T0, b"DATA\r\n");
    assert_eq!(drain(&mut s), [Event::DataStart { chunked: false }]);
    assert_eq!(s.awaiting(), Some(Awaiting::Data { chunked: false }));
    assert_eq!(output(&mut s), "");
    s.reject(
        T0,
        ReplyCode::TRANSACTION_FAILED,
        Some(EnhancedCode::new(5, 7, 1)),
        "no data",
    )
    .unwrap();
    assert_eq!(output(&mut s), "554 5.7.1 no data\r\n");
    assert_eq!(drain(&mut s), [Event::Reset], "the transaction ends");
    assert!(!s.in_transaction());
    // C: a new transaction, DATA accepted: 354, the body, the end.
    s.feed(T0, b"MAIL FROM:<a@c.example>\r\nRCPT TO:<b@mx.example>\r\n");
    drain(&mut s);
    s.accept(T0).unwrap();
    drain(&mut s);
    s.accept(T0).unwrap();
    output(&mut s);
    s.feed(T0, b"DATA\r\n");
    assert_eq!(drain(&mut s), [Event::DataStart { chunked: false }]);
    s.accept(T0).unwrap();
    assert_eq!(output(&mut s), "354 End data with <CR><LF>.<CR><LF>\r\n");
    s.feed(T0, b"hi\r\n.\r\n");
    assert_eq!(
        drain(&mut s),
        [
            Event::BodyChunk(b"hi\r\n".to_vec()),
            Event::MessageEnd { size: 4 }
        ]
    );
}

#[test]
fn an_asked_first_bdat_is_read_then_refused_as_rfc_3030_says() {
    let mut s = asking_in_transaction();
    s.feed(T0, b"BDAT 4\r\nabcdBDAT 2 LAST\r\nefNOOP\r\n");
    assert_eq!(drain(&mut s), [Event::DataStart { chunked: true }]);
    assert_eq!(s.awaiting(), Some(Awaiting::Data { chunked: true }));
    s.reject(T0, ReplyCode::TRANSACTION_FAILED, None, "no chunks")
        .unwrap();
    // No body events: the chunks are dropped; each gets the refusal, LAST ends it.
    assert_eq!(drain(&mut s), []);
    assert_eq!(
        output(&mut s),
        "554 no chunks\r\n554 no chunks\r\n250 2.0.0 Ok\r\n"
    );
    assert!(!s.in_transaction());
}

#[test]
fn an_asked_first_bdat_accepted_is_delivered() {
    let mut s = asking_in_transaction();
    s.feed(T0, b"BDAT 4 LAST\r\nabcd");
    assert_eq!(drain(&mut s), [Event::DataStart { chunked: true }]);
    s.accept(T0).unwrap();
    assert_eq!(
        drain(&mut s),
        [
            Event::BodyChunk(b"abcd".to_vec()),
            Event::MessageEnd { size: 4 }
        ]
    );
}

#[test]
fn a_421_greeting_closes() {
    let busy = Reply::new(ReplyCode::NOT_AVAILABLE, None, "mx.example busy");
    let mut s = Server::new_refusing(T0, ServerConfig::new("mx.example"), busy);
    assert_eq!(output(&mut s), "421 mx.example busy\r\n");
    assert_eq!(
        drain(&mut s),
        [Event::Closed {
            reason: CloseReason::Application
        }]
    );
    assert_eq!(s.io(), Io::Closed);
}
