//! What every driver (the blocking adapter's and the engine's async one) shares about
//! driving a connection: buffer sizes, limits, socket options and how I/O errors are
//! classified.

use std::io;
use std::time::Duration;

use crate::Error;

/// Size of the read buffer: one read is fed to the machine whole, so no plaintext stays
/// in the adapter when the machine switches to TLS.
pub const READ_BUF: usize = 16 * 1024;

/// Size of the read buffer an idle async session keeps (inline, in its task): a command
/// line or two. A read that fills it means input is in flight: the session then reads
/// into a [`READ_BUF`] buffer, allocated for as long as reads find data ready, and freed
/// once the peer has nothing more to send, so idle sessions hold no large buffer.
pub const IDLE_READ_BUF: usize = 512;

/// How long a TLS handshake may take when the machine names no read timeout.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a read or write error means the peer went away (treated as end of stream).
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Whether a read error is a socket timeout.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An I/O error met during a TLS handshake: a timeout is [`Error::Timeout`], bad data is
/// a TLS failure, anything else an I/O failure.
pub fn handshake_error(e: io::Error) -> Error {
    let not_tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidMessage(_)));
    if is_timeout(&e) {
        Error::Timeout
    } else if not_tls {
        // What came is no TLS record: most often a plaintext greeting.
        Error::TlsMode(format!("the peer's answer is not TLS ({e})"))
    } else if e.kind() == io::ErrorKind::InvalidData {
        Error::Tls(e.to_string())
    } else {
        Error::Io(e)
    }
}

/// How long a connection may be silent before TCP keepalive probes start, and the
/// interval between probes: a peer that vanished without a FIN (a crashed host, a
/// dropped NAT mapping) is noticed even while the machine waits without a deadline.
pub const KEEPALIVE: Duration = Duration::from_secs(60);

/// Set the options every session's socket gets: no Nagle delay (replies are small and
/// pipelined) and TCP keepalive ([`KEEPALIVE`]). Errors are ignored: both are
/// optimisations, not requirements.
#[cfg(unix)]
pub fn tune_tcp<S: std::os::fd::AsFd>(socket: &S) {
    tune(socket2::SockRef::from(socket));
}

/// Set the options every session's socket gets: no Nagle delay (replies are small and
/// pipelined) and TCP keepalive ([`KEEPALIVE`]). Errors are ignored: both are
/// optimisations, not requirements.
#[cfg(windows)]
pub fn tune_tcp<S: std::os::windows::io::AsSocket>(socket: &S) {
    tune(socket2::SockRef::from(socket));
}

fn tune(socket: socket2::SockRef<'_>) {
    let _ = socket.set_tcp_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE)
        .with_interval(KEEPALIVE);
    let _ = socket.set_tcp_keepalive(&keepalive);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuned_sockets_keep_alive_without_nagle() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        for tcp in [&client, &server] {
            assert!(!socket2::SockRef::from(tcp).keepalive().unwrap());
            tune_tcp(tcp);
            let sock = socket2::SockRef::from(tcp);
            assert!(sock.keepalive().unwrap());
            assert!(sock.tcp_nodelay().unwrap());
            #[cfg(target_os = "linux")]
            assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE);
        }
    }
}
