//! The APOP digest (RFC 1939 §7).

use alloc::string::String;

use md5::{Digest, Md5};

use super::types::Command;

/// The APOP digest: MD5 of the greeting's timestamp (brackets included) followed by the
/// shared secret, as 32 lower-case hex digits (RFC 1939 §7).
///
/// ```
/// use mailproto_core::pop3::apop_digest;
/// assert_eq!(
///     apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
///     "c4c9334bac560ecc979e58001b3e22fb",
/// );
/// ```
pub fn apop_digest(timestamp: &str, secret: &[u8]) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(secret);
    let mut hex = String::with_capacity(32);
    for byte in md5.finalize() {
        for nibble in [byte >> 4, byte & 0x0f] {
            hex.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    hex
}

impl Command {
    /// The `APOP name digest` command for a greeting timestamp and a shared secret
    /// (RFC 1939 §7); see [`Greeting::apop_timestamp`](super::Greeting::apop_timestamp).
    pub fn apop(name: impl Into<String>, timestamp: &str, secret: &[u8]) -> Command {
        Command::Apop {
            name: name.into(),
            digest: apop_digest(timestamp, secret),
        }
    }
}
