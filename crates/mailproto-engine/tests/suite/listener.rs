//! The listener: a connection over the limit gets the protocol's busy reply, and
//! shutdown stops accepting and closes sessions that outlive the grace period.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproto_core::pop3::server::ServerConfig as Pop3Config;
use mailproto_engine::ListenerOptions;

use super::pop3::cert;
use super::{Adapter, MemBackend};

fn connect(port: u16) -> BufReader<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    BufReader::new(tcp)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

/// With one connection allowed, the second is turned away with `421 4.3.2`; once the
/// first ends, a new one is served.
pub fn connection_limit<A: Adapter>() {
    let cert = cert();
    let options = ListenerOptions::default().max_connections(1);
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server_with(super::smtp::config(), store, &cert, false, options);
    let mut first = connect(server.port());
    assert!(line(&mut first).starts_with("220 "));
    let mut second = connect(server.port());
    let busy = line(&mut second);
    assert!(busy.starts_with("421 4.3.2 "), "{busy}");
    assert_eq!(line(&mut second), "", "the busy connection is closed");
    drop(first);
    // The slot frees when the first session ends; retry (bounded) until it has.
    let mut served = false;
    for _ in 0..200 {
        let mut third = connect(server.port());
        if line(&mut third).starts_with("220 ") {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(served, "no connection was served after the first one ended");
}

/// Shutdown stops accepting, and a session still open after the grace period is told
/// `421 4.3.2` (RFC 5321 §3.8) and closed; stopping returns.
pub fn graceful_shutdown<A: Adapter>() {
    let cert = cert();
    let options = ListenerOptions::default().shutdown_grace(Duration::from_millis(200));
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server_with(super::smtp::config(), store, &cert, false, options);
    let port = server.port();
    let mut idle = connect(port);
    assert!(line(&mut idle).starts_with("220 "));
    drop(server); // shuts down and waits for the accept loop
    let goodbye = line(&mut idle);
    assert!(
        goodbye.starts_with("421 4.3.2 ") && goodbye.contains("shutting down"),
        "{goodbye:?}"
    );
    assert_eq!(
        line(&mut idle),
        "",
        "the open session was closed at shutdown"
    );
    let refused = TcpStream::connect(("127.0.0.1", port)).map(|tcp| {
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        line(&mut BufReader::new(tcp))
    });
    assert!(
        refused.as_ref().map_or(true, |l| l.is_empty()),
        "a connection was served after shutdown: {refused:?}"
    );
}

/// A client connecting from `source` (a loopback address of its own).
pub fn connect_from(source: &str, port: u16) -> BufReader<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    let server: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&server.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    BufReader::new(tcp)
}

/// With the default limits, 300 idle connections from 127.0.0.1 hold only that address's
/// share of the slots: the one past it gets `421` and the close, and a client from
/// 127.0.0.2 is still served at once.
pub fn one_address_cannot_lock_out_the_others<A: Adapter>() {
    let cert = cert();
    let options = ListenerOptions::default();
    let per_address = options.max_per_address;
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server_with(super::smtp::config(), store, &cert, false, options);
    let mut idle = Vec::new();
    let mut served = 0;
    for _ in 0..300 {
        let mut c = connect_from("127.0.0.1", server.port());
        let first = line(&mut c);
        if first.starts_with("220 ") {
            served += 1;
            idle.push(c);
        } else {
            assert!(first.starts_with("421 4.7.0 "), "{first}");
            assert_eq!(line(&mut c), "", "the turned-away connection is closed");
        }
    }
    assert_eq!(served, per_address, "one address got exactly its share");
    let mut other = connect_from("127.0.0.2", server.port());
    let greeting = line(&mut other);
    assert!(
        greeting.starts_with("220 "),
        "another address is served: {greeting}"
    );
}

/// A POP3 session still open after the grace period, with a message marked deleted, is
/// told `-ERR [SYS/TEMP]` and closed without UPDATE: the message is still there.
pub fn pop3_graceful_shutdown<A: Adapter>() {
    let cert = cert();
    let options = ListenerOptions::default().shutdown_grace(Duration::from_millis(200));
    let backend = MemBackend::with_user("alice", "secret", &[b"Subject: kept\r\n\r\nx\r\n"]);
    let config = Pop3Config::default().with_plaintext_login(true);
    let server = A::pop3_server_with(backend.clone(), config, &cert, false, options);
    let mut session = connect(server.port());
    assert!(line(&mut session).starts_with("+OK"));
    for command in ["USER alice\r\n", "PASS secret\r\n", "DELE 1\r\n"] {
        session.get_mut().write_all(command.as_bytes()).unwrap();
        let reply = line(&mut session);
        assert!(reply.starts_with("+OK"), "{command:?}: {reply}");
    }
    drop(server);
    assert_eq!(
        line(&mut session),
        "-ERR [SYS/TEMP] server shutting down\r\n"
    );
    assert_eq!(line(&mut session), "", "closed");
    assert_eq!(
        backend.uids("alice").len(),
        1,
        "nothing deleted without QUIT"
    );
}

/// A failed login from 127.0.0.1 is answered only after that address's delay (its next
/// try waits with it), while a client from 127.0.0.2 logs in at once; the held session
/// still ends at shutdown.
pub fn failed_logins_are_slowed_per_address<A: Adapter>() {
    let cert = cert();
    let options = ListenerOptions::default()
        .login_failure_delay(Duration::from_secs(120), Duration::from_secs(120))
        .shutdown_grace(Duration::from_millis(200));
    let backend = MemBackend::with_user("alice", "secret", &[b"Subject: a\r\n\r\nx\r\n"]);
    let config = Pop3Config::default().with_plaintext_login(true);
    let server = A::pop3_server_with(backend, config, &cert, false, options);
    let mut guesser = connect_from("127.0.0.1", server.port());
    assert!(line(&mut guesser).starts_with("+OK"));
    guesser.get_mut().write_all(b"USER alice\r\n").unwrap();
    assert!(line(&mut guesser).starts_with("+OK"));
    guesser
        .get_mut()
        .write_all(b"PASS guess\r\nUSER alice\r\nPASS secret\r\n")
        .unwrap();
    // The other address is served meanwhile, at once.
    let mut other = connect_from("127.0.0.2", server.port());
    assert!(line(&mut other).starts_with("+OK"));
    for command in ["USER alice\r\n", "PASS secret\r\n"] {
        other.get_mut().write_all(command.as_bytes()).unwrap();
        let reply = line(&mut other);
        assert!(reply.starts_with("+OK"), "{command:?}: {reply}");
    }
    // By now the guesser's answer would long be there without the delay.
    guesser
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut early = String::new();
    let read = guesser.read_line(&mut early);
    assert!(
        read.is_err() && early.is_empty(),
        "the failed login was answered at once: {early:?}"
    );
    drop(other);
    guesser
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    drop(server);
    // Shutdown reaches the held session: it ends with the failure and the goodbye.
    let mut rest = String::new();
    while guesser.read_line(&mut rest).is_ok_and(|n| n > 0) {}
    assert!(rest.contains("-ERR [AUTH]"), "{rest:?}");
    assert!(!rest.contains("+OK"), "the held try was not run: {rest:?}");
}

/// The listener cases as `#[test]` functions for one adapter.
#[macro_export]
macro_rules! listener_cases {
    ($adapter:ty) => {
        #[test]
        fn listener_connection_limit() {
            suite::listener::connection_limit::<$adapter>();
        }
        #[test]
        fn listener_graceful_shutdown() {
            suite::listener::graceful_shutdown::<$adapter>();
        }
        #[test]
        fn listener_one_address_cannot_lock_out_the_others() {
            suite::listener::one_address_cannot_lock_out_the_others::<$adapter>();
        }
        #[test]
        fn listener_failed_logins_are_slowed_per_address() {
            suite::listener::failed_logins_are_slowed_per_address::<$adapter>();
        }

        #[test]
        fn listener_pop3_graceful_shutdown() {
            suite::listener::pop3_graceful_shutdown::<$adapter>();
        }
    };
}
