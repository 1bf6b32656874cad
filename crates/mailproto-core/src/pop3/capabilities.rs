//! CAPA capabilities (RFC 2449 §§5-6, RFC 2595 §4, RFC 3206 §3, RFC 5034 §3, RFC 6856).
//!
//! One capability per line of the multi-line CAPA answer. [`Capability::parse`] reads one
//! line (already unstuffed, without CRLF, the terminating `.` handled by the dot layer);
//! [`Capabilities`] collects them and writes them back.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::slice;

use super::encode::{check_text, check_token, push_u64};
use super::error::{EncodeError, ParseError, Snippet};
use super::types::Limits;

/// The minimum retention of the EXPIRE capability (RFC 2449 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// Messages stay at least this many days; 0 means they may not be left on the server.
    Days(u32),
    /// `NEVER`: the server does not delete messages.
    Never,
}

/// One capability of a CAPA answer. Tags are case-insensitive on input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capability {
    /// `TOP` (RFC 2449 §6.1).
    Top,
    /// `USER`: USER and PASS are supported (RFC 2449 §6.2).
    User,
    /// `SASL mech...`: AUTH with these mechanisms, in upper case (RFC 2449 §6.3,
    /// RFC 5034 §3).
    Sasl(Vec<String>),
    /// `RESP-CODES`: texts starting with `[` are response codes (RFC 2449 §6.4).
    RespCodes,
    /// `AUTH-RESP-CODE`: the `[AUTH]` response code is used (RFC 3206 §3).
    AuthRespCode,
    /// `LOGIN-DELAY n [USER]` (RFC 2449 §6.5).
    LoginDelay {
        /// Minimum seconds between logins.
        seconds: u32,
        /// `USER`: the value may be more precise after authentication.
        per_user: bool,
    },
    /// `PIPELINING` (RFC 2449 §6.6).
    Pipelining,
    /// `EXPIRE n|NEVER [USER]` (RFC 2449 §6.7).
    Expire {
        /// The minimum retention.
        expiry: Expiry,
        /// `USER`: the value may be more precise after authentication.
        per_user: bool,
    },
    /// `UIDL` (RFC 2449 §6.8).
    Uidl,
    /// `IMPLEMENTATION text` (RFC 2449 §6.9): the rest of the line, spaces included.
    Implementation(String),
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `UTF8 [USER]` (RFC 6856 §2): with `USER`, UTF-8 user names and passwords are
    /// accepted before the UTF8 command.
    Utf8 {
        /// The `USER` argument (RFC 6856 §2.2).
        user: bool,
    },
    /// `LANG` (RFC 6856 §3).
    Lang,
    /// Any other capability, kept as received.
    Other {
        /// The tag as received.
        tag: String,
        /// The space-separated arguments.
        args: Vec<String>,
    },
}

/// Tags of the known capabilities, in upper case.
const TAGS: [&str; 13] = [
    "TOP",
    "USER",
    "SASL",
    "RESP-CODES",
    "AUTH-RESP-CODE",
    "LOGIN-DELAY",
    "PIPELINING",
    "EXPIRE",
    "UIDL",
    "IMPLEMENTATION",
    "STLS",
    "UTF8",
    "LANG",
];

impl Capability {
    /// The capability tag, in upper case for known capabilities.
    pub fn tag(&self) -> &str {
        let known = |i: usize| TAGS.get(i).copied().unwrap_or_default();
        match self {
            Capability::Top => known(0),
            Capability::User => known(1),
            Capability::Sasl(_) => known(2),
            Capability::RespCodes => known(3),
            Capability::AuthRespCode => known(4),
            Capability::LoginDelay { .. } => known(5),
            Capability::Pipelining => known(6),
            Capability::Expire { .. } => known(7),
            Capability::Uidl => known(8),
            Capability::Implementation(_) => known(9),
            Capability::Stls => known(10),
            Capability::Utf8 { .. } => known(11),
            Capability::Lang => known(12),
            Capability::Other { tag, .. } => tag,
        }
    }

    /// Parse one capability line (RFC 2449 §3 `capability = capa-tag *(SP param)`).
    ///
    /// Lenient: runs of spaces, tags in any case, surplus arguments after a capability
    /// that takes none. A known tag whose arguments are malformed (`LOGIN-DELAY soon`)
    /// is an error, which a client may skip; so is a control character anywhere
    /// (RFC 2449 §3 allows printable characters only). The length is checked against
    /// [`Limits::capability_line`].
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Capability, ParseError> {
        let len = line.len().saturating_add(2);
        if len > limits.capability_line {
            return Err(ParseError::LineTooLong {
                len,
                limit: limits.capability_line,
            });
        }
        if let Some(offset) = line.iter().position(|&b| b < 0x20 || b == 0x7f) {
            let byte = line.get(offset).copied().unwrap_or_default();
            return Err(ParseError::InvalidByte { byte, offset });
        }
        let text = String::from_utf8_lossy(line);
        let mut words = text.split(' ').filter(|w| !w.is_empty());
        let tag = words.next().unwrap_or_default();
        let invalid = |reason| ParseError::InvalidCapability {
            tag: Snippet::from_bytes(tag.as_bytes()),
            reason,
        };
        if !is_capa_tag(tag) {
            return Err(invalid(
                "the tag must be printable ASCII, not starting with '.'",
            ));
        }
        let args: Vec<&str> = words.collect();
        let index = TAGS.iter().position(|t| t.eq_ignore_ascii_case(tag));
        let user_flag = |arg: Option<&&str>| match arg {
            None => Ok(false),
            Some(a) if a.eq_ignore_ascii_case("USER") => Ok(true),
            Some(_) => Err(invalid("the optional second argument must be USER")),
        };
        let cap = match index {
            Some(0) => Capability::Top,
            Some(1) => Capability::User,
            Some(2) => Capability::Sasl(args.iter().map(|m| m.to_ascii_uppercase()).collect()),
            Some(3) => Capability::RespCodes,
            Some(4) => Capability::AuthRespCode,
            Some(5) => {
                let seconds = match args.first() {
                    Some(a) if a.bytes().all(|b| b.is_ascii_digit()) => a.parse::<u32>().ok(),
                    _ => None,
                }
                .ok_or(invalid("expected the minimum seconds between logins"))?;
                Capability::LoginDelay {
                    seconds,
                    per_user: user_flag(args.get(1))?,
                }
            }
            Some(6) => Capability::Pipelining,
            Some(7) => {
                let expiry = match args.first() {
                    Some(a) if a.eq_ignore_ascii_case("NEVER") => Expiry::Never,
                    Some(a) if a.bytes().all(|b| b.is_ascii_digit()) => a
                        .parse::<u32>()
                        .map(Expiry::Days)
                        .map_err(|_| invalid("expected a number of days or NEVER"))?,
                    _ => return Err(invalid("expected a number of days or NEVER")),
                };
                Capability::Expire {
                    expiry,
                    per_user: user_flag(args.get(1))?,
                }
            }
            Some(8) => Capability::Uidl,
            Some(9) => {
                let rest = text.get(tag_end(&text)..).unwrap_or_default();
                Capability::Implementation(rest.trim_start_matches(' ').to_owned())
            }
            Some(10) => Capability::Stls,
            Some(11) => Capability::Utf8 {
                user: user_flag(args.first())?,
            },
            Some(12) => Capability::Lang,
            _ => Capability::Other {
                tag: tag.to_owned(),
                args: args.iter().map(|&a| a.to_owned()).collect(),
            },
        };
        Ok(cap)
    }

    /// Append this capability as one CAPA line, with its CRLF.
    ///
    /// Refuses CR, LF and NUL anywhere, spaces inside single-token fields, and an
    /// `Other` tag that is empty, starts with `.` or names a known capability (it would
    /// come back as that capability). On error `out` is left unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.encode_unchecked(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_unchecked(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let user = |out: &mut Vec<u8>, per_user: bool| {
            if per_user {
                out.extend_from_slice(b" USER");
            }
        };
        match self {
            Capability::Other { tag, args } => {
                check_token("capability tag", tag, false)?;
                if !is_capa_tag(tag) || TAGS.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                    return Err(EncodeError::InvalidToken {
                        field: "capability tag",
                        found: Snippet::from_bytes(tag.as_bytes()),
                    });
                }
                out.extend_from_slice(tag.as_bytes());
                for arg in args {
                    check_token("capability argument", arg, false)?;
                    out.push(b' ');
                    out.extend_from_slice(arg.as_bytes());
                }
            }
            _ => out.extend_from_slice(self.tag().as_bytes()),
        }
        match self {
            Capability::Sasl(mechs) => {
                for m in mechs {
                    check_token("SASL mechanism", m, false)?;
                    out.push(b' ');
                    out.extend(m.bytes().map(|b| b.to_ascii_uppercase()));
                }
            }
            Capability::LoginDelay { seconds, per_user } => {
                out.push(b' ');
                push_u64(out, u64::from(*seconds));
                user(out, *per_user);
            }
            Capability::Expire { expiry, per_user } => {
                out.push(b' ');
                match expiry {
                    Expiry::Days(d) => push_u64(out, u64::from(*d)),
                    Expiry::Never => out.extend_from_slice(b"NEVER"),
                }
                user(out, *per_user);
            }
            Capability::Implementation(text) if !text.is_empty() => {
                check_text("IMPLEMENTATION text", text)?;
                out.push(b' ');
                out.extend_from_slice(text.as_bytes());
            }
            Capability::Utf8 { user: per_user } => user(out, *per_user),
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// Offset of the end of the first word (after leading spaces).
fn tag_end(text: &str) -> usize {
    let lead = text.len() - text.trim_start_matches(' ').len();
    lead + text
        .get(lead..)
        .and_then(|t| t.find(' '))
        .unwrap_or(text.len() - lead)
}

/// `capa-tag = 1*cchar` (RFC 2449 §3), relaxed to allow `.` after the first character.
fn is_capa_tag(tag: &str) -> bool {
    !tag.is_empty() && !tag.starts_with('.') && tag.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The capabilities of a server: the lines of a CAPA answer, in order, one per tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    caps: Vec<Capability>,
}

impl Capabilities {
    /// An empty set.
    pub fn new() -> Self {
        Capabilities::default()
    }

    /// Add a capability, replacing one with the same tag (compared case-insensitively).
    pub fn insert(&mut self, cap: Capability) {
        match self
            .caps
            .iter_mut()
            .find(|c| c.tag().eq_ignore_ascii_case(cap.tag()))
        {
            Some(slot) => *slot = cap,
            None => self.caps.push(cap),
        }
    }

    /// Parse one CAPA line (see [`Capability::parse`]) and add it.
    pub fn parse_line(&mut self, line: &[u8], limits: &Limits) -> Result<(), ParseError> {
        self.insert(Capability::parse(line, limits)?);
        Ok(())
    }

    /// The capability with this tag (case-insensitive).
    pub fn get(&self, tag: &str) -> Option<&Capability> {
        self.caps.iter().find(|c| c.tag().eq_ignore_ascii_case(tag))
    }

    /// Whether a capability with this tag is present (case-insensitive).
    pub fn contains(&self, tag: &str) -> bool {
        self.get(tag).is_some()
    }

    /// The SASL mechanisms advertised (RFC 2449 §6.3), empty without `SASL`.
    pub fn sasl_mechanisms(&self) -> &[String] {
        match self.get("SASL") {
            Some(Capability::Sasl(mechs)) => mechs,
            _ => &[],
        }
    }

    /// The capabilities in order.
    pub fn iter(&self) -> slice::Iter<'_, Capability> {
        self.caps.iter()
    }

    /// How many capabilities there are.
    pub fn len(&self) -> usize {
        self.caps.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty()
    }

    /// Append every capability as a CAPA line with its CRLF, without the `+OK` line
    /// before and the `.` line after (RFC 2449 §5). On error `out` is left unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        for cap in &self.caps {
            if let Err(e) = cap.encode(out) {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut caps = Capabilities::new();
        for cap in iter {
            caps.insert(cap);
        }
        caps
    }
}

impl<'a> IntoIterator for &'a Capabilities {
    type Item = &'a Capability;
    type IntoIter = slice::Iter<'a, Capability>;

    fn into_iter(self) -> Self::IntoIter {
        self.caps.iter()
    }
}
