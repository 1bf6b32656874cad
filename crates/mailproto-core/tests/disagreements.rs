//! Where two copies of one RFC rule disagreed, or a rule was read wrongly, and the
//! protocol tables and the shared SASL and codec layers settled it: one test per case.

use mailproto_core::pop3;
use mailproto_core::sasl::{AuthError, ClientAuth, ClientCredentials, ClientExchange, Mechanism};
use mailproto_core::smtp::client::{
    BodyMode, Client, ClientConfig, ClientError, CloseReason, Event,
};
use mailproto_core::smtp::server::{Server, ServerConfig};
use mailproto_core::smtp::{
    Body, Domain, ForwardPath, Host, MailParams, Mailbox, RcptParams, ReversePath,
};
use mailproto_core::{Instant, Machine};

const T0: Instant = Instant::ZERO;

/// The server's replies to `line`, as text.
fn say(server: &mut Server, line: &str) -> String {
    server.feed(T0, line.as_bytes());
    while server.poll_event().is_some() {}
    let mut out = Vec::new();
    while server.poll_transmit(&mut out) > 0 {}
    server.transmitted(T0, out.len());
    String::from_utf8(out).unwrap()
}

fn server(config: ServerConfig) -> Server {
    let mut s = Server::new(T0, config);
    say(&mut s, "");
    s
}

fn mailbox(l: &str, d: &str) -> Mailbox {
    Mailbox {
        local_part: l.into(),
        domain: Host::Domain(Domain::new(d).unwrap()),
    }
}

/// A client that has read `ehlo` as the EHLO reply.
fn client_after(ehlo: &str) -> Client {
    let mut c = Client::new(
        T0,
        ClientConfig::new(Host::Domain(Domain::new("c.example").unwrap())),
    );
    c.feed(T0, b"220 mx.example.org\r\n");
    while c.poll_event().is_some() {}
    c.ehlo(T0).unwrap();
    let mut out = Vec::new();
    while c.poll_transmit(&mut out) > 0 {}
    c.transmitted(T0, out.len());
    c.feed(T0, ehlo.as_bytes());
    while c.poll_event().is_some() {}
    c
}

/// The client sent `BODY=7BIT` to servers that did not advertise 8BITMIME; the server
/// refused it (RFC 6152 §3: BODY is 8BITMIME's parameter). Now neither side allows it.
#[test]
fn body_7bit_needs_8bitmime_on_both_sides() {
    let mut c = client_after("250 mx.example.org\r\n");
    let mut params = MailParams::default();
    params.body = Some(Body::SevenBit);
    let refused = c
        .send_envelope(
            T0,
            ReversePath::Mailbox(mailbox("a", "example.net")),
            params,
            vec![(
                ForwardPath::Mailbox(mailbox("b", "example.org")),
                RcptParams::default(),
            )],
            BodyMode::Data,
        )
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        &ClientError::NotAdvertised {
            extension: "8BITMIME"
        }
    );
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.eight_bit_mime = false;
    let mut s = server(config);
    say(&mut s, "EHLO c.example\r\n");
    assert_eq!(
        say(&mut s, "MAIL FROM:<a@example.net> BODY=7BIT\r\n"),
        "555 5.5.4 BODY parameter not supported\r\n"
    );
}

/// RFC 3207 §4: STARTTLS is an EHLO extension; before EHLO the server answers 503.
#[test]
fn starttls_before_ehlo_is_out_of_sequence() {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.starttls = true;
    let mut s = server(config);
    assert_eq!(
        say(&mut s, "STARTTLS\r\n"),
        "503 5.5.1 Error: send EHLO first\r\n"
    );
    say(&mut s, "EHLO c.example\r\n");
    assert_eq!(
        say(&mut s, "STARTTLS\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
}

/// RFC 5321 §4.2.4: 502 for a command the RFCs define and this server does not
/// implement; 500 stays for what it does not recognise.
#[test]
fn known_unimplemented_verbs_get_502() {
    let mut s = server(ServerConfig::new("mx.example.org"));
    say(&mut s, "EHLO c.example\r\n");
    for verb in ["TURN", "ETRN example.org", "SAML FROM:<a@b>"] {
        assert_eq!(
            say(&mut s, &format!("{verb}\r\n")),
            "502 5.5.1 Error: command not implemented\r\n",
            "{verb}"
        );
    }
    assert_eq!(
        say(&mut s, "XYZZY\r\n"),
        "500 5.5.2 Error: command not recognized\r\n"
    );
}

/// RFC 4954 §4: an initial response for a mechanism where the server speaks first gets
/// 501 with the enhanced code 5.7.0 (was 5.5.2, the code of bad base64).
#[test]
fn unexpected_initial_response_gets_5_7_0() {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.auth = vec![Mechanism::CramMd5];
    config.cram_md5_challenge = Some("<1.2@mx.example.org>".into());
    let mut s = server(config);
    say(&mut s, "EHLO c.example\r\n");
    let reply = say(&mut s, "AUTH CRAM-MD5 dGVzdA==\r\n");
    assert!(reply.starts_with("501 5.7.0 "), "{reply}");
}

/// RFC 4954 §6: 538 is kept for history only. A password mechanism refused for lack of
/// encryption, with no STARTTLS to offer, gets 504 5.7.11.
#[test]
fn encryption_required_without_538() {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.auth = vec![Mechanism::Plain];
    let mut s = server(config);
    say(&mut s, "EHLO c.example\r\n");
    assert_eq!(
        say(&mut s, "AUTH PLAIN\r\n"),
        "504 5.7.11 Encryption required for requested authentication mechanism\r\n"
    );
}

/// RFC 2195 §2 wants a fresh challenge for every exchange: a second CRAM-MD5 attempt in
/// one session no longer repeats the first one's challenge (SMTP and POP3).
#[test]
fn cram_md5_challenge_is_fresh_for_every_attempt() {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.auth = vec![Mechanism::CramMd5];
    config.cram_md5_challenge = Some("<1896.697170952@mx.example.org>".into());
    let mut s = server(config);
    say(&mut s, "EHLO c.example\r\n");
    let first = say(&mut s, "AUTH CRAM-MD5\r\n");
    say(&mut s, "*\r\n");
    let second = say(&mut s, "AUTH CRAM-MD5\r\n");
    assert!(first.starts_with("334 ") && second.starts_with("334 "));
    assert_ne!(first, second);

    let config = pop3::server::ServerConfig::default()
        .with_apop_timestamp("<1896.697170952@dbc.mtview.ca.us>")
        .with_plaintext_login(true)
        .with_sasl_mechanisms([Mechanism::CramMd5]);
    let mut p = pop3::server::Server::new(T0, config);
    let take = |p: &mut pop3::server::Server, line: &[u8]| {
        p.feed(T0, line);
        while p.poll_event().is_some() {}
        let mut out = Vec::new();
        while p.poll_transmit(&mut out) > 0 {}
        p.transmitted(T0, out.len());
        String::from_utf8(out).unwrap()
    };
    take(&mut p, b"");
    let first = take(&mut p, b"AUTH CRAM-MD5\r\n");
    take(&mut p, b"*\r\n");
    let second = take(&mut p, b"AUTH CRAM-MD5\r\n");
    assert!(
        first.starts_with("+ ") && second.starts_with("+ "),
        "{first} {second}"
    );
    assert_ne!(first, second);
}

/// The client closed the session on any reply line over 512 octets; it now reads lines
/// up to 4096 (servers do send longer ones) while its own lines stay within 512.
#[test]
fn client_reads_reply_lines_longer_than_512() {
    let long = "x".repeat(1500);
    let mut c = client_after("250 mx.example.org\r\n");
    c.noop(T0).unwrap();
    let mut out = Vec::new();
    while c.poll_transmit(&mut out) > 0 {}
    c.transmitted(T0, out.len());
    c.feed(T0, format!("250 2.0.0 {long}\r\n").as_bytes());
    match c.poll_event() {
        Some(Event::Noop(reply)) => assert_eq!(reply.lines[0], format!("{long}")),
        other => panic!("{other:?}"),
    }
    // Beyond the configured bound it still refuses.
    c.noop(T0).unwrap();
    c.feed(T0, format!("250 {}\r\n", "y".repeat(5000)).as_bytes());
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| matches!(
        e,
        Event::Closed {
            reason: CloseReason::Protocol(_)
        }
    )));
}

/// The two clients cancelled a SASL exchange after different numbers of rounds (8 for
/// SMTP, 16 for POP3); one driver now gives both the same default.
#[test]
fn one_round_limit_for_both_clients() {
    assert_eq!(
        ClientConfig::default().max_auth_rounds,
        pop3::client::ClientConfig::default().max_auth_rounds
    );
    // The shared driver enforces the limit for both.
    let auth = ClientAuth::new(Mechanism::Login, ClientCredentials::password("u", "p")).unwrap();
    let mut exchange = ClientExchange::new(auth, 1);
    let mut out = Vec::new();
    exchange.answer(b"VXNlcm5hbWU6", &mut out).unwrap();
    assert_eq!(out, b"dQ==\r\n");
    out.clear();
    assert_eq!(
        exchange.answer(b"UGFzc3dvcmQ6", &mut out),
        Err(AuthError::TooManyRounds { max: 1 })
    );
    assert_eq!(out, b"*\r\n");
    assert!(exchange.is_cancelled());
}
