//! The core's deadlines over real sockets, with short configured deadlines: a client
//! that drips a command, one that stops reading a large RETR, and a TLS handshake that
//! never starts are all dropped, and a dropped POP3 session releases its maildrop at
//! once with nothing deleted.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproto_core::pop3::server::{ServerConfig as Pop3Config, Timeouts as Pop3Timeouts};
use mailproto_engine::pop3_client::{Pop3Options, Security};

use super::pop3::cert;
use super::{Adapter, MemBackend};

/// The pace of a dripping client: one octet this often.
const DRIP: Duration = Duration::from_millis(400);

fn connect(port: u16) -> BufReader<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    BufReader::new(tcp)
}

fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut l = String::new();
    r.read_line(&mut l)?;
    Ok(l)
}

/// A client that sends `NOOP\r\n` one octet every 400 ms (2.4 s for the line) against a
/// line deadline of 1 s gets `421 4.4.2` before its command is complete, and the close.
pub fn smtp_drip_is_dropped_at_the_line_deadline<A: Adapter>() {
    let cert = cert();
    let mut config = super::smtp::config();
    config.timeouts.idle = Duration::from_secs(30);
    config.timeouts.line = Duration::from_secs(1);
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server(config, store, &cert, false);
    let mut r = connect(server.port());
    assert!(read_line(&mut r).unwrap().starts_with("220 "));
    // The read timeout is the client's own pace: it drips one octet per wait.
    r.get_ref().set_read_timeout(Some(DRIP)).unwrap();
    let mut sent = 0;
    let reply = loop {
        assert!(sent < 6, "the whole command went out without a reply");
        r.get_mut().write_all(&b"NOOP\r\n"[sent..=sent]).unwrap();
        sent += 1;
        match read_line(&mut r) {
            Ok(line) => break line,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert!(reply.starts_with("421 4.4.2 "), "{reply}");
    assert!(sent < 6, "the command was never completed");
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        read_line(&mut r).unwrap(),
        "",
        "the server closed the connection"
    );
}

/// A client that stops reading a 30 MB RETR is dropped once the write deadline (1 s after
/// the last octet the socket took) passes; the maildrop is released at once, so a second
/// login succeeds, and nothing was deleted.
pub fn pop3_reader_that_stops_is_dropped_and_the_lock_released<A: Adapter>() {
    let cert = cert();
    let big: Vec<u8> = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"
        .repeat(30 * 1024 * 1024 / 64);
    let backend = MemBackend::with_user("alice", "secret", &[&big]);
    let mut timeouts = Pop3Timeouts::default();
    timeouts.write = timeouts.write.with_timeout(Duration::from_secs(1));
    let config = Pop3Config::default()
        .with_plaintext_login(true)
        .with_timeouts(timeouts);
    let server = A::pop3_server_with(backend.clone(), config, &cert, false, Default::default());
    let mut r = connect(server.port());
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert!(read_line(&mut r).unwrap().starts_with("+OK"));
    r.get_mut()
        .write_all(b"USER alice\r\nPASS secret\r\n")
        .unwrap();
    assert!(read_line(&mut r).unwrap().starts_with("+OK"));
    assert!(read_line(&mut r).unwrap().starts_with("+OK"));
    // RETR, then read nothing more.
    r.get_mut().write_all(b"RETR 1\r\n").unwrap();
    // A second login while the first session holds the maildrop is refused; once the
    // server has dropped the first session it succeeds. Bounded: 300 tries, 100 ms
    // apart (30 s), far beyond the deadline.
    let options = Pop3Options::default().with_security(Security::Plain);
    let mut logged_in = None;
    for _ in 0..300 {
        let mut c = A::pop3_connect(server.port(), options.clone()).unwrap();
        match c.login("alice", "secret") {
            Ok(()) => {
                logged_in = Some(c);
                break;
            }
            Err(e) => {
                assert!(e.to_string().contains("IN-USE"), "{e}");
                let _ = c.quit();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let mut second = logged_in.expect("the stalled session kept the maildrop");
    assert_eq!(second.stat().unwrap().0, 1, "nothing was deleted");
    second.quit().unwrap();
    assert_eq!(backend.uids("alice"), ["m1"]);
    // The first connection was closed by the server: after the bytes already in the
    // socket buffers, the stream ends.
    let mut sink = Vec::new();
    let end = r.read_to_end(&mut sink);
    assert!(
        end.is_ok()
            || end
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "{end:?}"
    );
    assert!(sink.len() < big.len(), "the whole message was sent");
}

/// A client that asks for STARTTLS and never starts the handshake is dropped at the
/// handshake deadline.
pub fn tls_handshake_that_never_starts_is_dropped<A: Adapter>() {
    let cert = cert();
    let mut config = super::smtp::config();
    config.timeouts.tls_handshake = Duration::from_secs(1);
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server(config, store, &cert, false);
    let mut r = connect(server.port());
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert!(read_line(&mut r).unwrap().starts_with("220 "));
    r.get_mut().write_all(b"EHLO c.example\r\n").unwrap();
    while !read_line(&mut r).unwrap().starts_with("250 ") {}
    r.get_mut().write_all(b"STARTTLS\r\n").unwrap();
    assert!(read_line(&mut r).unwrap().starts_with("220 "));
    // Silence: the server gives up on the handshake and closes, well before our 30 s.
    let mut rest = [0u8; 64];
    let got = r.read(&mut rest);
    assert!(
        matches!(got, Ok(0))
            || got
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "{got:?}"
    );
}

/// The timeout cases as `#[test]` functions for one adapter.
#[macro_export]
macro_rules! timeout_cases {
    ($adapter:ty) => {
        #[test]
        fn smtp_drip_is_dropped_at_the_line_deadline() {
            suite::timeouts::smtp_drip_is_dropped_at_the_line_deadline::<$adapter>();
        }
        #[test]
        fn pop3_reader_that_stops_is_dropped_and_the_lock_released() {
            suite::timeouts::pop3_reader_that_stops_is_dropped_and_the_lock_released::<$adapter>();
        }
        #[test]
        fn tls_handshake_that_never_starts_is_dropped() {
            suite::timeouts::tls_handshake_that_never_starts_is_dropped::<$adapter>();
        }
    };
}
