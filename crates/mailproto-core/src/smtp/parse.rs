//! The command parser: one complete framed line, without its CRLF, to a [`Command`]
//! (RFC 5321 §4.1.1 and the extension RFCs).
//!
//! It never panics and never reads past the line; every failure is a [`ParseError`]
//! naming the reply a server gives.

use alloc::string::String;

use nom::bytes::complete::{tag_no_case, take_while1};
use nom::combinator::opt;
use nom::{IResult, Parser};

use super::error::{ParseError, Snippet};
use super::params::{parse_mail_params, parse_rcpt_params};
use super::path::{forward_path, parse_host_arg, quoted_string, reverse_path};
use super::types::{Command, Domain, Host, InitialResponse, ParseConfig};

/// Verbs this parser knows; anything else is [`Command::Unknown`].
pub(crate) const KNOWN_VERBS: &[&str] = &[
    "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
    "HELP", "STARTTLS", "AUTH",
];

impl Command {
    /// Parses one command line (without its CRLF) per RFC 5321 §4.1.1.
    ///
    /// ```
    /// use mailproto_core::smtp::{Command, ParseConfig, ReversePath};
    /// let cmd = Command::parse(b"MAIL FROM:<a@example.org> SIZE=1000", &ParseConfig::default())?;
    /// let Command::Mail { from: ReversePath::Mailbox(m), params } = cmd else { panic!() };
    /// assert_eq!(m.local_part, "a");
    /// assert_eq!(params.size, Some(1000));
    /// # Ok::<(), mailproto_core::smtp::ParseError>(())
    /// ```
    pub fn parse(line: &[u8], cfg: &ParseConfig) -> Result<Command, ParseError> {
        parse_command(line, cfg)
    }
}

/// Parses one command line; see [`Command::parse`].
pub fn parse_command(line: &[u8], cfg: &ParseConfig) -> Result<Command, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let verb_end = memchr::memchr(b' ', line).unwrap_or(line.len());
    let verb = &line[..verb_end];
    let l = &cfg.limits;
    let max = if verb.eq_ignore_ascii_case(b"MAIL") || verb.eq_ignore_ascii_case(b"RCPT") {
        l.command_line.saturating_add(l.param_allowance)
    } else if verb.eq_ignore_ascii_case(b"AUTH") {
        l.auth_line
    } else {
        l.command_line
    };
    let length = line.len().saturating_add(2);
    if length > max {
        return Err(ParseError::LineTooLong { length, max });
    }
    if let Some(offset) = memchr::memchr3(0, b'\r', b'\n', line) {
        return Err(ParseError::ForbiddenByte {
            byte: line[offset],
            offset,
        });
    }
    if verb.is_empty() || !verb.iter().all(u8::is_ascii_alphanumeric) {
        return Err(ParseError::InvalidVerb(Snippet::from_bytes(line)));
    }
    let line = core::str::from_utf8(line).map_err(|e| ParseError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let (verb, rest) = line.split_at(verb_end);
    let upper = verb.to_ascii_uppercase();
    let Some(&name) = KNOWN_VERBS.iter().find(|v| **v == upper) else {
        return Ok(Command::Unknown {
            verb: String::from(verb),
            args: rest.strip_prefix(' ').map(String::from),
        });
    };
    match name {
        "HELO" => {
            let arg = one_arg(name, rest)?;
            match parse_host_arg(arg, false, cfg)? {
                Host::Domain(d) => Ok(Command::Helo(d)),
                Host::Literal(_) => Err(ParseError::InvalidHost(Snippet::new(arg))),
            }
        }
        "EHLO" => Ok(Command::Ehlo(parse_host_arg(
            one_arg(name, rest)?,
            true,
            cfg,
        )?)),
        "LHLO" => Ok(Command::Lhlo(parse_host_arg(
            one_arg(name, rest)?,
            true,
            cfg,
        )?)),
        "MAIL" => {
            let p = path_start(name, rest, "FROM:", cfg)?;
            let (from, rest) = reverse_path(p, cfg)?;
            let params = parse_mail_params(rest, cfg)?;
            Ok(Command::Mail { from, params })
        }
        "RCPT" => {
            let p = path_start(name, rest, "TO:", cfg)?;
            let (to, rest) = forward_path(p, cfg)?;
            let params = parse_rcpt_params(rest, cfg)?;
            Ok(Command::Rcpt { to, params })
        }
        "DATA" => no_args(name, rest, Command::Data),
        "RSET" => no_args(name, rest, Command::Rset),
        "QUIT" => no_args(name, rest, Command::Quit),
        "STARTTLS" => no_args(name, rest, Command::StartTls),
        "BDAT" => parse_bdat(one_arg(name, rest)?),
        "NOOP" => opt_string(rest, cfg).map(Command::Noop),
        "HELP" => opt_string(rest, cfg).map(Command::Help),
        "VRFY" => string(one_arg(name, rest)?, cfg).map(Command::Vrfy),
        "EXPN" => string(one_arg(name, rest)?, cfg).map(Command::Expn),
        _ => parse_auth(one_arg(name, rest)?),
    }
}

fn no_args(command: &'static str, rest: &str, cmd: Command) -> Result<Command, ParseError> {
    if rest.is_empty() {
        Ok(cmd)
    } else {
        Err(ParseError::Syntax {
            command,
            expected: "end of line",
            found: Snippet::new(rest),
        })
    }
}

/// `SP argument` with a non-empty argument.
fn one_arg<'a>(command: &'static str, rest: &'a str) -> Result<&'a str, ParseError> {
    match rest.strip_prefix(' ') {
        Some(a) if !a.is_empty() => Ok(a),
        _ => Err(ParseError::Syntax {
            command,
            expected: "SP and an argument",
            found: Snippet::new(rest),
        }),
    }
}

/// `SP "FROM:"` / `SP "TO:"` (any case), plus one optional SP when configured.
fn path_start<'a>(
    command: &'static str,
    rest: &'a str,
    keyword: &'static str,
    cfg: &ParseConfig,
) -> Result<&'a str, ParseError> {
    let r: IResult<&str, _, ()> = (tag_no_case(" "), tag_no_case(keyword)).parse(rest);
    let Ok((p, _)) = r else {
        return Err(ParseError::Syntax {
            command,
            expected: keyword,
            found: Snippet::new(rest),
        });
    };
    if cfg.allow_space_after_colon
        && let Some(p) = p.strip_prefix(' ')
    {
        return Ok(p);
    }
    Ok(p)
}

/// A `String` argument (RFC 5321 §4.1.2): a Quoted-string is decoded; anything else is
/// kept verbatim (servers commonly see `VRFY user@domain`, which is no Atom).
fn string(arg: &str, cfg: &ParseConfig) -> Result<String, ParseError> {
    if !cfg.smtputf8 && !arg.is_ascii() {
        return Err(ParseError::NonAsciiWithoutSmtpUtf8(Snippet::new(arg)));
    }
    match quoted_string(arg) {
        Some((s, "")) => Ok(s),
        _ => Ok(String::from(arg)),
    }
}

fn opt_string(rest: &str, cfg: &ParseConfig) -> Result<Option<String>, ParseError> {
    match rest.strip_prefix(' ') {
        None => Ok(None),
        Some(a) => string(a, cfg).map(Some),
    }
}

/// `BDAT SP chunk-size [SP "LAST"]` (RFC 3030 §2).
fn parse_bdat(arg: &str) -> Result<Command, ParseError> {
    let r: IResult<&str, _, ()> = (
        take_while1(|c: char| c.is_ascii_digit()),
        opt(tag_no_case(" LAST")),
    )
        .parse(arg);
    match r {
        Ok(("", (digits, last))) => {
            let size = digits
                .bytes()
                .try_fold(0u64, |acc, b| {
                    acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
                })
                .ok_or_else(|| ParseError::SizeOverflow(Snippet::new(digits)))?;
            Ok(Command::Bdat {
                size,
                last: last.is_some(),
            })
        }
        _ => Err(ParseError::Syntax {
            command: "BDAT",
            expected: "chunk size and optional LAST",
            found: Snippet::new(arg),
        }),
    }
}

/// `sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_")` (RFC 4954 §4), any case.
pub(crate) fn is_mechanism(s: &str) -> bool {
    (1..=20).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Base64 alphabet with up to two trailing `=` (RFC 4648 §4); padding is not required.
pub(crate) fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `AUTH SP mechanism [SP initial-response]` (RFC 4954 §4).
fn parse_auth(arg: &str) -> Result<Command, ParseError> {
    let (mech, ir) = match arg.split_once(' ') {
        Some((m, ir)) => (m, Some(ir)),
        None => (arg, None),
    };
    if !is_mechanism(mech) {
        return Err(ParseError::InvalidMechanism(Snippet::new(mech)));
    }
    let initial_response = match ir {
        None => None,
        Some("=") => Some(InitialResponse::Empty),
        Some(b) if is_base64(b) => Some(InitialResponse::Base64(String::from(b))),
        Some(b) => return Err(ParseError::InvalidInitialResponse(Snippet::new(b))),
    };
    Ok(Command::Auth {
        mechanism: mech.to_ascii_uppercase(),
        initial_response,
    })
}

impl Domain {
    /// Parses a HELO argument with the parser's limits and SMTPUTF8 setting.
    pub fn parse(arg: &str, cfg: &ParseConfig) -> Result<Domain, ParseError> {
        match parse_host_arg(arg, false, cfg)? {
            Host::Domain(d) => Ok(d),
            Host::Literal(_) => Err(ParseError::InvalidHost(Snippet::new(arg))),
        }
    }
}
