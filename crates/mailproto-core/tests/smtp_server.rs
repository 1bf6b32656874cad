//! The SMTP server machine, driven alone with transcripts: RFC 5321 Appendix D, sequence
//! and syntax errors, limits, pipelining, LMTP, BDAT, AUTH, STARTTLS, timeouts and the
//! SMTP smuggling vectors.

mod support;

use mailproto_core::line::BareLineEnding;
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Credentials, Mechanism};
use mailproto_core::smtp::server::{
    AbortReason, Answer, AnswerErrorKind, Awaiting, CloseReason, Event, Server, ServerConfig,
    Timeouts,
};
use mailproto_core::smtp::{EnhancedCode, Extension, ForwardPath, Reply, ReplyCode, ReversePath};
use mailproto_core::time::Deadline;
use mailproto_core::time::Duration;
use mailproto_core::{Instant, Io, Machine};
use support::*;

/// The default configuration of a server named mx.example.org.
fn cfg() -> ServerConfig {
    ServerConfig::new("mx.example.org")
}

/// A server like the RFC 5321 Appendix D ones: 8BITMIME, SIZE, DSN, HELP; no enhanced
/// status codes, so the replies read like the RFC's.
fn rfc_config(host: &str) -> ServerConfig {
    let mut c = ServerConfig::new(host);
    c.greeting = "Simple Mail Transfer Service Ready".into();
    c.extensions.pipelining = false;
    c.extensions.chunking = false;
    c.extensions.enhanced_status_codes = false;
    c.extensions.dsn = true;
    c.extensions.other = vec![Extension {
        keyword: "HELP".into(),
        params: vec![],
    }];
    c
}

/// A session past EHLO with the default configuration.
/// The session's only event is its close by the `deadline`.
fn assert_closed_by(s: &mut Session, deadline: Deadline) {
    assert_eq!(
        s.take_events(),
        [Event::Closed {
            reason: CloseReason::Timeout(deadline)
        }]
    );
}

fn ehlo_session(config: ServerConfig, app: App) -> Session {
    let mut s = Session::new(config, app);
    s.transmit();
    s.cmd("EHLO client.example");
    s.take_events();
    s
}

// ---------------------------------------------------------------------------------------
// RFC 5321 Appendix D

#[test]
fn appendix_d1_typical_transaction() {
    // The replies are this server's (its texts, SIZE with its limit); the sequence is
    // the RFC's. "...etc" is sent as it stands, so the server unstuffs one dot.
    let s = transcript(
        rfc_config("foo.com"),
        picky_named(&["Green"]),
        "
        S: 220 foo.com Simple Mail Transfer Service Ready
        C: EHLO bar.com
        S: 250-foo.com greets bar.com
        S: 250-SIZE 26214400
        S: 250-8BITMIME
        S: 250-DSN
        S: 250 HELP
        C: MAIL FROM:<Smith@bar.com>
        S: 250 Ok
        C: RCPT TO:<Jones@foo.com>
        S: 250 Ok
        C: RCPT TO:<Green@foo.com>
        S: 550 No such user here
        C: RCPT TO:<Brown@foo.com>
        S: 250 Ok
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Blah blah blah...
        C: ...etc. etc. etc.
        C: .
        S: 250 Ok: queued
        C: QUIT
        S: 221 Bye
        ",
    );
    assert_eq!(
        body(&s.events),
        b"Blah blah blah...\r\n..etc. etc. etc.\r\n"
    );
    assert_eq!(
        names(&s.events),
        [
            "Hello",
            "Mail",
            "Rcpt",
            "Rcpt",
            "Rcpt",
            "DataStart",
            "BodyChunk",
            "MessageEnd",
            "Closed"
        ]
    );
    assert!(matches!(
        &s.events[1],
        Event::Mail { from: ReversePath::Mailbox(m), .. } if m.local_part == "Smith"
    ));
    assert_eq!(s.events[7], Event::MessageEnd { size: 37 });
    assert_eq!(
        s.events[8],
        Event::Closed {
            reason: CloseReason::Quit
        }
    );
    assert_eq!(s.server.io(), Io::Closed);
}

/// Rejects the named local parts with 550, accepts everything else.
fn picky_named(names: &'static [&'static str]) -> App {
    let mut inner = accept_all();
    Box::new(move |server, event| match event {
        Event::Rcpt {
            to: ForwardPath::Mailbox(m),
            ..
        } if names.contains(&m.local_part.as_str()) => server
            .reject(
                T0,
                ReplyCode::MAILBOX_UNAVAILABLE,
                None,
                "No such user here",
            )
            .unwrap(),
        _ => inner(server, event),
    })
}

#[test]
fn appendix_d2_aborted_transaction() {
    let s = transcript(
        rfc_config("foo.com"),
        picky_named(&["Green"]),
        "
        S: 220 foo.com Simple Mail Transfer Service Ready
        C: EHLO bar.com
        S: 250-foo.com greets bar.com
        S: 250-SIZE 26214400
        S: 250-8BITMIME
        S: 250-DSN
        S: 250 HELP
        C: MAIL FROM:<Smith@bar.com>
        S: 250 Ok
        C: RCPT TO:<Jones@foo.com>
        S: 250 Ok
        C: RCPT TO:<Green@foo.com>
        S: 550 No such user here
        C: RSET
        S: 250 Ok
        C: QUIT
        S: 221 Bye
        ",
    );
    assert_eq!(
        names(&s.events),
        ["Hello", "Mail", "Rcpt", "Rcpt", "Reset", "Closed"]
    );
}

#[test]
fn appendix_d3_relayed_mail() {
    // Step 1: source host to relay host.
    let s = transcript(
        rfc_config("foo.com"),
        accept_all(),
        "
        S: 220 foo.com Simple Mail Transfer Service Ready
        C: EHLO bar.com
        S: 250-foo.com greets bar.com
        S: 250-SIZE 26214400
        S: 250-8BITMIME
        S: 250-DSN
        S: 250 HELP
        C: MAIL FROM:<JQP@bar.com>
        S: 250 Ok
        C: RCPT TO:<Jones@XYZ.COM>
        S: 250 Ok
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Date: Thu, 21 May 1998 05:33:29 -0700
        C: From: John Q. Public <JQP@bar.com>
        C: Subject: The Next Meeting of the Board
        C: To: Jones@xyz.com
        C:
        C: Bill:
        C: The next meeting of the board of directors will be
        C: on Tuesday.
        C: John.
        C: .
        S: 250 Ok: queued
        C: QUIT
        S: 221 Bye
        ",
    );
    let text = String::from_utf8(body(&s.events)).unwrap();
    assert!(text.starts_with("Date: Thu, 21 May 1998 05:33:29 -0700\r\nFrom:"));
    assert!(text.ends_with("\r\n\r\nBill:\r\nThe next meeting of the board of directors will be\r\non Tuesday.\r\nJohn.\r\n"));

    // Step 2: relay host to destination host, which advertises nothing.
    let mut config = rfc_config("xyz.com");
    config.extensions.size = false;
    config.extensions.eight_bit_mime = false;
    config.extensions.dsn = false;
    config.extensions.other.clear();
    let s = transcript(
        config,
        accept_all(),
        "
        S: 220 xyz.com Simple Mail Transfer Service Ready
        C: EHLO foo.com
        S: 250 xyz.com greets foo.com
        C: MAIL FROM:<JQP@bar.com>
        S: 250 Ok
        C: RCPT TO:<Jones@XYZ.COM>
        S: 250 Ok
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Received: from bar.com by foo.com ; Thu, 21 May 1998
        C:     05:33:29 -0700
        C: Date: Thu, 21 May 1998 05:33:22 -0700
        C: From: John Q. Public <JQP@bar.com>
        C: Subject:  The Next Meeting of the Board
        C: To: Jones@xyz.com
        C:
        C: Bill:
        C: The next meeting of the board of directors will be
        C: on Tuesday.
        C:                         John.
        C: .
        S: 250 Ok: queued
        C: QUIT
        S: 221 Bye
        ",
    );
    assert!(
        String::from_utf8(body(&s.events))
            .unwrap()
            .starts_with("Received: from bar.com by foo.com ; Thu, 21 May 1998\r\n    05:33:29")
    );
}

#[test]
fn appendix_d4_verifying_and_sending() {
    let mut config = rfc_config("foo.com");
    config.vrfy_expn_events = true;
    config.extensions.other.insert(
        0,
        Extension {
            keyword: "VRFY".into(),
            params: vec![],
        },
    );
    let mut inner = accept_all();
    let app: App = Box::new(move |server, event| match event {
        Event::Vrfy(who) => {
            assert_eq!(who, "Crispin");
            server
                .reply(
                    T0,
                    Reply::new(ReplyCode::OK, None, "Mark Crispin <Admin.MRC@foo.com>"),
                )
                .unwrap()
        }
        _ => inner(server, event),
    });
    transcript(
        config,
        app,
        "
        S: 220 foo.com Simple Mail Transfer Service Ready
        C: EHLO bar.com
        S: 250-foo.com greets bar.com
        S: 250-SIZE 26214400
        S: 250-8BITMIME
        S: 250-DSN
        S: 250-VRFY
        S: 250 HELP
        C: VRFY Crispin
        S: 250 Mark Crispin <Admin.MRC@foo.com>
        C: MAIL FROM:<EAK@bar.com>
        S: 250 Ok
        C: RCPT TO:<Admin.MRC@foo.com>
        S: 250 Ok
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Blah blah blah...
        C: ...etc. etc. etc.
        C: .
        S: 250 Ok: queued
        C: QUIT
        S: 221 Bye
        ",
    );
}

// ---------------------------------------------------------------------------------------
// Greeting and EHLO

#[test]
fn ehlo_lists_the_configured_extensions() {
    transcript(
        cfg(),
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250 ENHANCEDSTATUSCODES
        ",
    );
    let mut config = cfg();
    config.limits.max_message_size = 1000;
    config.extensions.smtputf8 = true;
    config.extensions.binary_mime = true;
    config.extensions.dsn = true;
    config.extensions.starttls = true;
    config.extensions.requiretls = true;
    config.extensions.auth = vec![Mechanism::Plain, Mechanism::CramMd5, Mechanism::Login];
    config.cram_md5_challenge = Some("<1.2@mx.example.org>".into());
    // Before TLS: STARTTLS, and only the mechanism that sends no password; no REQUIRETLS.
    transcript(
        config.clone(),
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 1000
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-CHUNKING
        S: 250-BINARYMIME
        S: 250-DSN
        S: 250-ENHANCEDSTATUSCODES
        S: 250-STARTTLS
        S: 250 AUTH CRAM-MD5
        ",
    );
    // Under TLS: no STARTTLS, every mechanism, REQUIRETLS.
    config.tls_active = true;
    transcript(
        config,
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: EHLO [192.0.2.1]
        S: 250-mx.example.org greets [192.0.2.1]
        S: 250-SIZE 1000
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-CHUNKING
        S: 250-BINARYMIME
        S: 250-DSN
        S: 250-ENHANCEDSTATUSCODES
        S: 250-REQUIRETLS
        S: 250 AUTH PLAIN CRAM-MD5 LOGIN
        ",
    );
}

#[test]
fn helo_replies_without_extensions_and_refuses_esmtp_parameters() {
    let s = transcript(
        cfg(),
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: HELO client.example
        S: 250 mx.example.org greets client.example
        C: MAIL FROM:<a@example.net> SIZE=100
        S: 555 5.5.4 SIZE parameter not supported
        C: MAIL FROM:<a@example.net>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@example.org>
        S: 250 2.1.5 Ok
        C: BDAT 5 LAST
        C: abc
        S: 502 5.5.1 Error: command not implemented
        ",
    );
    assert_eq!(
        s.events[0],
        Event::Hello {
            domain: mailproto_core::smtp::Host::Domain(
                mailproto_core::smtp::Domain::new("client.example").unwrap()
            ),
            extended: false
        }
    );
}

#[test]
fn ehlo_inside_a_transaction_resets_it() {
    let s = transcript(
        cfg(),
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250 ENHANCEDSTATUSCODES
        C: MAIL FROM:<a@example.net>
        S: 250 2.1.0 Ok
        C: HELO again.example
        S: 250 mx.example.org greets again.example
        C: MAIL FROM:<a@example.net>
        S: 250 2.1.0 Ok
        ",
    );
    assert_eq!(
        names(&s.events),
        ["Hello", "Mail", "Reset", "Hello", "Mail"]
    );
}

#[test]
fn refusing_greeting_accepts_only_quit() {
    let refusal = Reply::new(
        ReplyCode::TRANSACTION_FAILED,
        None,
        "mx.example.org No SMTP service here",
    );
    let mut s = Session::with_server(Server::new_refusing(T0, cfg(), refusal), accept_all());
    run_transcript(
        &mut s,
        "
        S: 554 mx.example.org No SMTP service here
        C: EHLO client.example
        S: 503 5.5.1 Bad sequence of commands: service refused, send QUIT
        C: MAIL FROM:<a@example.net>
        S: 503 5.5.1 Bad sequence of commands: service refused, send QUIT
        C: NOOP
        S: 503 5.5.1 Bad sequence of commands: service refused, send QUIT
        C: QUIT
        S: 221 2.0.0 Bye
        ",
    );
    assert_eq!(names(&s.events), ["Closed"]);
}

#[test]
fn noop_rset_vrfy_expn_help_work_before_ehlo() {
    // RFC 5321 §4.1.4: no 503 for these without EHLO.
    transcript(
        cfg(),
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: NOOP
        S: 250 2.0.0 Ok
        C: RSET
        S: 250 2.0.0 Ok
        C: VRFY postmaster
        S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
        C: EXPN staff
        S: 252 2.5.0 Cannot EXPN list, but will accept message and attempt delivery
        C: HELP
        S: 214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP
        ",
    );
}

// ---------------------------------------------------------------------------------------
// Sequence errors (503) and other refusals

#[test]
fn every_503_sequence_error() {
    let mut config = cfg();
    config.extensions.auth = vec![Mechanism::Plain];
    config.extensions.binary_mime = true;
    config.tls_active = true;
    config.limits.max_errors = 0;
    transcript(
        config,
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: MAIL FROM:<a@example.net>
        S: 503 5.5.1 Error: send HELO/EHLO first
        C: AUTH PLAIN AHRpbQB0YW5zdGFhZg==
        S: 503 5.5.1 Error: send EHLO first
        C: RCPT TO:<b@example.org>
        S: 503 5.5.1 Error: need MAIL command
        C: DATA
        S: 503 5.5.1 Error: need MAIL command
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250-BINARYMIME
        S: 250-ENHANCEDSTATUSCODES
        S: 250 AUTH PLAIN
        C: RCPT TO:<b@example.org>
        S: 503 5.5.1 Error: need MAIL command
        C: MAIL FROM:<a@example.net>
        S: 250 2.1.0 Ok
        C: MAIL FROM:<a@example.net>
        S: 503 5.5.1 Error: nested MAIL command
        C: AUTH PLAIN AHRpbQB0YW5zdGFhZg==
        S: 503 5.5.1 Error: AUTH not permitted during a mail transaction
        C: STARTTLS
        S: 503 5.5.1 Error: TLS already active
        C: RCPT TO:<b@example.org>
        S: 250 2.1.5 Ok
        C: BDAT 5
        C: abc
        S: 250 2.0.0 5 octets received
        C: DATA
        S: 503 5.5.1 Error: DATA after BDAT
        C: RCPT TO:<c@example.org>
        S: 503 5.5.1 Error: RCPT after BDAT
        C: RSET
        S: 250 2.0.0 Ok
        C: MAIL FROM:<a@example.net> BODY=BINARYMIME
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@example.org>
        S: 250 2.1.5 Ok
        C: DATA
        S: 503 5.5.1 Error: BODY=BINARYMIME requires BDAT
        C: BDAT 0 LAST
        S: 250 2.0.0 Ok: queued
        C: BDAT 3 LAST
        C: z
        S: 503 5.5.1 Error: need MAIL command
        C: AUTH PLAIN AHRpbQB0YW5zdGFhZg==
        S: 235 2.7.0 Authentication successful
        C: AUTH PLAIN AHRpbQB0YW5zdGFhZg==
        S: 503 5.5.1 Error: already authenticated
        ",
    );
}

#[test]
fn syntax_and_support_errors_500_501_502_504_555() {
    let mut config = cfg();
    config.extensions.auth = vec![Mechanism::Plain];
    config.tls_active = true;
    config.limits.max_errors = 0;
    transcript(
        config,
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: FOO bar
        S: 500 5.5.2 Error: command not recognized
        C: LHLO client.example
        S: 500 5.5.2 Error: command not recognized
        C:
        S: 500 5.5.1 empty command line
        C: M@IL FROM:<a@b>
        S: 500 5.5.1 invalid command verb near \"M@IL FROM:<a@b>\"
        C: HELO
        S: 501 HELO: expected SP and an argument, found \"\"
        C: EHLO not_a_domain!
        S: 501 invalid domain or address literal \"not_a_domain!\"
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250-ENHANCEDSTATUSCODES
        S: 250 AUTH PLAIN
        C: RSET now
        S: 501 5.5.2 RSET: expected end of line, found \" now\"
        C: MAIL FROM: <a@example.net>
        S: 501 5.1.7 sender path: path not enclosed in <>: \" <a@example.net>\"
        C: MAIL FROM:<a@example.net> BODY=9BIT
        S: 504 5.5.4 unsupported value for BODY: \"9BIT\"
        C: MAIL FROM:<a@example.net> FOO=bar
        S: 555 5.5.4 FOO parameter not supported
        C: MAIL FROM:<a@example.net> RET=FULL
        S: 555 5.5.4 RET parameter not supported
        C: MAIL FROM:<a@example.net> SMTPUTF8
        S: 555 5.5.4 SMTPUTF8 parameter not supported
        C: MAIL FROM:<a@example.net> BODY=BINARYMIME
        S: 555 5.5.4 BODY=BINARYMIME parameter not supported
        C: MAIL FROM:<a@example.net>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@example.org> NOTIFY=NEVER
        S: 555 5.5.4 NOTIFY parameter not supported
        C: RCPT TO:<b@example.org> ORCPT=bogus
        S: 501 5.5.4 invalid parameter ORCPT: \"bogus\"
        C: RCPT TO:<b@>
        S: 501 5.1.3 recipient path: invalid domain: \"<b@>\"
        C: AUTH FOO
        S: 503 5.5.1 Error: AUTH not permitted during a mail transaction
        C: RSET
        S: 250 2.0.0 Ok
        C: AUTH FOO
        S: 504 5.5.4 Unrecognized authentication type
        C: AUTH CRAM-MD5
        S: 504 5.5.4 Unrecognized authentication type
        C: AUTH PLAIN !!!
        S: 501 5.5.4 invalid AUTH initial response \"!!!\"
        C: STARTTLS now
        S: 501 5.5.2 STARTTLS: expected end of line, found \" now\"
        ",
    );
    // Not offered: 502.
    let mut config = cfg();
    config.extensions.chunking = false;
    transcript(
        config,
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: STARTTLS
        S: 502 5.5.1 Error: command not implemented
        C: AUTH PLAIN AHRpbQB0YW5zdGFhZg==
        S: 502 5.5.1 Error: command not implemented
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250 ENHANCEDSTATUSCODES
        C: BDAT 6
        C: QUIT
        S: 502 5.5.1 Error: command not implemented
        C: NOOP
        S: 250 2.0.0 Ok
        ",
    );
}

#[test]
fn error_counter_closes_with_421() {
    let mut config = cfg();
    config.limits.max_errors = 3;
    let s = transcript(
        config,
        accept_all(),
        "
        S: 220 mx.example.org ESMTP ready
        C: FOO
        S: 500 5.5.2 Error: command not recognized
        C: MAIL FROM:<a@example.net>
        S: 503 5.5.1 Error: send HELO/EHLO first
        C: BAR
        C: NOOP
        S: 500 5.5.2 Error: command not recognized
        S: 421 4.7.0 mx.example.org Error: too many errors
        ",
    );
    assert_eq!(
        s.events,
        [Event::Closed {
            reason: CloseReason::TooManyErrors
        }]
    );
    assert_eq!(s.server.io(), Io::Closed);
}

#[test]
fn the_application_may_close_with_421() {
    let app: App = Box::new(|server, event| {
        if let Event::Mail { .. } = event {
            server
                .reject(
                    T0,
                    ReplyCode::NOT_AVAILABLE,
                    Some(EnhancedCode::new(4, 3, 2)),
                    "System shutting down",
                )
                .unwrap();
        }
    });
    let s = transcript(
        cfg(),
        app,
        "
        S: 220 mx.example.org ESMTP ready
        C: HELO client.example
        C: MAIL FROM:<a@example.net>
        C: NOOP
        S: 250 mx.example.org greets client.example
        S: 421 4.3.2 System shutting down
        ",
    );
    assert_eq!(
        s.events.last(),
        Some(&Event::Closed {
            reason: CloseReason::Application
        })
    );
}

// ---------------------------------------------------------------------------------------
// Limits

#[test]
fn declared_size_too_big_is_refused_with_552() {
    let mut config = cfg();
    config.limits.max_message_size = 1000;
    let mut s = ehlo_session(config, accept_all());
    assert_eq!(
        s.one("MAIL FROM:<a@example.net> SIZE=1001"),
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(s.one("MAIL FROM:<a@example.net> SIZE=1000"), "250 2.1.0 Ok");
}

#[test]
fn size_overflow_is_a_clear_error() {
    let mut s = ehlo_session(cfg(), accept_all());
    assert_eq!(
        s.one("MAIL FROM:<a@b> SIZE=99999999999999999999"),
        "552 5.3.4 size out of range: \"99999999999999999999\""
    );
    assert_eq!(
        s.one("BDAT 99999999999999999999 LAST"),
        "552 5.3.4 size out of range: \"99999999999999999999\""
    );
    assert_eq!(s.one("MAIL FROM:<a@b>"), "250 2.1.0 Ok");
    assert!(names(&s.events).iter().all(|n| *n == "Mail"));
}

#[test]
fn body_too_big_is_consumed_to_its_end_then_552() {
    for split in [vec![], vec![1], vec![7], vec![30]] {
        let mut config = cfg();
        config.limits.max_message_size = 10;
        let mut s = ehlo_session(config, accept_all());
        let input = b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n\
            0123456789abcdefghij\r\n.\r\nNOOP\r\n";
        let out = s.feed_split(input, &split);
        assert_eq!(
            lines(&out),
            [
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "354 End data with <CR><LF>.<CR><LF>",
                "552 5.3.4 Message too big for system",
                "250 2.0.0 Ok"
            ],
            "split {split:?}"
        );
        let events = merged(&s.events);
        assert_eq!(
            events.last(),
            Some(&Event::MessageAborted {
                reason: AbortReason::TooBig { limit: 10 }
            })
        );
        assert!(!names(&events).contains(&"MessageEnd"));
        // Exactly the first 10 octets were delivered, however the input was split.
        assert_eq!(body(&events), b"0123456789");
        assert!(!s.server.in_transaction());
    }
}

#[test]
fn recipient_flood_gets_452_past_the_limit() {
    let mut config = cfg();
    config.limits.max_recipients = 3;
    let mut s = ehlo_session(config, accept_all());
    s.feed(T0, b"MAIL FROM:<a@example.net>\r\n");
    let mut group = String::new();
    for i in 0..5 {
        group.push_str(&format!("RCPT TO:<r{i}@example.org>\r\n"));
    }
    s.feed(T0, group.as_bytes());
    assert_eq!(
        lines(&s.transmit()),
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "452 4.5.3 Too many recipients",
            "452 4.5.3 Too many recipients"
        ]
    );
    assert_eq!(s.server.accepted_recipients(), 3);
    assert_eq!(s.server.error_count(), 0);
}

#[test]
fn over_long_line_then_a_valid_command() {
    let mut s = ehlo_session(cfg(), accept_all());
    let mut input = b"NOOP ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 600));
    input.extend_from_slice(b"\r\nNOOP\r\n");
    // Beyond the framing limit too (MAIL/RCPT allowance).
    input.extend(std::iter::repeat_n(b'y', 5000));
    input.extend_from_slice(b"\r\nRSET\r\n");
    for split in [vec![], vec![1], vec![100]] {
        let out = s.feed_split(&input, &split);
        assert_eq!(
            lines(&out),
            [
                "500 5.5.2 Line too long",
                "250 2.0.0 Ok",
                "500 5.5.2 Line too long",
                "250 2.0.0 Ok"
            ]
        );
    }
}

#[test]
fn bare_lf_and_bare_cr_in_commands() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(T0, b"NOOP\nNO\rOP\r\nNOOP\r\n");
    assert_eq!(
        lines(&s.transmit()),
        [
            "500 5.5.2 Bare LF not allowed: lines end with CRLF (RFC 5321 section 2.3.8)",
            "500 5.5.2 Bare CR not allowed: lines end with CRLF (RFC 5321 section 2.3.8)",
            "250 2.0.0 Ok"
        ]
    );
    let mut config = cfg();
    config.bare_line_ending = BareLineEnding::Normalize;
    let mut s = ehlo_session(config, accept_all());
    s.feed(T0, b"NOOP\nNOOP\rNOOP\r\n");
    assert_eq!(
        lines(&s.transmit()),
        ["250 2.0.0 Ok", "250 2.0.0 Ok", "250 2.0.0 Ok"]
    );
}

// ---------------------------------------------------------------------------------------
// PIPELINING (RFC 2920)

#[test]
fn pipelined_group_replies_leave_in_one_write() {
    let mut s = ehlo_session(cfg(), picky());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<bad@example.org>\r\n\
          RCPT TO:<c@example.org>\r\nDATA\r\n",
    );
    let first = s.transmit_once();
    assert_eq!(
        lines(&first),
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "550 No such user here",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>"
        ]
    );
    assert!(s.transmit_once().is_empty());
    // The message and the next transaction in one write too.
    s.feed(
        T0,
        b"Hi\r\n.\r\nRSET\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n",
    );
    assert_eq!(
        lines(&s.transmit_once()),
        [
            "250 2.0.0 Ok: queued",
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok"
        ]
    );
}

#[test]
fn replies_wait_while_a_command_is_buffered() {
    let mut s = Session::new(cfg(), Box::new(|_, _| {}));
    s.transmit();
    s.server.feed(
        T0,
        b"HELO c.example\r\nRSET\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n",
    );
    while s.server.poll_event().is_some() {}
    // HELO's reply is never held (RFC 2920 §3.2 (5)); RSET's waits for the group.
    assert_eq!(
        lines(&s.transmit_once()),
        ["250 mx.example.org greets c.example"]
    );
    assert_eq!(s.server.awaiting(), Some(Awaiting::Mail));
    assert_eq!(s.server.io(), Io::Open { wants_read: false });
    assert!(s.transmit_once().is_empty(), "RCPT still buffered: hold");
    s.server.accept(T0).unwrap();
    assert_eq!(s.server.awaiting(), Some(Awaiting::Rcpt));
    // The input is exhausted: everything goes (RFC 2920 §3.2 (7)).
    assert_eq!(lines(&s.transmit_once()), ["250 2.0.0 Ok", "250 2.1.0 Ok"]);
    s.server.accept(T0).unwrap();
    assert_eq!(lines(&s.transmit_once()), ["250 2.1.5 Ok"]);
    assert_eq!(
        s.server.io(),
        Io::Open { wants_read: false },
        "events not taken"
    );
    while s.server.poll_event().is_some() {}
    assert_eq!(s.server.io(), Io::Open { wants_read: true });
}

#[test]
fn noop_releases_held_replies() {
    let mut s = ehlo_session(cfg(), Box::new(|_, _| {}));
    s.server.feed(
        T0,
        b"RSET\r\nNOOP\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n",
    );
    assert_eq!(lines(&s.transmit_once()), ["250 2.0.0 Ok", "250 2.0.0 Ok"]);
}

#[test]
fn commands_after_data_in_the_same_read_are_body() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n\
          MAIL FROM:<x@y.example>\r\n..leading dot\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        lines(&s.transmit()),
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued",
            "221 2.0.0 Bye"
        ]
    );
    assert_eq!(
        body(&s.events),
        b"MAIL FROM:<x@y.example>\r\n.leading dot\r\n"
    );
    assert_eq!(names(&s.events).iter().filter(|n| **n == "Mail").count(), 1);
}

#[test]
fn empty_body_right_after_354() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(T0, b"MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n.\r\n");
    assert_eq!(s.take_events()[3..], [Event::MessageEnd { size: 0 }]);
}

// ---------------------------------------------------------------------------------------
// LMTP (RFC 2033)

#[test]
fn lmtp_replies_once_per_accepted_recipient() {
    let app: App = Box::new(|server, event| match event {
        Event::Mail { .. } => server.accept(T0).unwrap(),
        Event::Rcpt {
            to: ForwardPath::Mailbox(m),
            ..
        } if m.local_part == "bad" => server
            .reject(
                T0,
                ReplyCode::MAILBOX_UNAVAILABLE,
                Some(EnhancedCode::new(5, 1, 1)),
                "No such user",
            )
            .unwrap(),
        Event::Rcpt { .. } => server.accept(T0).unwrap(),
        Event::MessageEnd { .. } => {
            assert_eq!(server.awaiting(), Some(Awaiting::MessageEnd { replies: 2 }));
            server
                .reply_lmtp(
                    T0,
                    vec![
                        Reply::new(
                            ReplyCode::OK,
                            Some(EnhancedCode::new(2, 1, 5)),
                            "a delivered",
                        ),
                        Reply::new(
                            ReplyCode::INSUFFICIENT_STORAGE,
                            Some(EnhancedCode::new(4, 2, 2)),
                            "c over quota",
                        ),
                    ],
                )
                .unwrap()
        }
        _ => {}
    });
    transcript(
        ServerConfig::lmtp("lmtp.example.org"),
        app,
        "
        S: 220 lmtp.example.org LMTP ready
        C: EHLO client.example
        S: 500 Error: this is LMTP, use LHLO (RFC 2033)
        C: LHLO client.example
        S: 250-lmtp.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250 ENHANCEDSTATUSCODES
        C: MAIL FROM:<s@example.net>
        C: RCPT TO:<bad@example.org>
        C: DATA
        S: 250 2.1.0 Ok
        S: 550 5.1.1 No such user
        S: 503 5.5.1 Error: need RCPT command
        C: RCPT TO:<a@example.org>
        C: RCPT TO:<c@example.org>
        C: DATA
        S: 250 2.1.5 Ok
        S: 250 2.1.5 Ok
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Hello
        C: .
        S: 250 2.1.5 a delivered
        S: 452 4.2.2 c over quota
        ",
    );
}

#[test]
fn lmtp_per_recipient_answers_and_bdat() {
    let mut s = Session::new(ServerConfig::lmtp("lmtp.example.org"), accept_all());
    s.transmit();
    s.cmd("LHLO c.example");
    s.feed(
        T0,
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n\
          BDAT 3\r\nabcBDAT 2 LAST\r\nde",
    );
    assert_eq!(
        lines(&s.transmit()),
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 3 octets received",
            "250 2.0.0 Ok: delivered",
            "250 2.0.0 Ok: delivered"
        ]
    );
    assert_eq!(body(&s.events), b"abcde");
}

#[test]
fn lmtp_refused_body_gets_a_reply_per_recipient() {
    let mut config = ServerConfig::lmtp("lmtp.example.org");
    config.limits.max_message_size = 3;
    let mut s = Session::new(config, accept_all());
    s.transmit();
    s.cmd("LHLO c.example");
    s.feed(
        T0,
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n\
          DATA\r\ntoo long\r\n.\r\n",
    );
    assert_eq!(
        lines(&s.transmit())[3..],
        [
            "354 End data with <CR><LF>.<CR><LF>",
            "552 5.3.4 Message too big for system",
            "552 5.3.4 Message too big for system"
        ]
    );
}

/// Regression (found by `smtp_pair`): a pipelined `BDAT ... LAST` that follows a chunk
/// already refused is only discarded and gets one reply, not one per recipient: the
/// client holds the failure from the earlier chunk and waits for one reply per command
/// (RFC 3030 §2, RFC 2920 §3.1). Replying per recipient put the client one reply behind,
/// so it took the extra 552 for its RSET's reply and RSET's 250 for QUIT's.
#[test]
fn lmtp_bdat_last_after_a_refused_chunk_gets_one_reply() {
    let mut config = ServerConfig::lmtp("lmtp.example.org");
    config.limits.max_message_size = 3;
    let mut s = Session::new(config, accept_all());
    s.transmit();
    s.cmd("LHLO c.example");
    s.feed(
        T0,
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n\
          BDAT 5\r\nabcdeBDAT 0 LAST\r\nRSET\r\n",
    );
    assert_eq!(
        lines(&s.transmit())[3..],
        [
            "552 5.3.4 Message too big for system",
            "552 5.3.4 Message too big for system",
            "250 2.0.0 Ok"
        ]
    );
    // A LAST chunk that itself makes the message too big is the message's verdict: one
    // reply per recipient (RFC 2033 §4.2).
    s.feed(
        T0,
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n\
          BDAT 2\r\nabBDAT 2 LAST\r\ncdNOOP\r\n",
    );
    assert_eq!(
        lines(&s.transmit())[3..],
        [
            "250 2.0.0 2 octets received",
            "552 5.3.4 Message too big for system",
            "552 5.3.4 Message too big for system",
            "250 2.0.0 Ok"
        ]
    );
}

/// Regression (found by the `smtp_server_input` fuzz target): a reply quoting a long
/// MAIL parameter keyword was longer than the 512 octets of a reply line (RFC 5321
/// §4.5.3.1.5), which a client (ours included) refuses as a protocol error. The text is
/// cut to fit.
#[test]
fn replies_quoting_a_long_parameter_fit_a_reply_line() {
    let keyword = "K".repeat(900);
    for enhanced in [true, false] {
        let mut config = cfg();
        config.extensions.enhanced_status_codes = enhanced;
        let mut s = ehlo_session(config, accept_all());
        for (args, code) in [("=1", "555"), ("=a=b", "501")] {
            let line = format!("MAIL FROM:<a@example.net> {keyword}{args}");
            let replies = s.cmd(&line);
            assert_eq!(replies.len(), 1, "{replies:?}");
            let reply = &replies[0];
            assert!(reply.starts_with(code), "{reply}");
            assert!(
                reply.len() + 2 <= 512,
                "{} octets: {reply}",
                reply.len() + 2
            );
            assert!(reply.ends_with("..."), "{reply}");
            let mut parser = mailproto_core::smtp::ReplyParser::default();
            assert!(parser.feed_line(reply.as_bytes()).unwrap().is_some());
        }
    }
}

// ---------------------------------------------------------------------------------------
// CHUNKING (RFC 3030)

#[test]
fn bdat_chunks_and_last() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n",
    );
    s.transmit();
    s.take_events();
    for split in [vec![], vec![1], vec![4]] {
        let out = s.feed_split(b"BDAT 5\r\nhelloBDAT 8 LAST\r\n world\r\nNOOP\r\n", &split);
        assert_eq!(
            lines(&out),
            [
                "250 2.0.0 5 octets received",
                "250 2.0.0 Ok: queued",
                "250 2.0.0 Ok"
            ]
        );
        let events = merged(&s.take_events());
        assert_eq!(
            events,
            [
                Event::DataStart { chunked: true },
                Event::BodyChunk(b"hello world\r\n".to_vec()),
                Event::MessageEnd { size: 13 }
            ]
        );
        s.feed(
            T0,
            b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n",
        );
        s.transmit();
        s.take_events();
    }
}

#[test]
fn bdat_chunk_may_hold_a_dot_terminator_literally() {
    let mut s = ehlo_session(cfg(), accept_all());
    let chunk = b"a\r\n.\r\nMAIL FROM:<evil@x.example>\r\n";
    let mut input = b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n".to_vec();
    input.extend_from_slice(format!("BDAT {} LAST\r\n", chunk.len()).as_bytes());
    input.extend_from_slice(chunk);
    input.extend_from_slice(b"QUIT\r\n");
    s.feed(T0, &input);
    assert_eq!(body(&s.events), chunk);
    assert_eq!(
        names(&s.events),
        [
            "Mail",
            "Rcpt",
            "DataStart",
            "BodyChunk",
            "MessageEnd",
            "Closed"
        ]
    );
}

#[test]
fn bdat_without_valid_recipients_is_consumed_and_refused() {
    let mut s = ehlo_session(cfg(), picky());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<bad@example.org>\r\n\
          BDAT 4\r\nMAILBDAT 3 LAST\r\nxyzMAIL FROM:<a@example.net>\r\n",
    );
    assert_eq!(
        lines(&s.transmit()),
        [
            "250 2.1.0 Ok",
            "550 No such user here",
            "554 5.5.1 Error: no valid recipients",
            "554 5.5.1 Error: no valid recipients",
            "250 2.1.0 Ok"
        ]
    );
    assert_eq!(names(&s.events), ["Mail", "Rcpt", "Mail"]);
    assert_eq!(s.server.error_count(), 0);
}

#[test]
fn bdat_over_the_limit_is_consumed_then_552() {
    let mut config = cfg();
    config.limits.max_message_size = 10;
    let mut s = ehlo_session(config, accept_all());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n\
          BDAT 8\r\n12345678BDAT 8\r\n12345678BDAT 1 LAST\r\nxBDAT 1 LAST\r\nyNOOP\r\n",
    );
    assert_eq!(
        lines(&s.transmit()),
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 8 octets received",
            "552 5.3.4 Message too big for system",
            "552 5.3.4 Message too big for system",
            "503 5.5.1 Error: need MAIL command",
            "250 2.0.0 Ok"
        ]
    );
    assert_eq!(
        merged(&s.events)[2..],
        [
            Event::DataStart { chunked: true },
            Event::BodyChunk(b"12345678".to_vec()),
            Event::MessageAborted {
                reason: AbortReason::TooBig { limit: 10 }
            }
        ]
    );
}

#[test]
fn rset_between_bdat_chunks_aborts_the_body() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nBDAT 2\r\nabRSET\r\n",
    );
    assert_eq!(
        names(&s.events)[2..],
        ["DataStart", "BodyChunk", "MessageAborted", "Reset"]
    );
    assert_eq!(
        s.events[4],
        Event::MessageAborted {
            reason: AbortReason::Reset
        }
    );
}

// ---------------------------------------------------------------------------------------
// AUTH (RFC 4954)

fn auth_config() -> ServerConfig {
    let mut config = cfg();
    config.extensions.auth = vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5];
    config.tls_active = true;
    config.cram_md5_challenge = Some("<1896.697170952@postoffice.example.net>".into());
    config
}

/// Accepts user tim with password tanstaaf (PLAIN/LOGIN) or the CRAM-MD5 secret.
fn checking_app() -> App {
    let mut inner = accept_all();
    Box::new(move |server, event| match event {
        Event::Auth { credentials, .. } => {
            let ok = match credentials {
                Credentials::Plain {
                    authcid, password, ..
                } => authcid == "tim" && password.expose() == "tanstaaf",
                Credentials::CramMd5(r) => r.username == "tim" && r.verify(b"tanstaaftanstaaf"),
                _ => false,
            };
            if ok {
                server.auth_accept(T0).unwrap()
            } else {
                server.auth_reject(T0).unwrap()
            }
        }
        _ => inner(server, event),
    })
}

#[test]
fn auth_plain_with_initial_response() {
    let mut s = ehlo_session(auth_config(), checking_app());
    assert_eq!(
        s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZg=="),
        "235 2.7.0 Authentication successful"
    );
    assert!(s.server.is_authenticated());
    match &s.events[0] {
        Event::Auth {
            mechanism,
            credentials: Credentials::Plain { authcid, .. },
        } => {
            assert_eq!(mechanism, &Mechanism::Plain);
            assert_eq!(authcid, "tim");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZg=="),
        "503 5.5.1 Error: already authenticated"
    );
}

#[test]
fn auth_plain_empty_initial_response_then_message() {
    let mut s = ehlo_session(auth_config(), checking_app());
    assert_eq!(
        s.one("AUTH PLAIN ="),
        "535 5.7.8 Authentication credentials invalid"
    );
    assert_eq!(s.one("AUTH PLAIN"), "334 ");
    assert_eq!(
        s.one("AHRpbQB0YW5zdGFhZg=="),
        "235 2.7.0 Authentication successful"
    );
}

#[test]
fn auth_login_multi_step() {
    let mut config = auth_config();
    config.limits.max_auth_failures = 0;
    let s = transcript(
        config,
        checking_app(),
        "
        S: 220 mx.example.org ESMTP ready
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250-ENHANCEDSTATUSCODES
        S: 250 AUTH PLAIN LOGIN CRAM-MD5
        C: AUTH LOGIN
        S: 334 VXNlcm5hbWU6
        C: dGlt
        S: 334 UGFzc3dvcmQ6
        C: d3Jvbmc=
        S: 535 5.7.8 Authentication credentials invalid
        C: AUTH LOGIN dGlt
        S: 334 UGFzc3dvcmQ6
        C: dGFuc3RhYWY=
        S: 235 2.7.0 Authentication successful
        ",
    );
    assert_eq!(names(&s.events), ["Hello", "Auth", "Auth"]);
}

#[test]
fn auth_cancel_with_star() {
    transcript(
        auth_config(),
        checking_app(),
        "
        S: 220 mx.example.org ESMTP ready
        C: EHLO client.example
        S: 250-mx.example.org greets client.example
        S: 250-SIZE 26214400
        S: 250-PIPELINING
        S: 250-8BITMIME
        S: 250-CHUNKING
        S: 250-ENHANCEDSTATUSCODES
        S: 250 AUTH PLAIN LOGIN CRAM-MD5
        C: AUTH LOGIN
        S: 334 VXNlcm5hbWU6
        C: *
        S: 501 5.0.0 Authentication cancelled
        C: AUTH PLAIN
        S: 334 
        C: not base64!
        S: 501 5.5.2 Authentication failed: invalid base64 at offset 3: character outside the alphabet
        C: NOOP
        S: 250 2.0.0 Ok
        ",
    );
}

#[test]
fn auth_cram_md5_with_configured_challenge() {
    let mut s = ehlo_session(auth_config(), checking_app());
    let challenge_line = s.one("AUTH CRAM-MD5");
    let challenge = challenge_line.strip_prefix("334 ").unwrap();
    let decoded = mailproto_core::sasl::decode_line(challenge.as_bytes()).unwrap();
    assert_eq!(decoded, b"<1896.697170952@postoffice.example.net>");
    let mut client = ClientAuth::new(
        Mechanism::CramMd5,
        ClientCredentials::password("tim", "tanstaaftanstaaf"),
    )
    .unwrap();
    let response = client.respond(&decoded).unwrap();
    let mut line = Vec::new();
    mailproto_core::sasl::encode_line(&response, &mut line);
    assert_eq!(
        s.one(std::str::from_utf8(&line).unwrap()),
        "235 2.7.0 Authentication successful"
    );
}

#[test]
fn auth_refused_before_tls() {
    let mut config = auth_config();
    config.tls_active = false;
    config.extensions.starttls = true;
    let mut s = ehlo_session(config.clone(), checking_app());
    assert_eq!(
        s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZg=="),
        "530 5.7.0 Must issue a STARTTLS command first"
    );
    assert!(s.take_events().is_empty());
    config.extensions.starttls = false;
    let mut s = ehlo_session(config.clone(), checking_app());
    assert_eq!(
        s.one("AUTH LOGIN"),
        "504 5.7.11 Encryption required for requested authentication mechanism"
    );
    // CRAM-MD5 sends no password: allowed in the clear.
    assert!(s.one("AUTH CRAM-MD5").starts_with("334 "));
    // Unless TLS is not required at all.
    config.auth_requires_tls = false;
    let mut s = ehlo_session(config, checking_app());
    assert_eq!(
        s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZg=="),
        "235 2.7.0 Authentication successful"
    );
}

#[test]
fn auth_required_before_mail() {
    let mut config = auth_config();
    config.auth_required = true;
    let mut s = ehlo_session(config, checking_app());
    assert_eq!(
        s.one("MAIL FROM:<a@example.net>"),
        "530 5.7.0 Authentication required"
    );
    assert_eq!(s.one("VRFY x"), "530 5.7.0 Authentication required");
    assert_eq!(s.one("NOOP"), "250 2.0.0 Ok");
    s.feed(T0, b"BDAT 3\r\nabcNOOP\r\n");
    assert_eq!(
        lines(&s.transmit()),
        ["530 5.7.0 Authentication required", "250 2.0.0 Ok"]
    );
    s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZg==");
    assert_eq!(s.one("MAIL FROM:<a@example.net>"), "250 2.1.0 Ok");
}

#[test]
fn auth_failures_close_the_session() {
    let mut s = ehlo_session(auth_config(), checking_app());
    for _ in 0..2 {
        assert_eq!(
            s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZw=="),
            "535 5.7.8 Authentication credentials invalid"
        );
    }
    assert_eq!(
        s.cmd("AUTH PLAIN AHRpbQB0YW5zdGFhZw=="),
        [
            "535 5.7.8 Authentication credentials invalid",
            "421 4.7.0 mx.example.org Error: too many authentication failures"
        ]
    );
    assert_eq!(
        s.events.last(),
        Some(&Event::Closed {
            reason: CloseReason::TooManyAuthFailures
        })
    );
}

#[test]
fn auth_response_line_too_long() {
    let mut s = ehlo_session(auth_config(), checking_app());
    assert_eq!(s.one("AUTH PLAIN"), "334 ");
    let long = "A".repeat(13000);
    assert_eq!(
        s.cmd(&long),
        ["500 5.5.6 Authentication Exchange line is too long"]
    );
    assert_eq!(s.one("NOOP"), "250 2.0.0 Ok");
    // The AUTH command line itself may be up to 12288 octets.
    let ir = "A".repeat(12000);
    assert_eq!(
        s.one(&format!("AUTH PLAIN {ir}")),
        "535 5.7.8 Authentication credentials invalid"
    );
}

#[test]
fn auth_cram_md5_not_offered_without_a_challenge() {
    let mut config = auth_config();
    config.cram_md5_challenge = None;
    let mut s = Session::new(config, checking_app());
    s.transmit();
    let ehlo = s.cmd("EHLO client.example");
    assert_eq!(ehlo.last().unwrap(), "250 AUTH PLAIN LOGIN");
    assert_eq!(
        s.one("AUTH CRAM-MD5"),
        "454 4.7.0 Temporary authentication failure"
    );
}

#[test]
fn auth_xoauth2_rejected_with_an_error_challenge() {
    let mut config = auth_config();
    config.extensions.auth = vec![Mechanism::XOAuth2];
    let app: App = Box::new(|server, event| {
        if let Event::Auth {
            credentials: Credentials::XOAuth2 { user, token },
            ..
        } = event
        {
            assert_eq!((user.as_str(), token.expose().as_str()), ("tim", "expired"));
            let error = mailproto_core::sasl::xoauth2_error_challenge(
                "401",
                "Bearer",
                "https://mail.example/",
            );
            server.auth_reject_with_challenge(T0, error).unwrap();
        }
    });
    let mut s = ehlo_session(config, app);
    let mut ir = Vec::new();
    mailproto_core::sasl::encode_line(b"user=tim\x01auth=Bearer expired\x01\x01", &mut ir);
    let challenge = s.one(&format!("AUTH XOAUTH2 {}", String::from_utf8(ir).unwrap()));
    let json =
        mailproto_core::sasl::decode_line(challenge.strip_prefix("334 ").unwrap().as_bytes())
            .unwrap();
    assert!(
        String::from_utf8(json)
            .unwrap()
            .contains("\"status\":\"401\"")
    );
    // RFC 7628 §3.2.3: the client answers with a dummy response; then 535.
    assert_eq!(s.one(""), "535 5.7.8 Authentication credentials invalid");
    assert!(!s.server.is_authenticated());
    assert_eq!(s.one("NOOP"), "250 2.0.0 Ok");
}

// ---------------------------------------------------------------------------------------
// STARTTLS (RFC 3207)

fn tls_config() -> ServerConfig {
    let mut config = cfg();
    config.extensions.starttls = true;
    config
}

#[test]
fn starttls_discards_injected_commands() {
    let mut s = ehlo_session(tls_config(), accept_all());
    s.feed(T0, b"STARTTLS\r\nRSET\r\n");
    assert_eq!(lines(&s.transmit()), ["220 2.0.0 Ready to start TLS"]);
    assert_eq!(s.take_events(), [Event::TlsStarting]);
    assert_eq!(s.server.io(), Io::AwaitingTls);
    // Only the handshake deadline runs now.
    assert_eq!(
        s.server.poll_timeout(),
        Some(T0 + s.server.config().timeouts.tls_handshake)
    );
    // Plaintext fed before the handshake is ignored as well.
    s.feed(T0, b"MAIL FROM:<a@example.net>\r\n");
    assert!(s.transmit().is_empty());
    assert!(s.take_events().is_empty());
    s.server.tls_established(T0);
    s.drain();
    // Everything discarded is reported once, at the handshake: "RSET\r\n" and the MAIL.
    assert_eq!(s.take_events(), [Event::TlsInjection { discarded: 6 + 27 }]);
    assert!(s.server.is_tls());
    assert_eq!(s.server.io(), Io::Open { wants_read: true });
    // RFC 3207 §4.2: the session starts over; EHLO first.
    assert_eq!(
        s.one("MAIL FROM:<a@example.net>"),
        "503 5.5.1 Error: send HELO/EHLO first"
    );
    assert_eq!(
        s.cmd("EHLO client.example"),
        [
            "250-mx.example.org greets client.example",
            "250-SIZE 26214400",
            "250-PIPELINING",
            "250-8BITMIME",
            "250-CHUNKING",
            "250 ENHANCEDSTATUSCODES"
        ]
    );
    assert_eq!(s.one("STARTTLS"), "503 5.5.1 Error: TLS already active");
}

#[test]
fn starttls_forgets_authentication() {
    let mut config = auth_config();
    config.tls_active = false;
    config.extensions.starttls = true;
    config.auth_requires_tls = false;
    let mut s = ehlo_session(config, checking_app());
    s.one("AUTH PLAIN AHRpbQB0YW5zdGFhZg==");
    assert!(s.server.is_authenticated());
    assert_eq!(s.one("STARTTLS"), "220 2.0.0 Ready to start TLS");
    s.server.tls_established(T0);
    assert!(!s.server.is_authenticated());
}

#[test]
fn starttls_refusals() {
    let mut s = ehlo_session(tls_config(), accept_all());
    assert_eq!(
        s.one("STARTTLS x"),
        "501 5.5.2 STARTTLS: expected end of line, found \" x\""
    );
    s.one("MAIL FROM:<a@example.net>");
    assert_eq!(
        s.one("STARTTLS"),
        "503 5.5.1 Error: STARTTLS not allowed in a mail transaction"
    );
    // RFC 3207 §4: an EHLO extension, so not before EHLO either.
    let mut s = Session::new(tls_config(), accept_all());
    s.transmit();
    assert_eq!(s.one("STARTTLS"), "503 5.5.1 Error: send EHLO first");
}

#[test]
fn eof_while_awaiting_tls_closes() {
    let mut s = ehlo_session(tls_config(), accept_all());
    s.cmd("STARTTLS");
    s.server.feed_eof(T0);
    s.drain();
    assert_eq!(s.server.io(), Io::Closed);
}

// ---------------------------------------------------------------------------------------
// Timeouts and end of stream

#[test]
fn deadlines_per_state() {
    let t = Timeouts::default();
    // The first-transaction deadline (tests/hold_and_login.rs) would come first.
    let mut config = cfg();
    config.timeouts.first_transaction = None;
    let mut s = ehlo_session(config, accept_all());
    // Waiting for a command: the idle deadline, from the last reply.
    assert_eq!(s.server.poll_timeout(), Some(T0 + t.idle));
    // A line started: the line deadline, from its first octet, which a drip never moves.
    let t1 = Instant::from_secs(10);
    s.feed(t1, b"NO");
    assert_eq!(s.server.poll_timeout(), Some(t1 + t.line));
    s.feed(Instant::from_secs(200), b"O");
    assert_eq!(s.server.poll_timeout(), Some(t1 + t.line));
    s.feed(Instant::from_secs(201), b"P\r\n");
    s.transmit();
    assert_eq!(
        s.server.poll_timeout(),
        Some(Instant::from_secs(201) + t.idle)
    );
    // A body: the data deadline, extended at its minimum rate by what arrives.
    let t2 = Instant::from_secs(300);
    s.feed(
        t2,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
    );
    s.transmit();
    assert_eq!(s.server.poll_timeout(), Some(t2 + t.data.timeout));
    s.feed(t2, &[b'x'; 5000]);
    // Arrived all at once: no later than the data timeout after it.
    assert_eq!(
        s.server.poll_timeout(),
        Some(t.data.expiry_after(t2, 5000, t2))
    );
}

#[test]
fn body_octets_read_with_bdat_count_for_the_chunk() {
    let t = Timeouts::default();
    let mut s = ehlo_session(cfg(), accept_all());
    s.cmd("MAIL FROM:<a@example.net>");
    s.cmd("RCPT TO:<b@example.org>");
    // The command and the first 1000 octets of its chunk in one read, the next 1000
    // octets 100 s later: the chunk has moved 2000 octets, all of them at the minimum
    // rate's credit, though the first came in the read that opened it.
    let mut first = b"BDAT 3000\r\n".to_vec();
    first.extend_from_slice(&[b'x'; 1000]);
    s.feed(T0, &first);
    let later = Instant::from_secs(100);
    s.feed(later, &[b'y'; 1000]);
    assert_eq!(
        s.server.poll_timeout(),
        Some(t.data.expiry_after(T0, 2000, later))
    );
    assert_eq!(
        s.server.poll_timeout(),
        Some(T0 + t.data.timeout + Duration::from_secs(4))
    );
}

#[test]
fn input_after_its_deadline_is_too_late() {
    // The line deadline passed before the rest of the line arrived, and the driver had
    // not called handle_timeout yet: the deadline is acted on, the command is not.
    let mut c = cfg();
    c.timeouts.line = Duration::from_secs(1);
    let mut s = ehlo_session(c, accept_all());
    s.feed(T0, b"NO");
    s.feed(T0 + Duration::from_millis(1500), b"OP\r\n");
    assert_eq!(
        lines(&s.transmit()),
        ["421 4.4.2 mx.example.org Error: timeout exceeded"]
    );
    assert_closed_by(&mut s, Deadline::Line);
    // The same for the end of the stream.
    let mut c = cfg();
    c.timeouts.idle = Duration::from_secs(1);
    let mut s = ehlo_session(c, accept_all());
    s.server.feed_eof(T0 + Duration::from_secs(2));
    s.drain();
    assert_closed_by(&mut s, Deadline::Idle);
}

#[test]
fn timeout_closes_with_421() {
    let mut s = ehlo_session(cfg(), accept_all());
    let due = s.server.poll_timeout().unwrap();
    // Before the deadline nothing happens.
    s.server.handle_timeout(due - Duration::from_millis(1));
    assert_eq!(s.server.io(), Io::Open { wants_read: true });
    s.server.handle_timeout(due);
    s.drain();
    assert_eq!(
        lines(&s.transmit()),
        ["421 4.4.2 mx.example.org Error: timeout exceeded"]
    );
    assert_closed_by(&mut s, Deadline::Idle);
    assert_eq!(s.server.io(), Io::Closed);
    assert_eq!(s.server.poll_timeout(), None);
}

#[test]
fn timeout_mid_body_aborts_the_message() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\npart",
    );
    s.transmit();
    s.take_events();
    let due = s.server.poll_timeout().unwrap();
    s.server.handle_timeout(due);
    s.drain();
    assert_eq!(
        s.take_events(),
        [
            Event::MessageAborted {
                reason: AbortReason::SessionEnded
            },
            Event::Closed {
                reason: CloseReason::Timeout(Deadline::Body)
            }
        ]
    );
}

#[test]
fn eof_after_pipelined_commands_processes_them_first() {
    let mut s = ehlo_session(cfg(), Box::new(|_, _| {}));
    s.server.feed(T0, b"MAIL FROM:<a@example.net>\r\nQUIT\r\n");
    s.server.feed_eof(T0);
    assert_eq!(s.server.poll_event().map(|e| names(&[e])[0]), Some("Mail"));
    s.server.accept(T0).unwrap();
    assert_eq!(lines(&s.transmit()), ["250 2.1.0 Ok", "221 2.0.0 Bye"]);
    assert_eq!(
        s.server.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::Quit
        })
    );
}

#[test]
fn eof_mid_body_aborts_and_closes() {
    let mut s = ehlo_session(cfg(), accept_all());
    s.feed(
        T0,
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\npart\r\n.",
    );
    s.server.feed_eof(T0);
    s.drain();
    assert_eq!(
        names(&s.events)[2..],
        ["DataStart", "BodyChunk", "MessageAborted", "Closed"]
    );
    assert_eq!(
        s.events.last(),
        Some(&Event::Closed {
            reason: CloseReason::PeerClosed
        })
    );
}

// ---------------------------------------------------------------------------------------
// Answers and misuse

#[test]
fn misuse_hands_the_answer_back_and_changes_nothing() {
    let mut s = Session::new(cfg(), Box::new(|_, _| {}));
    let e = s.server.accept(T0).unwrap_err();
    assert_eq!(e.kind(), &AnswerErrorKind::NothingPending);
    assert_eq!(e.into_value(), Answer::Accept);
    s.server
        .feed(T0, b"EHLO c.example\r\nMAIL FROM:<a@example.net>\r\n");
    while s.server.poll_event().is_some() {}
    assert_eq!(s.server.awaiting(), Some(Awaiting::Mail));

    let e = s.server.auth_accept(T0).unwrap_err();
    assert_eq!(
        e.kind(),
        &AnswerErrorKind::WrongAnswer {
            awaiting: Awaiting::Mail
        }
    );
    let e = s
        .server
        .reply_lmtp(T0, vec![Reply::new(ReplyCode::OK, None, "x")])
        .unwrap_err();
    assert!(matches!(e.kind(), AnswerErrorKind::WrongAnswer { .. }));
    let intermediate = Reply::new(ReplyCode::START_MAIL_INPUT, None, "go");
    let e = s.server.reply(T0, intermediate.clone()).unwrap_err();
    assert_eq!(
        e.kind(),
        &AnswerErrorKind::IntermediateCode(ReplyCode::START_MAIL_INPUT)
    );
    assert_eq!(e.into_value(), Answer::Reply(intermediate));
    let broken = Reply::new(ReplyCode::OK, None, "two\r\nlines");
    let e = s.server.reply(T0, broken).unwrap_err();
    assert!(matches!(e.kind(), AnswerErrorKind::InvalidReply(_)));
    assert!(e.to_string().contains("cannot be sent"));
    let wrong_class = Reply::new(ReplyCode::OK, Some(EnhancedCode::new(5, 1, 1)), "x");
    assert!(s.server.reply(T0, wrong_class).is_err());

    assert_eq!(s.server.awaiting(), Some(Awaiting::Mail));
    assert!(!s.server.in_transaction());
    s.server.accept(T0).unwrap();
    assert!(s.server.in_transaction());
}

#[test]
fn lmtp_reply_count_must_match() {
    let mut s = Session::new(ServerConfig::lmtp("l.example"), Box::new(|_, _| {}));
    s.server.feed(T0,
        b"LHLO c.example\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\nx\r\n.\r\n",
    );
    loop {
        while s.server.poll_event().is_some() {}
        match s.server.awaiting() {
            Some(Awaiting::MessageEnd { .. }) | None => break,
            Some(_) => s.server.accept(T0).unwrap(),
        }
    }
    assert_eq!(
        s.server.awaiting(),
        Some(Awaiting::MessageEnd { replies: 2 })
    );
    let one = vec![Reply::new(ReplyCode::OK, None, "ok")];
    let e = s.server.reply_lmtp(T0, one.clone()).unwrap_err();
    assert_eq!(
        e.kind(),
        &AnswerErrorKind::WrongReplyCount {
            expected: 2,
            got: 1
        }
    );
    assert_eq!(e.into_value(), Answer::Replies(one));
    s.server.accept(T0).unwrap();
    assert_eq!(
        s.server.awaiting(),
        Some(Awaiting::MessageEnd { replies: 1 })
    );
    s.server
        .reject(
            T0,
            ReplyCode::LOCAL_ERROR,
            Some(EnhancedCode::new(4, 3, 0)),
            "later",
        )
        .unwrap();
    assert_eq!(s.server.awaiting(), None);
    let out = lines(&s.transmit());
    assert_eq!(
        out[out.len() - 2..],
        ["250 2.0.0 Ok: delivered", "451 4.3.0 later"]
    );
}

#[test]
fn smtputf8_transaction() {
    let mut config = cfg();
    config.extensions.smtputf8 = true;
    let mut s = ehlo_session(config, accept_all());
    assert_eq!(
        s.one("MAIL FROM:<jöran@example.net>"),
        "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"
    );
    assert_eq!(s.one("MAIL FROM:<a@example.net>"), "250 2.1.0 Ok");
    assert_eq!(
        s.one("RCPT TO:<jöran@example.org>"),
        "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"
    );
    s.one("RSET");
    assert_eq!(
        s.one("MAIL FROM:<jöran@example.net> SMTPUTF8"),
        "250 2.1.0 Ok"
    );
    assert_eq!(s.one("RCPT TO:<jöran@bücher.example>"), "250 2.1.5 Ok");
}

// ---------------------------------------------------------------------------------------
// SMTP smuggling: no bare line ending may end a DATA body

/// One DATA transaction whose body hides `vector` followed by a second transaction.
fn smuggling_case(vector: &[u8]) {
    let mut input = b"EHLO attacker.example\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: hi\r\n\r\nHello".to_vec();
    input.extend_from_slice(vector);
    input.extend_from_slice(
        b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nSmuggled\r\n.\r\nQUIT\r\n",
    );
    for policy in [BareLineEnding::Reject, BareLineEnding::Normalize] {
        for split in [vec![], vec![1], vec![2], vec![5]] {
            let mut config = cfg();
            config.bare_line_ending = policy;
            let mut s = Session::new(config, accept_all());
            s.feed_split(&input, &split);
            let n = names(&s.events);
            let count = |name: &str| n.iter().filter(|x| **x == name).count();
            let what = format!("vector {vector:?}, {policy:?}, split {split:?}: {n:?}");
            assert_eq!(count("Mail"), 1, "{what}");
            assert_eq!(count("Rcpt"), 1, "{what}");
            assert_eq!(count("MessageEnd") + count("MessageAborted"), 1, "{what}");
            assert_eq!(
                s.events.last(),
                Some(&Event::Closed {
                    reason: CloseReason::Quit
                }),
                "{what}"
            );
            let mut context = b"Hello".to_vec();
            context.extend_from_slice(vector);
            context.push(b'M');
            let smuggled = body(&s.events).windows(9).any(|w| w == b"MAIL FROM");
            if policy == BareLineEnding::Reject && has_bare(&context) {
                assert_eq!(count("MessageAborted"), 1, "{what}");
                assert!(
                    !smuggled,
                    "nothing after the violation is delivered: {what}"
                );
            } else {
                assert_eq!(count("MessageEnd"), 1, "{what}");
                assert!(smuggled, "the smuggled commands are body: {what}");
            }
        }
    }
}

/// Whether `bytes` hold a CR not followed by LF or an LF not preceded by CR.
fn has_bare(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
            || (b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
    })
}

macro_rules! smuggling {
    ($($name:ident => $vector:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smuggling_case($vector);
            }
        )*
    };
}

smuggling! {
    smuggling_lf_dot_lf => b"\n.\n",
    smuggling_lf_dot_crlf => b"\n.\r\n",
    smuggling_cr_dot_crlf => b"\r.\r\n",
    smuggling_crlf_dot_cr => b"\r\n.\r",
    smuggling_crlf_dot_cr_crlf => b"\r\n.\r\r\n",
    smuggling_crlf_nul_dot_crlf => b"\r\n\x00.\r\n",
    smuggling_cr_dot_cr => b"\r.\r",
    smuggling_lf_dot_cr => b"\n.\r",
    smuggling_crlf_dot_lf => b"\r\n.\n",
}

// ---------------------------------------------------------------------------------------
// Through testing::Pair, with a scripted client machine

/// A client that sends its script at once and records what it receives.
#[derive(Debug)]
struct ScriptClient {
    script: Vec<u8>,
    received: Vec<u8>,
    eof: bool,
}

impl Machine for ScriptClient {
    type Event = ();
    fn feed(&mut self, _now: Instant, data: &[u8]) {
        self.received.extend_from_slice(data);
    }
    fn feed_eof(&mut self, _now: Instant) {
        self.eof = true;
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.script.len();
        out.append(&mut self.script);
        n
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn io(&self) -> Io {
        if self.eof {
            Io::Closed
        } else {
            Io::Open { wants_read: true }
        }
    }
    fn transmitted(&mut self, _now: Instant, _n: usize) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn tls_established(&mut self, _now: Instant) {}
}

#[test]
fn pair_session_split_anywhere_gives_the_same_transcript() {
    let script = b"EHLO client.example\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n\
        RCPT TO:<bad@example.org>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    let mut transcripts = Vec::new();
    for sizes in [vec![], vec![1], vec![3, 7], vec![64]] {
        let client = ScriptClient {
            script: script.to_vec(),
            received: Vec::new(),
            eof: false,
        };
        let mut pair =
            mailproto_core::testing::Pair::with_splits(client, Server::new(T0, cfg()), sizes);
        let mut events = Vec::new();
        let mut app = picky();
        pair.drive(
            |_, _now, ()| {},
            |server, _now, event| {
                app(server, &event);
                events.push(event);
            },
        );
        assert!(pair.client.eof, "the server closed after QUIT");
        assert_eq!(
            lines(&pair.client.received),
            [
                "220 mx.example.org ESMTP ready",
                "250-mx.example.org greets client.example",
                "250-SIZE 26214400",
                "250-PIPELINING",
                "250-8BITMIME",
                "250-CHUNKING",
                "250 ENHANCEDSTATUSCODES",
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "550 No such user here",
                "354 End data with <CR><LF>.<CR><LF>",
                "250 2.0.0 Ok: queued",
                "221 2.0.0 Bye"
            ]
        );
        assert_eq!(body(&events), b"Subject: x\r\n\r\nbody\r\n");
        transcripts.push(merged(&events));
    }
    assert!(transcripts.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn pair_starttls_drops_plaintext_in_flight() {
    let client = ScriptClient {
        script: b"EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<a@example.net>\r\n".to_vec(),
        received: Vec::new(),
        eof: false,
    };
    let mut pair =
        mailproto_core::testing::Pair::with_splits(client, Server::new(T0, tls_config()), vec![10]);
    let mut events = Vec::new();
    pair.drive(|_, _now, ()| {}, |_, _now, event| events.push(event));
    // Reported once, if the server held any of it.
    let reports: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Event::TlsInjection { discarded } => Some(*discarded),
            _ => None,
        })
        .collect();
    assert!(reports.len() <= 1);
    let discarded = reports.first().copied().unwrap_or(0);
    // Every plaintext byte after STARTTLS was dropped: by the server or on the wire.
    assert_eq!(
        discarded + pair.dropped_at_tls(mailproto_core::testing::Side::Server),
        "MAIL FROM:<a@example.net>\r\n".len()
    );
    assert!(!names(&events).contains(&"Mail"));
    assert!(pair.server.is_tls());
    assert!(
        pair.transcript()
            .ends_with("S: 220 2.0.0 Ready to start TLS\n")
    );
}
