//! SMTP client machine: canned server transcripts replayed against the client, whose
//! bytes are compared exactly (`C:` what the client must write, `S:` what is fed).

use mailproto_core::time::{Deadline, Duration, Instant};

use mailproto_core::Misuse;
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::smtp::client::{
    BodyMode, Client, ClientConfig, ClientError, CloseReason, Event, FailureReason, ProtocolError,
};
use mailproto_core::smtp::*;
use mailproto_core::{Io, Machine};

const T0: Instant = Instant::ZERO;

/// A client under test, with the client bytes not yet checked.
struct T {
    c: Client,
}

fn host(name: &str) -> Host {
    Host::Domain(Domain::new(name).unwrap())
}

fn config() -> ClientConfig {
    ClientConfig::new(host("bar.com"))
}

impl T {
    fn new(config: ClientConfig) -> T {
        T {
            c: Client::new(T0, config),
        }
    }

    /// S: bytes fed whole; returns the events they caused.
    fn s(&mut self, server: &str) -> Vec<Event> {
        self.c.feed(T0, server.as_bytes());
        self.events()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }

    /// C: everything the client wrote since the last check, exactly.
    fn c(&mut self, expected: &str) {
        let mut out = Vec::new();
        while self.c.poll_transmit(&mut out) > 0 {}
        self.c.transmitted(T0, out.len());
        assert_eq!(String::from_utf8_lossy(&out), expected);
    }

    /// Greeting and EHLO with the given capability lines.
    fn greeted(config: ClientConfig, caps: &[&str]) -> T {
        let mut t = T::new(config);
        assert_eq!(t.c.io(), Io::Open { wants_read: true });
        let ev = t.s("220 foo.com ESMTP\r\n");
        assert_eq!(ev, [Event::Greeting(reply(&["220 foo.com ESMTP"]))]);
        t.c.ehlo(T0).unwrap();
        t.c("EHLO bar.com\r\n");
        let mut lines = vec![String::from("foo.com")];
        lines.extend(caps.iter().map(|c| c.to_string()));
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            text.push_str(&format!("250{sep}{l}\r\n"));
        }
        let ev = t.s(&text);
        assert!(
            matches!(&ev[..], [Event::Ready { extended: true, .. }]),
            "{ev:?}"
        );
        assert!(t.c.is_ready());
        t
    }
}

/// A reply from its lines as the server sends them (without CRLF).
fn reply(lines: &[&str]) -> Reply {
    let mut p = ReplyParser::default();
    for l in lines {
        if let Some(r) = p.feed_line(l.as_bytes()).unwrap() {
            return r;
        }
    }
    panic!("incomplete reply {lines:?}")
}

fn r(line: &str) -> Reply {
    reply(&[line])
}

fn mb(local: &str, domain: &str) -> Mailbox {
    Mailbox {
        local_part: local.into(),
        domain: host(domain),
    }
}

fn from(local: &str, domain: &str) -> ReversePath {
    ReversePath::Mailbox(mb(local, domain))
}

fn rcpts(list: &[(&str, &str)]) -> Vec<(ForwardPath, RcptParams)> {
    list.iter()
        .map(|(l, d)| (ForwardPath::Mailbox(mb(l, d)), RcptParams::default()))
        .collect()
}

fn send(t: &mut T, to: &[(&str, &str)], mode: BodyMode) {
    t.c.send_envelope(
        T0,
        from("Smith", "bar.com"),
        MailParams::default(),
        rcpts(to),
        mode,
    )
    .unwrap();
}

#[test]
fn rfc5321_appendix_d1_typical_transaction() {
    let mut t = T::greeted(config(), &["8BITMIME", "SIZE", "DSN", "HELP"]);
    assert!(t.c.capabilities().eight_bit_mime);
    let to = [
        ("Jones", "foo.com"),
        ("Green", "foo.com"),
        ("Brown", "foo.com"),
    ];
    send(&mut t, &to, BodyMode::Data);
    // No PIPELINING: one command at a time.
    t.c("MAIL FROM:<Smith@bar.com>\r\n");
    assert_eq!(t.s("250 OK\r\n"), [Event::MailReply(r("250 OK"))]);
    t.c("RCPT TO:<Jones@foo.com>\r\n");
    let ev = t.s("250 OK\r\n");
    assert_eq!(
        ev,
        [Event::RcptReply {
            index: 0,
            reply: r("250 OK")
        }]
    );
    t.c("RCPT TO:<Green@foo.com>\r\n");
    let ev = t.s("550 No such user here\r\n");
    assert_eq!(
        ev,
        [Event::RcptReply {
            index: 1,
            reply: r("550 No such user here")
        }]
    );
    t.c("RCPT TO:<Brown@foo.com>\r\n");
    t.s("250 OK\r\n");
    t.c("DATA\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(120)));
    let ev = t.s("354 Start mail input; end with <CRLF>.<CRLF>\r\n");
    assert_eq!(ev, [Event::ReadyForBody]);
    assert_eq!(t.c.io(), Io::Open { wants_read: true });
    // Between commands nothing is timed; the body's bytes get the data-block write
    // limit (RFC 5321 §4.5.3.2.5) until the server takes them.
    assert_eq!(t.c.poll_timeout(), None);
    t.c.send_body(T0, b"Blah blah blah...\r\n").unwrap();
    t.c.send_body(T0, b"...etc. etc. etc.\r\n").unwrap();
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(180)));
    t.c.finish_body(T0).unwrap();
    t.c("Blah blah blah...\r\n....etc. etc. etc.\r\n.\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(600)));
    assert_eq!(t.s("250 OK\r\n"), [Event::MessageAccepted(r("250 OK"))]);
    assert!(t.c.is_ready());
    t.c.quit(T0).unwrap();
    t.c("QUIT\r\n");
    let ev = t.s("221 foo.com Service closing transmission channel\r\n");
    assert_eq!(
        ev,
        [Event::Closed {
            reason: CloseReason::Quit(r("221 foo.com Service closing transmission channel"))
        }]
    );
    assert_eq!(t.c.io(), Io::Closed);
    assert_eq!(t.c.poll_timeout(), None);
}

#[test]
fn ehlo_falls_back_to_helo_on_502_and_500() {
    for code in ["500", "502"] {
        let mut t = T::new(config());
        t.s("220 old.example ready\r\n");
        t.c.ehlo(T0).unwrap();
        t.c("EHLO bar.com\r\n");
        assert_eq!(t.s(&format!("{code} what?\r\n")), []);
        t.c("HELO bar.com\r\n");
        let ev = t.s("250 old.example\r\n");
        assert_eq!(
            ev,
            [Event::Ready {
                capabilities: Capabilities::default(),
                extended: false
            }]
        );
        assert!(!t.c.is_extended());
        // No extension without EHLO.
        let e = t.c.starttls(T0).unwrap_err();
        assert!(matches!(e.kind(), ClientError::WrongState { .. }), "{e:?}");
    }
}

#[test]
fn hello_refused() {
    // 550 to EHLO is not "unrecognised": no fallback.
    let mut t = T::new(config());
    t.s("220 x\r\n");
    t.c.ehlo(T0).unwrap();
    t.c("EHLO bar.com\r\n");
    assert_eq!(
        t.s("550 go away\r\n"),
        [Event::HelloRefused(r("550 go away"))]
    );
    t.c("");
    // HELO needs a domain: with an address literal there is no fallback.
    let lit = Host::Literal(AddressLiteral::Ipv4([192, 0, 2, 1].into()));
    let mut t = T::new(ClientConfig::new(lit));
    t.s("220 x\r\n");
    t.c.ehlo(T0).unwrap();
    t.c("EHLO [192.0.2.1]\r\n");
    assert_eq!(t.s("502 no\r\n"), [Event::HelloRefused(r("502 no"))]);
    // HELO refused too.
    let mut t = T::new(config());
    t.s("220 x\r\n");
    t.c.ehlo(T0).unwrap();
    t.s("502 no\r\n");
    t.c("EHLO bar.com\r\nHELO bar.com\r\n");
    assert_eq!(t.s("501 no\r\n"), [Event::HelloRefused(r("501 no"))]);
    assert!(!t.c.is_ready());
    t.c.ehlo(T0).unwrap();
}

#[test]
fn greeting_554_allows_only_quit() {
    let mut t = T::new(config());
    let ev = t.s("554 no SMTP service here\r\n");
    assert_eq!(ev, [Event::Greeting(r("554 no SMTP service here"))]);
    assert!(matches!(
        t.c.ehlo(T0).map_err(Misuse::into_kind),
        Err(ClientError::WrongState { .. })
    ));
    assert!(matches!(
        t.c.noop(T0).map_err(Misuse::into_kind),
        Err(ClientError::WrongState { .. })
    ));
    t.c.quit(T0).unwrap();
    t.c("QUIT\r\n");
    let ev = t.s("221 bye\r\n");
    assert!(matches!(&ev[..], [Event::Closed { .. }]));
}

#[test]
fn commands_wait_for_the_greeting() {
    let mut t = T::new(config());
    assert_eq!(
        t.c.ehlo(T0).map_err(Misuse::into_kind),
        Err(ClientError::Busy)
    );
    assert_eq!(
        t.c.quit(T0).map_err(Misuse::into_kind),
        Err(ClientError::Busy)
    );
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    t.c("");
}

#[test]
fn multi_line_greeting_and_ehlo_split_anywhere() {
    let server = "220-foo.com ESMTP\r\n220-no UCE\r\n220 ready\r\n";
    let ehlo = "250-foo.com hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n";
    let mut t = T::new(config());
    for b in server.as_bytes() {
        t.c.feed(T0, &[*b]);
    }
    let ev = t.events();
    assert_eq!(
        ev,
        [Event::Greeting(reply(&[
            "220-foo.com ESMTP",
            "220-no UCE",
            "220 ready"
        ]))]
    );
    t.c.ehlo(T0).unwrap();
    for part in ehlo.as_bytes().chunks(7) {
        t.c.feed(T0, part);
    }
    let ev = t.events();
    let [Event::Ready { capabilities, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!(capabilities.pipelining && capabilities.starttls);
    assert_eq!(capabilities.size, Some(1000));
    assert_eq!(capabilities.auth, ["PLAIN", "LOGIN"]);
}

#[test]
fn starttls_then_ehlo_again() {
    let mut t = T::greeted(config(), &["STARTTLS", "AUTH PLAIN"]);
    t.c.starttls(T0).unwrap();
    t.c("STARTTLS\r\n");
    assert_eq!(t.s("220 2.0.0 Ready to start TLS\r\n"), []);
    assert_eq!(t.c.io(), Io::AwaitingTls);
    // Only the handshake deadline runs.
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(60)));
    assert_eq!(
        t.c.ehlo(T0).map_err(Misuse::into_kind),
        Err(ClientError::Closed)
    );
    t.c.tls_established(T0);
    assert_eq!(t.events(), [Event::TlsReady]);
    assert!(t.c.is_tls());
    assert_eq!(t.c.capabilities(), &Capabilities::default());
    assert!(!t.c.is_ready());
    assert_eq!(t.c.io(), Io::Open { wants_read: true });
    t.c.ehlo(T0).unwrap();
    t.c("EHLO bar.com\r\n");
    let ev = t.s("250-foo.com\r\n250 AUTH PLAIN\r\n");
    assert!(matches!(&ev[..], [Event::Ready { .. }]));
    assert_eq!(
        t.c.starttls(T0).map_err(Misuse::into_kind),
        Err(ClientError::AlreadyTls)
    );
}

#[test]
fn starttls_response_injection_is_discarded_not_parsed() {
    let mut t = T::greeted(config(), &["STARTTLS"]);
    t.c.starttls(T0).unwrap();
    t.c("STARTTLS\r\n");
    // An attacker appends a forged reply to the 220, in the same segment.
    let ev = t.s("220 go\r\n250 x\r\n");
    assert_eq!(ev, []);
    assert_eq!(t.c.io(), Io::AwaitingTls);
    // Plaintext fed while awaiting TLS (a careless adapter) is discarded too.
    assert_eq!(t.s("250 y\r\n"), []);
    t.c.tls_established(T0);
    // Reported once, with every octet, before TlsReady.
    assert_eq!(
        t.events(),
        [Event::TlsInjection { discarded: 14 }, Event::TlsReady]
    );
    // Nothing of it survived: the next reply is read fresh.
    t.c.ehlo(T0).unwrap();
    t.c("EHLO bar.com\r\n");
    let ev = t.s("250 foo.com\r\n");
    assert!(matches!(&ev[..], [Event::Ready { .. }]), "{ev:?}");
}

#[test]
fn starttls_refused_and_not_advertised() {
    let mut t = T::greeted(config(), &["STARTTLS"]);
    t.c.starttls(T0).unwrap();
    t.c("STARTTLS\r\n");
    let ev = t.s("454 4.7.0 TLS not available due to temporary reason\r\n");
    assert_eq!(
        ev,
        [Event::StartTlsRefused(r(
            "454 4.7.0 TLS not available due to temporary reason"
        ))]
    );
    assert!(!t.c.is_tls());
    assert!(t.c.is_ready());
    assert_eq!(t.c.io(), Io::Open { wants_read: true });

    let mut t = T::greeted(config(), &["PIPELINING"]);
    assert_eq!(
        t.c.starttls(T0).map_err(Misuse::into_kind),
        Err(ClientError::NotAdvertised {
            extension: "STARTTLS"
        })
    );
    t.c("");
    let mut tls = config();
    tls.tls_active = true;
    let mut t = T::greeted(tls, &["STARTTLS"]);
    assert_eq!(
        t.c.starttls(T0).map_err(Misuse::into_kind),
        Err(ClientError::AlreadyTls)
    );
}

fn tls_config() -> ClientConfig {
    let mut c = config();
    c.tls_active = true;
    c
}

fn password_auth(m: Mechanism) -> ClientAuth {
    ClientAuth::new(m, ClientCredentials::password("tim", "tanstaaf")).unwrap()
}

#[test]
fn auth_plain_with_initial_response() {
    let mut t = T::greeted(tls_config(), &["AUTH PLAIN LOGIN"]);
    t.c.auth(T0, password_auth(Mechanism::Plain)).unwrap();
    t.c("AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n");
    assert_eq!(
        t.s("235 2.7.0 Authentication successful\r\n"),
        [Event::Authenticated]
    );
    assert!(t.c.is_authenticated());
    let again = t.c.auth(T0, password_auth(Mechanism::Plain)).unwrap_err();
    assert_eq!(again.kind(), &ClientError::AlreadyAuthenticated);
}

#[test]
fn auth_login_two_challenges() {
    let mut t = T::greeted(tls_config(), &["AUTH LOGIN"]);
    t.c.auth(T0, password_auth(Mechanism::Login)).unwrap();
    t.c("AUTH LOGIN\r\n");
    assert_eq!(t.s("334 VXNlcm5hbWU6\r\n"), []);
    t.c("dGlt\r\n");
    assert_eq!(t.s("334 UGFzc3dvcmQ6\r\n"), []);
    t.c("dGFuc3RhYWY=\r\n");
    assert_eq!(t.s("235 ok\r\n"), [Event::Authenticated]);
}

#[test]
fn auth_cram_md5_rfc2195_in_plaintext() {
    let mut t = T::greeted(config(), &["AUTH CRAM-MD5"]);
    let auth = ClientAuth::new(
        Mechanism::CramMd5,
        ClientCredentials::password("tim", "tanstaaftanstaaf"),
    )
    .unwrap();
    t.c.auth(T0, auth).unwrap();
    t.c("AUTH CRAM-MD5\r\n");
    t.s("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
    t.c("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n");
    assert_eq!(t.s("235 ok\r\n"), [Event::Authenticated]);
}

#[test]
fn auth_failure_535() {
    let mut t = T::greeted(tls_config(), &["AUTH PLAIN"]);
    t.c.auth(T0, password_auth(Mechanism::Plain)).unwrap();
    t.c("AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n");
    let ev = t.s("535 5.7.8 Authentication credentials invalid\r\n");
    assert_eq!(
        ev,
        [Event::AuthFailed(r(
            "535 5.7.8 Authentication credentials invalid"
        ))]
    );
    assert!(!t.c.is_authenticated());
    assert!(t.c.is_ready());
}

#[test]
fn auth_checks_advertisement_and_tls() {
    let mut t = T::greeted(config(), &["AUTH PLAIN"]);
    let refused = t.c.auth(T0, password_auth(Mechanism::Plain)).unwrap_err();
    assert_eq!(refused.kind(), &ClientError::NeedsTls);
    assert_eq!(refused.value().mechanism(), &Mechanism::Plain);
    let refused = t.c.auth(T0, password_auth(Mechanism::Login)).unwrap_err();
    assert_eq!(refused.kind(), &ClientError::MechanismNotAdvertised);
    t.c("");
    // Forced: the caller takes responsibility.
    t.c.auth_forced(T0, refused.into_value()).unwrap();
    t.c("AUTH LOGIN\r\n");
}

#[test]
fn auth_bad_challenge_is_cancelled() {
    let mut t = T::greeted(tls_config(), &["AUTH LOGIN"]);
    t.c.auth(T0, password_auth(Mechanism::Login)).unwrap();
    t.c("AUTH LOGIN\r\n");
    t.s("334 not base64!\r\n");
    t.c("*\r\n");
    assert_eq!(
        t.s("501 5.7.0 cancelled\r\n"),
        [Event::AuthFailed(r("501 5.7.0 cancelled"))]
    );
    // A server that goes on challenging after "*" breaks the protocol.
    t.c.auth(T0, password_auth(Mechanism::Login)).unwrap();
    t.c("AUTH LOGIN\r\n");
    t.s("334 ???\r\n");
    t.c("*\r\n");
    let ev = t.s("334 VXNlcm5hbWU6\r\n");
    assert_eq!(
        ev,
        [Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::AuthNotCancelled)
        }]
    );
}

#[test]
fn auth_plain_without_initial_response_when_the_line_is_too_long() {
    let mut t = T::greeted(tls_config(), &["AUTH PLAIN"]);
    let long = "p".repeat(600);
    let auth = ClientAuth::new(
        Mechanism::Plain,
        ClientCredentials::password("tim", long.as_str()),
    )
    .unwrap();
    t.c.auth(T0, auth).unwrap();
    t.c("AUTH PLAIN\r\n");
    t.c.feed(T0, b"334 \r\n");
    let mut out = Vec::new();
    let _ = t.c.poll_transmit(&mut out);
    assert!(out.starts_with(b"AHRpbQBwcHBw") && out.ends_with(b"\r\n"));
}

#[test]
fn pipelined_group_written_before_any_reply() {
    let mut t = T::greeted(config(), &["PIPELINING", "8BITMIME"]);
    let to = [("Jones", "foo.com"), ("Green", "foo.com")];
    send(&mut t, &to, BodyMode::Data);
    // RFC 2920 §3.1: MAIL, RCPT, RCPT, DATA in one group, nothing fed yet.
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nRCPT TO:<Green@foo.com>\r\nDATA\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    let ev = t.s("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 Go ahead\r\n");
    assert_eq!(
        ev,
        [
            Event::MailReply(r("250 2.1.0 Ok")),
            Event::RcptReply {
                index: 0,
                reply: r("250 2.1.5 Ok")
            },
            Event::RcptReply {
                index: 1,
                reply: r("550 5.1.1 No such user")
            },
            Event::ReadyForBody,
        ]
    );
    t.c("");
    t.c.send_last_body(T0, b"Subject: hi\r\n\r\nhello").unwrap();
    t.c("Subject: hi\r\n\r\nhello\r\n.\r\n");
    assert_eq!(
        t.s("250 queued\r\n"),
        [Event::MessageAccepted(r("250 queued"))]
    );
}

#[test]
fn non_pipelined_mail_refused_sends_nothing_more() {
    let mut t = T::greeted(config(), &["8BITMIME"]);
    send(&mut t, &[("Jones", "foo.com")], BodyMode::Data);
    t.c("MAIL FROM:<Smith@bar.com>\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    let ev = t.s("550 sender refused\r\n");
    assert_eq!(
        ev,
        [
            Event::MailReply(r("550 sender refused")),
            Event::TransactionFailed {
                reason: FailureReason::MailRejected,
                reply: r("550 sender refused")
            }
        ]
    );
    t.c("");
    assert!(t.c.is_ready());
}

#[test]
fn all_recipients_rejected_sends_rset_and_no_body() {
    let mut t = T::greeted(config(), &["SIZE"]);
    send(
        &mut t,
        &[("a", "foo.com"), ("b", "foo.com")],
        BodyMode::Data,
    );
    t.c("MAIL FROM:<Smith@bar.com>\r\n");
    t.s("250 ok\r\n");
    t.c("RCPT TO:<a@foo.com>\r\n");
    t.s("550 no\r\n");
    t.c("RCPT TO:<b@foo.com>\r\n");
    let ev = t.s("551 not here\r\n");
    assert_eq!(ev.len(), 1, "the failure waits for the RSET: {ev:?}");
    t.c("RSET\r\n");
    assert!(!t.c.is_ready());
    let ev = t.s("250 flushed\r\n");
    assert_eq!(
        ev,
        [Event::TransactionFailed {
            reason: FailureReason::NoValidRecipients,
            reply: r("551 not here")
        }]
    );
    assert!(t.c.is_ready());
    assert!(matches!(
        t.c.send_body(T0, b"x").map_err(Misuse::into_kind),
        Err(ClientError::WrongState { .. })
    ));
}

#[test]
fn pipelined_all_rejected_but_354_sends_a_lone_dot() {
    let mut t = T::greeted(config(), &["PIPELINING"]);
    send(
        &mut t,
        &[("a", "foo.com"), ("b", "foo.com")],
        BodyMode::Data,
    );
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nRCPT TO:<b@foo.com>\r\nDATA\r\n");
    let ev = t.s("250 ok\r\n550 no\r\n550 no\r\n354 send it anyway\r\n");
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(
        t.c.send_body(T0, b"x").map_err(Misuse::into_kind),
        Err(ClientError::TransactionFailed)
    );
    t.c(".\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(600)));
    let ev = t.s("554 no valid recipients\r\n");
    assert_eq!(
        ev,
        [Event::TransactionFailed {
            reason: FailureReason::NoValidRecipients,
            reply: r("550 no")
        }]
    );
    t.c("");
    assert!(t.c.is_ready());
}

#[test]
fn pipelined_all_rejected_and_data_refused_sends_rset() {
    let mut t = T::greeted(config(), &["PIPELINING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nDATA\r\n");
    t.s("250 ok\r\n550 no\r\n");
    t.c("");
    assert_eq!(t.s("554 no valid recipients\r\n"), []);
    t.c("RSET\r\n");
    let ev = t.s("250 ok\r\n");
    assert!(matches!(
        &ev[..],
        [Event::TransactionFailed {
            reason: FailureReason::NoValidRecipients,
            ..
        }]
    ));
}

#[test]
fn pipelined_mail_refused_needs_no_rset() {
    let mut t = T::greeted(config(), &["PIPELINING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nDATA\r\n");
    let ev = t.s("550 no\r\n503 need MAIL\r\n503 need MAIL\r\n");
    assert_eq!(
        ev.last(),
        Some(&Event::TransactionFailed {
            reason: FailureReason::MailRejected,
            reply: r("550 no")
        })
    );
    t.c("");
}

#[test]
fn data_refused_after_accepted_recipient() {
    let mut t = T::greeted(config(), &[]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    t.s("250 ok\r\n");
    t.s("250 ok\r\n");
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nDATA\r\n");
    t.s("451 try later\r\n");
    t.c("RSET\r\n");
    let ev = t.s("250 ok\r\n");
    assert_eq!(
        ev,
        [Event::TransactionFailed {
            reason: FailureReason::DataRejected,
            reply: r("451 try later")
        }]
    );
}

/// Envelope accepted, DATA answered 354: the client ready for the body.
fn in_body(caps: &[&str]) -> T {
    let mut t = T::greeted(config(), caps);
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    t.s("250 ok\r\n");
    t.s("250 ok\r\n");
    assert_eq!(t.s("354 go\r\n"), [Event::ReadyForBody]);
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nDATA\r\n");
    t
}

#[test]
fn body_dot_stuffing() {
    let mut t = in_body(&[]);
    assert_eq!(
        t.c.quit(T0).map_err(Misuse::into_kind),
        Err(ClientError::Busy)
    );
    t.c.send_body(T0, b".leading dot\r\nmiddle\r\n.\r\n..two\r\nend")
        .unwrap();
    t.c.finish_body(T0).unwrap();
    t.c("..leading dot\r\nmiddle\r\n..\r\n...two\r\nend\r\n.\r\n");
    assert_eq!(t.s("250 ok\r\n"), [Event::MessageAccepted(r("250 ok"))]);
}

#[test]
fn body_terminator_inside_the_body_split_across_calls() {
    let mut t = in_body(&[]);
    // CRLF . CRLF inside the message, cut at every awkward point.
    for piece in [&b"abc\r"[..], b"\n", b".", b"\r", b"\n", b"QUIT\r\n"] {
        t.c.send_body(T0, piece).unwrap();
    }
    t.c.finish_body(T0).unwrap();
    t.c("abc\r\n..\r\nQUIT\r\n.\r\n");
}

#[test]
fn body_bare_lf_normalized() {
    let mut t = in_body(&[]);
    t.c.send_body(T0, b"line1\nline2\n.hidden\n").unwrap();
    t.c.send_body(T0, b"x\ry").unwrap();
    t.c.finish_body(T0).unwrap();
    t.c("line1\r\nline2\r\n..hidden\r\nx\r\ny\r\n.\r\n");
}

#[test]
fn body_bare_lf_rejected_by_policy_changes_nothing() {
    let mut cfg = config();
    cfg.body_line_ending = mailproto_core::line::BareLineEnding::Reject;
    let mut t = T::greeted(cfg, &["PIPELINING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    t.s("250 ok\r\n250 ok\r\n354 go\r\n");
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nDATA\r\n");
    t.c.send_body(T0, b"ok\r\n").unwrap();
    assert!(matches!(
        t.c.send_body(T0, b"bad\n").map_err(Misuse::into_kind),
        Err(ClientError::Body(_))
    ));
    t.c.finish_body(T0).unwrap();
    t.c("ok\r\n.\r\n");
}

#[test]
fn bdat_without_pipelining_one_chunk_at_a_time() {
    let mut t = T::greeted(config(), &["CHUNKING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Bdat);
    t.c("MAIL FROM:<Smith@bar.com>\r\n");
    t.s("250 ok\r\n");
    t.c("RCPT TO:<a@foo.com>\r\n");
    let ev = t.s("250 ok\r\n");
    assert_eq!(ev.last(), Some(&Event::ReadyForBody));
    t.c("");
    assert!(t.c.body_writable());
    t.c.send_body(T0, b"Subject: x\r\n\r\n").unwrap();
    t.c("BDAT 14\r\nSubject: x\r\n\r\n");
    assert!(!t.c.body_writable());
    assert_eq!(
        t.c.send_body(T0, b"more").map_err(Misuse::into_kind),
        Err(ClientError::Busy)
    );
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(180)));
    assert_eq!(t.s("250 14 octets\r\n"), [Event::ReadyForBody]);
    t.c.send_body(T0, b"body\n").unwrap();
    t.c("BDAT 6\r\nbody\r\n");
    t.s("250 6 octets\r\n");
    t.c.finish_body(T0).unwrap();
    t.c("BDAT 0 LAST\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(600)));
    assert_eq!(t.s("250 ok\r\n"), [Event::MessageAccepted(r("250 ok"))]);
}

#[test]
fn bdat_pipelined_rfc3030_binarymime() {
    let mut t = T::greeted(config(), &["PIPELINING", "BINARYMIME", "CHUNKING"]);
    let mut params = MailParams::default();
    params.body = Some(Body::BinaryMime);
    let to = rcpts(&[
        ("gvaudre", "cnri.reston.va.us"),
        ("jstewart", "cnri.reston.va.us"),
    ]);
    t.c.send_envelope(
        T0,
        from("ned", "ymir.claremont.edu"),
        params,
        to,
        BodyMode::Bdat,
    )
    .unwrap();
    assert_eq!(t.events(), [Event::ReadyForBody]);
    t.c.send_body(T0, b"\x00\x01bin\n").unwrap();
    t.c.send_last_body(T0, b"\r").unwrap();
    t.c("MAIL FROM:<ned@ymir.claremont.edu> BODY=BINARYMIME\r\n\
         RCPT TO:<gvaudre@cnri.reston.va.us>\r\nRCPT TO:<jstewart@cnri.reston.va.us>\r\n\
         BDAT 6\r\n\x00\x01bin\nBDAT 1 LAST\r\n\r");
    let ev = t.s("250 ok\r\n250 ok\r\n250 ok\r\n250 6 octets\r\n250 Message OK\r\n");
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[3], Event::MessageAccepted(r("250 Message OK")));
}

#[test]
fn bdat_chunk_refused_then_rset() {
    let mut t = T::greeted(config(), &["PIPELINING", "CHUNKING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Bdat);
    t.events();
    t.c.send_body(T0, b"aaa").unwrap();
    t.c.send_body(T0, b"bbb").unwrap();
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@foo.com>\r\nBDAT 3\r\naaaBDAT 3\r\nbbb");
    t.s("250 ok\r\n250 ok\r\n");
    assert_eq!(t.s("552 too big\r\n"), []);
    assert_eq!(
        t.c.send_body(T0, b"c").map_err(Misuse::into_kind),
        Err(ClientError::TransactionFailed)
    );
    assert_eq!(t.s("552 too big\r\n"), []);
    t.c("RSET\r\n");
    assert_eq!(
        t.s("250 ok\r\n"),
        [Event::MessageRejected(r("552 too big"))]
    );
    assert!(t.c.is_ready());
}

#[test]
fn bdat_pipelined_in_flight_limit() {
    let mut cfg = config();
    cfg.max_chunks_in_flight = 2;
    let mut t = T::greeted(cfg, &["PIPELINING", "CHUNKING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Bdat);
    assert_eq!(t.events(), [Event::ReadyForBody]);
    t.c.send_body(T0, b"1").unwrap();
    t.c.send_body(T0, b"2").unwrap();
    assert_eq!(
        t.c.send_body(T0, b"3").map_err(Misuse::into_kind),
        Err(ClientError::Busy)
    );
    let ev = t.s("250 ok\r\n250 ok\r\n250 1\r\n");
    assert_eq!(ev.last(), Some(&Event::ReadyForBody));
    t.c.send_body(T0, b"3").unwrap();
}

#[test]
fn bdat_needs_chunking() {
    let mut t = T::greeted(config(), &["PIPELINING"]);
    let e =
        t.c.send_envelope(
            T0,
            from("a", "b.c"),
            MailParams::default(),
            rcpts(&[("x", "y.z")]),
            BodyMode::Bdat,
        )
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ClientError::NotAdvertised {
            extension: "CHUNKING"
        }
    );
    assert_eq!(e.value().rcpts.len(), 1);
    t.c("");
}

#[test]
fn lmtp_per_recipient_replies() {
    let mut cfg = config();
    cfg.lmtp = true;
    let mut t = T::new(cfg);
    t.s("220 lmtp ready\r\n");
    t.c.ehlo(T0).unwrap();
    t.c("LHLO bar.com\r\n");
    t.s("250-lmtp\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
    send(
        &mut t,
        &[("a", "x.y"), ("b", "x.y"), ("c", "x.y")],
        BodyMode::Data,
    );
    t.c("MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<a@x.y>\r\nRCPT TO:<b@x.y>\r\nRCPT TO:<c@x.y>\r\nDATA\r\n");
    let ev = t.s("250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n");
    assert_eq!(ev.last(), Some(&Event::ReadyForBody));
    t.c.send_last_body(T0, b"hi\r\n").unwrap();
    t.c("hi\r\n.\r\n");
    let ev = t.s("250 2.1.5 delivered to a\r\n");
    assert_eq!(
        ev,
        [Event::LmtpReply {
            index: 0,
            reply: r("250 2.1.5 delivered to a"),
            last: false
        }]
    );
    assert!(!t.c.is_ready());
    let ev = t.s("452 4.2.2 mailbox full\r\n");
    assert_eq!(
        ev,
        [Event::LmtpReply {
            index: 2,
            reply: r("452 4.2.2 mailbox full"),
            last: true
        }]
    );
    assert!(t.c.is_ready());
}

#[test]
fn service_closing_421_mid_session() {
    let mut t = T::greeted(config(), &["PIPELINING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    let ev = t.s("250 ok\r\n421 4.3.2 System shutting down\r\n");
    assert_eq!(
        ev,
        [
            Event::MailReply(r("250 ok")),
            Event::Closed {
                reason: CloseReason::ServiceNotAvailable(r("421 4.3.2 System shutting down"))
            }
        ]
    );
    assert_eq!(t.c.io(), Io::Closed);
    assert_eq!(
        t.c.noop(T0).map_err(Misuse::into_kind),
        Err(ClientError::Closed)
    );
    // Nothing more is read.
    assert_eq!(t.s("250 ok\r\n"), []);
}

#[test]
fn unsolicited_421_while_idle() {
    let mut t = T::greeted(config(), &[]);
    let ev = t.s("421 idle too long\r\n");
    assert!(matches!(
        &ev[..],
        [Event::Closed {
            reason: CloseReason::ServiceNotAvailable(_)
        }]
    ));
}

#[test]
fn malformed_replies_close_the_session() {
    for bad in [
        "2x0 hi\r\n",
        "250_x\r\n",
        "250-a\r\n251 b\r\n",
        "250 a\rb\r\n",
        "699 nope\r\n",
    ] {
        let mut t = T::greeted(config(), &[]);
        t.c.noop(T0).unwrap();
        let ev = t.s(bad);
        assert!(
            matches!(
                &ev[..],
                [Event::Closed {
                    reason: CloseReason::Protocol(_)
                }]
            ),
            "{bad:?}: {ev:?}"
        );
        assert_eq!(t.c.io(), Io::Closed);
    }
    // Over-long line (beyond the client's 4096-octet bound), and too many lines.
    let mut t = T::greeted(config(), &[]);
    t.c.noop(T0).unwrap();
    let ev = t.s(&format!("250 {}\r\n", "x".repeat(5000)));
    assert!(matches!(
        ev[0],
        Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::Line(_))
        }
    ));
    let mut t = T::greeted(config(), &[]);
    t.c.noop(T0).unwrap();
    let ev = t.s(&"250-x\r\n".repeat(200));
    assert!(matches!(
        ev[0],
        Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::Reply(ReplyError::TooManyLines { .. }))
        }
    ));
}

#[test]
fn unexpected_reply_is_a_protocol_error() {
    let mut t = T::greeted(config(), &[]);
    let ev = t.s("250 surprise\r\n");
    assert_eq!(
        ev[0],
        Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::UnexpectedReply(r("250 surprise")))
        }
    );
}

#[test]
fn bare_lf_reply_lines_are_accepted() {
    let mut t = T::new(config());
    assert_eq!(t.s("220 old\n"), [Event::Greeting(r("220 old"))]);
}

#[test]
fn eof_and_timeout_close() {
    let mut t = T::greeted(config(), &[]);
    t.c.noop(T0).unwrap();
    t.c.feed(T0, b"250 partial");
    t.c.feed_eof(T0);
    assert_eq!(
        t.events(),
        [Event::Closed {
            reason: CloseReason::PeerClosed
        }]
    );
    let mut t = T::new(config());
    let due = t.c.poll_timeout().unwrap();
    assert_eq!(
        due,
        T0 + Duration::from_secs(300),
        "the greeting's deadline"
    );
    t.c.handle_timeout(due);
    assert_eq!(
        t.events(),
        [Event::Closed {
            reason: CloseReason::Timeout(Deadline::Reply)
        }]
    );
    assert_eq!(t.c.io(), Io::Closed);
}

#[test]
fn rset_noop_vrfy() {
    let mut t = T::greeted(config(), &[]);
    t.c.rset(T0).unwrap();
    assert_eq!(
        t.c.noop(T0).map_err(Misuse::into_kind),
        Err(ClientError::Busy)
    );
    t.c("RSET\r\n");
    assert_eq!(t.s("250 ok\r\n"), [Event::Reset(r("250 ok"))]);
    t.c.noop(T0).unwrap();
    t.c("NOOP\r\n");
    assert_eq!(t.s("250 ok\r\n"), [Event::Noop(r("250 ok"))]);
    t.c.vrfy(T0, "Smith".into()).unwrap();
    t.c("VRFY Smith\r\n");
    assert_eq!(
        t.s("252 Cannot VRFY user\r\n"),
        [Event::Verify(r("252 Cannot VRFY user"))]
    );
    // CR/LF never reach the wire; the value comes back.
    let e = t.c.vrfy(T0, "x\r\nRCPT TO:<evil@x>".into()).unwrap_err();
    assert!(matches!(e.kind(), &ClientError::Encode(_)));
    assert_eq!(*e.value(), "x\r\nRCPT TO:<evil@x>");
    t.c("");
    assert!(t.c.is_ready());
}

#[test]
fn envelope_checks_extensions() {
    let mut t = T::greeted(config(), &["SIZE 1000"]);
    let mut p = MailParams::default();
    p.size = Some(2000);
    let e =
        t.c.send_envelope(
            T0,
            from("a", "b.c"),
            p,
            rcpts(&[("x", "y.z")]),
            BodyMode::Data,
        )
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ClientError::MessageTooLarge {
            size: 2000,
            max: 1000
        }
    );
    let mut p = MailParams::default();
    p.body = Some(Body::EightBitMime);
    let e =
        t.c.send_envelope(
            T0,
            from("a", "b.c"),
            p,
            rcpts(&[("x", "y.z")]),
            BodyMode::Data,
        )
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ClientError::NotAdvertised {
            extension: "8BITMIME"
        }
    );
    let e =
        t.c.send_envelope(
            T0,
            from("a", "b.c"),
            MailParams::default(),
            vec![],
            BodyMode::Data,
        )
        .unwrap_err();
    assert_eq!(e.kind(), &ClientError::NoRecipients);
    let e =
        t.c.send_envelope(
            T0,
            from("jösé", "b.c"),
            MailParams::default(),
            rcpts(&[("x", "y.z")]),
            BodyMode::Data,
        )
        .unwrap_err();
    assert_eq!(e.kind(), &ClientError::NeedsSmtpUtf8);
    let mut p = RcptParams::default();
    p.notify = Some(Notify::Never);
    let e =
        t.c.send_envelope(
            T0,
            from("a", "b.c"),
            MailParams::default(),
            vec![(ForwardPath::Postmaster, p)],
            BodyMode::Data,
        )
        .unwrap_err();
    assert_eq!(e.kind(), &ClientError::NotAdvertised { extension: "DSN" });
    t.c("");
    assert!(t.c.is_ready());
    // SIZE within the maximum goes out.
    let mut p = MailParams::default();
    p.size = Some(999);
    t.c.send_envelope(
        T0,
        ReversePath::Null,
        p,
        rcpts(&[("x", "y.z")]),
        BodyMode::Data,
    )
    .unwrap();
    t.c("MAIL FROM:<> SIZE=999\r\n");
}

#[test]
fn misuse_before_hello() {
    let mut t = T::new(config());
    t.s("220 x\r\n");
    let e =
        t.c.send_envelope(
            T0,
            from("a", "b.c"),
            MailParams::default(),
            rcpts(&[("x", "y.z")]),
            BodyMode::Data,
        )
        .unwrap_err();
    assert!(matches!(e.kind(), &ClientError::WrongState { .. }));
    assert!(matches!(
        t.c.finish_body(T0).map_err(Misuse::into_kind),
        Err(ClientError::WrongState { .. })
    ));
    t.c("");
}

#[test]
fn one_mib_body_in_4kib_calls_output_stays_bounded() {
    let mut t = in_body(&["PIPELINING"]);
    let mut chunk = Vec::new();
    while chunk.len() < 4096 {
        chunk.extend_from_slice(b".line starting with a dot\n");
    }
    chunk.truncate(4096);
    let mut total = 0;
    let mut out = Vec::new();
    for _ in 0..256 {
        t.c.send_body(T0, &chunk).unwrap();
        out.clear();
        let n = t.c.poll_transmit(&mut out);
        // Stuffing and CRLF at most double a chunk; never the whole message.
        assert!(n <= 2 * chunk.len(), "{n}");
        total += n;
    }
    t.c.finish_body(T0).unwrap();
    out.clear();
    let _ = t.c.poll_transmit(&mut out);
    assert!(total > 1024 * 1024);
    assert_eq!(t.s("250 ok\r\n"), [Event::MessageAccepted(r("250 ok"))]);
}

#[test]
fn one_mib_bdat_body_output_stays_bounded() {
    let mut t = T::greeted(config(), &["PIPELINING", "CHUNKING"]);
    send(&mut t, &[("a", "foo.com")], BodyMode::Bdat);
    t.events();
    t.s("");
    let chunk = vec![b'x'; 4096];
    let mut out = Vec::new();
    let _ = t.c.poll_transmit(&mut out);
    t.c.feed(T0, b"250 ok\r\n250 ok\r\n");
    t.events();
    for _ in 0..256 {
        if !t.c.body_writable() {
            t.c.feed(T0, b"250 ok\r\n");
            assert_eq!(t.events(), [Event::ReadyForBody]);
        }
        t.c.send_body(T0, &chunk).unwrap();
        out.clear();
        let n = t.c.poll_transmit(&mut out);
        assert_eq!(n, 4096 + "BDAT 4096\r\n".len());
    }
}

#[test]
fn read_timeouts_follow_rfc5321_4_5_3_2() {
    let mut t = T::greeted(config(), &[]);
    assert_eq!(t.c.poll_timeout(), None);
    assert_eq!(t.c.io(), Io::Open { wants_read: true });
    t.c.noop(T0).unwrap();
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    t.s("250 ok\r\n");
    send(&mut t, &[("a", "foo.com")], BodyMode::Data);
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    t.s("250 ok\r\n");
    assert_eq!(t.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
}

/// A canned server for `testing::Pair`: answers each command line with the next reply,
/// swallows DATA bodies up to the lone dot, switches to TLS after `220` to STARTTLS and
/// closes after `221`.
#[derive(Debug)]
struct Canned {
    input: mailproto_core::line::LineReader,
    replies: std::collections::VecDeque<&'static str>,
    out: Vec<u8>,
    in_data: bool,
    tls: bool,
    closed: bool,
}

impl Canned {
    fn new(greeting: &'static str, replies: &[&'static str]) -> Canned {
        Canned {
            input: mailproto_core::line::LineReader::new(
                1000,
                mailproto_core::line::BareLineEnding::Reject,
            ),
            replies: replies.iter().copied().collect(),
            out: greeting.as_bytes().to_vec(),
            in_data: false,
            tls: false,
            closed: false,
        }
    }
}

impl Machine for Canned {
    type Event = ();
    fn feed(&mut self, _now: Instant, data: &[u8]) {
        self.input.push(data);
        while let Some(Ok(line)) = self.input.next_line() {
            if self.in_data {
                self.in_data = line != b".";
                if self.in_data {
                    continue;
                }
            }
            let starttls = line == b"STARTTLS";
            let Some(reply) = self.replies.pop_front() else {
                self.closed = true;
                return;
            };
            self.out.extend_from_slice(reply.as_bytes());
            self.in_data = reply.starts_with("354");
            if starttls && reply.starts_with("220") {
                self.input.discard();
                self.tls = true;
                return;
            }
            if reply.starts_with("221") {
                self.closed = true;
                return;
            }
        }
    }
    fn feed_eof(&mut self, _now: Instant) {
        self.closed = true;
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn io(&self) -> Io {
        if self.closed {
            Io::Closed
        } else if self.tls {
            Io::AwaitingTls
        } else {
            Io::Open { wants_read: true }
        }
    }
    fn transmitted(&mut self, _now: Instant, _n: usize) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {
        self.closed = true;
    }
    fn tls_established(&mut self, _now: Instant) {
        self.tls = false;
    }
}

#[test]
fn drives_in_a_pair_through_starttls_auth_and_a_pipelined_message() {
    use mailproto_core::testing::Pair;
    let server = || {
        Canned::new(
            "220 mx.example ESMTP\r\n",
            &[
                "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                "220 2.0.0 go ahead\r\n",
                "250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n",
                "235 2.7.0 ok\r\n",
                "250 2.1.0 ok\r\n",
                "250 2.1.5 ok\r\n",
                "550 5.1.1 unknown\r\n",
                "354 go\r\n",
                "250 2.0.0 queued\r\n",
                "221 2.0.0 bye\r\n",
            ],
        )
    };
    for sizes in [vec![], vec![1], vec![3, 17, 5]] {
        let mut pair = Pair::with_splits(Client::new(T0, config()), server(), sizes);
        let mut events = Vec::new();
        pair.drive(
            |c: &mut Client, _now, ev: Event| {
                match &ev {
                    Event::Greeting(_) | Event::TlsReady => c.ehlo(T0).unwrap(),
                    Event::Ready { capabilities, .. } if capabilities.starttls => {
                        c.starttls(T0).unwrap()
                    }
                    Event::Ready { .. } => c.auth(T0, password_auth(Mechanism::Plain)).unwrap(),
                    Event::Authenticated => {
                        let to = rcpts(&[("a", "mx.example"), ("b", "mx.example")]);
                        c.send_envelope(
                            T0,
                            from("me", "bar.com"),
                            MailParams::default(),
                            to,
                            BodyMode::Data,
                        )
                        .unwrap()
                    }
                    Event::ReadyForBody => {
                        c.send_body(T0, b"Subject: hi\n\n.hello\n").unwrap();
                        c.finish_body(T0).unwrap();
                    }
                    Event::MessageAccepted(_) => c.quit(T0).unwrap(),
                    _ => {}
                }
                events.push(ev);
            },
            |_, _now, ()| {},
        );
        assert!(matches!(
            events.last(),
            Some(Event::Closed {
                reason: CloseReason::Quit(_)
            })
        ));
        assert_eq!(
            pair.transcript(),
            "S: 220 mx.example ESMTP\n\
             C: EHLO bar.com\n\
             S: 250-mx.example\nS: 250-PIPELINING\nS: 250 STARTTLS\n\
             C: STARTTLS\n\
             S: 220 2.0.0 go ahead\n\
             C: EHLO bar.com\n\
             S: 250-mx.example\nS: 250-PIPELINING\nS: 250 AUTH PLAIN\n\
             C: AUTH PLAIN AHRpbQB0YW5zdGFhZg==\n\
             S: 235 2.7.0 ok\n\
             C: MAIL FROM:<me@bar.com>\nC: RCPT TO:<a@mx.example>\nC: RCPT TO:<b@mx.example>\nC: DATA\n\
             S: 250 2.1.0 ok\nS: 250 2.1.5 ok\nS: 550 5.1.1 unknown\nS: 354 go\n\
             C: Subject: hi\nC: \nC: ..hello\nC: .\n\
             S: 250 2.0.0 queued\n\
             C: QUIT\n\
             S: 221 2.0.0 bye\n"
        );
    }
}
