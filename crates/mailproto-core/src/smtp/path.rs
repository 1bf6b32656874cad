//! Parsers for domains, address literals, mailboxes and paths (RFC 5321 §4.1.2, §4.1.3;
//! RFC 6531 §3.3 for UTF-8).
//!
//! Each parser takes the input at the start of the element and returns the element and
//! the rest. They parse with UTF-8 allowed; the caller checks SMTPUTF8 afterwards so the
//! error can say "non-ASCII without SMTPUTF8" instead of "syntax error".

use alloc::string::String;
use core::net::{Ipv4Addr, Ipv6Addr};

use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::recognize;
use nom::multi::separated_list1;
use nom::{IResult, Parser};

use super::error::{ParseError, PathErrorKind, PathRole, Snippet};
use super::params::is_atext;
use super::types::{AddressLiteral, Domain, ForwardPath, Host, Mailbox, ParseConfig, ReversePath};

type R<'a, T> = IResult<&'a str, T, ()>;

/// RFC 5321 `atext` with RFC 6531 `UTF8-non-ascii`.
pub(crate) fn is_atext_utf8(c: char) -> bool {
    is_atext(c) || !c.is_ascii()
}

/// `Dot-string = Atom *("." Atom)`, UTF-8 allowed.
fn dot_string(i: &str) -> R<'_, &str> {
    recognize(separated_list1(char('.'), take_while1(is_atext_utf8))).parse(i)
}

/// Whether all of `s` is a Dot-string (so a local part needs no quoting).
pub(crate) fn is_dot_string(s: &str) -> bool {
    matches!(dot_string(s), Ok(("", _)))
}

/// `Quoted-string` (RFC 5321 §4.1.2), returning the decoded content and the rest.
pub(crate) fn quoted_string(i: &str) -> Option<(String, &str)> {
    let mut chars = i.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((idx, c)) = chars.next() {
        match c {
            '"' => return Some((out, &i[idx + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                if !(' '..='~').contains(&e) {
                    return None;
                }
                out.push(e);
            }
            ' '..='~' => out.push(c),
            c if !c.is_ascii() => out.push(c),
            _ => return None,
        }
    }
    None
}

/// A domain label character: `Let-dig`, `-`, or (U-label) non-ASCII.
fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii()
}

/// Whether `s` is a `Domain` (RFC 5321 §4.1.2): labels of 1 to 63 octets, letters,
/// digits and inner hyphens; non-ASCII only when `utf8`.
pub(crate) fn is_domain(s: &str, utf8: bool) -> bool {
    !s.is_empty()
        && (utf8 || s.is_ascii())
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(is_label_char)
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The longest run of domain characters, then checked as a Domain.
fn domain(i: &str) -> Option<(&str, &str)> {
    let (rest, d) = take_while1::<_, _, ()>(|c| is_label_char(c) || c == '.')(i).ok()?;
    is_domain(d, true).then_some((d, rest))
}

/// `Snum 3("." Snum)` with `Snum = 1*3DIGIT` of value 0 to 255.
fn ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// `Ldh-str` used as a Standardized-tag.
fn is_ldh_tag(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// `dcontent = %d33-90 / %d94-126`.
pub(crate) fn is_dcontent(c: char) -> bool {
    matches!(c, '!'..='Z' | '^'..='~')
}

/// Interprets the text between `[` and `]` (RFC 5321 §4.1.3).
pub(crate) fn address_literal_content(s: &str) -> Option<AddressLiteral> {
    if let Some(a) = ipv4(s) {
        return Some(AddressLiteral::Ipv4(a));
    }
    let (tag, content) = s.split_once(':')?;
    if tag.eq_ignore_ascii_case("IPv6") {
        return content.parse::<Ipv6Addr>().ok().map(AddressLiteral::Ipv6);
    }
    (is_ldh_tag(tag) && !content.is_empty() && content.chars().all(is_dcontent)).then(|| {
        AddressLiteral::General {
            tag: String::from(tag),
            content: String::from(content),
        }
    })
}

/// `address-literal = "[" ... "]"`.
fn address_literal(i: &str) -> Option<(AddressLiteral, &str)> {
    let (rest, (_, content, _)) = (tag::<_, _, ()>("["), take_while(is_dcontent), tag("]"))
        .parse(i)
        .ok()?;
    Some((address_literal_content(content)?, rest))
}

/// Parses a domain or address literal at the start of `i`. Returns the host, its text
/// and the rest; `Err` names what was wrong.
fn host(i: &str) -> Result<(Host, &str, &str), PathErrorKind> {
    if i.starts_with('[') {
        let (lit, rest) = address_literal(i).ok_or(PathErrorKind::InvalidAddressLiteral)?;
        Ok((Host::Literal(lit), &i[..i.len() - rest.len()], rest))
    } else {
        let (d, rest) = domain(i).ok_or(PathErrorKind::InvalidDomain)?;
        Ok((Host::Domain(Domain::from_validated(d)), d, rest))
    }
}

/// Parses a whole HELO/EHLO argument: a domain, or an address literal when `literal_ok`.
pub(crate) fn parse_host_arg(
    arg: &str,
    literal_ok: bool,
    cfg: &ParseConfig,
) -> Result<Host, ParseError> {
    let bad = || ParseError::InvalidHost(Snippet::new(arg));
    if arg.starts_with('[') && !literal_ok {
        return Err(bad());
    }
    let (h, text, rest) = host(arg).map_err(|_| bad())?;
    if !rest.is_empty() || text.len() > cfg.limits.domain {
        return Err(bad());
    }
    if !cfg.smtputf8 && !text.is_ascii() {
        return Err(ParseError::NonAsciiWithoutSmtpUtf8(Snippet::new(arg)));
    }
    Ok(h)
}

/// `A-d-l ":"`: a source route, accepted and discarded (RFC 5321 §4.1.1.3, App. C).
fn source_route(mut i: &str) -> Option<&str> {
    loop {
        let (_, rest) = domain(i.strip_prefix('@')?)?;
        if let Some(r) = rest.strip_prefix(',') {
            i = r;
        } else {
            return rest.strip_prefix(':');
        }
    }
}

/// A parsed path: `None` for `<>` / `<Postmaster>`.
pub(crate) struct ParsedPath<'a> {
    pub(crate) mailbox: Option<Mailbox>,
    pub(crate) rest: &'a str,
}

/// Parses `Path` (and `<>` for a reverse path, `<Postmaster>` for a forward path) at the
/// start of `i`, checking the §4.5.3.1 limits and SMTPUTF8.
pub(crate) fn parse_path<'a>(
    i: &'a str,
    role: PathRole,
    cfg: &ParseConfig,
) -> Result<ParsedPath<'a>, ParseError> {
    let err = |kind, at: &str| ParseError::Path {
        role,
        kind,
        found: Snippet::new(at),
    };
    let Some(inner) = i.strip_prefix('<') else {
        return Err(err(PathErrorKind::MissingBrackets, i));
    };
    if role == PathRole::Sender
        && let Some(rest) = inner.strip_prefix('>')
    {
        return Ok(ParsedPath {
            mailbox: None,
            rest,
        });
    }
    if role == PathRole::Recipient
        && inner
            .get(..11)
            .is_some_and(|p| p.eq_ignore_ascii_case("postmaster>"))
    {
        return Ok(ParsedPath {
            mailbox: None,
            rest: &inner[11..],
        });
    }
    let after_route = if inner.starts_with('@') {
        source_route(inner).ok_or_else(|| err(PathErrorKind::InvalidSourceRoute, i))?
    } else {
        inner
    };
    let (local_part, local_len, rest) = if after_route.starts_with('"') {
        let (lp, rest) =
            quoted_string(after_route).ok_or_else(|| err(PathErrorKind::InvalidLocalPart, i))?;
        (lp, after_route.len() - rest.len(), rest)
    } else {
        let (rest, lp) =
            dot_string(after_route).map_err(|_| err(PathErrorKind::InvalidLocalPart, i))?;
        (String::from(lp), lp.len(), rest)
    };
    let Some(rest) = rest.strip_prefix('@') else {
        let kind = if rest.starts_with('>') || rest.is_empty() {
            PathErrorKind::MissingAt
        } else {
            PathErrorKind::InvalidLocalPart
        };
        return Err(err(kind, i));
    };
    let (domain, domain_text, rest) = host(rest).map_err(|k| err(k, i))?;
    let Some(rest) = rest.strip_prefix('>') else {
        let kind = if rest.is_empty() || rest.starts_with(' ') {
            PathErrorKind::MissingBrackets
        } else if domain_text.starts_with('[') {
            PathErrorKind::InvalidAddressLiteral
        } else {
            PathErrorKind::InvalidDomain
        };
        return Err(err(kind, i));
    };
    let path_text = &i[..i.len() - rest.len()];
    let l = &cfg.limits;
    if local_len > l.local_part {
        let kind = PathErrorKind::LocalPartTooLong {
            length: local_len,
            max: l.local_part,
        };
        return Err(err(kind, path_text));
    }
    if domain_text.len() > l.domain {
        let kind = PathErrorKind::DomainTooLong {
            length: domain_text.len(),
            max: l.domain,
        };
        return Err(err(kind, path_text));
    }
    if path_text.len() > l.path {
        let kind = PathErrorKind::PathTooLong {
            length: path_text.len(),
            max: l.path,
        };
        return Err(err(kind, path_text));
    }
    if !cfg.smtputf8 && !path_text.is_ascii() {
        return Err(err(PathErrorKind::NonAsciiWithoutSmtpUtf8, path_text));
    }
    Ok(ParsedPath {
        mailbox: Some(Mailbox { local_part, domain }),
        rest,
    })
}

/// Parses a reverse-path at the start of `i`.
pub(crate) fn reverse_path<'a>(
    i: &'a str,
    cfg: &ParseConfig,
) -> Result<(ReversePath, &'a str), ParseError> {
    let p = parse_path(i, PathRole::Sender, cfg)?;
    Ok((
        p.mailbox.map_or(ReversePath::Null, ReversePath::Mailbox),
        p.rest,
    ))
}

/// Parses a forward-path at the start of `i`.
pub(crate) fn forward_path<'a>(
    i: &'a str,
    cfg: &ParseConfig,
) -> Result<(ForwardPath, &'a str), ParseError> {
    let p = parse_path(i, PathRole::Recipient, cfg)?;
    Ok((
        p.mailbox
            .map_or(ForwardPath::Postmaster, ForwardPath::Mailbox),
        p.rest,
    ))
}
