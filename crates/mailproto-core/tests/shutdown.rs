//! A server going down tells its clients where the protocol lets it: SMTP `421 4.3.2`
//! at any point (a message being received is aborted), POP3 `-ERR [SYS/TEMP]` between
//! responses and nothing in the middle of one; no UPDATE, so nothing is deleted.

use mailproto_core::pop3::UniqueId;
use mailproto_core::pop3::server::{
    CloseReason as Pop3Close, Event as Pop3Event, Maildrop, MessageInfo, Server as Pop3Server,
    ServerConfig as Pop3Config,
};
use mailproto_core::smtp::server::{CloseReason, Event, Server, ServerConfig};
use mailproto_core::{Instant, Io, Machine};

const T0: Instant = Instant::ZERO;

/// Feed `input`, answer MAIL and RCPT with acceptance; the events and the output.
fn smtp(server: &mut Server, input: &str) -> (Vec<Event>, String) {
    server.feed(T0, input.as_bytes());
    let mut events = Vec::new();
    while let Some(e) = server.poll_event() {
        if matches!(e, Event::Mail { .. } | Event::Rcpt { .. }) {
            server.accept(T0).unwrap();
        }
        events.push(e);
    }
    (events, take(server))
}

fn take<M: Machine>(m: &mut M) -> String {
    let mut out = Vec::new();
    while m.poll_transmit(&mut out) > 0 {}
    m.transmitted(T0, out.len());
    String::from_utf8(out).unwrap()
}

fn events<M: Machine>(m: &mut M) -> Vec<M::Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

#[test]
fn smtp_between_commands_says_421_and_closes() {
    let mut server = Server::new(T0, ServerConfig::new("mx.test"));
    smtp(&mut server, "EHLO c.test\r\n");
    server.shutdown(T0);
    assert_eq!(
        take(&mut server),
        "421 4.3.2 mx.test Service shutting down\r\n"
    );
    assert_eq!(server.io(), Io::Closed);
    let closed = events(&mut server);
    assert!(
        matches!(
            closed[..],
            [Event::Closed {
                reason: CloseReason::Shutdown
            }]
        ),
        "{closed:?}"
    );
    server.shutdown(T0);
    assert_eq!(take(&mut server), "", "once closed, nothing more");
}

#[test]
fn smtp_mid_message_aborts_it() {
    let mut server = Server::new(T0, ServerConfig::new("mx.test"));
    smtp(&mut server, "EHLO c.test\r\n");
    let (_, out) = smtp(
        &mut server,
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: half\r\n",
    );
    assert!(out.contains("\r\n354 "), "{out}");
    while server.poll_event().is_some() {}
    server.shutdown(T0);
    assert!(take(&mut server).starts_with("421 4.3.2 "));
    let after = events(&mut server);
    assert!(
        matches!(
            after[..],
            [
                Event::MessageAborted { .. },
                Event::Closed {
                    reason: CloseReason::Shutdown
                }
            ]
        ),
        "{after:?}"
    );
}

fn pop3_logged_in(body_len: usize) -> Pop3Server {
    let config = Pop3Config::default().with_plaintext_login(true);
    let mut server = Pop3Server::new(T0, config);
    take(&mut server);
    server.feed(T0, b"USER u\r\nPASS p\r\n");
    for e in events(&mut server) {
        if matches!(e, Pop3Event::Login { .. }) {
            let uid = UniqueId::new("uid-1").unwrap();
            let drop = Maildrop::new(vec![MessageInfo::new(body_len as u64, uid)]);
            server.login_ok(T0, drop).unwrap();
        }
    }
    take(&mut server);
    server
}

#[test]
fn pop3_between_responses_says_sys_temp_and_deletes_nothing() {
    let mut server = pop3_logged_in(10);
    server.feed(T0, b"DELE 1\r\n");
    assert!(take(&mut server).starts_with("+OK"));
    server.shutdown(T0);
    assert_eq!(
        take(&mut server),
        "-ERR [SYS/TEMP] server shutting down\r\n"
    );
    let after = events(&mut server);
    assert!(
        matches!(
            after[..],
            [Pop3Event::Closed {
                reason: Pop3Close::Shutdown
            }]
        ),
        "no UPDATE: {after:?}"
    );
}

#[test]
fn pop3_mid_message_closes_without_a_word() {
    let body = b"Subject: x\r\n\r\nline\r\n";
    let mut server = pop3_logged_in(body.len());
    server.feed(T0, b"RETR 1\r\n");
    assert!(
        events(&mut server)
            .iter()
            .any(|e| matches!(e, Pop3Event::Retrieve { .. }))
    );
    server.message_start(T0).unwrap();
    server.message_data(T0, &body[..8]).unwrap();
    let sent = take(&mut server);
    server.shutdown(T0);
    assert_eq!(
        take(&mut server),
        "",
        "nothing inside the multi-line response after {sent:?}: a half message must not look whole"
    );
    assert_eq!(server.io(), Io::Closed);
}
