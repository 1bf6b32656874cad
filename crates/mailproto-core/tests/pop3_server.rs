//! The POP3 server machine against golden transcripts (RFC 1939 §10 and many more), with
//! a scripted application answering its events.

#[path = "pop3_server/harness.rs"]
mod harness;
#[path = "pop3_server/props.rs"]
mod props;

use harness::{LoginMode, Model, RFC_TIMESTAMP, Session, config, logged_in};
use mailproto_core::pop3::server::{
    Awaiting, CloseReason, Event, Maildrop, MisuseKind, ProtocolError, Server, ServerConfig, State,
};
use mailproto_core::pop3::{Expiry, Status};
use mailproto_core::sasl::{Credentials, Mechanism};
use mailproto_core::{Io, Machine};

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

/// Message 1 of the RFC 1939 §10 session: 120 octets.
fn rfc_message_1() -> Vec<u8> {
    let mut m = b"Subject: one\r\n\r\nHello mrose.\r\n".to_vec();
    m.extend(std::iter::repeat_n(b'a', 88));
    m.extend_from_slice(b"\r\n");
    assert_eq!(m.len(), 120);
    m
}

/// Message 2: 200 octets.
fn rfc_message_2() -> Vec<u8> {
    let mut m = b"Subject: two\r\n\r\n".to_vec();
    m.extend(std::iter::repeat_n(b'b', 182));
    m.extend_from_slice(b"\r\n");
    assert_eq!(m.len(), 200);
    m
}

#[test]
fn rfc1939_section10_example_session() {
    let (m1, m2) = (rfc_message_1(), rfc_message_2());
    let mut s = Session::new(
        ServerConfig::default()
            .with_apop_timestamp(RFC_TIMESTAMP)
            .with_signoff("dewey POP3 server signing off"),
        Model::new(&[&m1, &m2]),
    );
    s.c("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    s.c("STAT");
    s.c("LIST");
    s.c("RETR 1");
    s.c("DELE 1");
    s.c("RETR 2");
    s.c("DELE 2");
    s.c("QUIT");
    let a88 = "a".repeat(88);
    let b182 = "b".repeat(182);
    s.expect(&format!(
        "
        S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
        C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
        A: Apop mrose
        S: +OK mrose's maildrop has 2 messages (320 octets)
        C: STAT
        S: +OK 2 320
        C: LIST
        S: +OK 2 messages (320 octets)
        S: 1 120
        S: 2 200
        S: .
        C: RETR 1
        A: Retrieve 1
        S: +OK 120 octets
        S: Subject: one
        S:
        S: Hello mrose.
        S: {a88}
        S: .
        C: DELE 1
        S: +OK message 1 deleted
        C: RETR 2
        A: Retrieve 2
        S: +OK 200 octets
        S: Subject: two
        S:
        S: {b182}
        S: .
        C: DELE 2
        S: +OK message 2 deleted
        C: QUIT
        A: Update [1, 2]
        S: +OK dewey POP3 server signing off (maildrop empty)
        A: Closed Update {{ removed: true }}
        "
    ));
    assert_eq!(s.server.io(), Io::Closed);
    assert_eq!(s.server.state(), State::Closed);
}

#[test]
fn list_and_uidl_with_and_without_argument_after_dele() {
    let mut s = logged_in(config(), &[b"one\r\n", b"two!\r\n", b"three\r\n"]);
    s.c("DELE 2");
    s.c("STAT");
    s.c("LIST");
    s.c("LIST 1");
    s.c("LIST 2");
    s.c("LIST 4");
    s.c("UIDL");
    s.c("UIDL 3");
    s.c("UIDL 2");
    s.c("DELE 2");
    s.c("RETR 2");
    s.c("TOP 2 0");
    s.expect(
        "
        C: DELE 2
        S: +OK message 2 deleted
        C: STAT
        S: +OK 2 12
        C: LIST
        S: +OK 2 messages (12 octets)
        S: 1 5
        S: 3 7
        S: .
        C: LIST 1
        S: +OK 1 5
        C: LIST 2
        S: -ERR message 2 already deleted
        C: LIST 4
        S: -ERR no such message, only 3 messages in maildrop
        C: UIDL
        S: +OK unique-id listing follows
        S: 1 uid-1
        S: 3 uid-3
        S: .
        C: UIDL 3
        S: +OK 3 uid-3
        C: UIDL 2
        S: -ERR message 2 already deleted
        C: DELE 2
        S: -ERR message 2 already deleted
        C: RETR 2
        S: -ERR message 2 already deleted
        C: TOP 2 0
        S: -ERR message 2 already deleted
        ",
    );
}

#[test]
fn rset_unmarks_every_deleted_message() {
    let mut s = logged_in(config(), &[b"one\r\n", b"two!\r\n"]);
    s.c("DELE 1");
    s.c("DELE 2");
    s.c("LIST");
    s.c("RSET");
    s.c("LIST");
    s.c("QUIT");
    s.expect(
        "
        C: DELE 1
        S: +OK message 1 deleted
        C: DELE 2
        S: +OK message 2 deleted
        C: LIST
        S: +OK 0 messages (0 octets)
        S: .
        C: RSET
        S: +OK maildrop has 2 messages (11 octets)
        C: LIST
        S: +OK 2 messages (11 octets)
        S: 1 5
        S: 2 6
        S: .
        C: QUIT
        A: Update []
        S: +OK POP3 server signing off (2 messages left)
        A: Closed Update { removed: true }
        ",
    );
}

#[test]
fn quit_in_authorization_closes_without_update() {
    let mut s = Session::new(config(), Model::new(&[b"x\r\n"]));
    s.c("USER mrose");
    s.c("QUIT");
    s.c("NOOP");
    s.expect(
        "
        S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
        C: USER mrose
        S: +OK send PASS
        C: QUIT
        S: +OK POP3 server signing off
        A: Closed Quit
        C: NOOP
        ",
    );
    assert!(
        !s.model
            .events
            .iter()
            .any(|e| matches!(e, Event::Update { .. }))
    );
}

#[test]
fn connection_drop_after_dele_never_updates() {
    let mut s = logged_in(config(), &[b"x\r\n", b"y\r\n"]);
    s.c("DELE 1");
    s.send(b"DELE 2\r\nQU");
    s.eof();
    s.expect(
        "
        C: DELE 1
        S: +OK message 1 deleted
        C: DELE 2
        C: QU
        S: +OK message 2 deleted
        C: <close>
        A: Closed PeerClosed
        ",
    );
    assert!(
        !s.model
            .events
            .iter()
            .any(|e| matches!(e, Event::Update { .. }))
    );
}

#[test]
fn pipelined_quit_before_eof_still_updates() {
    let mut s = logged_in(config(), &[b"x\r\n"]);
    s.send(b"DELE 1\r\nQUIT\r\n");
    s.eof();
    s.expect(
        "
        C: DELE 1
        C: QUIT
        S: +OK message 1 deleted
        A: Update [1]
        S: +OK POP3 server signing off (maildrop empty)
        A: Closed Update { removed: true }
        C: <close>
        ",
    );
}

const LETTER: &[u8] = b"From: a@b\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";

#[test]
fn top_zero_sends_the_header_and_blank_line_only() {
    let mut s = logged_in(config(), &[LETTER]);
    s.c("TOP 1 0");
    s.expect(
        "
        C: TOP 1 0
        A: Retrieve 1 top 0
        S: +OK top of message follows
        S: From: a@b
        S: Subject: hi
        S:
        S: .
        ",
    );
    // The application could stop reading early (chunks of 7: 28 octets read of 49).
    assert_eq!(s.model.read, [28]);
}

#[test]
fn top_n_sends_n_body_lines() {
    let mut s = logged_in(config(), &[LETTER]);
    s.c("TOP 1 2");
    s.c("TOP 1 100");
    s.expect(
        "
        C: TOP 1 2
        A: Retrieve 1 top 2
        S: +OK top of message follows
        S: From: a@b
        S: Subject: hi
        S:
        S: line 1
        S: line 2
        S: .
        C: TOP 1 100
        A: Retrieve 1 top 100
        S: +OK top of message follows
        S: From: a@b
        S: Subject: hi
        S:
        S: line 1
        S: line 2
        S: line 3
        S: .
        ",
    );
}

#[test]
fn empty_maildrop() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.c("USER tim");
    s.c("PASS tanstaaftanstaaf");
    s.c("STAT");
    s.c("LIST");
    s.c("UIDL");
    s.c("RETR 1");
    s.c("LIST 1");
    s.c("QUIT");
    s.expect(
        "
        S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
        C: USER tim
        S: +OK send PASS
        C: PASS tanstaaftanstaaf
        A: Login tim
        S: +OK tim's maildrop has 0 messages (0 octets)
        C: STAT
        S: +OK 0 0
        C: LIST
        S: +OK 0 messages (0 octets)
        S: .
        C: UIDL
        S: +OK unique-id listing follows
        S: .
        C: RETR 1
        S: -ERR no such message, only 0 messages in maildrop
        C: LIST 1
        S: -ERR no such message, only 0 messages in maildrop
        C: QUIT
        A: Update []
        S: +OK POP3 server signing off (maildrop empty)
        A: Closed Update { removed: true }
        ",
    );
}

#[test]
fn dot_stuffing_on_the_wire() {
    let message: &[u8] = b".leading dot\r\nbody\r\n.\r\n..two\r\nend";
    let mut s = logged_in(config(), &[message]);
    s.model.chunk = 1;
    s.c("RETR 1");
    s.expect(
        "
        C: RETR 1
        A: Retrieve 1
        S: +OK 33 octets
        S: ..leading dot
        S: body
        S: ..
        S: ...two
        S: end
        S: .
        ",
    );
    let wire = String::from_utf8(s.wire.clone()).unwrap();
    assert!(
        wire.ends_with("\r\n..leading dot\r\nbody\r\n..\r\n...two\r\nend\r\n.\r\n"),
        "{wire:?}"
    );
    // The body's `\r\n.\r\n` never reached the wire unstuffed before the end.
    let body_start = wire.find("+OK 33 octets\r\n").unwrap() + 15;
    assert_eq!(wire[body_start..].matches("\r\n.\r\n").count(), 1);
}

#[test]
fn bare_lf_in_stored_mail_goes_out_as_crlf() {
    let message: &[u8] = b"Subject: unix\n\n.dot\nlast\n";
    for chunk in [1, 3, 100] {
        let mut s = logged_in(config(), &[message]);
        s.model.chunk = chunk;
        s.c("RETR 1");
        s.c("TOP 1 0");
        s.expect(
            "
            C: RETR 1
            A: Retrieve 1
            S: +OK 25 octets
            S: Subject: unix
            S:
            S: ..dot
            S: last
            S: .
            C: TOP 1 0
            A: Retrieve 1 top 0
            S: +OK top of message follows
            S: Subject: unix
            S:
            S: .
            ",
        );
        assert!(!s.wire.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    }
}

#[test]
fn in_use_and_system_errors_keep_authorization() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.model.login = LoginMode::InUse;
    s.c("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    s.model.login = LoginMode::SysTemp;
    s.c("USER mrose");
    s.c("PASS tanstaaf");
    s.model.login = LoginMode::Check;
    s.c("USER mrose");
    s.c("PASS tanstaaf");
    s.expect(
        "
        S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
        C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
        A: Apop mrose
        S: -ERR [IN-USE] maildrop already locked by another session
        C: USER mrose
        S: +OK send PASS
        C: PASS tanstaaf
        A: Login mrose
        S: -ERR [SYS/TEMP] maildrop cannot be opened
        C: USER mrose
        S: +OK send PASS
        C: PASS tanstaaf
        A: Login mrose
        S: +OK mrose's maildrop has 0 messages (0 octets)
        ",
    );
}

#[test]
fn failed_logins_close_at_the_limit() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.c("USER nobody");
    s.c("PASS guess");
    s.c("APOP mrose 00000000000000000000000000000000");
    s.c("USER mrose");
    s.c("PASS wrong");
    s.c("USER mrose");
    s.expect(
        "
        C: USER nobody
        S: +OK send PASS
        C: PASS guess
        A: Login nobody
        S: -ERR [AUTH] Authentication failed
        C: APOP mrose 00000000000000000000000000000000
        A: Apop mrose
        S: -ERR [AUTH] Authentication failed
        C: USER mrose
        S: +OK send PASS
        C: PASS wrong
        A: Login mrose
        S: -ERR [AUTH] Authentication failed; too many failures, closing connection
        A: Closed TooManyAuthFailures
        C: USER mrose
        ",
    );
}

#[test]
fn user_does_not_reveal_whether_the_mailbox_exists() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.c("USER mrose");
    let known = s.take().replace("mrose", "X");
    s.c("USER frated");
    let unknown = s.take().replace("frated", "X");
    assert_eq!(known, unknown);
}

#[test]
fn bad_commands_close_at_the_limit() {
    let mut s = Session::new(config().with_max_errors(5), Model::new(&[]));
    s.take();
    s.c("XYZZY");
    s.c("FOO");
    s.c("STAT");
    s.c("RETR 0");
    s.c("NOOP");
    s.c("CAPA");
    s.expect(
        "
        C: XYZZY
        S: -ERR invalid command keyword \"XYZZY\": expected 3-4 printable characters
        C: FOO
        S: -ERR FOO not supported
        C: STAT
        S: -ERR STAT not valid in the AUTHORIZATION state
        C: RETR 0
        S: -ERR invalid message number \"0\": message numbers start at 1
        C: NOOP
        S: -ERR Too many bad commands, closing connection
        A: Closed TooManyErrors
        C: CAPA
        ",
    );
}

#[test]
fn wrong_state_commands() {
    // 0: no limit on bad commands.
    let mut s = Session::new(config().with_max_errors(0), Model::new(&[b"x\r\n"]));
    s.take();
    s.c("PASS tanstaaf");
    s.c("LIST");
    s.c("TOP 1 1");
    s.c("NOOP");
    s.c("RSET");
    s.c("USER mrose");
    s.c("PASS tanstaaf");
    s.c("USER mrose");
    s.c("PASS x");
    s.c("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    s.c("AUTH PLAIN");
    s.c("AUTH");
    s.c("STLS");
    s.c("UTF8");
    s.c("NOOP");
    s.expect(
        "
        C: PASS tanstaaf
        S: -ERR PASS must follow a successful USER
        C: LIST
        S: -ERR LIST not valid in the AUTHORIZATION state
        C: TOP 1 1
        S: -ERR TOP not valid in the AUTHORIZATION state
        C: NOOP
        S: -ERR NOOP not valid in the AUTHORIZATION state
        C: RSET
        S: -ERR RSET not valid in the AUTHORIZATION state
        C: USER mrose
        S: +OK send PASS
        C: PASS tanstaaf
        A: Login mrose
        S: +OK mrose's maildrop has 1 message (3 octets)
        C: USER mrose
        S: -ERR USER not valid in the TRANSACTION state
        C: PASS x
        S: -ERR PASS not valid in the TRANSACTION state
        C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
        S: -ERR APOP not valid in the TRANSACTION state
        C: AUTH PLAIN
        S: -ERR AUTH not valid in the TRANSACTION state
        C: AUTH
        S: -ERR AUTH not valid in the TRANSACTION state
        C: STLS
        S: -ERR STLS not valid in the TRANSACTION state
        C: UTF8
        S: -ERR UTF8 not valid in the TRANSACTION state
        C: NOOP
        S: +OK
        ",
    );
}

#[test]
fn pass_must_follow_user_immediately() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.c("USER mrose");
    s.c("CAPA");
    s.take();
    s.c("PASS tanstaaf");
    s.expect(
        "
        C: PASS tanstaaf
        S: -ERR PASS must follow a successful USER
        ",
    );
}

#[test]
fn stls_discards_pipelined_plaintext() {
    let mut s = Session::new(
        ServerConfig::default().with_stls_offered(true),
        Model::new(&[]),
    );
    s.c("CAPA");
    // The injection: CAPA sent in the clear in the same packet as STLS.
    s.send(b"STLS\r\nCAPA\r\n");
    assert_eq!(s.server.io(), Io::AwaitingTls);
    assert_eq!(s.server.awaiting(), Awaiting::Tls);
    // Plaintext fed before the handshake is ignored too.
    s.send(b"USER mrose\r\n");
    s.tls();
    s.c("CAPA");
    s.c("STLS");
    s.expect(
        "
        S: +OK POP3 server ready
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: UIDL
        S: STLS
        S: .
        C: STLS
        C: CAPA
        S: +OK Begin TLS negotiation
        A: TlsStarting
        C: USER mrose
        C: <TLS handshake>
        A: TlsInjection discarded=18
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: USER
        S: SASL PLAIN LOGIN
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: UIDL
        S: .
        C: STLS
        S: -ERR Command not permitted when TLS active
        ",
    );
    assert!(s.server.is_tls());
}

#[test]
fn plaintext_logins_refused_before_tls() {
    let mut s = Session::new(
        ServerConfig::default()
            .with_stls_offered(true)
            .with_apop_timestamp(RFC_TIMESTAMP)
            .with_sasl_mechanisms([Mechanism::Plain, Mechanism::CramMd5]),
        Model::new(&[]),
    );
    s.take();
    s.c("USER mrose");
    s.c("AUTH PLAIN AG1yb3NlAHRhbnN0YWFm");
    s.c("AUTH");
    s.c("CAPA");
    s.expect(
        "
        C: USER mrose
        S: -ERR [AUTH] Plaintext authentication disallowed without TLS; use STLS first
        C: AUTH PLAIN AG1yb3NlAHRhbnN0YWFm
        S: -ERR [AUTH] Plaintext authentication disallowed without TLS; use STLS first
        C: AUTH
        S: +OK Supported SASL mechanisms follow
        S: CRAM-MD5
        S: .
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: SASL CRAM-MD5
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: UIDL
        S: STLS
        S: .
        ",
    );
    // CRAM-MD5 never sends the password: allowed, with the APOP timestamp as challenge.
    s.c("AUTH CRAM-MD5");
    let digest = {
        use mailproto_core::sasl::{ClientAuth, ClientCredentials, decode_line, encode_line};
        let mut client = ClientAuth::new(
            Mechanism::CramMd5,
            ClientCredentials::password("mrose", "tanstaaf"),
        )
        .unwrap();
        let t = s.take();
        let challenge = t.lines().nth(1).unwrap().strip_prefix("S: + ").unwrap();
        assert_eq!(
            decode_line(challenge.as_bytes()).unwrap(),
            RFC_TIMESTAMP.as_bytes()
        );
        let response = client
            .respond(&decode_line(challenge.as_bytes()).unwrap())
            .unwrap();
        let mut line = Vec::new();
        encode_line(&response, &mut line);
        String::from_utf8(line).unwrap()
    };
    s.c(&digest);
    assert!(s.take().contains("S: +OK mrose's maildrop has 0 messages"));
    assert_eq!(s.server.state(), State::Transaction);
}

#[test]
fn implicit_tls_allows_plaintext_and_refuses_stls() {
    let mut s = Session::new(
        ServerConfig::default()
            .with_tls_active(true)
            .with_stls_offered(true),
        Model::new(&[]),
    );
    s.take();
    s.c("STLS");
    s.c("USER mrose");
    s.expect(
        "
        C: STLS
        S: -ERR Command not permitted when TLS active
        C: USER mrose
        S: +OK send PASS
        ",
    );
}

#[test]
fn auth_plain_with_initial_response() {
    let mut s = Session::new(config(), Model::new(&[b"x\r\n"]));
    s.take();
    // authzid "", authcid "tim", passwd "tanstaaftanstaaf" (RFC 4954 style)
    s.c("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    s.expect(
        "
        C: AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm
        A: Auth tim
        S: +OK tim's maildrop has 1 message (3 octets)
        ",
    );
    assert!(matches!(
        &s.model.events[0],
        Event::Auth { credentials: Credentials::Plain { authcid, password, .. } }
            if authcid == "tim" && password.expose() == "tanstaaftanstaaf"
    ));
}

#[test]
fn auth_plain_without_initial_response_and_empty_initial_response() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.c("AUTH PLAIN");
    s.c("AHRpbQB0YW5zdGFhZg==");
    s.c("AUTH PLAIN =");
    s.expect(
        "
        C: AUTH PLAIN
        S: +\x20
        C: AHRpbQB0YW5zdGFhZg==
        A: Auth tim
        S: -ERR [AUTH] Authentication failed
        C: AUTH PLAIN =
        S: -ERR Authentication failed: malformed PLAIN message: expected [authzid] NUL authcid NUL passwd
        ",
    );
}

#[test]
fn auth_login_multi_step() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.c("AUTH LOGIN");
    s.c("dGlt");
    s.c("dGFuc3RhYWZ0YW5zdGFhZg==");
    s.expect(
        "
        C: AUTH LOGIN
        S: + VXNlcm5hbWU6
        C: dGlt
        S: + UGFzc3dvcmQ6
        C: dGFuc3RhYWZ0YW5zdGFhZg==
        A: Auth tim
        S: +OK tim's maildrop has 0 messages (0 octets)
        ",
    );
}

#[test]
fn auth_cancel_bad_base64_and_unknown_mechanism() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.c("AUTH LOGIN");
    s.c("*");
    s.c("AUTH LOGIN");
    s.c("not base64!");
    s.c("AUTH SCRAM-SHA-256");
    s.c("AUTH LOGIN dGlt");
    s.c("*");
    s.c("NOOP");
    s.expect(
        "
        C: AUTH LOGIN
        S: + VXNlcm5hbWU6
        C: *
        S: -ERR Authentication cancelled
        C: AUTH LOGIN
        S: + VXNlcm5hbWU6
        C: not base64!
        S: -ERR Authentication failed: invalid base64 at offset 3: character outside the alphabet
        C: AUTH SCRAM-SHA-256
        S: -ERR AUTH SCRAM-SHA-256 not supported
        C: AUTH LOGIN dGlt
        S: + UGFzc3dvcmQ6
        C: *
        S: -ERR Authentication cancelled
        C: NOOP
        S: -ERR NOOP not valid in the AUTHORIZATION state
        ",
    );
}

#[test]
fn auth_without_mechanism_lists_mechanisms() {
    let mut s = Session::new(
        config().with_sasl_mechanisms([
            Mechanism::Plain,
            Mechanism::Other("SCRAM-SHA-1".into()),
            Mechanism::XOAuth2,
            Mechanism::Plain,
        ]),
        Model::new(&[]),
    );
    s.take();
    s.c("AUTH");
    s.expect(
        "
        C: AUTH
        S: +OK Supported SASL mechanisms follow
        S: PLAIN
        S: XOAUTH2
        S: .
        ",
    );
}

#[test]
fn autologout_closes_without_update_or_response() {
    let mut s = logged_in(config(), &[b"x\r\n"]);
    // RFC 1939 §3: the autologout timer of the TRANSACTION state, 10 minutes.
    assert_eq!(
        s.server.poll_timeout(),
        Some(T0 + std::time::Duration::from_secs(600))
    );
    s.c("DELE 1");
    s.timeout();
    s.expect(
        "
        C: DELE 1
        S: +OK message 1 deleted
        C: <silence>
        A: Closed Timeout(Idle)
        ",
    );
    assert_eq!(s.server.io(), Io::Closed);
    assert_eq!(s.server.poll_timeout(), None);
    // AUTHORIZATION has its own, shorter idle deadline (2 minutes).
    let fresh = Server::new(T0, ServerConfig::default());
    assert_eq!(
        fresh.poll_timeout(),
        Some(T0 + std::time::Duration::from_secs(120))
    );
    // A shorter autologout is the operator's choice and kept as given.
    let short = ServerConfig::default().with_autologout(std::time::Duration::from_secs(5));
    assert_eq!(short.timeouts.idle, std::time::Duration::from_secs(5));
}

#[test]
fn a_slow_reader_of_a_long_retr_is_not_logged_out() {
    use mailproto_core::time::{Deadline, Duration, RateDeadline};
    let mut c = config();
    c.timeouts.idle = Duration::from_secs(10);
    c.timeouts.line = Duration::from_secs(5);
    c.timeouts.write = RateDeadline::new(Duration::from_secs(10), 500);
    let message: Vec<u8> = b"0123456789012345678901234567890123456789\r\n".repeat(800);
    let mut s = logged_in(c, &[&message]);
    // RETR with a NOOP pipelined behind it: the NOOP waits until the message was taken.
    s.server.feed(T0, b"RETR 1\r\nNOOP\r\n");
    let (mut handed, mut received) = (Vec::new(), Vec::new());
    let mut now = T0;
    // The client takes 1000 octets a second, twice the write deadline's minimum rate,
    // for longer than the autologout timer and the line deadline.
    for _ in 0..200 {
        while let Some(event) = s.server.poll_event() {
            s.model.answer(&mut s.server, event);
        }
        while s.server.poll_transmit(&mut handed) > 0 {}
        if handed.is_empty() {
            break;
        }
        now += Duration::from_secs(1);
        if s.server.poll_timeout().is_some_and(|due| due <= now) {
            s.server.handle_timeout(now);
        }
        assert_ne!(s.server.io(), Io::Closed, "closed at {now:?}");
        let n = handed.len().min(1000);
        s.server.transmitted(now, n);
        received.extend(handed.drain(..n));
    }
    assert!(now > T0 + Duration::from_secs(30), "{now:?}");
    assert!(
        received.ends_with(b"\r\n.\r\n+OK\r\n"),
        "{:?}",
        &received[received.len() - 20..]
    );
    // Once everything was taken, the autologout timer runs from there.
    assert_eq!(s.server.poll_timeout(), Some(now + Duration::from_secs(10)));
    s.server.handle_timeout(now + Duration::from_secs(10));
    assert!(matches!(
        s.server.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::Timeout(Deadline::Idle)
        })
    ));
}

#[test]
fn input_after_its_deadline_is_too_late() {
    use mailproto_core::time::{Deadline, Duration};
    let mut c = config();
    c.timeouts.line = Duration::from_secs(1);
    let mut s = logged_in(c, &[b"x\r\n"]);
    let sent = s.wire.len();
    s.server.feed(T0, b"DE");
    s.server.feed(T0 + Duration::from_millis(1500), b"LE 1\r\n");
    s.run();
    assert_eq!(&s.wire[sent..], b"");
    assert!(
        s.model
            .events
            .iter()
            .all(|e| !matches!(e, Event::Update { .. }))
    );
    assert!(matches!(
        s.model.events.last(),
        Some(Event::Closed {
            reason: CloseReason::Timeout(Deadline::Line)
        })
    ));
}

#[test]
fn capa_lists_configured_extensions_in_both_states() {
    let config = config()
        .with_pipelining(true)
        .with_expire(Expiry::Days(30))
        .with_login_delay(900)
        .with_implementation("mailproto")
        .with_utf8(true)
        .with_stls_offered(true)
        .with_sasl_mechanisms([Mechanism::Plain]);
    let mut s = Session::new(config, Model::new(&[]));
    s.take();
    s.c("CAPA");
    s.c("UTF8");
    s.c("STLS");
    s.c("USER mrose");
    s.c("PASS tanstaaf");
    s.c("CAPA");
    s.expect(
        "
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: USER
        S: SASL PLAIN
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: PIPELINING
        S: EXPIRE 30
        S: LOGIN-DELAY 900
        S: UIDL
        S: IMPLEMENTATION mailproto
        S: STLS
        S: UTF8
        S: .
        C: UTF8
        S: +OK UTF8 enabled
        C: STLS
        S: -ERR STLS not permitted after UTF8
        C: USER mrose
        S: +OK send PASS
        C: PASS tanstaaf
        A: Login mrose
        S: +OK mrose's maildrop has 0 messages (0 octets)
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: USER
        S: SASL PLAIN
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: PIPELINING
        S: EXPIRE 30
        S: LOGIN-DELAY 900
        S: UIDL
        S: IMPLEMENTATION mailproto
        S: UTF8
        S: .
        ",
    );
    assert!(s.server.utf8_enabled());
}

#[test]
fn pipelined_commands_answered_in_order_in_one_write() {
    let mut server = Server::new(T0, config().with_pipelining(true));
    let mut out = Vec::new();
    let _ = server.poll_transmit(&mut out);
    server.feed(
        T0,
        b"USER mrose\r\nPASS tanstaaf\r\nSTAT\r\nLIST\r\nNOOP\r\nQUIT\r\n",
    );
    assert_eq!(server.io(), Io::Open { wants_read: false });
    assert!(matches!(server.poll_event(), Some(Event::Login { .. })));
    assert_eq!(server.poll_event(), None, "STAT waits for the login answer");
    let model = Model::new(&[b"12\r\n"]);
    server.login_ok(T0, model.maildrop()).unwrap();
    assert_eq!(server.poll_event(), Some(Event::Update { deleted: vec![] }));
    server.update_done(T0).unwrap();
    out.clear();
    assert!(server.poll_transmit(&mut out) > 0);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "+OK send PASS\r\n+OK mrose's maildrop has 1 message (4 octets)\r\n+OK 1 4\r\n\
         +OK 1 message (4 octets)\r\n1 4\r\n.\r\n+OK\r\n\
         +OK POP3 server signing off (1 message left)\r\n"
    );
    assert_eq!(server.poll_transmit(&mut Vec::new()), 0);
}

#[test]
fn over_long_line_and_bare_lf_are_refused_and_reading_goes_on() {
    let mut s = logged_in(config(), &[b"x\r\n"]);
    let long = format!("NOOP {}", "x".repeat(300));
    s.c(&long);
    s.send(b"NOOP\nSTAT\r\n");
    s.send(b"NO\rOP\r\n");
    let mut huge = vec![b'A'; 10_000];
    huge.extend_from_slice(b"\r\nNOOP\r\n");
    s.send(&huge);
    let t = s.take();
    let responses: Vec<&str> = t.lines().filter(|l| l.starts_with("S: ")).collect();
    assert_eq!(
        responses,
        [
            "S: -ERR line of 307 octets exceeds the limit of 255",
            "S: -ERR line ended by bare LF (not preceded by CR)",
            "S: +OK 1 3",
            "S: -ERR bare CR (not followed by LF) in line",
            "S: -ERR line longer than 4096 octets",
            "S: +OK",
        ]
    );
}

#[test]
fn update_failed_reports_and_closes() {
    let mut s = logged_in(config(), &[b"x\r\n"]);
    s.model.update_fails = true;
    s.c("DELE 1");
    s.c("QUIT");
    s.expect(
        "
        C: DELE 1
        S: +OK message 1 deleted
        C: QUIT
        A: Update [1]
        S: -ERR some deleted messages not removed
        A: Closed Update { removed: false }
        ",
    );
}

#[test]
fn message_unavailable_and_abort() {
    let mut s = logged_in(config(), &[b"x\r\n", b"long message\r\n"]);
    s.model.unavailable = Some(1);
    s.model.abort = Some(2);
    s.c("RETR 1");
    s.c("RETR 2");
    s.expect(
        "
        C: RETR 1
        A: Retrieve 1
        S: -ERR message cannot be read
        C: RETR 2
        A: Retrieve 2
        S: +OK 14 octets
        A: Closed Aborted
        ",
    );
}

#[test]
fn apop_needs_a_timestamp() {
    let mut s = Session::new(
        ServerConfig::default().with_apop_timestamp("not a timestamp"),
        Model::new(&[]),
    );
    s.c("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    s.expect(
        "
        S: +OK POP3 server ready
        C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
        S: -ERR APOP not supported
        ",
    );
    assert_eq!(s.server.apop_timestamp(), None);
}

#[test]
fn misuse_hands_the_argument_back_and_changes_nothing() {
    let mut server = Server::new(T0, config());
    let maildrop = Model::new(&[b"x\r\n"]).maildrop();
    let err = server.login_ok(T0, maildrop.clone()).unwrap_err();
    assert_eq!(
        err.kind(),
        &MisuseKind::NotAwaited {
            awaiting: Awaiting::Command
        }
    );
    assert_eq!(
        err.to_string(),
        "login_ok refused: the POP3 server awaits the next command"
    );
    assert_eq!(err.into_value(), maildrop);
    assert!(server.message_data(T0, b"x").is_err());
    assert!(server.message_end(T0).is_err());
    assert!(server.update_done(T0).is_err());
    assert_eq!(server.state(), State::Authorization);

    server.feed(T0, b"USER mrose\r\nPASS tanstaaf\r\n");
    let _ = server.poll_event();
    let ok = Status::ok("fine");
    let err = server.login_error(T0, ok.clone()).unwrap_err();
    assert_eq!(err.kind(), &MisuseKind::PositiveStatus);
    assert_eq!(err.value(), &ok);
    let bad = Status::err("two\r\nlines");
    assert!(matches!(
        server.login_error(T0, bad).unwrap_err().kind(),
        MisuseKind::InvalidStatus(_)
    ));
    assert!(server.message_start(T0).is_err());
    assert_eq!(server.awaiting(), Awaiting::Login);
    server.login_ok(T0, Maildrop::default()).unwrap();
    assert_eq!(server.state(), State::Transaction);
    let mut out = Vec::new();
    let _ = server.poll_transmit(&mut out);
    assert!(
        String::from_utf8(out)
            .unwrap()
            .ends_with("+OK mrose's maildrop has 0 messages (0 octets)\r\n")
    );
}

#[test]
fn eof_while_a_question_is_open_closes_after_the_answer() {
    let mut server = Server::new(T0, config());
    server.feed(T0, b"USER mrose\r\nPASS tanstaaf\r\nSTAT\r\n");
    server.feed_eof(T0);
    assert!(matches!(server.poll_event(), Some(Event::Login { .. })));
    assert_eq!(server.state(), State::Authorization);
    server.login_ok(T0, Maildrop::default()).unwrap();
    assert_eq!(
        server.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::PeerClosed
        })
    );
    let mut out = Vec::new();
    let _ = server.poll_transmit(&mut out);
    assert!(String::from_utf8(out).unwrap().ends_with("+OK 0 0\r\n"));
}

#[test]
fn protocol_errors_are_reported_for_logging() {
    let mut server = Server::new(T0, config());
    server.feed(T0, b"FOO bar\r\nSTAT\r\n");
    assert_eq!(
        server.poll_event(),
        Some(Event::ProtocolError {
            error: ProtocolError::Unsupported {
                command: "FOO".into()
            }
        })
    );
    assert_eq!(
        server.poll_event(),
        Some(Event::ProtocolError {
            error: ProtocolError::WrongState {
                command: "STAT".into(),
                state: State::Authorization
            }
        })
    );
}

#[test]
fn list_flood_keeps_output_bounded() {
    let many: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("message {i}\r\n").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    let mut s = logged_in(config(), &refs);
    s.show_events = false;
    let flood = "LIST\r\n".repeat(500);
    s.server.feed(T0, flood.as_bytes());
    // Processing pauses once 32 KiB wait; the rest waits for the output to be taken.
    assert_eq!(s.server.io(), Io::Open { wants_read: false });
    let mut total = 0;
    let mut max_chunk = 0;
    loop {
        let mut out = Vec::new();
        let n = s.server.poll_transmit(&mut out);
        if n == 0 {
            break;
        }
        // The client takes it: held-back commands go on (not before).
        assert_eq!(s.server.poll_transmit(&mut Vec::new()), 0);
        s.server.transmitted(T0, n);
        total += n;
        max_chunk = max_chunk.max(n);
    }
    let one_list = "+OK 2000 messages (27780 octets)\r\n".len()
        + (1..=2000)
            .map(|i| format!("{i} {}\r\n", format!("message {}\r\n", i - 1).len()).len())
            .sum::<usize>()
        + 3;
    assert_eq!(total, 500 * one_list);
    assert!(max_chunk < 32 * 1024 + one_list);
    assert_eq!(s.server.io(), Io::Open { wants_read: true });
}

#[test]
fn feeding_while_not_wanted_is_bounded() {
    // At least twice the longest line is held, as in every machine.
    let mut server = Server::new(T0, config().with_max_buffered_input(10_000));
    server.feed(T0, b"USER mrose\r\nPASS tanstaaf\r\n");
    assert_eq!(server.io(), Io::Open { wants_read: false });
    server.feed(T0, &[b'x'; 9_999]);
    assert_ne!(server.io(), Io::Closed);
    server.feed(T0, b"NOOP\r\n");
    assert_eq!(server.io(), Io::Closed);
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(events.contains(&Event::Closed {
        reason: CloseReason::InputOverflow
    }));
}

#[test]
fn server_is_send_and_greeting_text_cannot_inject_lines() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Server>();
    assert_send::<Event>();

    let mut s = Session::new(
        ServerConfig::default()
            .with_greeting("hi\r\n+OK injected")
            .with_apop_timestamp(RFC_TIMESTAMP),
        Model::new(&[]),
    );
    s.expect("S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>");
}

#[test]
fn cram_md5_is_offered_only_with_a_challenge() {
    let mechanisms = [Mechanism::CramMd5, Mechanism::Plain];
    let mut s = Session::new(
        ServerConfig::default()
            .with_plaintext_login(true)
            .with_sasl_mechanisms(mechanisms.clone()),
        Model::new(&[]),
    );
    s.take();
    s.c("AUTH");
    s.c("AUTH CRAM-MD5");
    s.expect(
        "
        C: AUTH
        S: +OK Supported SASL mechanisms follow
        S: PLAIN
        S: .
        C: AUTH CRAM-MD5
        S: -ERR AUTH CRAM-MD5 not supported
        ",
    );
    let sasl = mailproto_core::sasl::ServerAuthConfig::default()
        .with_cram_md5_challenge("<1896.697170952@postoffice.reston.mci.net>");
    let mut s = Session::new(
        ServerConfig::default()
            .with_sasl_mechanisms(mechanisms)
            .with_sasl_config(sasl),
        Model::new(&[]),
    );
    s.take();
    s.c("AUTH CRAM-MD5");
    // RFC 2195 §2 example challenge.
    s.expect(
        "
        C: AUTH CRAM-MD5
        S: + PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
        ",
    );
}

#[test]
fn a_refused_line_between_user_and_pass_drops_the_user() {
    let mut s = Session::new(config(), Model::new(&[]));
    s.take();
    s.send(b"USER mrose\r\nbad\nPASS tanstaaf\r\n");
    let t = s.take();
    assert!(
        t.ends_with("S: -ERR PASS must follow a successful USER\n"),
        "{t}"
    );
}
