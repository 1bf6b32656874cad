//! HAProxy relays a client from 127.0.0.2 to the server behind it, first sending the PROXY
//! protocol header its front asks for (haproxy's `proxy-protocol.txt`: v1 §2.1, v2 §2.2,
//! the SSL TLV §2.2.5), then the client's bytes, in plaintext even from a TLS front.
#![allow(missing_docs)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailproto_std::tls::{SelfSigned, server_name};
use mailproto_testkit::{Frontend, Haproxy, SendProxy};

/// Every wait on a socket is bounded by this.
const WAIT: Duration = Duration::from_secs(5);

/// The v2 signature, the header's first 12 octets (§2.2).
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// `PP2_TYPE_SSL` and its `PP2_CLIENT_SSL` bit (§2.2.5).
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_CLIENT_SSL: u8 = 0x01;

/// What the client says first, relayed after the header.
const EHLO: &[u8] = b"EHLO client.example\r\n";

/// A plain backend, and HAProxy in front of it with a v1 front, a v2 front and a TLS front
/// sending v2 with the SSL TLV, in that order.
fn start(test: &str) -> Option<(TcpListener, Haproxy, SelfSigned)> {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    backend.set_nonblocking(true).unwrap();
    let at = backend.local_addr().unwrap();
    let front = |send, tls| Frontend {
        send,
        tls,
        backend: at,
    };
    let fronts = [
        front(SendProxy::V1, false),
        front(SendProxy::V2, false),
        front(SendProxy::V2Ssl, true),
    ];
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let haproxy = Haproxy::start(test, &fronts, &cert.cert_pem, &cert.key_pem)?;
    Some((backend, haproxy, cert))
}

/// A client connecting from `source` (a loopback address of its own) to a front.
fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    let front: SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect_timeout(&front.into(), WAIT).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp
}

/// The PROXY header at the start of `tcp`, read exactly: v2 by its length field, v1 up to
/// its CRLF (at most 107 octets, §2.1).
fn read_header(tcp: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut header = vec![0; 12];
    tcp.read_exact(&mut header)?;
    if header == V2_SIGNATURE {
        let mut fixed = [0; 4];
        tcp.read_exact(&mut fixed)?;
        let mut rest = vec![0; usize::from(u16::from_be_bytes([fixed[2], fixed[3]]))];
        tcp.read_exact(&mut rest)?;
        header.extend(fixed);
        header.extend(rest);
    } else {
        while !header.ends_with(b"\r\n") && header.len() < 107 {
            let mut octet = [0];
            tcp.read_exact(&mut octet)?;
            header.push(octet[0]);
        }
    }
    Ok(header)
}

/// The source port a header names (TCP over IPv4 only).
fn source_port(header: &[u8]) -> Option<u16> {
    if header.starts_with(&V2_SIGNATURE) {
        let port = header.get(24..26)?;
        Some(u16::from_be_bytes([port[0], port[1]]))
    } else {
        let text = std::str::from_utf8(header).ok()?;
        text.split_ascii_whitespace().nth(4)?.parse().ok()
    }
}

/// The backend's side of the client connected from `client`, with the header HAProxy sent
/// on it. Connections from other clients (the fixture's readiness probes) are dropped.
fn accept_from(
    backend: &TcpListener,
    client: SocketAddr,
    haproxy: &Haproxy,
) -> (TcpStream, Vec<u8>) {
    let deadline = Instant::now() + WAIT;
    loop {
        match backend.accept() {
            Ok((mut tcp, _)) => {
                tcp.set_nonblocking(false).unwrap();
                tcp.set_read_timeout(Some(WAIT)).unwrap();
                if let Ok(header) = read_header(&mut tcp)
                    && source_port(&header) == Some(client.port())
                {
                    return (tcp, header);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "HAProxy relayed no connection from {client}: {}",
                    haproxy.log()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept on the backend: {e}"),
        }
    }
}

/// The client's bytes, relayed after the header.
fn assert_relayed(server: &mut TcpStream, haproxy: &Haproxy) {
    let mut got = vec![0; EHLO.len()];
    server
        .read_exact(&mut got)
        .unwrap_or_else(|e| panic!("the client's bytes: {e}: {}", haproxy.log()));
    assert_eq!(got, EHLO, "{}", String::from_utf8_lossy(&got));
}

/// The TLVs after a v2 header's IPv4 addresses, as `(type, value)`.
fn tlvs(header: &[u8]) -> Vec<(u8, &[u8])> {
    let mut rest = &header[28..];
    let mut out = Vec::new();
    while let [kind, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        assert!(
            tail.len() >= len,
            "a TLV overruns the header: {header:02x?}"
        );
        out.push((*kind, &tail[..len]));
        rest = &tail[len..];
    }
    out
}

/// The fixed part of a v2 header for a TCP4 client at 127.0.0.2 on `front`: version 2
/// PROXY, TCP over IPv4, then the addresses and ports (§2.2).
fn assert_v2_tcp4(header: &[u8], client: SocketAddr, front: u16) {
    assert!(header.len() >= 28, "{header:02x?}");
    assert_eq!(header[..12], V2_SIGNATURE, "the v2 signature");
    assert_eq!(header[12], 0x21, "version 2, PROXY");
    assert_eq!(header[13], 0x11, "TCP over IPv4");
    assert_eq!(header[16..20], [127, 0, 0, 2], "the client's address");
    assert_eq!(header[20..24], [127, 0, 0, 1], "the front's address");
    assert_eq!(
        header[24..26],
        client.port().to_be_bytes(),
        "the client's port"
    );
    assert_eq!(header[26..28], front.to_be_bytes(), "the front's port");
}

#[test]
fn haproxy_sends_a_v1_header() {
    let test = "haproxy_sends_a_v1_header";
    let Some((backend, haproxy, _cert)) = start(test) else {
        return;
    };
    let front = haproxy.ports[0];
    let mut client = connect_from("127.0.0.2", front);
    let at = client.local_addr().unwrap();
    // C: EHLO client.example
    client.write_all(EHLO).unwrap();
    let (mut server, header) = accept_from(&backend, at, &haproxy);
    assert_eq!(
        String::from_utf8_lossy(&header),
        format!("PROXY TCP4 127.0.0.2 127.0.0.1 {} {front}\r\n", at.port())
    );
    assert_relayed(&mut server, &haproxy);
}

#[test]
fn haproxy_sends_a_v2_header() {
    let test = "haproxy_sends_a_v2_header";
    let Some((backend, haproxy, _cert)) = start(test) else {
        return;
    };
    let front = haproxy.ports[1];
    let mut client = connect_from("127.0.0.2", front);
    let at = client.local_addr().unwrap();
    client.write_all(EHLO).unwrap();
    let (mut server, header) = accept_from(&backend, at, &haproxy);
    assert_v2_tcp4(&header, at, front);
    assert!(
        tlvs(&header).iter().all(|(kind, _)| *kind != PP2_TYPE_SSL),
        "no SSL TLV from a plain front: {header:02x?}"
    );
    assert_relayed(&mut server, &haproxy);
}

#[test]
fn haproxy_terminates_tls_and_sends_the_ssl_tlv() {
    let test = "haproxy_terminates_tls_and_sends_the_ssl_tlv";
    let Some((backend, haproxy, cert)) = start(test) else {
        return;
    };
    let front = haproxy.ports[2];
    let tcp = connect_from("127.0.0.2", front);
    let at = tcp.local_addr().unwrap();
    let config: Arc<rustls::ClientConfig> = cert.client_config().unwrap();
    let session = rustls::ClientConnection::new(config, server_name("127.0.0.1").unwrap()).unwrap();
    let mut client = rustls::StreamOwned::new(session, tcp);
    // The handshake, checked against the generated certificate, then C: EHLO over TLS.
    client.write_all(EHLO).unwrap();
    client.flush().unwrap();
    let (mut server, header) = accept_from(&backend, at, &haproxy);
    assert_v2_tcp4(&header, at, front);
    let tlvs = tlvs(&header);
    let ssl = tlvs
        .iter()
        .find(|(kind, _)| *kind == PP2_TYPE_SSL)
        .map(|(_, value)| *value)
        .unwrap_or_else(|| panic!("no PP2_TYPE_SSL TLV: {header:02x?}"));
    assert!(ssl.len() >= 5, "client octet and verify field: {ssl:02x?}");
    assert_ne!(
        ssl[0] & PP2_CLIENT_SSL,
        0,
        "PP2_CLIENT_SSL is set: {ssl:02x?}"
    );
    assert_relayed(&mut server, &haproxy);
}
