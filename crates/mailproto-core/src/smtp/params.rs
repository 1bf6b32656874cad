//! ESMTP parameters of MAIL and RCPT (RFC 5321 §4.1.2 `Mail-parameters`), typed, with
//! their parser and encoder.
//!
//! ```text
//! esmtp-param   = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value   = 1*(%d33-60 / %d62-126)   ; RFC 6531: =/ UTF8-non-ascii
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use super::abnf::{self, Keyword, no_case};
use super::error::{EncodeError, ParseError, Snippet};
use super::types::ParseConfig;
use super::xtext::{xtext_decode, xtext_encode_into};

/// `BODY=` of MAIL (RFC 6152 §2, RFC 3030 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030 §3).
    BinaryMime,
}

/// `RET=` of MAIL (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`: return the full message in a DSN.
    Full,
    /// `RET=HDRS`: return only the header section.
    Hdrs,
}

/// `AUTH=` of MAIL (RFC 4954 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthParam {
    /// `AUTH=<>`: the submitter is not known to be trustworthy.
    Null,
    /// The authenticated identity (an addr-spec), decoded from xtext.
    Mailbox(String),
}

/// `NOTIFY=` of RCPT (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NOTIFY=NEVER`.
    Never,
    /// `NOTIFY=` a comma list of SUCCESS, FAILURE, DELAY; at least one is true.
    On {
        /// SUCCESS.
        success: bool,
        /// FAILURE.
        failure: bool,
        /// DELAY.
        delay: bool,
    },
}

/// `ORCPT=addr-type;xtext` of RCPT (RFC 3461 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Orcpt {
    /// The address type, e.g. `rfc822` (an atom).
    pub addr_type: String,
    /// The original recipient, decoded from xtext.
    pub address: String,
}

/// An ESMTP parameter this crate does not know, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    /// The keyword as sent.
    pub keyword: String,
    /// The raw value, if there was `=value`.
    pub value: Option<String>,
}

/// Parameters of `MAIL FROM:` (RFC 5321 §4.1.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MailParams {
    /// `SIZE=n`, the declared message size (RFC 1870 §3).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// `AUTH=` (RFC 4954 §5).
    pub auth: Option<AuthParam>,
    /// `RET=` (RFC 3461 §4.3).
    pub ret: Option<Ret>,
    /// `ENVID=`, decoded from xtext (RFC 3461 §4.4).
    pub envid: Option<String>,
    /// `REQUIRETLS` (RFC 8689 §4.1).
    pub requiretls: bool,
    /// Unknown parameters, in order.
    pub other: Vec<Param>,
}

/// Parameters of `RCPT TO:` (RFC 5321 §4.1.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461 §4.1).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461 §4.2).
    pub orcpt: Option<Orcpt>,
    /// Unknown parameters, in order.
    pub other: Vec<Param>,
}

/// `esmtp-keyword` (RFC 5321 §4.1.2).
pub(crate) fn is_keyword(s: &str) -> bool {
    match s.as_bytes() {
        [first, ..] => abnf::is_let_dig(*first) && s.bytes().all(abnf::is_ldh),
        [] => false,
    }
}

/// `esmtp-value` (RFC 5321 §4.1.2, RFC 6531 §3.3).
pub(crate) fn is_value(s: &str, utf8: bool) -> bool {
    !s.is_empty() && s.bytes().all(|b| abnf::is_value(b, utf8))
}

/// RFC 5322 `atext` (ASCII only), used for ORCPT's addr-type.
fn is_atom(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(abnf::is_atext)
}

/// Reads the parameter list `" k=v k2"` after a path (RFC 5321 §4.1.2
/// `Mail-parameters`): checks the grammar of each SP-separated parameter and that no
/// keyword repeats (in any case), and hands each to `take` in order, case-folding
/// nothing. Every parameter is checked before `take`'s verdict counts: a grammar error
/// anywhere in the list wins over a value `take` refused earlier in it. `command` names
/// the verb in errors.
fn parse_params<'a>(
    s: &'a str,
    command: &'static str,
    cfg: &ParseConfig,
    mut take: impl FnMut(&'a str, Option<&'a str>) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    if s.is_empty() {
        return Ok(());
    }
    let Some(list) = s.strip_prefix(' ') else {
        return Err(ParseError::Syntax {
            command,
            expected: "SP before parameters",
            found: Snippet::new(s),
        });
    };
    let b = list.as_bytes();
    let utf8 = cfg.smtputf8;
    // The keywords seen so far, for the duplicate check; a line rarely has more than a
    // few, so only a long list allocates.
    let mut seen = [""; 8];
    let mut more = Vec::new();
    let mut refused = None;
    let mut start = 0;
    for n in 0.. {
        // One pass over the parameter: the keyword's octets, then the value's.
        let mut i = start + abnf::run(&b[start..], abnf::is_ldh);
        let k = &list[start..i];
        let mut v = None;
        if b.get(i) == Some(&b'=') {
            let value_start = i + 1;
            i = value_start + abnf::run(&b[value_start..], |c| abnf::is_value(c, utf8));
            v = Some(&list[value_start..i]);
        }
        let well_formed = matches!(b.get(i), None | Some(b' '))
            && k.as_bytes().first().is_some_and(|&c| abnf::is_let_dig(c))
            && v.is_none_or(|v| !v.is_empty());
        if !well_formed {
            let end = b[i..]
                .iter()
                .position(|&c| c == b' ')
                .map_or(b.len(), |p| i + p);
            return Err(param_error(&list[start..end], command, cfg));
        }
        let earlier = seen.get(..n).unwrap_or(&seen);
        if earlier.iter().any(|k2| k2.eq_ignore_ascii_case(k))
            || more.iter().any(|k2: &&str| k2.eq_ignore_ascii_case(k))
        {
            return Err(ParseError::DuplicateParameter {
                keyword: k.to_ascii_uppercase(),
            });
        }
        match seen.get_mut(n) {
            Some(slot) => *slot = k,
            None => more.push(k),
        }
        if refused.is_none()
            && let Err(e) = take(k, v)
        {
            refused = Some(e);
        }
        if i == b.len() {
            break;
        }
        start = i + 1;
    }
    refused.map_or(Ok(()), Err)
}

/// What is wrong with the parameter `raw`, which is not `esmtp-keyword ["=" esmtp-value]`.
fn param_error(raw: &str, command: &'static str, cfg: &ParseConfig) -> ParseError {
    let (k, v) = match raw.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (raw, None),
    };
    if !is_keyword(k) {
        return ParseError::Syntax {
            command,
            expected: "esmtp-keyword",
            found: Snippet::new(raw),
        };
    }
    if !cfg.smtputf8 && v.is_some_and(|v| !v.is_ascii()) {
        ParseError::NonAsciiWithoutSmtpUtf8(Snippet::new(raw))
    } else {
        ParseError::InvalidParameter {
            keyword: k.to_ascii_uppercase(),
            found: Snippet::new(raw),
        }
    }
}

// The parameters this crate knows, as `abnf::keyword_of` gives them.
const SIZE: Keyword = abnf::keyword(b"SIZE");
const BODY: Keyword = abnf::keyword(b"BODY");
const SMTPUTF8: Keyword = abnf::keyword(b"SMTPUTF8");
const REQUIRETLS: Keyword = abnf::keyword(b"REQUIRETLS");
const AUTH: Keyword = abnf::keyword(b"AUTH");
const RET: Keyword = abnf::keyword(b"RET");
const ENVID: Keyword = abnf::keyword(b"ENVID");
const NOTIFY: Keyword = abnf::keyword(b"NOTIFY");
const ORCPT: Keyword = abnf::keyword(b"ORCPT");

fn invalid(k: &str, v: Option<&str>) -> ParseError {
    ParseError::InvalidParameter {
        keyword: k.to_ascii_uppercase(),
        found: Snippet::new(v.unwrap_or("")),
    }
}

fn need_value<'a>(k: &str, v: Option<&'a str>) -> Result<&'a str, ParseError> {
    v.ok_or_else(|| invalid(k, v))
}

fn no_value(k: &str, v: Option<&str>) -> Result<(), ParseError> {
    match v {
        None => Ok(()),
        Some(_) => Err(invalid(k, v)),
    }
}

fn unknown(k: &str, v: Option<&str>, cfg: &ParseConfig) -> Result<Param, ParseError> {
    if cfg.reject_unknown_params {
        return Err(ParseError::UnknownParameter {
            keyword: k.to_ascii_uppercase(),
        });
    }
    Ok(Param {
        keyword: String::from(k),
        value: v.map(String::from),
    })
}

/// Parses a decimal size with checked arithmetic (RFC 1870 §3: `1*20DIGIT`).
pub(crate) fn parse_size(v: &str) -> Result<u64, ParseError> {
    let not_decimal = || ParseError::InvalidParameter {
        keyword: String::from("SIZE"),
        found: Snippet::new(v),
    };
    // One pass; an overflow counts only once every octet is known to be a digit.
    let mut n = 0u64;
    let mut overflow = false;
    for b in v.bytes() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(not_decimal());
        }
        let (tens, o1) = n.overflowing_mul(10);
        let (sum, o2) = tens.overflowing_add(u64::from(digit));
        overflow |= o1 | o2;
        n = sum;
    }
    if v.is_empty() {
        return Err(not_decimal());
    }
    if overflow {
        return Err(ParseError::SizeOverflow(Snippet::new(v)));
    }
    Ok(n)
}

/// Parses the text after a MAIL path: empty, or SP-separated parameters.
pub(crate) fn parse_mail_params(s: &str, cfg: &ParseConfig) -> Result<MailParams, ParseError> {
    let mut p = MailParams::default();
    parse_params(s, "MAIL", cfg, |k, v| {
        match abnf::keyword_of(k.as_bytes()) {
            SIZE => p.size = Some(parse_size(need_value(k, v)?)?),
            BODY => {
                let val = need_value(k, v)?;
                p.body = Some(if no_case!(val, b"7BIT") {
                    Body::SevenBit
                } else if no_case!(val, b"8BITMIME") {
                    Body::EightBitMime
                } else if no_case!(val, b"BINARYMIME") {
                    Body::BinaryMime
                } else {
                    return Err(ParseError::UnsupportedParameterValue {
                        keyword: k.to_ascii_uppercase(),
                        found: Snippet::new(val),
                    });
                });
            }
            SMTPUTF8 => {
                no_value(k, v)?;
                p.smtputf8 = true;
            }
            REQUIRETLS => {
                no_value(k, v)?;
                p.requiretls = true;
            }
            AUTH => {
                let val = need_value(k, v)?;
                p.auth = Some(if val == "<>" {
                    AuthParam::Null
                } else {
                    AuthParam::Mailbox(xtext_decode(val).ok_or_else(|| invalid(k, v))?)
                });
            }
            RET => {
                let val = need_value(k, v)?;
                p.ret = Some(if no_case!(val, b"FULL") {
                    Ret::Full
                } else if no_case!(val, b"HDRS") {
                    Ret::Hdrs
                } else {
                    return Err(invalid(k, v));
                });
            }
            ENVID => {
                let val = need_value(k, v)?;
                p.envid = Some(xtext_decode(val).ok_or_else(|| invalid(k, v))?);
            }
            _ => p.other.push(unknown(k, v, cfg)?),
        }
        Ok(())
    })?;
    Ok(p)
}

/// Parses the text after a RCPT path: empty, or SP-separated parameters.
pub(crate) fn parse_rcpt_params(s: &str, cfg: &ParseConfig) -> Result<RcptParams, ParseError> {
    let mut p = RcptParams::default();
    parse_params(s, "RCPT", cfg, |k, v| {
        match abnf::keyword_of(k.as_bytes()) {
            NOTIFY => {
                let val = need_value(k, v)?;
                p.notify = Some(parse_notify(val).ok_or_else(|| invalid(k, v))?);
            }
            ORCPT => {
                let val = need_value(k, v)?;
                let (t, a) = val.split_once(';').ok_or_else(|| invalid(k, v))?;
                if !is_atom(t) {
                    return Err(invalid(k, v));
                }
                let address = xtext_decode(a).ok_or_else(|| invalid(k, v))?;
                p.orcpt = Some(Orcpt {
                    addr_type: String::from(t),
                    address,
                });
            }
            _ => p.other.push(unknown(k, v, cfg)?),
        }
        Ok(())
    })?;
    Ok(p)
}

fn parse_notify(v: &str) -> Option<Notify> {
    if no_case!(v, b"NEVER") {
        return Some(Notify::Never);
    }
    let (mut s, mut f, mut d) = (false, false, false);
    for item in v.as_bytes().split(|&b| b == b',') {
        let flag = if no_case!(item, b"SUCCESS") {
            &mut s
        } else if no_case!(item, b"FAILURE") {
            &mut f
        } else if no_case!(item, b"DELAY") {
            &mut d
        } else {
            return None;
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    Some(Notify::On {
        success: s,
        failure: f,
        delay: d,
    })
}

const MAIL_KNOWN: &[&str] = &[
    "SIZE",
    "BODY",
    "SMTPUTF8",
    "AUTH",
    "RET",
    "ENVID",
    "REQUIRETLS",
];
const RCPT_KNOWN: &[&str] = &["NOTIFY", "ORCPT"];

fn push_other(out: &mut String, other: &[Param], known: &[&str]) -> Result<(), EncodeError> {
    for (i, p) in other.iter().enumerate() {
        super::encode::check_text("parameter", &p.keyword)?;
        if !is_keyword(&p.keyword) {
            return Err(EncodeError::Invalid {
                field: "parameter",
                reason: "keyword is not an esmtp-keyword",
            });
        }
        if known.iter().any(|k| k.eq_ignore_ascii_case(&p.keyword))
            || other[..i]
                .iter()
                .any(|q| q.keyword.eq_ignore_ascii_case(&p.keyword))
        {
            return Err(EncodeError::Invalid {
                field: "parameter",
                reason: "keyword duplicates another parameter",
            });
        }
        out.push(' ');
        out.push_str(&p.keyword);
        if let Some(v) = &p.value {
            super::encode::check_text("parameter value", v)?;
            if !is_value(v, true) {
                return Err(EncodeError::Invalid {
                    field: "parameter value",
                    reason: "not an esmtp-value",
                });
            }
            out.push('=');
            out.push_str(v);
        }
    }
    Ok(())
}

impl MailParams {
    /// Appends ` KEY=value` for each parameter (known ones first, in a fixed order).
    pub(crate) fn encode_into(&self, out: &mut String) -> Result<(), EncodeError> {
        if let Some(n) = self.size {
            out.push_str(" SIZE=");
            push_u64(out, n);
        }
        if let Some(b) = self.body {
            out.push_str(match b {
                Body::SevenBit => " BODY=7BIT",
                Body::EightBitMime => " BODY=8BITMIME",
                Body::BinaryMime => " BODY=BINARYMIME",
            });
        }
        if self.smtputf8 {
            out.push_str(" SMTPUTF8");
        }
        match &self.auth {
            None => {}
            Some(AuthParam::Null) => out.push_str(" AUTH=<>"),
            Some(AuthParam::Mailbox(m)) if m.is_empty() => {
                return Err(EncodeError::Invalid {
                    field: "AUTH=",
                    reason: "empty identity",
                });
            }
            // xtext leaves `<>` alone, which would read back as the null identity.
            Some(AuthParam::Mailbox(m)) if m == "<>" => out.push_str(" AUTH=+3C+3E"),
            Some(AuthParam::Mailbox(m)) => {
                out.push_str(" AUTH=");
                xtext_encode_into(m, out);
            }
        }
        if let Some(r) = self.ret {
            out.push_str(match r {
                Ret::Full => " RET=FULL",
                Ret::Hdrs => " RET=HDRS",
            });
        }
        if let Some(e) = &self.envid {
            if e.is_empty() {
                return Err(EncodeError::Invalid {
                    field: "ENVID=",
                    reason: "empty envelope id",
                });
            }
            out.push_str(" ENVID=");
            xtext_encode_into(e, out);
        }
        if self.requiretls {
            out.push_str(" REQUIRETLS");
        }
        push_other(out, &self.other, MAIL_KNOWN)
    }
}

impl RcptParams {
    /// Appends ` KEY=value` for each parameter (known ones first).
    pub(crate) fn encode_into(&self, out: &mut String) -> Result<(), EncodeError> {
        match self.notify {
            None => {}
            Some(Notify::Never) => out.push_str(" NOTIFY=NEVER"),
            Some(Notify::On {
                success,
                failure,
                delay,
            }) => {
                if !(success || failure || delay) {
                    return Err(EncodeError::Invalid {
                        field: "NOTIFY=",
                        reason: "no event selected",
                    });
                }
                out.push_str(" NOTIFY=");
                let mut sep = "";
                for (on, name) in [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")] {
                    if on {
                        out.push_str(sep);
                        out.push_str(name);
                        sep = ",";
                    }
                }
            }
        }
        if let Some(o) = &self.orcpt {
            if !is_atom(&o.addr_type) {
                return Err(EncodeError::Invalid {
                    field: "ORCPT= addr-type",
                    reason: "not an atom",
                });
            }
            out.push_str(" ORCPT=");
            out.push_str(&o.addr_type);
            out.push(';');
            xtext_encode_into(&o.address, out);
        }
        push_other(out, &self.other, RCPT_KNOWN)
    }
}

/// Appends the decimal form of `n`.
pub(crate) fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}
