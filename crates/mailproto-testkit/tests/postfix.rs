//! A real Postfix `smtpd` on loopback, driven with plain sockets: the greeting and EHLO
//! (RFC 5321 §4.1.1.1, STARTTLS per RFC 3207), a transaction delivered into a Maildir
//! (§3.3, dot-stuffing §4.5.2), recipients refused with 450 and 550 (§4.2.1), bare LF in
//! DATA (§2.3.8, `smtpd_forbid_bare_newline`), AUTH PLAIN through Dovecot (RFC 4954,
//! RFC 4616), and two instances side by side.
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mailproto_std::tls::{SelfSigned, server_name};
use mailproto_testkit::{Postfix, PostfixOptions};

/// Every wait on a socket, and on a delivery, is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

/// A client session over any byte stream: commands out, replies in.
struct Session<S: Read + Write> {
    io: BufReader<S>,
}

impl<S: Read + Write> Session<S> {
    fn new(stream: S) -> Self {
        Session {
            io: BufReader::new(stream),
        }
    }

    /// One reply, possibly multi-line: its code and its lines (without CRLF).
    fn reply(&mut self) -> (u16, Vec<String>) {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.io.read_line(&mut line).expect("read a reply line");
            assert!(n > 0, "the server closed the connection after {lines:?}");
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        let code = lines[0][..3].parse().expect("a reply code");
        (code, lines)
    }

    /// Send raw bytes.
    fn send(&mut self, bytes: &[u8]) {
        self.io
            .get_mut()
            .write_all(bytes)
            .expect("write to the server");
    }

    /// `C: line` then the reply.
    fn command(&mut self, line: &str) -> (u16, Vec<String>) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}

/// A plaintext session on the fixture's port, past the greeting.
fn connect(postfix: &Postfix) -> Session<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", postfix.port)).expect("connect to Postfix");
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let mut session = Session::new(tcp);
    let (code, greeting) = session.reply();
    assert_eq!(code, 220, "S: {greeting:?}\n{}", postfix.log());
    session
}

/// `C: EHLO client.test`, expecting 250; the keywords, upper-cased.
fn ehlo<S: Read + Write>(session: &mut Session<S>) -> Vec<String> {
    let (code, lines) = session.command("EHLO client.test");
    assert_eq!(code, 250, "{lines:?}");
    lines[1..]
        .iter()
        .map(|l| l[4..].to_ascii_uppercase())
        .collect()
}

/// Base64 (RFC 4648 §4), for AUTH PLAIN.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Start Postfix, timing it.
fn start(test: &str, options: &PostfixOptions) -> Option<Postfix> {
    let started = Instant::now();
    let postfix = Postfix::start(test, options)?;
    eprintln!("{test}: Postfix up in {:?}", started.elapsed());
    Some(postfix)
}

#[test]
fn postfix_greets_and_offers_starttls() {
    let test = "postfix_greets_and_offers_starttls";
    let cert = SelfSigned::generate(&[Postfix::DOMAIN]).unwrap();
    let options = PostfixOptions {
        tls: Some((cert.cert_pem.clone(), cert.key_pem.clone())),
        ..PostfixOptions::default()
    };
    let Some(postfix) = start(test, &options) else {
        return;
    };
    // S: 220 mx.test ESMTP Postfix
    let mut session = connect(&postfix);
    // C: EHLO client.test / S: 250-mx.test ... 250-STARTTLS ... 250 SMTPUTF8
    let keywords = ehlo(&mut session);
    for wanted in ["STARTTLS", "PIPELINING", "8BITMIME", "SMTPUTF8"] {
        assert!(
            keywords.iter().any(|k| k == wanted),
            "{wanted} in {keywords:?}"
        );
    }
    // C: STARTTLS / S: 220 2.0.0 Ready to start TLS
    let (code, lines) = session.command("STARTTLS");
    assert_eq!(code, 220, "{lines:?}");
    let tcp = session.io.into_inner();
    let client = rustls::ClientConnection::new(
        cert.client_config().unwrap(),
        server_name(Postfix::DOMAIN).unwrap(),
    )
    .unwrap();
    let mut tls = Session::new(rustls::StreamOwned::new(client, tcp));
    // C: EHLO client.test (over TLS) / S: 250 ... no STARTTLS any more
    let keywords = ehlo(&mut tls);
    assert!(
        !keywords.iter().any(|k| k == "STARTTLS"),
        "STARTTLS again after TLS: {keywords:?}\n{}",
        postfix.log()
    );
    let (code, lines) = tls.command("QUIT");
    assert_eq!(code, 221, "{lines:?}");
}

#[test]
fn postfix_delivers_into_a_maildir() {
    let test = "postfix_delivers_into_a_maildir";
    let Some(postfix) = start(test, &PostfixOptions::default()) else {
        return;
    };
    let mut session = connect(&postfix);
    let keywords = ehlo(&mut session);
    assert!(
        !keywords.iter().any(|k| k == "STARTTLS"),
        "no STARTTLS without a certificate: {keywords:?}"
    );
    // C: MAIL FROM:<sender@client.test> / S: 250 2.1.0 Ok
    let (code, lines) = session.command("MAIL FROM:<sender@client.test>");
    assert_eq!(code, 250, "{lines:?}");
    // C: RCPT TO:<Ann@mx.test> / S: 250 2.1.5 Ok
    let (code, lines) = session.command("RCPT TO:<Ann@mx.test>");
    assert_eq!(code, 250, "{lines:?}\n{}", postfix.log());
    // C: DATA / S: 354 End data with <CR><LF>.<CR><LF>
    let (code, lines) = session.command("DATA");
    assert_eq!(code, 354, "{lines:?}");
    session.send(b"Subject: to the Maildir\r\n\r\nHello, Ann.\r\n..a stuffed dot\r\n.\r\n");
    // S: 250 2.0.0 Ok: queued as ...
    let (code, lines) = session.reply();
    assert_eq!(code, 250, "{lines:?}\n{}", postfix.log());
    let (code, _) = session.command("QUIT");
    assert_eq!(code, 221);

    let messages = postfix.wait_delivered("ann@mx.test", 1, WAIT);
    assert_eq!(messages.len(), 1, "one delivery:\n{}", postfix.log());
    let text = String::from_utf8_lossy(&messages[0]);
    for wanted in [
        "Return-Path: <sender@client.test>\n",
        "Delivered-To: Ann@mx.test\n",
        "Subject: to the Maildir\n",
        "\nHello, Ann.\n.a stuffed dot\n",
    ] {
        assert!(text.contains(wanted), "{wanted:?} in {text}");
    }
    for unwanted in ["Message-Id:", "Date:", "From:"] {
        assert!(!text.contains(unwanted), "no {unwanted} added: {text}");
    }
}

#[test]
fn postfix_refuses_recipients_as_configured() {
    let test = "postfix_refuses_recipients_as_configured";
    let options = PostfixOptions {
        recipient_replies: vec![
            ("busy@mx.test".into(), "450 4.2.0 try later".into()),
            ("gone@mx.test".into(), "550 5.1.1 no such user".into()),
        ],
        ..PostfixOptions::default()
    };
    let Some(postfix) = start(test, &options) else {
        return;
    };
    let mut session = connect(&postfix);
    ehlo(&mut session);
    let (code, lines) = session.command("MAIL FROM:<sender@client.test>");
    assert_eq!(code, 250, "{lines:?}");
    // C: RCPT TO:<busy@mx.test> / S: 450 4.2.0 <busy@mx.test>: Recipient address rejected: try later
    let (code, lines) = session.command("RCPT TO:<busy@mx.test>");
    assert_eq!(code, 450, "{lines:?}\n{}", postfix.log());
    assert!(
        lines[0].starts_with("450 4.2.0 ") && lines[0].ends_with("try later"),
        "{lines:?}"
    );
    // C: RCPT TO:<Gone@MX.test> / S: 550 5.1.1 <Gone@MX.test>: Recipient address rejected: no such user
    let (code, lines) = session.command("RCPT TO:<Gone@MX.test>");
    assert_eq!(code, 550, "{lines:?}\n{}", postfix.log());
    assert!(
        lines[0].starts_with("550 5.1.1 ") && lines[0].ends_with("no such user"),
        "{lines:?}"
    );
    // C: RCPT TO:<bad/name@mx.test> / S: 550 5.1.1 ... User unknown in virtual mailbox table
    let (code, lines) = session.command("RCPT TO:<bad/name@mx.test>");
    assert_eq!(code, 550, "{lines:?}");
    // C: RCPT TO:<ann@mx.test> / S: 250 2.1.5 Ok
    let (code, lines) = session.command("RCPT TO:<ann@mx.test>");
    assert_eq!(code, 250, "{lines:?}");
    let (code, lines) = session.command("DATA");
    assert_eq!(code, 354, "{lines:?}");
    session.send(b"Subject: only for Ann\r\n\r\nHi.\r\n.\r\n");
    let (code, lines) = session.reply();
    assert_eq!(code, 250, "{lines:?}");
    let messages = postfix.wait_delivered("ann", 1, WAIT);
    assert_eq!(messages.len(), 1, "{}", postfix.log());
    assert!(postfix.delivered("busy").is_empty() && postfix.delivered("gone").is_empty());
}

/// `smtpd_forbid_bare_newline = yes` (normalize): a line ending in a bare LF is taken as
/// if it ended in CRLF, and neither `<LF>.<LF>` nor `<LF>.<CR><LF>` ends the data, so the
/// smuggled "second message" stays inside the first (RFC 5321 §2.3.8, §4.1.1.4). Postfix
/// drops such a lone `.` line from the content (it is not kept as an empty line).
#[test]
fn postfix_normalizes_a_bare_newline() {
    let test = "postfix_normalizes_a_bare_newline";
    let Some(postfix) = start(test, &PostfixOptions::default()) else {
        return;
    };
    let mut session = connect(&postfix);
    ehlo(&mut session);
    let (code, _) = session.command("MAIL FROM:<sender@client.test>");
    assert_eq!(code, 250);
    let (code, _) = session.command("RCPT TO:<ann@mx.test>");
    assert_eq!(code, 250);
    let (code, _) = session.command("DATA");
    assert_eq!(code, 354);
    session.send(
        b"Subject: bare\r\n\r\none\ntwo\r\n\n.\nMAIL FROM:<smuggler@client.test>\r\n\
          ..stuffed\n.\r\nlast\r\n.\r\n",
    );
    // S: 250 2.0.0 Ok: queued as ... (one message: nothing above ended the data)
    let (code, lines) = session.reply();
    assert_eq!(code, 250, "{lines:?}\n{}", postfix.log());
    let (code, lines) = session.command("QUIT");
    assert_eq!(code, 221, "one reply to DATA, then QUIT's: {lines:?}");
    let messages = postfix.wait_delivered("ann", 1, WAIT);
    assert_eq!(messages.len(), 1, "{}", postfix.log());
    let text = String::from_utf8_lossy(&messages[0]);
    assert!(
        text.ends_with("\none\ntwo\n\nMAIL FROM:<smuggler@client.test>\n.stuffed\nlast\n"),
        "{text:?}"
    );
}

/// `smtpd_forbid_bare_newline = reject`: a message with a bare LF is refused at its end;
/// the session goes on.
#[test]
fn postfix_rejects_a_bare_newline_when_told() {
    let test = "postfix_rejects_a_bare_newline_when_told";
    let options = PostfixOptions {
        extra: vec![("smtpd_forbid_bare_newline".into(), "reject".into())],
        ..PostfixOptions::default()
    };
    let Some(postfix) = start(test, &options) else {
        return;
    };
    let mut session = connect(&postfix);
    ehlo(&mut session);
    let (code, _) = session.command("MAIL FROM:<sender@client.test>");
    assert_eq!(code, 250);
    let (code, _) = session.command("RCPT TO:<ann@mx.test>");
    assert_eq!(code, 250);
    let (code, _) = session.command("DATA");
    assert_eq!(code, 354);
    session.send(b"Subject: bare\r\n\r\none\ntwo\r\n.\r\n");
    // S: 550 5.5.2 mx.test Error: bare <LF> received
    let (code, lines) = session.reply();
    assert_eq!(code, 550, "{lines:?}\n{}", postfix.log());
    // Postfix 3.7 refuses the message, not the session: a clean one goes through, and is
    // the only one delivered.
    let (code, lines) = session.command("MAIL FROM:<sender@client.test>");
    assert_eq!(code, 250, "{lines:?}");
    let (code, _) = session.command("RCPT TO:<ann@mx.test>");
    assert_eq!(code, 250);
    let (code, _) = session.command("DATA");
    assert_eq!(code, 354);
    session.send(b"Subject: clean\r\n\r\none\r\ntwo\r\n.\r\n");
    let (code, lines) = session.reply();
    assert_eq!(code, 250, "{lines:?}");
    let messages = postfix.wait_delivered("ann", 1, WAIT);
    assert_eq!(messages.len(), 1, "{}", postfix.log());
    let text = String::from_utf8_lossy(&messages[0]);
    assert!(text.contains("Subject: clean\n"), "{text}");
}

#[test]
fn postfix_authenticates_through_dovecot() {
    let test = "postfix_authenticates_through_dovecot";
    let options = PostfixOptions {
        users: vec![("ann".into(), "secret".into())],
        ..PostfixOptions::default()
    };
    let Some(postfix) = start(test, &options) else {
        return;
    };
    let mut session = connect(&postfix);
    // S: 250-AUTH PLAIN LOGIN
    let keywords = ehlo(&mut session);
    let auth = keywords.iter().find(|k| k.starts_with("AUTH "));
    assert!(
        auth.is_some_and(|k| k.split(' ').any(|m| m == "PLAIN")),
        "AUTH PLAIN in {keywords:?}\n{}",
        postfix.log()
    );
    // C: AUTH PLAIN <\0ann\0wrong> / S: 535 5.7.8 Error: authentication failed
    let (code, lines) = session.command(&format!("AUTH PLAIN {}", base64(b"\0ann\0wrong")));
    assert_eq!(code, 535, "{lines:?}\n{}", postfix.log());
    // C: AUTH PLAIN <\0ann\0secret> / S: 235 2.7.0 Authentication successful
    let (code, lines) = session.command(&format!("AUTH PLAIN {}", base64(b"\0ann\0secret")));
    assert_eq!(code, 235, "{lines:?}\n{}", postfix.log());
    // C: AUTH PLAIN ... / S: 503 5.5.1 Error: already authenticated
    let (code, lines) = session.command(&format!("AUTH PLAIN {}", base64(b"\0ann\0secret")));
    assert_eq!(code, 503, "{lines:?}");
}

#[test]
fn two_postfix_instances_run_side_by_side() {
    let test = "two_postfix_instances_run_side_by_side";
    let Some(first) = start(test, &PostfixOptions::default()) else {
        return;
    };
    let Some(second) = start(test, &PostfixOptions::default()) else {
        return;
    };
    assert_ne!(first.port, second.port);
    for (postfix, user) in [(&first, "one"), (&second, "two")] {
        let mut session = connect(postfix);
        ehlo(&mut session);
        for line in [
            "MAIL FROM:<sender@client.test>".to_string(),
            format!("RCPT TO:<{user}@mx.test>"),
        ] {
            let (code, lines) = session.command(&line);
            assert_eq!(code, 250, "{lines:?}\n{}", postfix.log());
        }
        let (code, _) = session.command("DATA");
        assert_eq!(code, 354);
        session.send(format!("Subject: for {user}\r\n\r\nHi.\r\n.\r\n").as_bytes());
        let (code, lines) = session.reply();
        assert_eq!(code, 250, "{lines:?}");
    }
    assert_eq!(
        first.wait_delivered("one", 1, WAIT).len(),
        1,
        "{}",
        first.log()
    );
    assert_eq!(
        second.wait_delivered("two", 1, WAIT).len(),
        1,
        "{}",
        second.log()
    );
    assert!(first.delivered("two").is_empty() && second.delivered("one").is_empty());
}
