//! Encoders: every POP3 line appended to a caller `&mut Vec<u8>`, with its CRLF.
//!
//! Encoders check before they write and leave the buffer unchanged on error. CR, LF and
//! NUL are refused in every field (they would end the line early, or smuggle a second
//! command or response). What an encoder writes, the matching parser reads back as the
//! same value; the exceptions are noted on each encoder.
//!
//! Multi-line bodies (dot-stuffing and the `.` terminator) belong to the shared dot
//! layer; the listing encoders here write single lines only.

use alloc::string::String;
use alloc::vec::Vec;

use super::error::{EncodeError, Snippet};
use super::table;
use super::types::{
    Command, DropListing, Greeting, Response, ResponseCode, ScanListing, Status, StatusIndicator,
    UniqueIdListing,
};
use crate::sasl::{is_base64_text, is_mechanism_name};

/// Refuses CR, LF and NUL in `s` ([`crate::line::check_text`]).
pub(crate) fn check_text(field: &'static str, s: &str) -> Result<(), EncodeError> {
    crate::line::check_text(field, s)
}

/// A single token: not empty, no space, no control character (CR, LF, NUL reported as
/// such). `secret` masks the value in the error.
pub(crate) fn check_token(field: &'static str, s: &str, secret: bool) -> Result<(), EncodeError> {
    check_text(field, s)?;
    if s.is_empty() {
        return Err(EncodeError::Empty { field });
    }
    if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(invalid(field, s, secret));
    }
    Ok(())
}

fn invalid(field: &'static str, s: &str, secret: bool) -> EncodeError {
    EncodeError::InvalidToken {
        field,
        found: if secret {
            Snippet::masked()
        } else {
            Snippet::from_bytes(s.as_bytes())
        },
    }
}

/// Append `n` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

fn push_msg(out: &mut Vec<u8>, msg: u32) -> Result<(), EncodeError> {
    if msg == 0 {
        return Err(EncodeError::ZeroMessageNumber);
    }
    push_u64(out, u64::from(msg));
    Ok(())
}

/// Run `f` on `out`; on error cut `out` back to where it was.
fn atomic(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = f(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

impl Command {
    /// Append the command line with its CRLF (RFC 1939 §3).
    ///
    /// Refuses CR, LF and NUL in any argument, and any argument the parser would read
    /// differently: spaces or control characters in single-token arguments, control
    /// characters in a password, an APOP digest that is not 32 hex digits (written in
    /// lower case), a malformed SASL mechanism (written in upper case) or initial
    /// response (the literal `=` is refused: write the empty response as `Some("")`),
    /// message number 0, and an [`Command::Unknown`] keyword that is not 3-4 printable
    /// characters or names a known command. Line length limits are not checked here:
    /// a client that must stay within 255 octets (RFC 5034 §4) compares the length.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        atomic(out, |out| self.encode_unchecked(out))
    }

    fn encode_unchecked(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self.keyword().as_bytes());
        match self {
            Command::User(name) => {
                check_token("user name", name, false)?;
                push_arg(out, name);
            }
            Command::Pass(pass) => {
                let pass = pass.expose();
                check_text("password", pass)?;
                if pass.bytes().any(|b| b < b' ' || b == 0x7f) {
                    return Err(invalid("password", pass, true));
                }
                push_arg(out, pass);
            }
            Command::Apop { name, digest } => {
                check_token("APOP name", name, false)?;
                check_token("APOP digest", digest, false)?;
                if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("APOP digest", digest, false));
                }
                push_arg(out, name);
                out.push(b' ');
                out.extend(digest.bytes().map(|b| b.to_ascii_lowercase()));
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                check_token("SASL mechanism", mechanism, false)?;
                if !is_mechanism_name(mechanism.as_bytes()) {
                    return Err(invalid("SASL mechanism", mechanism, false));
                }
                out.push(b' ');
                out.extend(mechanism.bytes().map(|b| b.to_ascii_uppercase()));
                match initial_response.as_ref().map(|s| s.expose().as_str()) {
                    None => {}
                    Some("") => out.extend_from_slice(b" ="),
                    Some(ir) => {
                        check_text("initial response", ir)?;
                        if ir == "=" || !is_base64_text(ir.as_bytes()) {
                            return Err(invalid("initial response", ir, true));
                        }
                        push_arg(out, ir);
                    }
                }
            }
            Command::List(Some(msg)) | Command::Uidl(Some(msg)) => {
                out.push(b' ');
                push_msg(out, *msg)?;
            }
            Command::Retr(msg) | Command::Dele(msg) => {
                out.push(b' ');
                push_msg(out, *msg)?;
            }
            Command::Top { msg, lines } => {
                out.push(b' ');
                push_msg(out, *msg)?;
                out.push(b' ');
                push_u64(out, u64::from(*lines));
            }
            Command::Lang(Some(lang)) => {
                check_token("language", lang, false)?;
                push_arg(out, lang);
            }
            Command::Unknown { keyword, args } => {
                check_token("command keyword", keyword, false)?;
                let known = table::lookup(keyword.as_bytes()).is_some();
                let printable = keyword.bytes().all(|b| (0x21..=0x7e).contains(&b));
                if !(3..=4).contains(&keyword.len()) || !printable || known {
                    return Err(invalid("command keyword", keyword, false));
                }
                for arg in args {
                    check_token("argument", arg, false)?;
                    push_arg(out, arg);
                }
            }
            Command::AuthList
            | Command::Stls
            | Command::Capa
            | Command::Utf8
            | Command::Stat
            | Command::List(None)
            | Command::Noop
            | Command::Rset
            | Command::Quit
            | Command::Uidl(None)
            | Command::Lang(None) => {}
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

fn push_arg(out: &mut Vec<u8>, arg: &str) {
    out.push(b' ');
    out.extend_from_slice(arg.as_bytes());
}

impl ResponseCode {
    /// The code as written between the brackets, in upper case for known codes.
    pub fn as_str(&self) -> &str {
        match self {
            ResponseCode::InUse => "IN-USE",
            ResponseCode::LoginDelay => "LOGIN-DELAY",
            ResponseCode::SysTemp => "SYS/TEMP",
            ResponseCode::SysPerm => "SYS/PERM",
            ResponseCode::Auth => "AUTH",
            ResponseCode::Utf8 => "UTF8",
            ResponseCode::Other(code) => code,
        }
    }
}

/// `resp-level *("/" resp-level)`, each level `1*rchar` (RFC 2449 §3).
fn is_resp_code(code: &str) -> bool {
    code.split('/').all(|level| {
        !level.is_empty()
            && level
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'/' && b != b']')
    })
}

impl Status {
    /// Append `+OK`/`-ERR`, the `[code]` if any, the text if not empty, and CRLF
    /// (RFC 1939 §3, RFC 2449 §8).
    ///
    /// Refuses CR, LF and NUL in the text and a malformed [`ResponseCode::Other`]. A text
    /// that starts with a space, or with `[` when there is no code, is written as is but
    /// reads back differently (the parser trims leading spaces and takes a leading
    /// bracketed word for a code).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check_text("status text", &self.text)?;
        // The codes this crate names are well-formed; only one given as text is checked.
        if let Some(ResponseCode::Other(code)) = &self.code {
            check_text("response code", code)?;
            if !is_resp_code(code) {
                return Err(invalid("response code", code, false));
            }
        }
        out.extend_from_slice(match self.indicator {
            StatusIndicator::Ok => b"+OK",
            StatusIndicator::Err => b"-ERR",
        });
        if let Some(code) = &self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            push_arg(out, &self.text);
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

impl Response {
    /// Append the status line, or the SASL continuation `+ challenge` (RFC 5034 §4; the
    /// empty challenge is `+ `), with CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Response::Status(status) => status.encode(out),
            Response::Continuation(challenge) => {
                check_text("SASL challenge", challenge)?;
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(challenge.as_bytes());
                out.extend_from_slice(b"\r\n");
                Ok(())
            }
        }
    }
}

impl Greeting {
    /// A `+OK` greeting carrying an APOP timestamp (RFC 1939 §7): `text timestamp`.
    /// The timestamp is not checked here; [`Greeting::apop_timestamp`] reads it back
    /// only if it is msg-id-like.
    pub fn with_timestamp(text: &str, timestamp: &str) -> Greeting {
        let mut line = String::from(text);
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(timestamp);
        Greeting {
            status: Status::ok(line),
        }
    }

    /// Append the greeting line with CRLF (see [`Status::encode`]).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.status.encode(out)
    }
}

impl DropListing {
    /// The `+OK count size` status of a STAT answer (RFC 1939 §5).
    pub fn to_status(&self) -> Status {
        let mut text = Vec::new();
        push_u64(&mut text, u64::from(self.count));
        text.push(b' ');
        push_u64(&mut text, self.size);
        Status::ok(String::from_utf8(text).unwrap_or_default())
    }

    /// Append `+OK count size` with CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.to_status().encode(out)
    }
}

impl ScanListing {
    /// Append `msg size` with CRLF: one line of a multi-line LIST answer (RFC 1939 §5).
    /// Refuses message number 0.
    pub fn encode_line(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        atomic(out, |out| {
            push_msg(out, self.msg)?;
            out.push(b' ');
            push_u64(out, self.size);
            out.extend_from_slice(b"\r\n");
            Ok(())
        })
    }

    /// Append `+OK msg size` with CRLF: the answer to `LIST msg`. Refuses message
    /// number 0.
    pub fn encode_status(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        atomic(out, |out| {
            out.extend_from_slice(b"+OK ");
            self.encode_line(out)
        })
    }
}

impl UniqueIdListing {
    /// Append `msg uid` with CRLF: one line of a multi-line UIDL answer (RFC 1939 §7).
    /// Refuses message number 0 (the unique-id was checked when it was made).
    pub fn encode_line(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        atomic(out, |out| {
            push_msg(out, self.msg)?;
            push_arg(out, self.uid.as_str());
            out.extend_from_slice(b"\r\n");
            Ok(())
        })
    }

    /// Append `+OK msg uid` with CRLF: the answer to `UIDL msg`.
    pub fn encode_status(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        atomic(out, |out| {
            out.extend_from_slice(b"+OK ");
            self.encode_line(out)
        })
    }
}
