//! The listener: a connection over the limit gets the protocol's busy reply, and
//! shutdown stops accepting and closes sessions that outlive the grace period.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproto_engine::ListenerOptions;

use super::Adapter;
use super::pop3::cert;

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

/// Shutdown stops accepting, and a session still open after the grace period is
/// closed; stopping returns.
pub fn graceful_shutdown<A: Adapter>() {
    let cert = cert();
    let options = ListenerOptions::default().shutdown_grace(Duration::from_millis(200));
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server_with(super::smtp::config(), store, &cert, false, options);
    let port = server.port();
    let mut idle = connect(port);
    assert!(line(&mut idle).starts_with("220 "));
    drop(server); // shuts down and waits for the accept loop
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
    };
}
