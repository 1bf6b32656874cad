//! The pooled SMTP transport of every adapter: sessions reused (and not, when the pool
//! keeps none), a session the server closed while idle replaced without the caller
//! noticing, a bounded wait for a session, a message whose end of data got no answer
//! reported as "outcome unknown" and never sent twice, and the envelope taken from the
//! message's header with `Bcc:` left out of what is sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mailproto_engine::message::Message;
use mailproto_engine::smtp_client::SendReport;
use mailproto_engine::tls::ClientTls;
use mailproto_engine::transport::{PoolOptions, SmtpConfig};
use mailproto_engine::{Error, Refusal};
use mailproto_testkit::{Postfix, PostfixOptions};

use super::pop3::cert;
use super::{Adapter, Stored};

/// A transport as the suite drives it (the async ones through their executor).
pub trait TransportOps: Send + Sync {
    fn send(&self, message: &Message) -> Result<SendReport, Error>;
    /// Sessions open and idle.
    fn sessions(&self) -> (usize, usize);
}

const MESSAGE: &[u8] = b"From: Alice <alice@client.test>\r\n\
To: Bob <bob@mx.test>, \"Carol C.\" <carol@mx.test>\r\n\
Cc: dave@mx.test (Dave)\r\n\
Bcc: Eve <eve@mx.test>,\r\n frank@mx.test\r\n\
Subject: pooled\r\n\
\r\n\
Hello.\r\n";

fn message() -> Message {
    Message::from_bytes(MESSAGE).expect("a message with its envelope")
}

fn local(port: u16, pool: PoolOptions) -> SmtpConfig {
    SmtpConfig::plain("127.0.0.1")
        .with_port(port)
        .with_tls(ClientTls::accept_invalid_certs())
        .with_pool(pool)
}

/// Ten messages over one pooled session; with a pool that keeps none, ten sessions.
/// The envelope comes from From/To/Cc/Bcc and no stored message holds `Bcc:`.
pub fn pooled_sessions_are_reused<A: Adapter>() {
    let cert = cert();
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server(super::smtp::config(), store.clone(), &cert, false);
    let pooled = A::smtp_transport(local(server.port(), PoolOptions::default()));
    for _ in 0..10 {
        let report = pooled.send(&message()).unwrap();
        assert!(report.all_accepted(), "{report:?}");
    }
    assert_eq!(pooled.sessions(), (1, 1), "one session, idle again");
    let fresh = A::smtp_transport(local(server.port(), PoolOptions::none()));
    for _ in 0..10 {
        fresh.send(&message()).unwrap();
    }
    assert_eq!(fresh.sessions(), (0, 0));
    let stored: Vec<Stored> = store.lock().unwrap().clone();
    assert_eq!(stored.len(), 20);
    let sessions = |s: &[Stored]| {
        let mut ports: Vec<u16> = s.iter().map(|m| m.peer.unwrap().port()).collect();
        ports.dedup();
        ports.len()
    };
    assert_eq!(sessions(&stored[..10]), 1, "pooled: one connection");
    assert_eq!(sessions(&stored[10..]), 10, "no pool: a connection each");
    for m in &stored {
        assert_eq!(m.from, "<alice@client.test>");
        assert_eq!(
            m.to,
            [
                "<bob@mx.test>",
                "<carol@mx.test>",
                "<dave@mx.test>",
                "<eve@mx.test>",
                "<frank@mx.test>"
            ]
        );
        let text = String::from_utf8_lossy(&m.data).to_ascii_lowercase();
        assert!(!text.contains("bcc") && !text.contains("eve") && !text.contains("frank"));
        assert!(text.contains("subject: pooled"), "{text}");
    }
}

/// A scripted SMTP server on a loopback port: it accepts connections one after another,
/// answers EHLO/MAIL/RCPT/DATA/RSET/NOOP/QUIT, and records every message it got. The
/// first connection is closed with `421` right after its first message (a server that
/// ends idle sessions); the end of data of a message whose body contains `no-answer` is
/// never answered.
struct Scripted {
    port: u16,
    got: Arc<Mutex<Vec<String>>>,
    /// Every MAIL command line received.
    mail: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

impl Scripted {
    fn start() -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let mail = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (g, m, c) = (got.clone(), mail.clone(), connections.clone());
        thread::spawn(move || {
            for tcp in listener.incoming().take(8) {
                let Ok(tcp) = tcp else { return };
                let first = {
                    let mut n = c.lock().unwrap();
                    *n += 1;
                    *n == 1
                };
                let (g, m) = (g.clone(), m.clone());
                thread::spawn(move || Self::session(tcp, first, &g, &m));
            }
        });
        Scripted {
            port,
            got,
            mail,
            connections,
        }
    }

    fn session(
        tcp: TcpStream,
        close_after_first: bool,
        got: &Mutex<Vec<String>>,
        mail: &Mutex<Vec<String>>,
    ) {
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut out = tcp.try_clone().unwrap();
        let mut lines = BufReader::new(tcp);
        let mut say = |s: &str| out.write_all(s.as_bytes()).is_ok();
        say("220 scripted.test ESMTP\r\n");
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => say("250-scripted.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n"),
                "MAIL" => {
                    mail.lock().unwrap().push(line.trim_end().to_string());
                    say("250 2.1.0 ok\r\n")
                }
                "DATA" => {
                    say("354 go on\r\n");
                    let mut body = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        body.push_str(&line);
                    }
                    let answer = !body.contains("no-answer");
                    got.lock().unwrap().push(body);
                    if !answer {
                        // Read on (the client gives up), answer nothing.
                        while lines.read_line(&mut line).unwrap_or(0) > 0 {}
                        return;
                    }
                    say("250 2.0.0 queued\r\n");
                    if close_after_first {
                        say("421 4.4.2 scripted.test closing idle session\r\n");
                        return;
                    }
                    true
                }
                "QUIT" => {
                    say("221 bye\r\n");
                    return;
                }
                _ => say("250 2.0.0 ok\r\n"),
            };
        }
    }

    fn messages(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

/// The parameters follow the content and the server: an 8-bit message goes with
/// `BODY=8BITMIME` to a server offering 8BITMIME; a UTF-8 address to a server without
/// SMTPUTF8 is refused before anything is sent, saying what is missing.
pub fn content_follows_the_capabilities<A: Adapter>() {
    let server = Scripted::start();
    let transport = A::smtp_transport(local(server.port, PoolOptions::default()));
    let eight_bit = Message::from_bytes(
        "From: a@client.test\r\nTo: b@mx.test\r\nSubject: 8-bit body\r\n\r\nGrüße\r\n"
            .as_bytes()
            .to_vec(),
    )
    .unwrap();
    transport.send(&eight_bit).unwrap();
    let utf8 = Message::from_bytes(
        "From: a@client.test\r\nTo: jörg@mx.test\r\nSubject: x\r\n\r\nx\r\n"
            .as_bytes()
            .to_vec(),
    )
    .unwrap();
    let err = transport.send(&utf8).unwrap_err();
    assert!(matches!(err, Error::Message(_)), "{err:?}");
    assert!(err.is_permanent());
    assert!(err.to_string().contains("SMTPUTF8"), "{err}");
    let mail = server.mail.lock().unwrap().clone();
    assert_eq!(
        mail.len(),
        1,
        "nothing sent for the refused message: {mail:?}"
    );
    assert!(mail[0].contains("BODY=8BITMIME"), "{mail:?}");
    assert_eq!(server.messages().len(), 1);
}

/// The server ends the pooled session after the first message (`421` while idle): the
/// second send goes over a new connection, and each message arrives exactly once.
pub fn closed_idle_session_is_replaced<A: Adapter>() {
    let server = Scripted::start();
    let transport = A::smtp_transport(local(server.port, PoolOptions::default()));
    transport.send(&message()).unwrap();
    transport.send(&message()).unwrap();
    assert_eq!(server.messages().len(), 2, "each once");
    assert_eq!(*server.connections.lock().unwrap(), 2);
}

/// One session at most: while it waits for the answer to a message's end of data, a
/// second send waits for a session at most `wait` and fails with a timeout; the first
/// ends as "outcome unknown" once its (short) data deadline passes, and is not sent
/// again.
pub fn pool_wait_is_bounded_and_an_unanswered_message_is_not_resent<A: Adapter>() {
    let server = Scripted::start();
    let mut config = local(
        server.port,
        PoolOptions::default()
            .with_max_connections(1)
            .with_wait(Duration::from_millis(300)),
    );
    config.options.config.timeouts.data_termination = Duration::from_secs(2);
    let transport: Arc<dyn TransportOps> = A::smtp_transport(config).into();
    let unanswered = Message::from_bytes(
        b"From: a@client.test\r\nTo: b@mx.test\r\nSubject: x\r\n\r\nno-answer\r\n".to_vec(),
    )
    .unwrap();
    let first = {
        let transport = transport.clone();
        thread::spawn(move || transport.send(&unanswered))
    };
    // The second send finds the only session busy (bounded poll until it is).
    let start = std::time::Instant::now();
    while transport.sessions().0 == 0 && start.elapsed() < Duration::from_secs(10) {
        thread::yield_now();
    }
    let busy = transport.send(&message()).unwrap_err();
    assert!(matches!(busy, Error::Timeout), "{busy:?}");
    let first = first.join().unwrap().unwrap_err();
    assert!(matches!(first, Error::OutcomeUnknown(_)), "{first:?}");
    assert!(
        first.to_string().contains("may have been delivered"),
        "{first}"
    );
    assert_eq!(server.messages().len(), 1, "not sent again");
    assert_eq!(*server.connections.lock().unwrap(), 1);
}

/// Against a real Postfix `smtpd`: plaintext and STARTTLS sessions, 1,000 messages
/// through the pool over at most 4 connections, each delivered once with its Bcc
/// recipient but without the `Bcc:` field, and a recipient refused with 450 vs 550
/// reported as transient vs permanent, with the enhanced codes kept.
pub fn with_postfix<A: Adapter>() {
    let test = &format!("{} transport_with_postfix", A::NAME);
    let cert = cert();
    let options = PostfixOptions {
        tls: Some((cert.cert_pem.clone(), cert.key_pem.clone())),
        recipient_replies: vec![
            (
                "busy@mx.test".into(),
                "450 4.2.1 mailbox busy, try later".into(),
            ),
            ("gone@mx.test".into(), "550 5.1.1 no such mailbox".into()),
        ],
        users: vec![("alice".into(), "wonderland".into())],
        ..PostfixOptions::default()
    };
    let Some(postfix) = Postfix::start(test, &options) else {
        return;
    };
    let roots = ClientTls::with_root_pem(cert.cert_pem.as_bytes()).unwrap();
    let count = 1000;
    // STARTTLS required (the default), checked against our certificate's name.
    let tls = SmtpConfig::relay("localhost")
        .with_port(postfix.port)
        .with_tls(roots.clone())
        .with_pool(
            PoolOptions::default()
                .with_max_connections(4)
                .with_max_messages(count),
        );
    let transport: Arc<dyn TransportOps> = A::smtp_transport(tls).into();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let transport = transport.clone();
            thread::spawn(move || {
                for i in (w..count).step_by(4) {
                    let raw = format!(
                        "From: a@client.test\r\nTo: bob@mx.test\r\nBcc: hidden@mx.test\r\n\
                         Subject: pooled {i}\r\n\r\nmessage {i}\r\n"
                    );
                    let message = Message::from_bytes(raw.into_bytes()).unwrap();
                    let report = transport.send(&message).unwrap();
                    assert!(report.all_accepted(), "{report:?}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let (open, _) = transport.sessions();
    assert!(open <= 4, "{open} sessions");
    let limit = Duration::from_secs(120);
    let bob = postfix.wait_delivered("bob@mx.test", count, limit);
    let hidden = postfix.wait_delivered("hidden@mx.test", count, limit);
    assert_eq!(
        (bob.len(), hidden.len()),
        (count, count),
        "{}",
        postfix.log()
    );
    let mut subjects: Vec<usize> = bob
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m);
            assert!(!text.to_ascii_lowercase().contains("bcc:"), "{text}");
            let subject = text.split("Subject: pooled ").nth(1).unwrap();
            subject.split(['\r', '\n']).next().unwrap().parse().unwrap()
        })
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, (0..count).collect::<Vec<_>>(), "each once");
    let log = postfix.log();
    let connects: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("smtpd") && l.contains(" connect from"))
        .collect();
    // The fixture's readiness probe connects once and says nothing.
    let probes = log
        .lines()
        .filter(|l| l.contains("disconnect from") && l.contains("commands=0"))
        .count();
    let sessions = connects.len() - probes;
    assert!(
        (1..=4).contains(&sessions),
        "{sessions} sessions for {count} messages:\n{}",
        connects.join("\n")
    );

    // Plaintext (no TLS at all) and the refusals, typed.
    let plain = A::smtp_transport(local(postfix.port, PoolOptions::default()));
    let refused = Message::from_bytes(
        b"From: a@client.test\r\nTo: busy@mx.test, gone@mx.test\r\nSubject: r\r\n\r\nx\r\n"
            .to_vec(),
    )
    .unwrap();
    let Err(Error::RecipientsRejected(list)) = plain.send(&refused) else {
        panic!("both recipients refused");
    };
    assert!(
        list[0].is_transient() && !list[0].is_permanent(),
        "{list:?}"
    );
    assert!(
        list[1].is_permanent() && !list[1].is_transient(),
        "{list:?}"
    );
    let enhanced: Vec<_> = list
        .iter()
        .map(|r| {
            r.reply
                .as_ref()
                .unwrap_err()
                .enhanced
                .map(|e| (e.class, e.subject, e.detail))
        })
        .collect();
    assert_eq!(enhanced, [Some((4, 2, 1)), Some((5, 1, 1))]);
    let busy = Message::from_bytes(
        b"From: a@client.test\r\nTo: busy@mx.test\r\nSubject: r\r\n\r\nx\r\n".to_vec(),
    )
    .unwrap();
    let err = plain.send(&busy).unwrap_err();
    assert!(err.is_transient(), "{err}");
    plain.send(&message()).unwrap();
    assert_eq!(postfix.wait_delivered("eve@mx.test", 1, limit).len(), 1);

    // AUTH (through Postfix's Dovecot SASL) inside STARTTLS, from a URL.
    let url = format!("smtp://alice:wonderland@localhost:{}", postfix.port);
    let authed = SmtpConfig::from_url(&url).unwrap().with_tls(roots.clone());
    let authed = A::smtp_transport(authed);
    authed.send(&message()).unwrap();
    assert_eq!(postfix.wait_delivered("eve@mx.test", 2, limit).len(), 2);
    let url = format!("smtp://alice:wrong@localhost:{}", postfix.port);
    let refused = A::smtp_transport(SmtpConfig::from_url(&url).unwrap().with_tls(roots));
    let err = refused.send(&message()).unwrap_err();
    let refusal = err.refusal().expect("AUTH refused");
    assert!(
        matches!(
            refusal,
            Refusal::Smtp {
                command: "AUTH",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_permanent(), "{err}");
}

/// The transport cases as `#[test]` functions for one adapter.
#[macro_export]
macro_rules! transport_cases {
    ($adapter:ty) => {
        #[test]
        fn transport_pooled_sessions_are_reused() {
            suite::transport::pooled_sessions_are_reused::<$adapter>();
        }
        #[test]
        fn transport_closed_idle_session_is_replaced() {
            suite::transport::closed_idle_session_is_replaced::<$adapter>();
        }
        #[test]
        fn transport_content_follows_the_capabilities() {
            suite::transport::content_follows_the_capabilities::<$adapter>();
        }
        #[test]
        fn transport_with_postfix() {
            suite::transport::with_postfix::<$adapter>();
        }
        #[test]
        fn transport_pool_wait_is_bounded_and_an_unanswered_message_is_not_resent() {
            suite::transport::pool_wait_is_bounded_and_an_unanswered_message_is_not_resent::<
                $adapter,
            >();
        }
    };
}
