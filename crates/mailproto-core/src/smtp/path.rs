//! Parsers for domains, address literals, mailboxes and paths (RFC 5321 §4.1.2, §4.1.3;
//! RFC 6531 §3.3 for UTF-8).
//!
//! Each parser takes the input at the start of the element and returns the element and
//! the rest. They parse with UTF-8 allowed; the caller checks SMTPUTF8 afterwards so the
//! error can say "non-ASCII without SMTPUTF8" instead of "syntax error".

use alloc::string::String;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::abnf;
use super::error::{ParseError, PathErrorKind, PathRole, Snippet};
use super::types::{AddressLiteral, Domain, ForwardPath, Host, Mailbox, ParseConfig, ReversePath};

/// The length of the longest prefix of `b` that is a `Dot-string = Atom *("." Atom)`,
/// UTF-8 allowed; 0 when `b` does not start with an atom. A dot not followed by an atom
/// is left out.
fn dot_string_len(b: &[u8]) -> usize {
    let mut end = 0;
    let mut atom_start = 0;
    loop {
        let atom = abnf::run(&b[atom_start..], abnf::is_atext_utf8);
        if atom == 0 {
            return end;
        }
        end = atom_start + atom;
        if b.get(end) != Some(&b'.') {
            return end;
        }
        atom_start = end + 1;
    }
}

/// Whether all of `s` is a Dot-string (so a local part needs no quoting).
pub(crate) fn is_dot_string(s: &str) -> bool {
    let n = dot_string_len(s.as_bytes());
    n > 0 && n == s.len()
}

/// `Quoted-string` (RFC 5321 §4.1.2), returning the decoded content and the rest.
pub(crate) fn quoted_string(i: &str) -> Option<(String, &str)> {
    let b = i.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut out = String::new();
    // Text is copied in runs, from `run` to the next quote or backslash.
    let mut run = 1;
    let mut j = 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'"' => {
                out.push_str(&i[run..j]);
                return Some((out, &i[j + 1..]));
            }
            b'\\' => {
                out.push_str(&i[run..j]);
                if !(b' '..=b'~').contains(b.get(j + 1)?) {
                    return None;
                }
                // The escaped character starts the next run.
                run = j + 1;
                j += 2;
            }
            b' '..=b'~' | 0x80.. => j += 1,
            _ => return None,
        }
    }
    None
}

/// The length of the domain at the start of `b`: the longest run of label octets and dots,
/// which must then be dot-separated labels of 1 to 63 octets that neither start nor end
/// with a hyphen (RFC 5321 §4.1.2 `Domain`, RFC 6531 §3.3 U-labels). `None` when the run
/// is empty or is not such a domain.
fn domain_len(b: &[u8]) -> Option<usize> {
    let mut label_start = 0;
    loop {
        let end = label_start + abnf::run(&b[label_start..], abnf::is_label);
        match &b[label_start..end] {
            [] | [b'-', ..] | [.., b'-'] => return None,
            label if label.len() > 63 => return None,
            _ => {}
        }
        if b.get(end) != Some(&b'.') {
            return Some(end);
        }
        label_start = end + 1;
    }
}

/// Whether `s` is a `Domain` (RFC 5321 §4.1.2): labels of 1 to 63 octets, letters,
/// digits and inner hyphens; non-ASCII only when `utf8`.
pub(crate) fn is_domain(s: &str, utf8: bool) -> bool {
    (utf8 || s.is_ascii()) && domain_len(s.as_bytes()) == Some(s.len())
}

/// The longest run of domain characters, then checked as a Domain.
fn domain(i: &str) -> Option<(&str, &str)> {
    let n = domain_len(i.as_bytes())?;
    Some(i.split_at(n))
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
pub(crate) fn is_ldh_tag(s: &str) -> bool {
    match s.as_bytes() {
        [.., last] => s.bytes().all(abnf::is_ldh) && abnf::is_let_dig(*last),
        [] => false,
    }
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
    (is_ldh_tag(tag) && !content.is_empty() && content.bytes().all(abnf::is_dcontent)).then(|| {
        AddressLiteral::General {
            tag: String::from(tag),
            content: String::from(content),
        }
    })
}

/// `address-literal = "[" *dcontent "]"`, its content interpreted.
fn address_literal(i: &str) -> Option<(AddressLiteral, &str)> {
    let inner = i.strip_prefix('[')?;
    let n = inner.bytes().take_while(|&b| abnf::is_dcontent(b)).count();
    let rest = inner[n..].strip_prefix(']')?;
    Some((address_literal_content(&inner[..n])?, rest))
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
        && const { abnf::NoCase::new(b"POSTMASTER>") }.starts(inner.as_bytes())
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
        let n = dot_string_len(after_route.as_bytes());
        if n == 0 {
            return Err(err(PathErrorKind::InvalidLocalPart, i));
        }
        let (lp, rest) = after_route.split_at(n);
        (String::from(lp), n, rest)
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
