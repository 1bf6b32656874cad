//! The decoded message formats of each mechanism, shared by the client (encode) and the
//! server (parse) so the two sides cannot drift apart.

use alloc::{string::String, vec::Vec};
use core::fmt::Write as _;

use super::{AuthError, CramMd5Response, Credentials};
use crate::secret::Secret;

/// RFC 7628 §3.1 `kvsep`, also XOAUTH2's separator.
const KVSEP: u8 = 0x01;

/// Checks one text field: non-empty, at most `max` octets, none of `forbidden`, UTF-8.
pub(crate) fn check_field(
    field: &'static str,
    bytes: &[u8],
    max: usize,
    forbidden: &[u8],
) -> Result<String, AuthError> {
    if bytes.is_empty() {
        return Err(AuthError::EmptyField { field });
    }
    if bytes.len() > max {
        return Err(AuthError::FieldTooLong {
            field,
            len: bytes.len(),
            max,
        });
    }
    if let Some(&byte) = bytes.iter().find(|b| forbidden.contains(b)) {
        return Err(AuthError::ForbiddenCharacter { field, byte });
    }
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| AuthError::InvalidUtf8 { field })
}

/// A bearer token (RFC 6750 §2.1 `b64token`, loosened to any visible ASCII): non-empty,
/// no space or control character, at most `max` octets.
pub(crate) fn check_token(bytes: &[u8], max: usize) -> Result<String, AuthError> {
    if let Some(&byte) = bytes.iter().find(|b| !b.is_ascii_graphic()) {
        return Err(AuthError::ForbiddenCharacter {
            field: "token",
            byte,
        });
    }
    check_field("token", bytes, max, &[])
}

/// PLAIN message, RFC 4616 §2: `[authzid] NUL authcid NUL passwd`.
pub(crate) fn encode_plain(authzid: Option<&str>, authcid: &str, password: &str) -> Vec<u8> {
    let authzid = authzid.unwrap_or("");
    let mut out = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// Parses a PLAIN message (RFC 4616 §2); each field at most `max` octets.
pub(crate) fn parse_plain(message: &[u8], max: usize) -> Result<Credentials, AuthError> {
    let mut parts = message.splitn(3, |b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed {
            mechanism: "PLAIN",
            reason: "expected [authzid] NUL authcid NUL passwd",
        });
    };
    let authzid = match authzid {
        [] => None,
        bytes => Some(check_field("authzid", bytes, max, &[0])?),
    };
    Ok(Credentials::Plain {
        authzid,
        authcid: check_field("authcid", authcid, max, &[0])?,
        password: Secret::new(check_field("passwd", password, max, &[0])?),
    })
}

/// Parses a CRAM-MD5 response (RFC 2195 §2): `username SP 32HEXDIG`. The user name is
/// everything before the last space, so names containing spaces survive.
pub(crate) fn parse_cram_md5(
    message: &[u8],
    challenge: &str,
    max: usize,
) -> Result<CramMd5Response, AuthError> {
    let malformed = |reason| AuthError::Malformed {
        mechanism: "CRAM-MD5",
        reason,
    };
    let space = message
        .iter()
        .rposition(|b| *b == b' ')
        .ok_or(malformed("no space before the digest"))?;
    let (username, digest) = (&message[..space], &message[space + 1..]);
    if super::credentials::decode_hex16(digest).is_none() {
        return Err(malformed("digest is not 32 hexadecimal digits"));
    }
    let mut response_digest_hex = String::with_capacity(32);
    response_digest_hex.extend(digest.iter().map(|b| char::from(b.to_ascii_lowercase())));
    Ok(CramMd5Response {
        username: check_field("username", username, max, &[0])?,
        response_digest_hex,
        challenge: String::from(challenge),
    })
}

/// XOAUTH2 client message: `user=<user> ^A auth=Bearer <token> ^A ^A`.
pub(crate) fn encode_xoauth2(user: &str, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(user.len() + token.len() + 20);
    out.extend_from_slice(b"user=");
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(b"\x01auth=Bearer ");
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(b"\x01\x01");
    out
}

/// Parses an XOAUTH2 client message; `user` at most `max_field`, the token at most
/// `max_token` octets. Unknown keys are ignored.
pub(crate) fn parse_xoauth2(
    message: &[u8],
    max_field: usize,
    max_token: usize,
) -> Result<Credentials, AuthError> {
    let pairs = parse_kvpairs(message, "XOAUTH2")?;
    let user = unique(&pairs, b"user", "XOAUTH2")?.ok_or(AuthError::Malformed {
        mechanism: "XOAUTH2",
        reason: "no user= field",
    })?;
    let auth = unique(&pairs, b"auth", "XOAUTH2")?.ok_or(AuthError::Malformed {
        mechanism: "XOAUTH2",
        reason: "no auth= field",
    })?;
    Ok(Credentials::XOAuth2 {
        user: check_field("user", user, max_field, &[KVSEP])?,
        token: Secret::new(bearer_token(auth, max_token, "XOAUTH2")?),
    })
}

/// OAUTHBEARER initial client response (RFC 7628 §3.1):
/// `n,[a=<authzid>], ^A [host=<host> ^A port=<port> ^A] auth=Bearer <token> ^A ^A`.
pub(crate) fn encode_oauthbearer(
    authzid: Option<&str>,
    token: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len() + 64);
    out.extend_from_slice(b"n,");
    if let Some(authzid) = authzid {
        // RFC 5801 §4 saslname: "," and "=" are escaped as =2C and =3D.
        out.extend_from_slice(b"a=");
        for &b in authzid.as_bytes() {
            match b {
                b',' => out.extend_from_slice(b"=2C"),
                b'=' => out.extend_from_slice(b"=3D"),
                _ => out.push(b),
            }
        }
    }
    out.extend_from_slice(b",\x01");
    if let Some(host) = host {
        out.extend_from_slice(b"host=");
        out.extend_from_slice(host.as_bytes());
        out.push(KVSEP);
    }
    if let Some(port) = port {
        let mut digits = String::new();
        // Writing to a String cannot fail.
        let _ = write!(digits, "port={port}");
        out.extend_from_slice(digits.as_bytes());
        out.push(KVSEP);
    }
    out.extend_from_slice(b"auth=Bearer ");
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(b"\x01\x01");
    out
}

/// Parses an OAUTHBEARER client response (RFC 7628 §3.1). Channel binding (`p=`) is
/// refused; unknown keys are ignored as the RFC requires.
pub(crate) fn parse_oauthbearer(
    message: &[u8],
    max_field: usize,
    max_token: usize,
) -> Result<Credentials, AuthError> {
    const M: &str = "OAUTHBEARER";
    let malformed = |reason| AuthError::Malformed {
        mechanism: M,
        reason,
    };
    if message == [KVSEP] {
        return Err(malformed(
            "client sent only %x01, which is valid only after an error",
        ));
    }
    let rest = match message {
        [b'n' | b'y', b',', rest @ ..] => rest,
        [b'p', b'=', ..] => return Err(malformed("channel binding is not supported")),
        _ => return Err(malformed("GS2 header must start with \"n,\" or \"y,\"")),
    };
    let comma = rest
        .iter()
        .position(|b| *b == b',')
        .ok_or(malformed("GS2 header lacks its second \",\""))?;
    let authzid = match &rest[..comma] {
        [] => None,
        [b'a', b'=', name @ ..] => Some(unescape_saslname(name, max_field)?),
        _ => return Err(malformed("GS2 authzid must be \"a=\" saslname")),
    };
    let Some((&KVSEP, kvpairs)) = rest[comma + 1..].split_first() else {
        return Err(malformed("GS2 header must be followed by %x01"));
    };
    let pairs = parse_kvpairs(kvpairs, M)?;
    let auth = unique(&pairs, b"auth", M)?.ok_or(malformed("no auth= key/value"))?;
    // RFC 7628 §4.3: an empty `auth=` asks for the error (discovery) challenge.
    let token = match auth {
        [] => String::new(),
        auth => bearer_token(auth, max_token, M)?,
    };
    let host = match unique(&pairs, b"host", M)? {
        Some(host) => Some(check_field("host", host, max_field, &[])?),
        None => None,
    };
    let port = match unique(&pairs, b"port", M)? {
        Some(port) => Some(parse_port(port).ok_or(malformed("port is not a decimal 1..65535"))?),
        None => None,
    };
    Ok(Credentials::OAuthBearer {
        authzid,
        token: Secret::new(token),
        host,
        port,
    })
}

/// RFC 7628 §3.1 `port`: a decimal positive integer without leading zeros.
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.first() == Some(&b'0') || digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let mut n: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    u16::try_from(n).ok()
}

/// RFC 5801 §4 `saslname`: `=2C` is ",", `=3D` is "=", any other "=" or "," is invalid.
fn unescape_saslname(name: &[u8], max: usize) -> Result<String, AuthError> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while let Some(&b) = name.get(i) {
        match (b, name.get(i + 1..i + 3)) {
            (b'=', Some(b"2C" | b"2c")) => out.push(b','),
            (b'=', Some(b"3D" | b"3d")) => out.push(b'='),
            (b'=', _) => {
                return Err(AuthError::Malformed {
                    mechanism: "OAUTHBEARER",
                    reason: "authzid has \"=\" not followed by 2C or 3D",
                });
            }
            _ => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    check_field("authzid", &out, max, &[0])
}

/// `Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive).
fn bearer_token(auth: &[u8], max: usize, mechanism: &'static str) -> Result<String, AuthError> {
    match auth.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"Bearer ") => check_token(token, max),
        _ => Err(AuthError::Malformed {
            mechanism,
            reason: "auth value is not \"Bearer <token>\"",
        }),
    }
}

/// One `key=value` of an OAuth message, borrowed from it.
type KeyValue<'a> = (&'a [u8], &'a [u8]);

/// Splits `*kvpair kvsep` (RFC 7628 §3.1; XOAUTH2 has the same shape) into key/values.
fn parse_kvpairs<'a>(
    mut rest: &'a [u8],
    mechanism: &'static str,
) -> Result<Vec<KeyValue<'a>>, AuthError> {
    let malformed = |reason| AuthError::Malformed { mechanism, reason };
    let mut pairs = Vec::new();
    while rest != [KVSEP] {
        let end = rest
            .iter()
            .position(|b| *b == KVSEP)
            .ok_or(malformed("message must end with %x01 %x01"))?;
        let (pair, tail) = (&rest[..end], &rest[end + 1..]);
        let eq = pair
            .iter()
            .position(|b| *b == b'=')
            .ok_or(malformed("key/value without \"=\""))?;
        let (key, value) = (&pair[..eq], &pair[eq + 1..]);
        if key.is_empty() || !key.iter().all(u8::is_ascii_alphabetic) {
            return Err(malformed("key must be one or more letters"));
        }
        pairs.push((key, value));
        rest = tail;
    }
    Ok(pairs)
}

/// The value of `key`, refusing a duplicate (ambiguous credentials).
fn unique<'a>(
    pairs: &[KeyValue<'a>],
    key: &[u8],
    mechanism: &'static str,
) -> Result<Option<&'a [u8]>, AuthError> {
    let mut found = pairs.iter().filter(|(k, _)| *k == key).map(|(_, v)| *v);
    match (found.next(), found.next()) {
        (first, None) => Ok(first),
        (Some(_), Some(_)) | (None, Some(_)) => Err(AuthError::Malformed {
            mechanism,
            reason: "duplicate key",
        }),
    }
}

/// Error challenge for a failed XOAUTH2 exchange, as Google defines it:
/// `{"status":"<status>","schemes":"<schemes>","scope":"<scope>"}`, e.g. status `"401"`,
/// schemes `"bearer"`, scope `"https://mail.google.com/"`. Raw bytes: the protocol layer
/// base64-encodes them into a `334 ` / `+ ` line (see
/// [`ServerAuth::fail_with_challenge`](super::ServerAuth::fail_with_challenge)).
pub fn xoauth2_error_challenge(status: &str, schemes: &str, scope: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(status.len() + schemes.len() + scope.len() + 40);
    out.push(b'{');
    json_member(&mut out, "status", status);
    out.push(b',');
    json_member(&mut out, "schemes", schemes);
    out.push(b',');
    json_member(&mut out, "scope", scope);
    out.push(b'}');
    out
}

/// Error challenge for a failed OAUTHBEARER exchange (RFC 7628 §3.2.2): a JSON object
/// with the required `status` (an OAuth error code such as `"invalid_token"`) and the
/// optional `scope` and `openid-configuration`.
pub fn oauthbearer_error_challenge(
    status: &str,
    scope: Option<&str>,
    openid_configuration: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(status.len() + 64);
    out.push(b'{');
    json_member(&mut out, "status", status);
    if let Some(scope) = scope {
        out.push(b',');
        json_member(&mut out, "scope", scope);
    }
    if let Some(url) = openid_configuration {
        out.push(b',');
        json_member(&mut out, "openid-configuration", url);
    }
    out.push(b'}');
    out
}

/// Appends `"name":"value"` with the value escaped as a JSON string (RFC 8259 §7).
fn json_member(out: &mut Vec<u8>, name: &str, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":\"");
    for &b in value.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
