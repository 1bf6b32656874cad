//! [`Credentials`]: what a finished server-side exchange hands to the application.

use alloc::string::String;

use hmac::{Hmac, Mac};
use md5::Md5;

use crate::secret::Secret;

/// The credentials a client presented, for the application to check.
///
/// The SASL layer only checks syntax; deciding whether the password, digest or token is
/// right (and whether `authzid` may be assumed) is the application's job (RFC 4616 §2,
/// RFC 7628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// PLAIN (RFC 4616 §2) or LOGIN (draft-murchison-sasl-login-00 §2, where `authzid`
    /// is always `None`): a user name and a clear-text password.
    Plain {
        /// Identity to act as; `None` when the client left it empty (RFC 4616 §2: the
        /// server derives it from `authcid`).
        authzid: Option<String>,
        /// Identity whose password is presented.
        authcid: String,
        /// The password.
        password: Secret<String>,
    },
    /// CRAM-MD5 (RFC 2195 §2): a user name and a keyed digest of the challenge.
    CramMd5(CramMd5Response),
    /// XOAUTH2: a user and an OAuth 2.0 bearer token.
    XOAuth2 {
        /// The `user=` value.
        user: String,
        /// The token from `auth=Bearer <token>`.
        token: Secret<String>,
    },
    /// OAUTHBEARER (RFC 7628 §3.1): a bearer token with optional GS2 authzid, host and
    /// port.
    OAuthBearer {
        /// The `a=` field of the GS2 header, unescaped (RFC 5801 §4 `saslname`).
        authzid: Option<String>,
        /// The token from `auth=Bearer <token>`; empty when the client sent an empty
        /// `auth=` to ask for the error challenge with discovery information (RFC 7628
        /// §4.3), which the application answers with
        /// [`ServerAuth::fail_with_challenge`](super::ServerAuth::fail_with_challenge).
        token: Secret<String>,
        /// The `host` key/value, if sent.
        host: Option<String>,
        /// The `port` key/value, if sent.
        port: Option<u16>,
    },
}

impl Credentials {
    /// The user name the client presented: `authcid`, the CRAM-MD5 user name, the XOAUTH2
    /// `user`, or the OAUTHBEARER `authzid` (which may be absent).
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Plain { authcid, .. } => Some(authcid),
            Credentials::CramMd5(response) => Some(&response.username),
            Credentials::XOAuth2 { user, .. } => Some(user),
            Credentials::OAuthBearer { authzid, .. } => authzid.as_deref(),
        }
    }
}

/// A client's CRAM-MD5 answer (RFC 2195 §2), kept with the challenge it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CramMd5Response {
    /// The user name (everything before the last space of the response).
    pub username: String,
    /// The 32 hexadecimal digits of `HMAC-MD5(password, challenge)`, lower case.
    pub response_digest_hex: String,
    /// The challenge the server sent, e.g. `<1896.697170952@postoffice.reston.mci.net>`.
    pub challenge: String,
}

impl CramMd5Response {
    /// Whether the digest is `HMAC-MD5(key = password, msg = challenge)` (RFC 2195 §2,
    /// RFC 2104). The comparison of the digests runs in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let Some(presented) = decode_hex16(self.response_digest_hex.as_bytes()) else {
            return false;
        };
        let Ok(mut mac) = <Hmac<Md5> as Mac>::new_from_slice(password) else {
            return false;
        };
        mac.update(self.challenge.as_bytes());
        mac.verify_slice(&presented).is_ok()
    }
}

/// `HMAC-MD5(key = password, msg = challenge)` as 32 lower-case hex digits (RFC 2195 §2).
pub(crate) fn cram_md5_hex(password: &[u8], challenge: &[u8]) -> String {
    let digest: [u8; 16] = match <Hmac<Md5> as Mac>::new_from_slice(password) {
        Ok(mut mac) => {
            mac.update(challenge);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => [0; 16],
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Parses exactly 32 hex digits (either case) into 16 octets.
pub(crate) fn decode_hex16(hex: &[u8]) -> Option<[u8; 16]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *slot = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Some(out)
}
