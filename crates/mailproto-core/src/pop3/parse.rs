//! Parsers for complete POP3 lines (without their CRLF), built from nom `complete`
//! parsers.
//!
//! The framing layer hands over one whole line at a time; nothing here waits for more
//! input, and no input makes a parser panic. Where real peers are sloppy and it is safe,
//! parsing is lenient: keywords and status indicators in any case, runs of spaces between
//! arguments, trailing spaces, trailing text after STAT and LIST numbers.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use super::table::{self, Verb};
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{eof, peek, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};

use super::error::{NumberError, ParseError, Snippet};
use super::types::{
    Command, DropListing, Greeting, Limits, Response, ResponseCode, ScanListing, Secret, Status,
    StatusIndicator, UniqueId, UniqueIdListing,
};

/// Longest APOP timestamp accepted from a greeting, brackets included.
pub const MAX_APOP_TIMESTAMP: usize = 256;

// ---------------------------------------------------------------------------------------
// Lexical pieces

fn spaces(i: &str) -> IResult<&str, &str> {
    take_while1(|c| c == ' ').parse(i)
}

fn token(i: &str) -> IResult<&str, &str> {
    take_while1(|c| c != ' ').parse(i)
}

/// Space-separated tokens, with any run of spaces between them and at the end.
fn arguments(i: &str) -> impl Iterator<Item = &str> {
    i.split(' ').filter(|t| !t.is_empty())
}

/// The first three [`arguments`] of `i` (enough to tell any known command that it has
/// too many) and how many there are of those.
fn first_arguments(i: &str) -> ([&str; 3], usize) {
    let mut first = [""; 3];
    let mut n = 0;
    for (slot, arg) in first.iter_mut().zip(arguments(i)) {
        *slot = arg;
        n += 1;
    }
    (first, n)
}

/// A run of decimal digits as `u64`, with overflow checked.
fn decimal(tok: &str, what: &'static str) -> Result<u64, ParseError> {
    let bad = |reason| ParseError::InvalidNumber {
        what,
        reason,
        found: Snippet::from_bytes(tok.as_bytes()),
    };
    if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(NumberError::NotDecimal));
    }
    tok.bytes()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(|| bad(NumberError::Overflow))
}

fn count(tok: &str, what: &'static str) -> Result<u32, ParseError> {
    let n = decimal(tok, what)?;
    u32::try_from(n).map_err(|_| ParseError::InvalidNumber {
        what,
        reason: NumberError::Overflow,
        found: Snippet::from_bytes(tok.as_bytes()),
    })
}

/// A message number: positive decimal that fits `u32` (RFC 1939 §3).
fn msg_number(tok: &str) -> Result<u32, ParseError> {
    match count(tok, "message number")? {
        0 => Err(ParseError::InvalidNumber {
            what: "message number",
            reason: NumberError::Zero,
            found: Snippet::from_bytes(tok.as_bytes()),
        }),
        n => Ok(n),
    }
}

fn is_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

// ---------------------------------------------------------------------------------------
// Commands

/// The command of `kw`, a keyword of printable ASCII, in any case: the keywords of the
/// protocol table ([`table::COMMANDS`]).
///
/// The keyword is read as one little-endian word with bit 5 of every octet cleared: that
/// maps exactly the two cases of a letter to one value, and the only other octet it maps
/// onto a keyword's (the `8` of `UTF8`, 0x38) is the control 0x18, which is not
/// printable.
fn keyword_verb(kw: &[u8]) -> Option<Verb> {
    const fn word(k: &[u8]) -> u32 {
        match *k {
            [a, b, c] => u32::from_le_bytes([a, b, c, 0]) & 0x00df_dfdf,
            [a, b, c, d] => u32::from_le_bytes([a, b, c, d]) & 0xdfdf_dfdf,
            _ => 0,
        }
    }
    const WORDS: [u32; table::COMMANDS.len()] = {
        let mut words = [0; table::COMMANDS.len()];
        let mut i = 0;
        while i < table::COMMANDS.len() {
            words[i] = word(table::COMMANDS[i].keyword.as_bytes());
            i += 1;
        }
        words
    };
    let w = word(kw);
    WORDS
        .iter()
        .position(|&k| k == w)
        .map(|i| table::COMMANDS[i].verb)
}

fn no_args(command: &'static str, args: &[&str]) -> Result<(), ParseError> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(too_many(command, extra)),
    }
}

fn too_many(command: &'static str, extra: &str) -> ParseError {
    ParseError::TooManyArguments {
        command,
        found: Snippet::from_bytes(extra.as_bytes()),
    }
}

fn opt_arg<'a>(command: &'static str, args: &[&'a str]) -> Result<Option<&'a str>, ParseError> {
    match args {
        [] => Ok(None),
        [a] => Ok(Some(a)),
        [_, extra, ..] => Err(too_many(command, extra)),
    }
}

fn one_arg<'a>(
    command: &'static str,
    expected: &'static str,
    args: &[&'a str],
) -> Result<&'a str, ParseError> {
    opt_arg(command, args)?.ok_or(ParseError::MissingArgument { command, expected })
}

fn two_args<'a>(
    command: &'static str,
    expected: &'static str,
    args: &[&'a str],
) -> Result<(&'a str, &'a str), ParseError> {
    match args {
        [a, b] => Ok((a, b)),
        [_, _, extra, ..] => Err(too_many(command, extra)),
        _ => Err(ParseError::MissingArgument { command, expected }),
    }
}

impl Command {
    /// Parse one command line, without its CRLF (RFC 1939 §3, RFC 2449 §3).
    ///
    /// The keyword is case-insensitive; arguments are separated by spaces (runs of spaces
    /// and trailing spaces are tolerated, except inside a `PASS` argument, which is the
    /// rest of the line after one space, RFC 1939 §7). Control characters anywhere are
    /// refused. A well-formed command with an unknown keyword is
    /// [`Command::Unknown`], not an error. The line length is checked against
    /// [`Limits::command_line`], or [`Limits::credential_line`] for PASS, APOP and AUTH.
    ///
    /// Errors about PASS and AUTH arguments never include the argument.
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Command, ParseError> {
        let kw_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let kw = line.get(..kw_len).unwrap_or_default();
        let rest = line.get(kw_len..).unwrap_or_default();
        let secret = [&b"PASS"[..], b"AUTH"]
            .iter()
            .any(|k| kw.eq_ignore_ascii_case(k));
        let credential = secret || kw.eq_ignore_ascii_case(b"APOP");
        let limit = if credential {
            limits.credential_line
        } else {
            limits.command_line
        };
        let len = line.len().saturating_add(2);
        if len > limit {
            return Err(ParseError::LineTooLong { len, limit });
        }
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        if let Some(offset) = line.iter().position(|&b| b < 0x20 || b == 0x7f) {
            let byte = line.get(offset).copied().unwrap_or_default();
            return Err(ParseError::InvalidByte { byte, offset });
        }
        if !(3..=4).contains(&kw.len()) || !kw.iter().all(|&b| is_vchar(b)) {
            return Err(ParseError::InvalidKeyword {
                found: Snippet::from_bytes(kw),
            });
        }
        let mask = |bytes: &[u8]| {
            if secret {
                Snippet::masked()
            } else {
                Snippet::from_bytes(bytes)
            }
        };
        // The keyword is printable ASCII by now, so valid UTF-8: only the rest can fail.
        let rest = match rest {
            [] => "",
            _ => {
                core::str::from_utf8(rest).map_err(|_| ParseError::NotUtf8 { found: mask(rest) })?
            }
        };
        let known = keyword_verb(kw);
        if known == Some(Verb::Pass) {
            // PASS: the rest of the line after exactly one space (RFC 1939 §7).
            return match rest.strip_prefix(' ') {
                Some(pass) => Ok(Command::Pass(Secret::from(pass))),
                None => Err(ParseError::MissingArgument {
                    command: "PASS",
                    expected: "a password",
                }),
            };
        }
        // Known commands take at most two arguments: the first three tell them all.
        let (first, n) = first_arguments(rest);
        let args = &first[..n];
        let command = match known {
            Some(Verb::User) => Command::User(one_arg("USER", "a user name", args)?.to_owned()),
            Some(Verb::Apop) => {
                let (name, digest) = two_args("APOP", "a name and a digest", args)?;
                if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ParseError::InvalidArgument {
                        what: "APOP digest (32 hex digits)",
                        found: Snippet::from_bytes(digest.as_bytes()),
                    });
                }
                Command::Apop {
                    name: name.to_owned(),
                    digest: digest.to_ascii_lowercase(),
                }
            }
            Some(Verb::Auth) => parse_auth(args)?,
            Some(Verb::Stls) => no_args("STLS", args).map(|()| Command::Stls)?,
            Some(Verb::Capa) => no_args("CAPA", args).map(|()| Command::Capa)?,
            Some(Verb::Utf8) => no_args("UTF8", args).map(|()| Command::Utf8)?,
            Some(Verb::Stat) => no_args("STAT", args).map(|()| Command::Stat)?,
            Some(Verb::List) => Command::List(opt_arg("LIST", args)?.map(msg_number).transpose()?),
            Some(Verb::Retr) => {
                Command::Retr(msg_number(one_arg("RETR", "a message number", args)?)?)
            }
            Some(Verb::Dele) => {
                Command::Dele(msg_number(one_arg("DELE", "a message number", args)?)?)
            }
            Some(Verb::Noop) => no_args("NOOP", args).map(|()| Command::Noop)?,
            Some(Verb::Rset) => no_args("RSET", args).map(|()| Command::Rset)?,
            Some(Verb::Quit) => no_args("QUIT", args).map(|()| Command::Quit)?,
            Some(Verb::Top) => {
                let (msg, lines) = two_args("TOP", "a message number and a line count", args)?;
                Command::Top {
                    msg: msg_number(msg)?,
                    lines: count(lines, "line count")?,
                }
            }
            Some(Verb::Uidl) => Command::Uidl(opt_arg("UIDL", args)?.map(msg_number).transpose()?),
            Some(Verb::Lang) => Command::Lang(opt_arg("LANG", args)?.map(ToOwned::to_owned)),
            Some(Verb::Pass) | None => Command::Unknown {
                keyword: String::from_utf8_lossy(kw).into_owned(),
                args: arguments(rest).map(ToOwned::to_owned).collect(),
            },
        };
        Ok(command)
    }
}

fn parse_auth(args: &[&str]) -> Result<Command, ParseError> {
    let (mechanism, initial) = match args {
        [] => return Ok(Command::AuthList),
        [m] => (*m, None),
        [m, ir] => (*m, Some(*ir)),
        [_, _, ..] => {
            return Err(ParseError::TooManyArguments {
                command: "AUTH",
                found: Snippet::masked(),
            });
        }
    };
    if !crate::sasl::is_mechanism_name(mechanism.as_bytes()) {
        return Err(ParseError::InvalidArgument {
            what: "SASL mechanism name",
            found: Snippet::from_bytes(mechanism.as_bytes()),
        });
    }
    let initial_response = match initial {
        None => None,
        Some("=") => Some(Secret::default()),
        Some(ir) if crate::sasl::is_base64_text(ir.as_bytes()) => Some(Secret::from(ir)),
        Some(_) => {
            return Err(ParseError::InvalidArgument {
                what: "AUTH initial response (base64 or \"=\")",
                found: Snippet::masked(),
            });
        }
    };
    Ok(Command::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial_response,
    })
}

// ---------------------------------------------------------------------------------------
// Responses

fn status_indicator(i: &[u8]) -> IResult<&[u8], StatusIndicator> {
    alt((
        value(StatusIndicator::Ok, tag_no_case("+OK")),
        value(StatusIndicator::Err, tag_no_case("-ERR")),
    ))
    .parse(i)
}

/// `rchar = %x21-2E / %x30-5C / %x5E-7F` (RFC 2449 §3); DEL excluded here.
fn is_rchar(c: char) -> bool {
    matches!(c, '\x21'..='\x2e' | '\x30'..='\x5c' | '\x5e'..='\x7e')
}

/// `resp-code = "[" resp-level *("/" resp-level) "]"` (RFC 2449 §3).
fn resp_code(i: &str) -> IResult<&str, Vec<&str>> {
    delimited(
        char('['),
        separated_list1(char('/'), take_while1(is_rchar)),
        char(']'),
    )
    .parse(i)
}

/// Map the levels of a response code to a [`ResponseCode`] (RFC 2449 §8, RFC 3206,
/// RFC 6856 §5).
fn classify_code(levels: &[&str], raw: &str) -> ResponseCode {
    let is = |s: &str, k: &str| s.eq_ignore_ascii_case(k);
    match levels {
        [first, ..] if is(first, "IN-USE") => ResponseCode::InUse,
        [first, ..] if is(first, "LOGIN-DELAY") => ResponseCode::LoginDelay,
        [first, ..] if is(first, "AUTH") => ResponseCode::Auth,
        [first, ..] if is(first, "UTF8") => ResponseCode::Utf8,
        [first, second, ..] if is(first, "SYS") && is(second, "TEMP") => ResponseCode::SysTemp,
        [first, second, ..] if is(first, "SYS") && is(second, "PERM") => ResponseCode::SysPerm,
        _ => ResponseCode::Other(raw.to_owned()),
    }
}

fn check_line(line: &[u8], limit: usize) -> Result<(), ParseError> {
    let len = line.len().saturating_add(2);
    if len > limit {
        return Err(ParseError::LineTooLong { len, limit });
    }
    match line.iter().position(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        Some(offset) => Err(ParseError::InvalidByte {
            byte: line.get(offset).copied().unwrap_or_default(),
            offset,
        }),
        None => Ok(()),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Status {
    /// Parse a status line `+OK [text]` / `-ERR [text]` (RFC 1939 §3), with an optional
    /// response code at the start of the text (RFC 2449 §8).
    ///
    /// Lenient: the indicator in any case, any number of spaces after it and after the
    /// code, a text in any encoding (invalid UTF-8 is replaced). A `[` that does not open
    /// a well-formed code stays in the text. NUL, CR and LF are refused; the length is
    /// checked against [`Limits::status_line`].
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Status, ParseError> {
        check_line(line, limits.status_line)?;
        let invalid = || ParseError::InvalidStatus {
            found: Snippet::from_bytes(line),
        };
        let (rest, indicator) = status_indicator(line).map_err(|_| invalid())?;
        let rest = match rest {
            [] => rest,
            [b' ', ..] => rest.trim_ascii_start(),
            _ => return Err(invalid()),
        };
        let text = lossy(rest);
        let mut code = None;
        let mut text_start = 0;
        if let Ok((after, levels)) = resp_code(&text) {
            let raw_len = text.len() - after.len();
            let raw = text.get(1..raw_len.saturating_sub(1)).unwrap_or_default();
            code = Some(classify_code(&levels, raw));
            text_start = raw_len + (after.len() - after.trim_start_matches(' ').len());
        }
        let text = text.get(text_start..).unwrap_or_default().to_owned();
        Ok(Status {
            indicator,
            code,
            text,
        })
    }
}

impl Response {
    /// Parse the first line of a server answer: a [`Status`] or a SASL continuation
    /// `+ base64` (RFC 5034 §4). A bare `+` is taken as the empty challenge. The
    /// challenge is kept as received (invalid UTF-8 replaced); decoding it is the SASL
    /// layer's job. Continuations are checked against [`Limits::continuation_line`],
    /// status lines against [`Limits::status_line`].
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Response, ParseError> {
        match line {
            [b'+'] => Ok(Response::Continuation(String::new())),
            [b'+', b' ', challenge @ ..] => {
                check_line(line, limits.continuation_line)?;
                Ok(Response::Continuation(lossy(challenge)))
            }
            _ => Status::parse(line, limits).map(Response::Status),
        }
    }
}

impl Greeting {
    /// Parse the greeting line (RFC 1939 §4). A `-ERR` greeting is accepted too: servers
    /// refuse connections that way (often with `[SYS/TEMP]`).
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Greeting, ParseError> {
        Status::parse(line, limits).map(|status| Greeting { status })
    }

    /// The APOP timestamp of a `+OK` greeting (RFC 1939 §7), brackets included, e.g.
    /// `<1896.697170952@dbc.mtview.ca.us>`.
    ///
    /// The first `<...>` group that looks like a msg-id is taken: at most
    /// [`MAX_APOP_TIMESTAMP`] octets, printable ASCII without spaces or further angle
    /// brackets, with an `@` that has text on both sides.
    pub fn apop_timestamp(&self) -> Option<&str> {
        if !self.status.is_ok() {
            return None;
        }
        let text = self.status.text.as_str();
        let mut from = 0;
        while let Some(open) = text.get(from..)?.find('<').map(|p| p + from) {
            let after = text.get(open + 1..)?;
            let close = open + 1 + after.find('>')?;
            let candidate = text.get(open..=close)?;
            if is_apop_timestamp(candidate) {
                return Some(candidate);
            }
            from = open + 1;
        }
        None
    }
}

fn is_apop_timestamp(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    let at = inner.find('@');
    s.len() <= MAX_APOP_TIMESTAMP
        && inner.bytes().all(|b| is_vchar(b) && b != b'<' && b != b'>')
        && at.is_some_and(|at| at > 0 && at + 1 < inner.len())
}

// ---------------------------------------------------------------------------------------
// Typed payloads

/// `number SP+ number [SP text]`, leading spaces tolerated.
fn two_numbers(i: &str) -> IResult<&str, (&str, &str)> {
    terminated(
        (
            preceded(take_while(|c| c == ' '), digit1),
            preceded(spaces, digit1),
        ),
        peek(alt((eof, tag(" ")))),
    )
    .parse(i)
}

fn require_ok(status: &Status) -> Result<&str, ParseError> {
    if status.is_ok() {
        Ok(&status.text)
    } else {
        Err(ParseError::NegativeResponse {
            found: Snippet::from_bytes(status.text.as_bytes()),
        })
    }
}

fn listing_text(line: &[u8]) -> Result<&str, ParseError> {
    if let Some(offset) = line.iter().position(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        let byte = line.get(offset).copied().unwrap_or_default();
        return Err(ParseError::InvalidByte { byte, offset });
    }
    core::str::from_utf8(line).map_err(|_| ParseError::NotUtf8 {
        found: Snippet::from_bytes(line),
    })
}

impl DropListing {
    /// Parse the text of a STAT answer, `nn mm` (RFC 1939 §5). Extra spaces and text
    /// after the size are tolerated.
    pub fn parse(text: &str) -> Result<DropListing, ParseError> {
        let (_, (count, size)) = two_numbers(text).map_err(|_| ParseError::InvalidArgument {
            what: "drop listing (count size)",
            found: Snippet::from_bytes(text.as_bytes()),
        })?;
        Ok(DropListing {
            count: self::count(count, "message count")?,
            size: decimal(size, "maildrop size")?,
        })
    }

    /// The drop listing of a `+OK` STAT status; `-ERR` is an error.
    pub fn from_status(status: &Status) -> Result<DropListing, ParseError> {
        DropListing::parse(require_ok(status)?)
    }
}

impl ScanListing {
    /// Parse a scan listing `msg size` (RFC 1939 §5): a line of a multi-line LIST answer
    /// (already unstuffed, without CRLF), or the text of a `LIST msg` answer. Extra
    /// spaces and text after the size are tolerated.
    pub fn parse(line: &[u8]) -> Result<ScanListing, ParseError> {
        let text = listing_text(line)?;
        let (_, (msg, size)) = two_numbers(text).map_err(|_| ParseError::InvalidArgument {
            what: "scan listing (msg size)",
            found: Snippet::from_bytes(line),
        })?;
        Ok(ScanListing {
            msg: msg_number(msg)?,
            size: decimal(size, "message size")?,
        })
    }

    /// The scan listing of a `+OK` answer to `LIST msg`; `-ERR` is an error.
    pub fn from_status(status: &Status) -> Result<ScanListing, ParseError> {
        ScanListing::parse(require_ok(status)?.as_bytes())
    }
}

impl UniqueIdListing {
    /// Parse a unique-id listing `msg uid` (RFC 1939 §7): a line of a multi-line UIDL
    /// answer, or the text of a `UIDL msg` answer. Extra spaces and text after the
    /// unique-id are tolerated; the unique-id itself is checked.
    pub fn parse(line: &[u8]) -> Result<UniqueIdListing, ParseError> {
        let text = listing_text(line)?;
        let parsed: IResult<&str, (&str, &str)> = (
            preceded(take_while(|c| c == ' '), digit1),
            preceded(spaces, token),
        )
            .parse(text);
        let (_, (msg, uid)) = parsed.map_err(|_| ParseError::InvalidArgument {
            what: "unique-id listing (msg uid)",
            found: Snippet::from_bytes(line),
        })?;
        Ok(UniqueIdListing {
            msg: msg_number(msg)?,
            uid: UniqueId::new(uid)?,
        })
    }

    /// The unique-id listing of a `+OK` answer to `UIDL msg`; `-ERR` is an error.
    pub fn from_status(status: &Status) -> Result<UniqueIdListing, ParseError> {
        UniqueIdListing::parse(require_ok(status)?.as_bytes())
    }
}
