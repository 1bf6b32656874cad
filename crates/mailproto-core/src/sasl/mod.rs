//! SASL authentication (RFC 4422) for SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034).
//!
//! Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login-00), CRAM-MD5
//! (RFC 2195), XOAUTH2 (Google) and OAUTHBEARER (RFC 7628).
//!
//! The machines here are protocol-neutral and work on *decoded* bytes: the SMTP and POP3
//! layers frame the lines (`334 ` / `+ ` challenges, client response lines, `*` to
//! cancel) and use [`encode_line`] / [`decode_line`] for the base64 (RFC 4648 §4).
//!
//! - Server: [`ServerAuth::start`] with the `AUTH` command's initial response, then
//!   [`ServerAuth::step`] per client line until [`Step::Done`] or [`Step::Failed`].
//! - Client: [`Mechanism::choose`] among the server's offers, [`ClientAuth::new`],
//!   [`ClientAuth::initial_response`], then [`ClientAuth::respond`] per challenge.
//!
//! A whole PLAIN exchange without initial response, as SMTP would carry it:
//!
//! ```
//! use mailproto_core::sasl::{
//!     ClientAuth, ClientCredentials, Credentials, Mechanism, ServerAuth, ServerAuthConfig,
//!     Step, decode_line, encode_line,
//! };
//!
//! let mut client =
//!     ClientAuth::new(Mechanism::Plain, ClientCredentials::password("tim", "tanstaaf"))?;
//! // C: AUTH PLAIN
//! let (mut server, step) = ServerAuth::start(Mechanism::Plain, None, ServerAuthConfig::default());
//! let Step::Challenge(challenge) = step else { unreachable!() };
//! let mut line = b"334 ".to_vec();
//! encode_line(&challenge, &mut line); // S: 334 (empty challenge)
//! let response = client.respond(&decode_line(&line[4..])?)?;
//! let mut line = Vec::new();
//! encode_line(&response, &mut line); // C: AHRpbQB0YW5zdGFhZg==
//! assert_eq!(line, b"AHRpbQB0YW5zdGFhZg==");
//! match server.step(&line) {
//!     Step::Done(Credentials::Plain { authcid, password, .. }) => {
//!         assert_eq!(authcid, "tim");
//!         assert_eq!(password.expose(), "tanstaaf"); // S: 235 2.7.0 Authentication successful
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), mailproto_core::sasl::AuthError>(())
//! ```

use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

mod client;
mod credentials;
mod error;
mod exchange;
mod mechanism;
mod server;
mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use client::{ClientAuth, ClientCredentials};
pub use credentials::{CramMd5Response, Credentials};
pub use error::AuthError;
pub use exchange::{ClientExchange, DEFAULT_MAX_ROUNDS};
pub use mechanism::Mechanism;
pub use server::{ServerAuth, ServerAuthConfig, Step};
pub use wire::{oauthbearer_error_challenge, xoauth2_error_challenge};

/// Whether `name` is a SASL mechanism name (RFC 4422 §3.1: `sasl-mech = 1*20
/// mech-char`, `mech-char = UPPER-ALPHA / DIGIT / "-" / "_"`); lower case is accepted,
/// as servers and clients commonly send it. The one check SMTP AUTH, POP3 AUTH and
/// EHLO/CAPA parsing use.
pub fn is_mechanism_name(name: &[u8]) -> bool {
    (1..=20).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// Whether `text` can stand as base64 on a command line (an initial response): the
/// standard alphabet with at most two `=` of padding at its end (RFC 4648 §4), not empty.
/// The lone `=` of an empty initial response is not base64; callers check it first.
/// Decoding ([`decode_line`]) is stricter still: it also wants whole quanta.
pub fn is_base64_text(text: &[u8]) -> bool {
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    !body.is_empty()
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// The client line that cancels an exchange (RFC 4954 §4, RFC 5034 §4).
pub const CANCEL: &[u8] = b"*";

/// Appends the base64 encoding (RFC 4648 §4, with padding) of `data` to `out`. Empty
/// data appends nothing: an empty challenge is the line `334 ` (RFC 4954 §4) or `+ `
/// (RFC 5034 §4), an empty response an empty line.
pub fn encode_line(data: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// Appends a server challenge line: `prefix` (`334 ` for SMTP, RFC 4954 §4; `+ ` for
/// POP3, RFC 5034 §4), the base64 of `challenge`, CRLF. The one framing both servers use.
pub fn encode_challenge(prefix: &[u8], challenge: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(prefix);
    encode_line(challenge, out);
    out.extend_from_slice(b"\r\n");
}

/// Appends an initial response for the `AUTH` command: base64, or a single `=` when the
/// response is empty (RFC 4954 §4, RFC 5034 §4).
pub fn encode_initial_response(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        out.push(b'=');
    } else {
        encode_line(data, out);
    }
}

/// Decodes one base64 line (no CRLF). Only the canonical RFC 4648 §4 form is accepted:
/// the standard alphabet, `=` padding only at the end and required, no whitespace
/// (RFC 4954 §4: reject, do not ignore, anything else). An empty line decodes to nothing.
pub fn decode_line(line: &[u8]) -> Result<Vec<u8>, AuthError> {
    STANDARD.decode(line).map_err(|e| {
        let (offset, reason) = match e {
            base64::DecodeError::InvalidByte(offset, b'=') => (offset, "misplaced padding"),
            base64::DecodeError::InvalidByte(offset, _) => {
                (offset, "character outside the alphabet")
            }
            base64::DecodeError::InvalidLength(len) => (len, "length is not a multiple of 4"),
            base64::DecodeError::InvalidLastSymbol(offset, _) => (offset, "non-zero trailing bits"),
            base64::DecodeError::InvalidPadding => (line.len(), "missing or wrong padding"),
        };
        AuthError::BadBase64 { offset, reason }
    })
}

/// Decodes an initial response as sent with `AUTH`: `=` is the empty response
/// (RFC 4954 §4), anything else is a [`decode_line`].
pub fn decode_initial_response(argument: &[u8]) -> Result<Vec<u8>, AuthError> {
    if argument == b"=" {
        Ok(Vec::new())
    } else {
        decode_line(argument)
    }
}
