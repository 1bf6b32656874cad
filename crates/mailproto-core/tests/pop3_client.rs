//! The POP3 client machine against canned server transcripts: the client's bytes are
//! compared exactly, the server's bytes are fed as a server would send them.

use std::time::Duration;

use mailproto_core::Misuse;
use mailproto_core::line::BareLineEnding;
use mailproto_core::pop3::client::{
    Client, ClientConfig, ClientError, CloseReason, CommandKind, Event, ProtocolError,
    ResponseError, SessionState,
};
use mailproto_core::pop3::{
    Capability, DropListing, EncodeError, ResponseCode, ScanListing, Secret, StatusIndicator,
    UniqueId, UniqueIdListing,
};
use mailproto_core::sasl::{AuthError, ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::{Io, Machine};

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

/// A client and the transcript helpers: `s()` feeds server bytes, `c()` checks what the
/// client wrote since the last check.
struct Session {
    client: Client,
}

impl Session {
    fn new() -> Self {
        Session::with(ClientConfig::default())
    }

    fn with(config: ClientConfig) -> Self {
        Session {
            client: Client::new(T0, config),
        }
    }

    /// A session past the greeting `+OK POP3 server ready`.
    fn greeted() -> Self {
        let mut s = Session::new();
        s.s("+OK POP3 server ready\r\n");
        s.events();
        s
    }

    /// A session in TRANSACTION state (USER/PASS), without capabilities.
    fn logged_in() -> Self {
        let mut s = Session::greeted();
        s.client.user(T0, "mrose").unwrap();
        s.client.pass(T0, &Secret::from("secret")).unwrap();
        s.c("USER mrose\r\n");
        s.s("+OK\r\n");
        s.c("PASS secret\r\n");
        s.s("+OK maildrop ready\r\n");
        s.events();
        s
    }

    /// S: bytes from the server.
    fn s(&mut self, bytes: &str) {
        self.client.feed(T0, bytes.as_bytes());
    }

    /// C: exactly these bytes were written since the last check.
    #[track_caller]
    fn c(&mut self, expected: &str) {
        let mut out = Vec::new();
        let n = self.client.poll_transmit(&mut out);
        assert_eq!(n, out.len());
        self.client.transmitted(T0, n);
        assert_eq!(
            String::from_utf8_lossy(&out),
            expected,
            "client bytes differ"
        );
    }

    /// Every event queued, adjacent MessageData merged.
    fn events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(ev) = self.client.poll_event() {
            push_merged(&mut events, ev);
        }
        events
    }

    /// The single event queued.
    #[track_caller]
    fn event(&mut self) -> Event {
        let mut events = self.events();
        assert_eq!(events.len(), 1, "expected one event, got {events:?}");
        events.remove(0)
    }
}

fn push_merged(events: &mut Vec<Event>, ev: Event) {
    if let (Some(Event::MessageData(last)), Event::MessageData(more)) = (events.last_mut(), &ev) {
        last.extend_from_slice(more);
        return;
    }
    events.push(ev);
}

fn ok(command: CommandKind, text: &str) -> Event {
    Event::Ok {
        command,
        status: mailproto_core::pop3::Status::ok(text),
    }
}

fn status_of(ev: &Event) -> &mailproto_core::pop3::Status {
    match ev {
        Event::Ok { status, .. }
        | Event::Err { status, .. }
        | Event::LoggedIn { status, .. }
        | Event::Greeting { status, .. }
        | Event::MessageStart { status, .. } => status,
        other => panic!("no status in {other:?}"),
    }
}

// ------------------------------------------------------------------------------------
// RFC 1939 §10

#[test]
fn rfc1939_section10_example_session() {
    let mut s = Session::new();
    assert_eq!(s.client.io(), Io::Open { wants_read: true });
    // S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
    s.s("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
    assert_eq!(
        s.event(),
        Event::Greeting {
            status: mailproto_core::pop3::Status::ok(
                "POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
            ),
            apop_timestamp: Some("<1896.697170952@dbc.mtview.ca.us>".into()),
        }
    );
    assert_eq!(s.client.state(), SessionState::Authorization);
    assert_eq!(s.client.io(), Io::Open { wants_read: true });
    assert_eq!(s.client.poll_timeout(), None);

    // C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
    s.client
        .apop(T0, "mrose", &Secret::from("tanstaaf"))
        .unwrap();
    s.c("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
    assert_eq!(s.client.io(), Io::Open { wants_read: true });
    assert_eq!(s.client.poll_timeout(), Some(T0 + Duration::from_secs(600)));
    s.s("+OK mrose's maildrop has 2 messages (320 octets)\r\n");
    assert_eq!(
        s.event(),
        Event::LoggedIn {
            command: CommandKind::Apop,
            status: mailproto_core::pop3::Status::ok(
                "mrose's maildrop has 2 messages (320 octets)"
            ),
        }
    );
    assert_eq!(s.client.state(), SessionState::Transaction);

    // C: STAT / S: +OK 2 320
    s.client.stat(T0).unwrap();
    s.c("STAT\r\n");
    s.s("+OK 2 320\r\n");
    assert_eq!(
        s.event(),
        Event::Stat(DropListing {
            count: 2,
            size: 320
        })
    );

    // C: LIST
    s.client.list(T0, None).unwrap();
    s.c("LIST\r\n");
    s.s("+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n");
    assert_eq!(
        s.event(),
        Event::ScanList(vec![
            ScanListing { msg: 1, size: 120 },
            ScanListing { msg: 2, size: 200 },
        ])
    );

    // C: RETR 1, DELE 1, RETR 2, DELE 2, QUIT, issued at once: without PIPELINING the
    // client sends each after the previous answer.
    let message1 = "From: a\r\n\r\nmessage one\r\n";
    let message2 = "From: b\r\n\r\nmessage two\r\n";
    s.client.retr(T0, 1).unwrap();
    s.client.dele(T0, 1).unwrap();
    s.client.retr(T0, 2).unwrap();
    s.client.dele(T0, 2).unwrap();
    s.client.quit(T0).unwrap();
    s.c("RETR 1\r\n");
    s.s(&format!("+OK 120 octets\r\n{message1}.\r\n"));
    s.c("DELE 1\r\n");
    s.s("+OK message 1 deleted\r\n");
    s.c("RETR 2\r\n");
    s.s(&format!("+OK 200 octets\r\n{message2}.\r\n"));
    s.c("DELE 2\r\n");
    s.s("+OK message 2 deleted\r\n");
    s.c("QUIT\r\n");
    s.s("+OK dewey POP3 server signing off (maildrop empty)\r\n");
    assert_eq!(
        s.events(),
        vec![
            Event::MessageStart {
                msg: 1,
                lines: None,
                status: mailproto_core::pop3::Status::ok("120 octets"),
            },
            Event::MessageData(message1.as_bytes().to_vec()),
            Event::MessageEnd,
            ok(CommandKind::Dele(1), "message 1 deleted"),
            Event::MessageStart {
                msg: 2,
                lines: None,
                status: mailproto_core::pop3::Status::ok("200 octets"),
            },
            Event::MessageData(message2.as_bytes().to_vec()),
            Event::MessageEnd,
            ok(CommandKind::Dele(2), "message 2 deleted"),
            ok(
                CommandKind::Quit,
                "dewey POP3 server signing off (maildrop empty)"
            ),
            Event::Closed {
                reason: CloseReason::Quit
            },
        ]
    );
    assert_eq!(s.client.io(), Io::Closed);
    assert_eq!(s.client.state(), SessionState::Closed);
    assert_eq!(
        s.client.noop(T0).map_err(Misuse::into_kind),
        Err(ClientError::Closed)
    );
}

#[test]
fn nothing_is_sent_before_the_greeting() {
    let mut s = Session::new();
    s.client.user(T0, "mrose").unwrap();
    s.c("");
    assert_eq!(s.client.pending(), 1);
    s.s("+OK ready\r\n");
    s.c("USER mrose\r\n");
}

#[test]
fn greeting_err_closes() {
    let mut s = Session::new();
    s.s("-ERR [SYS/TEMP] too many connections\r\n");
    let events = s.events();
    assert_eq!(events.len(), 2);
    match &events[0] {
        Event::Greeting {
            status,
            apop_timestamp: None,
        } => {
            assert_eq!(status.indicator, StatusIndicator::Err);
            assert_eq!(status.code, Some(ResponseCode::SysTemp));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events[1],
        Event::Closed {
            reason: CloseReason::GreetingRejected
        }
    );
    assert_eq!(s.client.io(), Io::Closed);
}

#[test]
fn greeting_timestamp_is_validated() {
    let mut s = Session::new();
    s.s("+OK hello <no-at-sign>\r\n");
    assert!(matches!(
        s.event(),
        Event::Greeting {
            apop_timestamp: None,
            ..
        }
    ));
    assert_eq!(
        s.client
            .apop(T0, "mrose", &Secret::from("x"))
            .map_err(Misuse::into_kind),
        Err(ClientError::NoApopTimestamp)
    );
    s.c("");
}

#[test]
fn apop_before_the_greeting_is_refused() {
    let mut s = Session::new();
    assert_eq!(
        s.client
            .apop(T0, "mrose", &Secret::from("tanstaaf"))
            .map_err(Misuse::into_kind),
        Err(ClientError::NoApopTimestamp)
    );
}

// ------------------------------------------------------------------------------------
// CAPA (RFC 2449 §5), probe mode, PIPELINING (§6.6)

const RFC2449_CAPA: &str = "+OK Capability list follows\r\n\
    TOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\n\
    PIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n.\r\n";

#[test]
fn capa_rfc2449_example() {
    let mut s = Session::greeted();
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
    s.s(RFC2449_CAPA);
    let Event::Capabilities(caps) = s.event() else {
        panic!("no capabilities")
    };
    assert_eq!(caps.len(), 9);
    assert!(caps.contains("TOP") && caps.contains("UIDL") && caps.contains("USER"));
    assert_eq!(caps.sasl_mechanisms(), ["CRAM-MD5", "KERBEROS_V4"]);
    assert_eq!(
        caps.get("LOGIN-DELAY"),
        Some(&Capability::LoginDelay {
            seconds: 900,
            per_user: false
        })
    );
    assert_eq!(
        caps.get("IMPLEMENTATION"),
        Some(&Capability::Implementation("Shlemazle-Plotz-v302".into()))
    );
    assert_eq!(s.client.capabilities(), Some(&caps));
    assert!(s.client.pipelining());
    assert!(!s.client.capa_unsupported());
}

#[test]
fn capa_lenient_unknown_and_broken_lines_skipped() {
    let mut s = Session::greeted();
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
    s.s("+OK\r\nX-FANCY  a   b\r\nLOGIN-DELAY soon\r\nstls\r\n..dotted\r\n.\r\n");
    let Event::Capabilities(caps) = s.event() else {
        panic!()
    };
    let tags: Vec<&str> = caps.iter().map(Capability::tag).collect();
    assert_eq!(tags, ["X-FANCY", "STLS"]);
    assert_eq!(
        caps.get("x-fancy"),
        Some(&Capability::Other {
            tag: "X-FANCY".into(),
            args: vec!["a".into(), "b".into()]
        })
    );
}

#[test]
fn capa_failure_is_probe_mode() {
    let mut s = Session::greeted();
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
    s.s("-ERR unknown command\r\n");
    match s.event() {
        Event::Err {
            command: CommandKind::Capa,
            status,
        } => assert_eq!(status.text, "unknown command"),
        other => panic!("{other:?}"),
    }
    assert!(s.client.capa_unsupported());
    assert_eq!(s.client.capabilities(), None);
    assert!(!s.client.pipelining());
    // Probing: commands still work, one at a time.
    s.client.user(T0, "mrose").unwrap();
    s.client.pass(T0, &Secret::from("secret")).unwrap();
    s.c("USER mrose\r\n");
    s.s("+OK\r\n");
    s.c("PASS secret\r\n");
}

/// Session past the greeting and a CAPA answer with PIPELINING.
fn pipelining_session() -> Session {
    let mut s = Session::greeted();
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
    s.s("+OK\r\nUSER\r\nPIPELINING\r\nUIDL\r\nTOP\r\n.\r\n");
    s.events();
    assert!(s.client.pipelining());
    s
}

#[test]
fn pipelining_sends_everything_and_matches_in_order() {
    let mut s = pipelining_session();
    s.client.user(T0, "mrose").unwrap();
    s.client.pass(T0, &Secret::from("secret")).unwrap();
    s.client.stat(T0).unwrap();
    s.client.list(T0, Some(1)).unwrap();
    s.client.uidl(T0, None).unwrap();
    s.client.retr(T0, 1).unwrap();
    s.client.dele(T0, 1).unwrap();
    s.client.quit(T0).unwrap();
    // All commands written before any response arrived.
    s.c("USER mrose\r\nPASS secret\r\nSTAT\r\nLIST 1\r\nUIDL\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n");
    assert_eq!(s.client.pending(), 8);
    // All responses in one segment.
    s.s(
        "+OK\r\n+OK logged in\r\n+OK 1 5\r\n+OK 1 5\r\n+OK\r\n1 abc\r\n.\r\n\
         +OK\r\nhi\r\n.\r\n+OK deleted\r\n+OK bye\r\n",
    );
    assert_eq!(
        s.events(),
        vec![
            ok(CommandKind::User, ""),
            Event::LoggedIn {
                command: CommandKind::Pass,
                status: mailproto_core::pop3::Status::ok("logged in")
            },
            Event::Stat(DropListing { count: 1, size: 5 }),
            Event::Scan(ScanListing { msg: 1, size: 5 }),
            Event::UidlList(vec![UniqueIdListing {
                msg: 1,
                uid: UniqueId::new("abc").unwrap()
            }]),
            Event::MessageStart {
                msg: 1,
                lines: None,
                status: mailproto_core::pop3::Status::ok("")
            },
            Event::MessageData(b"hi\r\n".to_vec()),
            Event::MessageEnd,
            ok(CommandKind::Dele(1), "deleted"),
            ok(CommandKind::Quit, "bye"),
            Event::Closed {
                reason: CloseReason::Quit
            },
        ]
    );
    s.c("");
}

#[test]
fn without_pipelining_one_command_at_a_time() {
    let mut s = Session::logged_in();
    s.client.stat(T0).unwrap();
    s.client.noop(T0).unwrap();
    s.client.rset(T0).unwrap();
    s.c("STAT\r\n");
    assert_eq!(s.client.pending(), 3);
    s.s("+OK 0 0\r\n");
    s.c("NOOP\r\n");
    s.s("+OK\r\n");
    s.c("RSET\r\n");
    s.s("+OK maildrop has 0 messages\r\n");
    s.c("");
    assert_eq!(
        s.events(),
        vec![
            Event::Stat(DropListing { count: 0, size: 0 }),
            ok(CommandKind::Noop, ""),
            ok(CommandKind::Rset, "maildrop has 0 messages"),
        ]
    );
    assert_eq!(s.client.io(), Io::Open { wants_read: true });
}

#[test]
fn pipelining_stops_at_auth_and_the_login_drops_capabilities() {
    let mut s = pipelining_session();
    let auth = ClientAuth::new(
        Mechanism::Plain,
        ClientCredentials::password("tim", "tanstaaf"),
    )
    .unwrap();
    s.client.noop(T0).unwrap_err();
    s.client.capa(T0).unwrap();
    s.client.auth(T0, auth).unwrap();
    s.client.stat(T0).unwrap();
    s.client.list(T0, None).unwrap();
    // CAPA and AUTH go together; nothing may follow AUTH before its answer.
    s.c("CAPA\r\nAUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n");
    s.s("+OK\r\nPIPELINING\r\n.\r\n+OK welcome\r\n");
    // After the login the capabilities are unknown again: one at a time.
    s.c("STAT\r\n");
    assert!(!s.client.pipelining());
    assert_eq!(s.client.capabilities(), None);
    s.s("+OK 0 0\r\n");
    s.c("LIST\r\n");
}

#[test]
fn pipeline_window_bounds_bytes_outstanding() {
    let mut config = ClientConfig::default();
    config.pipeline_window = 20;
    let mut s = Session::with(config);
    s.s("+OK\r\n");
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
    s.s("+OK\r\nPIPELINING\r\n.\r\n");
    s.client.user(T0, "a").unwrap(); // 8 octets
    s.client.pass(T0, &Secret::from("b")).unwrap(); // 8 octets
    s.client.stat(T0).unwrap(); // 6 octets: would make 22
    s.c("USER a\r\nPASS b\r\n");
    s.s("+OK\r\n");
    s.c("STAT\r\n");
}

// ------------------------------------------------------------------------------------
// STLS (RFC 2595 §4)

#[test]
fn stls_then_tls_ready_and_capabilities_dropped() {
    let mut s = Session::greeted();
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
    s.s("+OK\r\nSTLS\r\nUSER\r\nPIPELINING\r\n.\r\n");
    s.events();
    s.client.stls(T0).unwrap();
    // Nothing may follow STLS until TLS is up.
    assert_eq!(
        s.client.user(T0, "mrose").map_err(Misuse::into_kind),
        Err(ClientError::TlsPending)
    );
    s.c("STLS\r\n");
    s.s("+OK begin TLS negotiation\r\n");
    assert_eq!(s.events(), vec![]);
    assert_eq!(s.client.io(), Io::AwaitingTls);
    assert_eq!(s.client.state(), SessionState::AwaitingTls);
    // Only the handshake deadline runs.
    assert_eq!(s.client.poll_timeout(), Some(T0 + Duration::from_secs(60)));
    assert_eq!(
        s.client.user(T0, "mrose").map_err(Misuse::into_kind),
        Err(ClientError::TlsPending)
    );
    s.client.tls_established(T0);
    assert_eq!(s.events(), vec![Event::TlsReady]);
    assert!(s.client.is_tls());
    assert_eq!(s.client.capabilities(), None);
    assert!(!s.client.pipelining());
    assert_eq!(s.client.state(), SessionState::Authorization);
    assert_eq!(
        s.client.stls(T0).map_err(Misuse::into_kind),
        Err(ClientError::TlsAlreadyActive)
    );
    s.client.capa(T0).unwrap();
    s.c("CAPA\r\n");
}

#[test]
fn stls_response_injection_is_discarded_and_reported() {
    let mut s = Session::greeted();
    s.client.stls(T0).unwrap();
    s.c("STLS\r\n");
    // CVE-2021-22947 class: a forged answer rides in the same segment as the +OK.
    s.s("+OK begin TLS\r\n+OK injected\r\n");
    assert_eq!(s.events(), vec![]);
    assert_eq!(s.client.io(), Io::AwaitingTls);
    // An adapter that keeps feeding plaintext: still discarded.
    s.s("-ERR more\r\n");
    s.client.tls_established(T0);
    assert_eq!(
        s.events(),
        vec![
            Event::TlsInjection {
                discarded: "+OK injected\r\n-ERR more\r\n".len()
            },
            Event::TlsReady
        ]
    );
    // The injected "+OK" answered nothing: the next command waits for its own answer.
    s.client.user(T0, "mrose").unwrap();
    s.c("USER mrose\r\n");
    s.s("-ERR no such user\r\n");
    assert!(matches!(
        s.event(),
        Event::Err {
            command: CommandKind::User,
            ..
        }
    ));
}

#[test]
fn stls_refused_keeps_plaintext_session() {
    let mut s = Session::greeted();
    s.client.stls(T0).unwrap();
    s.c("STLS\r\n");
    s.s("-ERR not now\r\n");
    assert!(matches!(
        s.event(),
        Event::Err {
            command: CommandKind::Stls,
            ..
        }
    ));
    assert_eq!(s.client.io(), Io::Open { wants_read: true });
    assert!(!s.client.is_tls());
}

#[test]
fn implicit_tls_refuses_stls_and_utf8_forbids_it() {
    let mut config = ClientConfig::default();
    config.tls_active = true;
    let mut s = Session::with(config);
    assert!(s.client.is_tls());
    assert_eq!(
        s.client.stls(T0).map_err(Misuse::into_kind),
        Err(ClientError::TlsAlreadyActive)
    );

    let mut s = Session::greeted();
    s.client.utf8(T0).unwrap();
    s.c("UTF8\r\n");
    assert_eq!(
        s.client.stls(T0).map_err(Misuse::into_kind),
        Err(ClientError::StlsAfterUtf8)
    );
    s.s("+OK UTF8 enabled\r\n");
    assert_eq!(s.event(), ok(CommandKind::Utf8, "UTF8 enabled"));
}

// ------------------------------------------------------------------------------------
// USER/PASS, APOP, AUTH

#[test]
fn user_pass_login() {
    let mut s = Session::greeted();
    assert_eq!(
        s.client
            .pass(T0, &Secret::from("x"))
            .map_err(Misuse::into_kind),
        Err(ClientError::PassWithoutUser)
    );
    s.client.user(T0, "mrose").unwrap();
    s.c("USER mrose\r\n");
    s.s("+OK mrose is a real hoopy frood\r\n");
    assert_eq!(
        s.event(),
        ok(CommandKind::User, "mrose is a real hoopy frood")
    );
    // A password with spaces is sent whole (RFC 1939 §7).
    s.client
        .pass(T0, &Secret::from("secret with spaces"))
        .unwrap();
    s.c("PASS secret with spaces\r\n");
    s.s("+OK mrose's maildrop has 2 messages (320 octets)\r\n");
    assert!(matches!(
        s.event(),
        Event::LoggedIn {
            command: CommandKind::Pass,
            ..
        }
    ));
    assert_eq!(
        s.client.user(T0, "again").map_err(Misuse::into_kind),
        Err(ClientError::WrongState {
            command: CommandKind::User,
            state: SessionState::Transaction
        })
    );
}

#[test]
fn err_in_use_response_code() {
    let mut s = Session::greeted();
    s.client.user(T0, "mrose").unwrap();
    s.client.pass(T0, &Secret::from("secret")).unwrap();
    s.c("USER mrose\r\n");
    s.s("+OK\r\n");
    s.c("PASS secret\r\n");
    s.s("-ERR [IN-USE] maildrop already locked\r\n");
    let events = s.events();
    assert_eq!(events.len(), 2);
    let status = status_of(&events[1]);
    assert!(matches!(
        events[1],
        Event::Err {
            command: CommandKind::Pass,
            ..
        }
    ));
    assert_eq!(status.code, Some(ResponseCode::InUse));
    assert_eq!(status.text, "maildrop already locked");
    assert_eq!(s.client.state(), SessionState::Authorization);
}

#[test]
fn arguments_with_cr_lf_nul_are_refused() {
    let mut s = Session::greeted();
    for bad in ["mrose\r\nDELE 1", "a\nb", "a\0b"] {
        match s.client.user(T0, bad).map_err(Misuse::into_kind) {
            Err(ClientError::Encode {
                command: CommandKind::User,
                error: EncodeError::ForbiddenByte { .. },
            }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    s.client.user(T0, "mrose").unwrap();
    match s
        .client
        .pass(T0, &Secret::from("pw\r\nDELE 1"))
        .map_err(Misuse::into_kind)
    {
        Err(ClientError::Encode {
            command: CommandKind::Pass,
            error: EncodeError::ForbiddenByte { byte: b'\r', .. },
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.client.user(T0, "two words").map_err(Misuse::into_kind),
        Err(ClientError::Encode { .. })
    ));
    assert!(matches!(
        s.client.retr(T0, 0).map_err(Misuse::into_kind),
        Err(ClientError::WrongState { .. })
    ));
    // State unchanged: only the good USER was queued, and PASS may still follow it.
    s.client.pass(T0, &Secret::from("pw")).unwrap();
    s.c("USER mrose\r\n");
    assert!(matches!(
        s.client.retr(T0, 0).map_err(Misuse::into_kind),
        Err(ClientError::Encode { .. })
    ));
}

#[test]
fn apop_login() {
    let mut s = Session::new();
    s.s("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
    s.events();
    assert_eq!(
        s.client.apop_timestamp(),
        Some("<1896.697170952@dbc.mtview.ca.us>")
    );
    s.client
        .apop(T0, "mrose", &Secret::from("tanstaaf"))
        .unwrap();
    s.c("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
    s.s("-ERR [AUTH] permission denied\r\n");
    let ev = s.event();
    assert_eq!(status_of(&ev).code, Some(ResponseCode::Auth));
}

#[test]
fn auth_plain_with_initial_response() {
    let mut s = Session::greeted();
    let auth = ClientAuth::new(
        Mechanism::Plain,
        ClientCredentials::password("tim", "tanstaaf"),
    )
    .unwrap();
    s.client.auth(T0, auth).unwrap();
    s.c("AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n");
    s.s("+OK Maildrop locked and ready\r\n");
    assert_eq!(
        s.event(),
        Event::LoggedIn {
            command: CommandKind::Auth,
            status: mailproto_core::pop3::Status::ok("Maildrop locked and ready"),
        }
    );
    assert_eq!(s.client.state(), SessionState::Transaction);
}

#[test]
fn auth_initial_response_too_long_waits_for_the_empty_challenge() {
    let mut s = Session::greeted();
    let password = "p".repeat(200);
    let auth = ClientAuth::new(
        Mechanism::Plain,
        ClientCredentials::password("tim", password.as_str()),
    )
    .unwrap();
    s.client.auth(T0, auth).unwrap();
    // `AUTH PLAIN <272 base64 octets>` would exceed 255 octets (RFC 5034 §4).
    s.c("AUTH PLAIN\r\n");
    s.s("+ \r\n");
    let mut expected = Vec::new();
    mailproto_core::sasl::encode_line(format!("\0tim\0{password}").as_bytes(), &mut expected);
    s.c(&format!("{}\r\n", String::from_utf8(expected).unwrap()));
    s.s("+OK\r\n");
    assert!(matches!(s.event(), Event::LoggedIn { .. }));
}

#[test]
fn auth_login_answers_challenges() {
    let mut s = Session::greeted();
    let auth = ClientAuth::new(
        Mechanism::Login,
        ClientCredentials::password("tim", "tanstaaf"),
    )
    .unwrap();
    s.client.auth(T0, auth).unwrap();
    s.c("AUTH LOGIN\r\n");
    // S: + Username:   C: tim
    s.s("+ VXNlcm5hbWU6\r\n");
    s.c("dGlt\r\n");
    assert_eq!(s.events(), vec![]);
    // S: + Password:   C: tanstaaf
    s.s("+ UGFzc3dvcmQ6\r\n");
    s.c("dGFuc3RhYWY=\r\n");
    s.s("+OK\r\n");
    assert!(matches!(
        s.event(),
        Event::LoggedIn {
            command: CommandKind::Auth,
            ..
        }
    ));
}

#[test]
fn auth_bad_challenge_is_cancelled() {
    let mut s = Session::greeted();
    let auth = ClientAuth::new(
        Mechanism::CramMd5,
        ClientCredentials::password("tim", "tanstaaf"),
    )
    .unwrap();
    s.client.auth(T0, auth).unwrap();
    s.c("AUTH CRAM-MD5\r\n");
    s.s("+ not*base64\r\n");
    s.c("*\r\n");
    s.s("-ERR authentication cancelled\r\n");
    let events = s.events();
    assert!(matches!(
        events[0],
        Event::AuthCancelled {
            reason: AuthError::BadBase64 { .. }
        }
    ));
    assert!(matches!(
        events[1],
        Event::Err {
            command: CommandKind::Auth,
            ..
        }
    ));
    assert_eq!(s.client.state(), SessionState::Authorization);
}

#[test]
fn auth_refused_hands_the_exchange_back() {
    let mut s = Session::logged_in();
    let auth = ClientAuth::new(
        Mechanism::Plain,
        ClientCredentials::password("tim", "tanstaaf"),
    )
    .unwrap();
    let refused = s.client.auth(T0, auth).unwrap_err();
    assert!(matches!(refused.kind(), ClientError::WrongState { .. }));
    assert_eq!(refused.into_value().mechanism(), &Mechanism::Plain);
}

#[test]
fn continuation_outside_auth_is_a_protocol_error() {
    let mut s = Session::logged_in();
    s.client.noop(T0).unwrap();
    s.c("NOOP\r\n");
    s.s("+ \r\n");
    assert_eq!(
        s.event(),
        Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::UnexpectedContinuation)
        }
    );
}

#[test]
fn auth_list_of_mechanisms() {
    let mut s = Session::greeted();
    s.client.auth_list(T0).unwrap();
    s.c("AUTH\r\n");
    s.s("+OK methods\r\nPLAIN\r\ncram-md5\r\nbad!name\r\n.\r\n");
    assert_eq!(
        s.event(),
        Event::SaslMechanisms(vec![Mechanism::Plain, Mechanism::CramMd5])
    );
}

// ------------------------------------------------------------------------------------
// Transaction commands

#[test]
fn stat_list_uidl_with_and_without_arguments() {
    let mut s = Session::logged_in();
    s.client.stat(T0).unwrap();
    s.c("STAT\r\n");
    s.s("+OK  2   320 \r\n");
    assert_eq!(
        s.event(),
        Event::Stat(DropListing {
            count: 2,
            size: 320
        })
    );

    s.client.list(T0, Some(2)).unwrap();
    s.c("LIST 2\r\n");
    s.s("+OK 2 200\r\n");
    assert_eq!(s.event(), Event::Scan(ScanListing { msg: 2, size: 200 }));

    s.client.list(T0, Some(3)).unwrap();
    s.c("LIST 3\r\n");
    s.s("-ERR no such message, only 2 messages in maildrop\r\n");
    assert!(matches!(
        s.event(),
        Event::Err {
            command: CommandKind::List(Some(3)),
            ..
        }
    ));

    s.client.list(T0, None).unwrap();
    s.c("LIST\r\n");
    s.s("+OK\r\n1  120\r\n2 200 extra\r\n.\r\n");
    assert_eq!(
        s.event(),
        Event::ScanList(vec![
            ScanListing { msg: 1, size: 120 },
            ScanListing { msg: 2, size: 200 }
        ])
    );

    // RFC 1939 §7 UIDL examples.
    s.client.uidl(T0, None).unwrap();
    s.c("UIDL\r\n");
    s.s("+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n");
    assert_eq!(
        s.event(),
        Event::UidlList(vec![
            UniqueIdListing {
                msg: 1,
                uid: UniqueId::new("whqtswO00WBw418f9t5JxYwZ").unwrap()
            },
            UniqueIdListing {
                msg: 2,
                uid: UniqueId::new("QhdPYR:00WBw1Ph7x7").unwrap()
            },
        ])
    );
    s.client.uidl(T0, Some(2)).unwrap();
    s.c("UIDL 2\r\n");
    s.s("+OK 2 QhdPYR:00WBw1Ph7x7\r\n");
    assert_eq!(
        s.event(),
        Event::Uidl(UniqueIdListing {
            msg: 2,
            uid: UniqueId::new("QhdPYR:00WBw1Ph7x7").unwrap()
        })
    );

    // An empty listing.
    s.client.list(T0, None).unwrap();
    s.c("LIST\r\n");
    s.s("+OK 0 messages\r\n.\r\n");
    assert_eq!(s.event(), Event::ScanList(vec![]));
}

#[test]
fn retr_unstuffs_dots() {
    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.c("RETR 1\r\n");
    s.s("+OK 40 octets\r\n..starts with a dot\r\nmiddle\r\n..\r\n...two\r\nend\r\n.\r\n");
    assert_eq!(
        s.events(),
        vec![
            Event::MessageStart {
                msg: 1,
                lines: None,
                status: mailproto_core::pop3::Status::ok("40 octets")
            },
            Event::MessageData(b".starts with a dot\r\nmiddle\r\n.\r\n..two\r\nend\r\n".to_vec()),
            Event::MessageEnd,
        ]
    );
}

#[test]
fn retr_empty_body_and_err() {
    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.client.retr(T0, 9).unwrap();
    s.c("RETR 1\r\n");
    s.s(".\r\n");
    // ".\r\n" is not a status line.
    assert!(matches!(
        s.events()[..],
        [Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::InvalidResponse(_))
        }]
    ));

    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.client.retr(T0, 9).unwrap();
    s.c("RETR 1\r\n");
    s.s("+OK\r\n.\r\n");
    s.c("RETR 9\r\n");
    s.s("-ERR no such message\r\n");
    let events = s.events();
    assert!(matches!(events[0], Event::MessageStart { msg: 1, .. }));
    assert_eq!(events[1], Event::MessageEnd);
    assert!(matches!(
        events[2],
        Event::Err {
            command: CommandKind::Retr(9),
            ..
        }
    ));
}

#[test]
fn top_dele_rset_noop_quit() {
    let mut s = Session::logged_in();
    s.client.top(T0, 1, 10).unwrap();
    s.c("TOP 1 10\r\n");
    s.s("+OK\r\nSubject: x\r\n\r\nline 1\r\n.\r\n");
    assert_eq!(
        s.events(),
        vec![
            Event::MessageStart {
                msg: 1,
                lines: Some(10),
                status: mailproto_core::pop3::Status::ok("")
            },
            Event::MessageData(b"Subject: x\r\n\r\nline 1\r\n".to_vec()),
            Event::MessageEnd,
        ]
    );
    s.client.dele(T0, 1).unwrap();
    s.c("DELE 1\r\n");
    s.s("+OK message 1 deleted\r\n");
    assert_eq!(s.event(), ok(CommandKind::Dele(1), "message 1 deleted"));
    s.client.dele(T0, 1).unwrap();
    s.c("DELE 1\r\n");
    s.s("-ERR message 1 already deleted\r\n");
    assert!(matches!(
        s.event(),
        Event::Err {
            command: CommandKind::Dele(1),
            ..
        }
    ));
    s.client.rset(T0).unwrap();
    s.c("RSET\r\n");
    s.s("+OK maildrop has 2 messages (320 octets)\r\n");
    assert_eq!(
        s.event(),
        ok(CommandKind::Rset, "maildrop has 2 messages (320 octets)")
    );
    s.client.noop(T0).unwrap();
    s.c("NOOP\r\n");
    s.s("+OK\r\n");
    assert_eq!(s.event(), ok(CommandKind::Noop, ""));
    s.client.quit(T0).unwrap();
    assert_eq!(
        s.client.noop(T0).map_err(Misuse::into_kind),
        Err(ClientError::Quitting)
    );
    s.c("QUIT\r\n");
    s.s("-ERR some deleted messages not removed\r\n");
    assert_eq!(
        s.events(),
        vec![
            Event::Err {
                command: CommandKind::Quit,
                status: mailproto_core::pop3::Status::err("some deleted messages not removed"),
            },
            Event::Closed {
                reason: CloseReason::Quit
            },
        ]
    );
    assert_eq!(s.client.io(), Io::Closed);
}

#[test]
fn transaction_commands_need_a_login() {
    let mut s = Session::greeted();
    assert_eq!(
        s.client.stat(T0).map_err(Misuse::into_kind),
        Err(ClientError::WrongState {
            command: CommandKind::Stat,
            state: SessionState::Authorization
        })
    );
    // ... but may be queued behind one.
    s.client.user(T0, "mrose").unwrap();
    s.client.pass(T0, &Secret::from("x")).unwrap();
    s.client.stat(T0).unwrap();
    s.client.quit(T0).unwrap();
    s.c("USER mrose\r\n");
    s.s("+OK\r\n");
    s.c("PASS x\r\n");
    s.s("-ERR invalid password\r\n");
    s.c("STAT\r\n");
    s.s("-ERR not authenticated\r\n");
    s.c("QUIT\r\n");
    s.s("+OK\r\n");
    let events = s.events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(matches!(
        events[2],
        Event::Err {
            command: CommandKind::Stat,
            ..
        }
    ));
}

#[test]
fn malformed_answers_keep_the_stream_in_step() {
    let mut s = Session::logged_in();
    s.client.stat(T0).unwrap();
    s.c("STAT\r\n");
    s.s("+OK lots of mail\r\n");
    assert!(matches!(
        s.event(),
        Event::Malformed {
            command: CommandKind::Stat,
            error: ResponseError::Parse(_)
        }
    ));
    s.client.list(T0, None).unwrap();
    s.client.noop(T0).unwrap();
    s.c("LIST\r\n");
    s.s("+OK\r\n1 120\r\nxyz\r\n3 300\r\n.\r\n");
    assert!(matches!(
        s.event(),
        Event::Malformed {
            command: CommandKind::List(None),
            error: ResponseError::Parse(_)
        }
    ));
    s.c("NOOP\r\n");
    s.s("+OK\r\n");
    assert_eq!(s.event(), ok(CommandKind::Noop, ""));
}

#[test]
fn listing_line_count_is_bounded() {
    let mut config = ClientConfig::default();
    config.max_listing_lines = 3;
    let mut s = Session::with(config);
    s.s("+OK\r\n");
    s.client.user(T0, "u").unwrap();
    s.client.pass(T0, &Secret::from("p")).unwrap();
    s.client.list(T0, None).unwrap();
    s.client.list(T0, None).unwrap();
    s.s("+OK\r\n+OK\r\n");
    s.s("+OK\r\n1 1\r\n2 2\r\n3 3\r\n4 4\r\n.\r\n");
    s.s("+OK\r\n1 1\r\n2 2\r\n3 3\r\n.\r\n");
    let events = s.events();
    assert!(matches!(events[0], Event::Greeting { .. }));
    assert_eq!(
        events[3],
        Event::Malformed {
            command: CommandKind::List(None),
            error: ResponseError::TooManyLines { limit: 3 }
        }
    );
    assert!(matches!(&events[4], Event::ScanList(l) if l.len() == 3));
}

#[test]
fn long_body_lines_pass_intact() {
    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.c("RETR 1\r\n");
    let long = "x".repeat(5000);
    let body = format!("Subject: long\r\n\r\n{long}\r\n.{long}\r\nshort\r\n");
    let wire = format!("{long}\r\n..{long}\r\nshort\r\n");
    s.s("+OK\r\nSubject: long\r\n\r\n");
    for chunk in wire.as_bytes().chunks(700) {
        s.client.feed(T0, chunk);
    }
    s.s(".\r\n");
    let events = s.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1], Event::MessageData(body.into_bytes()));
    assert_eq!(events[2], Event::MessageEnd);
}

#[test]
fn one_mebibyte_body_streams_in_chunks() {
    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.c("RETR 1\r\n");
    let mut body = Vec::new();
    let mut i = 0u32;
    while body.len() < 1 << 20 {
        body.extend_from_slice(format!("{i:08} line of the body").as_bytes());
        if i.is_multiple_of(7) {
            body.extend_from_slice(b"\r\n.stuffed");
        }
        body.extend_from_slice(b"\r\n");
        i += 1;
    }
    let mut wire = b"+OK\r\n".to_vec();
    mailproto_core::dot::encode_body(&body, BareLineEnding::Reject, &mut wire).unwrap();
    let mut data = Vec::new();
    let mut chunks = 0;
    let mut ended = false;
    for piece in wire.chunks(4096) {
        s.client.feed(T0, piece);
        while let Some(ev) = s.client.poll_event() {
            match ev {
                Event::MessageStart { .. } => {}
                Event::MessageData(d) => {
                    assert!(d.len() <= 4096, "a chunk is never more than what was fed");
                    chunks += 1;
                    data.extend_from_slice(&d);
                }
                Event::MessageEnd => ended = true,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(ended);
    assert!(chunks > 200, "{chunks} chunks");
    assert_eq!(data, body);
}

#[test]
fn bare_line_endings_in_bodies_follow_the_policy() {
    let wire = "+OK\r\na\nb\rc\r\n\n.\r\nd\r\n.\r\n";
    // Keep (default): the stored bytes come back; "\n.\r\n" does not end the body.
    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.c("RETR 1\r\n");
    s.s(wire);
    assert_eq!(
        s.events()[1],
        Event::MessageData(b"a\nb\rc\r\n\n\r\nd\r\n".to_vec())
    );
    // Reject: reported instead of MessageEnd, after the real terminator.
    let mut config = ClientConfig::default();
    config.body_line_endings = BareLineEnding::Reject;
    let mut s = Session::with(config);
    s.s("+OK\r\n");
    s.client.user(T0, "u").unwrap();
    s.client.pass(T0, &Secret::from("p")).unwrap();
    s.client.retr(T0, 1).unwrap();
    s.client.noop(T0).unwrap();
    s.s("+OK\r\n+OK\r\n");
    s.events();
    s.s(wire);
    s.s("+OK\r\n");
    let events = s.events();
    assert!(matches!(
        events[..],
        [
            Event::MessageStart { .. },
            Event::MessageData(_),
            Event::Malformed {
                command: CommandKind::Retr(1),
                error: ResponseError::BareLineEnding(_)
            },
            Event::Ok {
                command: CommandKind::Noop,
                ..
            },
        ]
    ));
}

// ------------------------------------------------------------------------------------
// Strictness, timeouts, end of stream

#[test]
fn over_long_status_line_is_a_protocol_error() {
    let mut s = Session::new();
    s.s(&format!("+OK {}\r\n", "x".repeat(600)));
    assert_eq!(
        s.event(),
        Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::LineTooLong { limit: 512 })
        }
    );
    assert_eq!(s.client.io(), Io::Closed);
    // Exactly 512 octets with CRLF is fine.
    let mut s = Session::new();
    s.s(&format!("+OK {}\r\n", "x".repeat(506)));
    assert!(matches!(s.event(), Event::Greeting { .. }));
}

#[test]
fn garbage_is_a_protocol_error() {
    for garbage in [
        "HTTP/1.1 400 Bad Request\r\n",
        "OK\r\n",
        "+OKAY\r\n",
        "+OK\0\r\n",
    ] {
        let mut s = Session::logged_in();
        s.client.noop(T0).unwrap();
        s.c("NOOP\r\n");
        s.s(garbage);
        assert!(
            matches!(
                s.event(),
                Event::Closed {
                    reason: CloseReason::Protocol(ProtocolError::InvalidResponse(_))
                }
            ),
            "{garbage:?}"
        );
    }
}

#[test]
fn unsolicited_lines_are_a_protocol_error() {
    let mut s = Session::logged_in();
    s.s("+OK nobody asked\r\n");
    match s.event() {
        Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::Unsolicited { found }),
        } => assert_eq!(found.as_str(), "+OK nobody asked"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn timeout_only_while_waiting() {
    let mut s = Session::logged_in();
    assert_eq!(s.client.poll_timeout(), None);
    s.client.noop(T0).unwrap();
    s.c("NOOP\r\n");
    assert_eq!(s.client.poll_timeout(), Some(T0 + Duration::from_secs(600)));
    s.client.handle_timeout(T0 + Duration::from_secs(600));
    assert_eq!(
        s.event(),
        Event::Closed {
            reason: CloseReason::Timeout(mailproto_core::Deadline::Reply)
        }
    );
    assert_eq!(s.client.io(), Io::Closed);
    assert_eq!(s.client.poll_timeout(), None);
}

#[test]
fn eof_mid_body_closes_without_message_end() {
    let mut s = Session::logged_in();
    s.client.retr(T0, 1).unwrap();
    s.c("RETR 1\r\n");
    s.s("+OK\r\npartial\r\n");
    s.client.feed_eof(T0);
    let events = s.events();
    assert_eq!(
        events.last(),
        Some(&Event::Closed {
            reason: CloseReason::PeerClosed
        })
    );
    assert!(!events.contains(&Event::MessageEnd));
    s.client.feed(T0, b"+OK\r\n");
    assert_eq!(s.events(), vec![]);
}

#[test]
fn abort_closes_at_once() {
    let mut s = Session::logged_in();
    s.client.noop(T0).unwrap();
    s.client.abort(T0);
    assert_eq!(
        s.event(),
        Event::Closed {
            reason: CloseReason::Aborted
        }
    );
    assert_eq!(s.client.pending(), 0);
    // Output queued before the abort is still handed out.
    s.c("NOOP\r\n");
}

#[test]
fn debug_never_shows_the_password() {
    let mut s = Session::greeted();
    s.client.user(T0, "mrose").unwrap();
    s.client.pass(T0, &Secret::from("hunter2")).unwrap();
    let debug = format!("{:?}", s.client);
    assert!(!debug.contains("hunter2"), "{debug}");
}

// ------------------------------------------------------------------------------------
// Properties

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Issue the script's commands up front, feed `stream` cut at `splits`, and return the
    /// events (MessageData merged) and every byte the client wrote.
    fn run(stream: &[u8], splits: &[usize]) -> (Vec<Event>, Vec<u8>) {
        let mut client = Client::new(T0, ClientConfig::default());
        client.capa(T0).unwrap();
        client.user(T0, "mrose").unwrap();
        client.pass(T0, &Secret::from("secret")).unwrap();
        client.stat(T0).unwrap();
        client.list(T0, None).unwrap();
        client.uidl(T0, None).unwrap();
        client.retr(T0, 1).unwrap();
        client.top(T0, 1, 2).unwrap();
        client.list(T0, Some(1)).unwrap();
        client.dele(T0, 1).unwrap();
        client.quit(T0).unwrap();
        let mut events = Vec::new();
        let mut out = Vec::new();
        let mut rest = stream;
        let mut sizes = splits.iter().copied().cycle();
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
            client.feed(T0, &rest[..n]);
            rest = &rest[n..];
            let _ = client.poll_transmit(&mut out);
            while let Some(ev) = client.poll_event() {
                push_merged(&mut events, ev);
            }
        }
        client.feed_eof(T0);
        let _ = client.poll_transmit(&mut out);
        while let Some(ev) = client.poll_event() {
            push_merged(&mut events, ev);
        }
        (events, out)
    }

    fn server_stream(pipelining: bool, body: &[u8]) -> Vec<u8> {
        let mut s = b"+OK POP3 ready <1.2@host>\r\n".to_vec();
        s.extend_from_slice(b"+OK caps\r\nUSER\r\nTOP\r\n");
        if pipelining {
            s.extend_from_slice(b"PIPELINING\r\n");
        }
        s.extend_from_slice(b".\r\n+OK\r\n+OK in\r\n+OK 1 99\r\n+OK\r\n1 99\r\n.\r\n");
        s.extend_from_slice(b"+OK\r\n1 uid-1\r\n.\r\n+OK\r\n");
        mailproto_core::dot::encode_body(body, BareLineEnding::Keep, &mut s).unwrap();
        s.extend_from_slice(b"+OK\r\n");
        mailproto_core::dot::encode_body(body, BareLineEnding::Keep, &mut s).unwrap();
        s.extend_from_slice(b"+OK 1 99\r\n+OK deleted\r\n+OK bye\r\n");
        s
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                6 => proptest::sample::select(&b"ab .:"[..]),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => any::<u8>(),
            ],
            0..400,
        )
        .prop_map(|mut b| {
            b.extend_from_slice(b"\r\n");
            b
        })
    }

    fn tail() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            Just(b"+OK".to_vec()),
            Just(b"-ERR [IN-USE]".to_vec()),
            Just(b"+ ".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b".\r\n".to_vec()),
            Just(b"\r\n.\r\n".to_vec()),
            Just(b"..".to_vec()),
            Just(b" ".to_vec()),
            Just(b"1 120".to_vec()),
            Just(b"PIPELINING".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
            Just(vec![b'x'; 600]),
        ];
        proptest::collection::vec(token, 0..60).prop_map(|t| t.concat())
    }

    /// Feed each segment cut at `splits`, completing the TLS handshake between segments;
    /// `on_event` plays the application.
    fn run_segments(
        segments: &[&[u8]],
        splits: &[usize],
        start: fn(&mut Client),
        on_event: fn(&mut Client, &Event),
    ) -> (Vec<Event>, Vec<u8>) {
        let mut client = Client::new(T0, ClientConfig::default());
        start(&mut client);
        let mut events = Vec::new();
        let mut out = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if i > 0 && client.io() == Io::AwaitingTls {
                client.tls_established(T0);
            }
            let mut rest = *segment;
            let mut sizes = splits.iter().copied().cycle();
            loop {
                let _ = client.poll_transmit(&mut out);
                while let Some(ev) = client.poll_event() {
                    on_event(&mut client, &ev);
                    push_merged(&mut events, ev);
                }
                if rest.is_empty() {
                    break;
                }
                let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
                client.feed(T0, &rest[..n]);
                rest = &rest[n..];
            }
        }
        (events, out)
    }

    fn stls_then_auth_start(client: &mut Client) {
        client.capa(T0).unwrap();
        client.stls(T0).unwrap();
    }

    fn stls_then_auth_on_event(client: &mut Client, ev: &Event) {
        if *ev == Event::TlsReady {
            let credentials = ClientCredentials::password("tim", "tanstaaf");
            client.capa(T0).unwrap();
            client
                .auth(T0, ClientAuth::new(Mechanism::Login, credentials).unwrap())
                .unwrap();
            client.stat(T0).unwrap();
            client.quit(T0).unwrap();
        }
    }

    proptest! {
        /// Cuts anywhere on both sides of the TLS switch give the same events; injected
        /// plaintext is counted whole and never acted upon.
        #[test]
        fn split_independent_across_stls_and_auth(
            injection in proptest::collection::vec(any::<u8>(), 0..40),
            splits in proptest::collection::vec(1usize..24, 1..8),
        ) {
            let mut plain = b"+OK hi\r\n+OK\r\nSTLS\r\n.\r\n+OK go\r\n".to_vec();
            plain.extend_from_slice(&injection);
            let tls: &[u8] = b"+OK\r\nPIPELINING\r\nSASL LOGIN\r\n.\r\n\
                + VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+OK\r\n+OK 0 0\r\n+OK bye\r\n";
            let segments = [&plain[..], tls];
            let whole = run_segments(&segments, &[], stls_then_auth_start, stls_then_auth_on_event);
            let split =
                run_segments(&segments, &splits, stls_then_auth_start, stls_then_auth_on_event);
            prop_assert_eq!(&whole, &split);
            prop_assert_eq!(
                String::from_utf8_lossy(&whole.1),
                "CAPA\r\nSTLS\r\nCAPA\r\nAUTH LOGIN\r\ndGlt\r\ndGFuc3RhYWY=\r\nSTAT\r\nQUIT\r\n"
            );
            let injected = whole.0.iter().find_map(|e| match e {
                Event::TlsInjection { discarded } => Some(*discarded),
                _ => None,
            });
            prop_assert_eq!(injected, (!injection.is_empty()).then_some(injection.len()));
            prop_assert_eq!(
                whole.0.last(),
                Some(&Event::Closed { reason: CloseReason::Quit })
            );
        }

        /// The same server bytes cut anywhere give the same events and client bytes.
        #[test]
        fn split_independent(
            pipelining in any::<bool>(),
            body in body(),
            splits in proptest::collection::vec(1usize..64, 1..12),
        ) {
            let stream = server_stream(pipelining, &body);
            let whole = run(&stream, &[]);
            let split = run(&stream, &splits);
            prop_assert_eq!(&whole, &split);
            // The body came back exactly, twice (RETR and TOP), and the session ended.
            let data: Vec<&Event> = whole
                .0
                .iter()
                .filter(|e| matches!(e, Event::MessageData(_)))
                .collect();
            prop_assert_eq!(data.len(), 2);
            prop_assert_eq!(data[0], &Event::MessageData(body.clone()));
            prop_assert_eq!(
                whole.0.last(),
                Some(&Event::Closed { reason: CloseReason::Quit })
            );
        }

        /// Arbitrary server bytes never panic, and do not depend on the cuts either.
        #[test]
        fn arbitrary_bytes(
            greeting in any::<bool>(),
            tail in tail(),
            splits in proptest::collection::vec(1usize..40, 1..8),
        ) {
            let mut stream = Vec::new();
            if greeting {
                stream.extend_from_slice(b"+OK hi\r\n");
            }
            stream.extend_from_slice(&tail);
            let whole = run(&stream, &[]);
            let split = run(&stream, &splits);
            prop_assert_eq!(&whole, &split);
            let closed = matches!(whole.0.last(), Some(Event::Closed { .. }));
            prop_assert!(closed);
        }

        /// Random bytes straight in, byte by byte and whole.
        #[test]
        fn raw_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let whole = run(&bytes, &[]);
            let single = run(&bytes, &[1]);
            prop_assert_eq!(whole, single);
        }
    }
}
