//! The command parser: one complete framed line, without its CRLF, to a [`Command`]
//! (RFC 5321 §4.1.1 and the extension RFCs).
//!
//! It never panics and never reads past the line; every failure is a [`ParseError`]
//! naming the reply a server gives.

use alloc::string::String;

use super::abnf::{NoCase, no_case};
use super::error::{ParseError, Snippet};
use super::params::{parse_mail_params, parse_rcpt_params};
use super::path::{forward_path, parse_host_arg, quoted_string, reverse_path};
use super::table::Verb;
use super::types::{Command, Domain, Host, InitialResponse, ParseConfig};

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
    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let verb = Verb::parse(&line[..verb_end]);
    let l = &cfg.limits;
    let max = match verb {
        Some(Verb::Mail | Verb::Rcpt) => l.command_line.saturating_add(l.param_allowance),
        Some(Verb::Auth) => l.auth_line,
        _ => l.command_line,
    };
    let length = line.len().saturating_add(2);
    if length > max {
        return Err(ParseError::LineTooLong { length, max });
    }
    if let Some(offset) = crate::line::find_cr_lf_nul(line) {
        return Err(ParseError::ForbiddenByte {
            byte: line[offset],
            offset,
        });
    }
    if verb.is_none() && (verb_end == 0 || !line[..verb_end].iter().all(u8::is_ascii_alphanumeric))
    {
        return Err(ParseError::InvalidVerb(Snippet::from_bytes(line)));
    }
    // The verb is letters and digits by now: only the rest can be invalid UTF-8.
    let verb_bytes = &line[..verb_end];
    let rest = crate::line::utf8_after_ascii(line, verb_end)
        .map_err(|offset| ParseError::InvalidUtf8 { offset })?;
    let Some(verb) = verb else {
        return Ok(Command::Unknown {
            verb: String::from_utf8_lossy(verb_bytes).into_owned(),
            args: rest.strip_prefix(' ').map(String::from),
        });
    };
    let name = verb.keyword();
    match verb {
        Verb::Helo => {
            let arg = one_arg(name, rest)?;
            match parse_host_arg(arg, false, cfg)? {
                Host::Domain(d) => Ok(Command::Helo(d)),
                Host::Literal(_) => Err(ParseError::InvalidHost(Snippet::new(arg))),
            }
        }
        Verb::Ehlo => Ok(Command::Ehlo(parse_host_arg(
            one_arg(name, rest)?,
            true,
            cfg,
        )?)),
        Verb::Lhlo => Ok(Command::Lhlo(parse_host_arg(
            one_arg(name, rest)?,
            true,
            cfg,
        )?)),
        Verb::Mail => {
            let p = path_start(name, rest, "FROM:", &FROM, cfg)?;
            let (from, rest) = reverse_path(p, cfg)?;
            let params = parse_mail_params(rest, cfg)?;
            Ok(Command::Mail { from, params })
        }
        Verb::Rcpt => {
            let p = path_start(name, rest, "TO:", &TO, cfg)?;
            let (to, rest) = forward_path(p, cfg)?;
            let params = parse_rcpt_params(rest, cfg)?;
            Ok(Command::Rcpt { to, params })
        }
        Verb::Data => no_args(name, rest).map(|()| Command::Data),
        Verb::Rset => no_args(name, rest).map(|()| Command::Rset),
        Verb::Quit => no_args(name, rest).map(|()| Command::Quit),
        Verb::StartTls => no_args(name, rest).map(|()| Command::StartTls),
        Verb::Bdat => parse_bdat(one_arg(name, rest)?),
        Verb::Noop => opt_string(rest, cfg).map(Command::Noop),
        Verb::Help => opt_string(rest, cfg).map(Command::Help),
        Verb::Vrfy => string(one_arg(name, rest)?, cfg).map(Command::Vrfy),
        Verb::Expn => string(one_arg(name, rest)?, cfg).map(Command::Expn),
        Verb::Auth => parse_auth(one_arg(name, rest)?),
    }
}

fn no_args(command: &'static str, rest: &str) -> Result<(), ParseError> {
    if rest.is_empty() {
        Ok(())
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

const FROM: NoCase = NoCase::new(b"FROM:");
const TO: NoCase = NoCase::new(b"TO:");

/// `SP "FROM:"` / `SP "TO:"` (any case), plus one optional SP when configured.
fn path_start<'a>(
    command: &'static str,
    rest: &'a str,
    keyword: &'static str,
    pattern: &NoCase,
    cfg: &ParseConfig,
) -> Result<&'a str, ParseError> {
    let b = rest.as_bytes();
    if !(b.first() == Some(&b' ') && pattern.starts(&b[1..])) {
        return Err(ParseError::Syntax {
            command,
            expected: keyword,
            found: Snippet::new(rest),
        });
    }
    let p = &rest[1 + keyword.len()..];
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
    let syntax = || ParseError::Syntax {
        command: "BDAT",
        expected: "chunk size and optional LAST",
        found: Snippet::new(arg),
    };
    let (digits, tail) = arg.split_at(arg.bytes().take_while(u8::is_ascii_digit).count());
    let last = if tail.is_empty() {
        false
    } else if no_case!(tail, b" LAST") {
        true
    } else {
        return Err(syntax());
    };
    if digits.is_empty() {
        return Err(syntax());
    }
    let size = digits
        .bytes()
        .try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
        .ok_or_else(|| ParseError::SizeOverflow(Snippet::new(digits)))?;
    Ok(Command::Bdat { size, last })
}

/// `AUTH SP mechanism [SP initial-response]` (RFC 4954 §4).
fn parse_auth(arg: &str) -> Result<Command, ParseError> {
    let (mech, ir) = match arg.split_once(' ') {
        Some((m, ir)) => (m, Some(ir)),
        None => (arg, None),
    };
    if !crate::sasl::is_mechanism_name(mech.as_bytes()) {
        return Err(ParseError::InvalidMechanism(Snippet::new(mech)));
    }
    let initial_response = match ir {
        None => None,
        Some("=") => Some(InitialResponse::Empty),
        Some(b) if crate::sasl::is_base64_text(b.as_bytes()) => {
            Some(InitialResponse::Base64(String::from(b)))
        }
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
