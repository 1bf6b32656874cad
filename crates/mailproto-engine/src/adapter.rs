//! What both adapters (this blocking one and the async one) share about driving a
//! connection: buffer sizes, limits and how I/O errors are classified.

use std::io;
use std::time::Duration;

use crate::Error;

/// Size of the read buffer: one read is fed to the machine whole, so no plaintext stays
/// in the adapter when the machine switches to TLS.
pub const READ_BUF: usize = 16 * 1024;

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
    if is_timeout(&e) {
        Error::Timeout
    } else if e.kind() == io::ErrorKind::InvalidData {
        Error::Tls(e.to_string())
    } else {
        Error::Io(e)
    }
}
