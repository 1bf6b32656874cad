//! Behind a real HAProxy: the PROXY protocol (v1, v2, v2 with the SSL TLV) in front of
//! the SMTP and the POP3 server. The handler and the log see the original client, TLS terminated by
//! HAProxy counts as TLS, and a header from an address that is not a trusted proxy is
//! refused. HAProxy's own start-up probes reach the servers too and must do no harm.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use mailproto_core::pop3::server::ServerConfig as Pop3Config;
use mailproto_core::sasl::Mechanism;
use mailproto_engine::pop3_client::Security;
use mailproto_engine::smtp_client::SmtpOptions;
use mailproto_engine::tls::ClientTls;
use mailproto_engine::{ListenerOptions, ProxyOptions};
use mailproto_testkit::{Frontend, Haproxy, SendProxy};

use super::listener::connect_from;
use super::pop3::cert;
use super::{Adapter, MemBackend};

fn proxied() -> ListenerOptions {
    ListenerOptions::default().proxy(ProxyOptions::new(vec!["127.0.0.1".parse().unwrap()]))
}

/// Send `line` and read the reply (its last line).
pub fn say(c: &mut BufReader<TcpStream>, line: &str) -> String {
    c.get_mut().write_all(line.as_bytes()).unwrap();
    c.get_mut().write_all(b"\r\n").unwrap();
    read(c)
}

/// The last line of a (possibly multi-line) reply.
pub fn read(c: &mut BufReader<TcpStream>) -> String {
    loop {
        let mut l = String::new();
        c.read_line(&mut l).unwrap();
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return l;
        }
    }
}

/// SMTP through HAProxy's v1 and v2 fronts from 127.0.0.2: the message is stored with
/// the client's address; through its TLS front (v2 + SSL TLV) AUTH PLAIN is allowed as
/// inside TLS, while in plaintext it is not; a header sent straight to the server from
/// 127.0.0.3 (not a trusted proxy) is refused.
pub fn smtp_behind_haproxy<A: Adapter>() {
    let test = &format!("{} smtp_behind_haproxy", A::NAME);
    super::tracing::captured();
    let cert = cert();
    let store = Arc::new(Mutex::new(Vec::new()));
    let mut config = super::smtp::config();
    config.auth_requires_tls = true;
    let server = A::smtp_server_with(config, store.clone(), &cert, false, proxied());
    let backend: SocketAddr = ([127, 0, 0, 1], server.port()).into();
    let fronts = [
        Frontend {
            send: SendProxy::V1,
            tls: false,
            backend,
        },
        Frontend {
            send: SendProxy::V2,
            tls: false,
            backend,
        },
        Frontend {
            send: SendProxy::V2Ssl,
            tls: true,
            backend,
        },
    ];
    let Some(haproxy) = Haproxy::start(test, &fronts, &cert.cert_pem, &cert.key_pem) else {
        return;
    };
    for (i, port) in haproxy.ports[..2].iter().enumerate() {
        let mut c = connect_from("127.0.0.2", *port);
        let greeting = read(&mut c);
        assert!(
            greeting.starts_with("220 "),
            "front {i}: {greeting}\n{}",
            haproxy.log()
        );
        assert!(say(&mut c, "EHLO client.test").starts_with("250 "));
        let auth = say(&mut c, "AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=");
        assert!(auth.starts_with('5'), "AUTH PLAIN in plaintext: {auth}");
        assert!(say(&mut c, "MAIL FROM:<a@client.test>").starts_with("250 "));
        assert!(say(&mut c, "RCPT TO:<b@mx.test>").starts_with("250 "));
        assert!(say(&mut c, "DATA").starts_with("354 "));
        assert!(say(&mut c, "Subject: proxied\r\n\r\nhi\r\n.").starts_with("250 "));
        let stored = store.lock().unwrap().last().cloned().unwrap();
        let peer = stored.peer.expect("the handler was told the client");
        assert_eq!(peer.ip().to_string(), "127.0.0.2", "front {i}");
        assert_eq!(peer.port(), c.get_ref().local_addr().unwrap().port());
        say(&mut c, "QUIT");
        // The log's session span names the client, not HAProxy.
        let span = format!("peer=\"{peer}\"");
        let lines = super::tracing::wait_for(&span, "C: QUIT");
        assert!(
            lines.iter().any(|l| l.contains("C: QUIT")),
            "front {i}: the session's log under {span}:\n{}",
            lines.join("\n")
        );
    }
    // HAProxy terminates TLS and says so in the SSL TLV.
    let options = SmtpOptions::default()
        .with_security(Security::ImplicitTls)
        .with_tls(ClientTls::with_root_pem(cert.cert_pem.as_bytes()).unwrap());
    let mut client = A::smtp_connect(haproxy.ports[2], options).unwrap();
    client
        .authenticate_forced(Mechanism::Plain, "alice", "wonderland")
        .expect("AUTH PLAIN behind HAProxy's TLS");
    client
        .send(
            "a@client.test",
            &["b@mx.test"],
            b"Subject: tls\r\n\r\nx\r\n",
        )
        .unwrap();
    let stored = store.lock().unwrap().last().cloned().unwrap();
    assert_eq!(stored.authenticated.as_deref(), Some("alice"));
    assert_eq!(stored.peer.unwrap().ip().to_string(), "127.0.0.1");
    client.quit().unwrap();
    // Straight to the server from an address that is no proxy.
    let mut forged = connect_from("127.0.0.3", server.port());
    forged
        .get_mut()
        .write_all(b"PROXY TCP4 192.0.2.1 127.0.0.1 4000 25\r\n")
        .unwrap();
    let refused = read(&mut forged);
    assert!(refused.starts_with("421 4.7.0 "), "{refused}");
    let mut rest = String::new();
    assert_eq!(
        forged.read_line(&mut rest).unwrap_or(0),
        0,
        "closed: {rest}"
    );
}

/// POP3 through HAProxy's v1 and v2 fronts: the login works and a failed one is slowed
/// for the client's address (127.0.0.2), not for HAProxy's; a direct connection from an
/// address that is no proxy is refused.
pub fn pop3_behind_haproxy<A: Adapter>() {
    let test = &format!("{} pop3_behind_haproxy", A::NAME);
    let cert = cert();
    let backend = MemBackend::with_user("alice", "secret", &[b"Subject: a\r\n\r\nx\r\n"]);
    let config = Pop3Config::default().with_plaintext_login(true);
    let server = A::pop3_server_with(backend, config, &cert, false, proxied());
    let to: SocketAddr = ([127, 0, 0, 1], server.port()).into();
    let fronts = [
        Frontend {
            send: SendProxy::V1,
            tls: false,
            backend: to,
        },
        Frontend {
            send: SendProxy::V2,
            tls: false,
            backend: to,
        },
    ];
    let Some(haproxy) = Haproxy::start(test, &fronts, &cert.cert_pem, &cert.key_pem) else {
        return;
    };
    for port in &haproxy.ports {
        let mut c = connect_from("127.0.0.2", *port);
        assert!(read(&mut c).starts_with("+OK"), "{}", haproxy.log());
        assert!(say(&mut c, "USER alice").starts_with("+OK"));
        assert!(say(&mut c, "PASS secret").starts_with("+OK"));
        assert!(say(&mut c, "STAT").starts_with("+OK 1 "));
        assert!(say(&mut c, "QUIT").starts_with("+OK"));
    }
    let mut forged = connect_from("127.0.0.3", server.port());
    let refused = read(&mut forged);
    assert!(refused.starts_with("-ERR [SYS/TEMP] "), "{refused}");
}

/// The PROXY cases as `#[test]` functions for one adapter.
#[macro_export]
macro_rules! proxy_cases {
    ($adapter:ty) => {
        #[test]
        fn proxy_smtp_behind_haproxy() {
            suite::proxy::smtp_behind_haproxy::<$adapter>();
        }

        #[test]
        fn proxy_pop3_behind_haproxy() {
            suite::proxy::pop3_behind_haproxy::<$adapter>();
        }
    };
}
