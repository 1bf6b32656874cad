//! Replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463): the type,
//! a line-by-line multi-line parser, and the encoder.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::encode::check_text;
use super::error::{EncodeError, ReplyError, Snippet};

/// A reply code (RFC 5321 §4.2): `%x32-35 %x30-35 %x30-39`, i.e. 200 to 559 with the
/// second digit at most 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `214` Help message (RFC 5321 §4.2.3).
    pub const HELP: ReplyCode = ReplyCode(214);
    /// `220` Service ready (RFC 5321 §4.2.3).
    pub const SERVICE_READY: ReplyCode = ReplyCode(220);
    /// `221` Service closing transmission channel.
    pub const CLOSING: ReplyCode = ReplyCode(221);
    /// `235` Authentication succeeded (RFC 4954 §6).
    pub const AUTH_SUCCEEDED: ReplyCode = ReplyCode(235);
    /// `250` Requested mail action okay, completed.
    pub const OK: ReplyCode = ReplyCode(250);
    /// `251` User not local; will forward (RFC 5321 §3.4).
    pub const USER_NOT_LOCAL_WILL_FORWARD: ReplyCode = ReplyCode(251);
    /// `252` Cannot VRFY user, but will accept message and attempt delivery (RFC 5321
    /// §3.5.3).
    pub const CANNOT_VERIFY: ReplyCode = ReplyCode(252);
    /// `334` Server challenge (RFC 4954 §4).
    pub const AUTH_CHALLENGE: ReplyCode = ReplyCode(334);
    /// `354` Start mail input.
    pub const START_MAIL_INPUT: ReplyCode = ReplyCode(354);
    /// `421` Service not available, closing transmission channel.
    pub const NOT_AVAILABLE: ReplyCode = ReplyCode(421);
    /// `450` Requested mail action not taken: mailbox unavailable (busy, or blocked for
    /// policy reasons).
    pub const MAILBOX_BUSY: ReplyCode = ReplyCode(450);
    /// `451` Requested action aborted: local error in processing.
    pub const LOCAL_ERROR: ReplyCode = ReplyCode(451);
    /// `452` Requested action not taken: insufficient system storage (also "too many
    /// recipients", RFC 5321 §4.5.3.1.10).
    pub const INSUFFICIENT_STORAGE: ReplyCode = ReplyCode(452);
    /// `454` Temporary authentication failure (RFC 4954 §6), or TLS not available
    /// (RFC 3207 §4).
    pub const TEMPORARY_AUTH_FAILURE: ReplyCode = ReplyCode(454);
    /// `500` Syntax error, command unrecognized.
    pub const SYNTAX_ERROR: ReplyCode = ReplyCode(500);
    /// `501` Syntax error in parameters or arguments.
    pub const PARAMETER_SYNTAX_ERROR: ReplyCode = ReplyCode(501);
    /// `502` Command not implemented.
    pub const NOT_IMPLEMENTED: ReplyCode = ReplyCode(502);
    /// `503` Bad sequence of commands.
    pub const BAD_SEQUENCE: ReplyCode = ReplyCode(503);
    /// `504` Command parameter not implemented.
    pub const PARAMETER_NOT_IMPLEMENTED: ReplyCode = ReplyCode(504);
    /// `530` Authentication required (RFC 4954 §6), or "Must issue a STARTTLS command
    /// first" (RFC 3207 §4).
    pub const AUTH_REQUIRED: ReplyCode = ReplyCode(530);
    /// `535` Authentication credentials invalid (RFC 4954 §6).
    pub const AUTH_INVALID: ReplyCode = ReplyCode(535);
    /// `550` Requested action not taken: mailbox unavailable (not found, no access, or
    /// refused for policy reasons).
    pub const MAILBOX_UNAVAILABLE: ReplyCode = ReplyCode(550);
    /// `551` User not local.
    pub const USER_NOT_LOCAL: ReplyCode = ReplyCode(551);
    /// `552` Requested mail action aborted: exceeded storage allocation (message size,
    /// RFC 1870 §6).
    pub const EXCEEDED_STORAGE: ReplyCode = ReplyCode(552);
    /// `553` Requested action not taken: mailbox name not allowed.
    pub const MAILBOX_NAME_NOT_ALLOWED: ReplyCode = ReplyCode(553);
    /// `554` Transaction failed.
    pub const TRANSACTION_FAILED: ReplyCode = ReplyCode(554);
    /// `555` MAIL FROM/RCPT TO parameters not recognized or not implemented.
    pub const PARAMETERS_NOT_RECOGNIZED: ReplyCode = ReplyCode(555);

    /// A reply code if `code` fits the RFC 5321 §4.2 grammar.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        let (a, b) = (code / 100, code / 10 % 10);
        if a >= 2 && a <= 5 && b <= 5 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    pub(crate) const fn new_unchecked(code: u16) -> ReplyCode {
        ReplyCode(code)
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The first digit: 2 positive completion, 3 intermediate, 4 transient, 5 permanent
    /// (RFC 5321 §4.2.1).
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// An enhanced status code `class.subject.detail` (RFC 3463 §2, RFC 2034 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2 success, 4 persistent transient failure, 5 permanent failure.
    pub class: u8,
    /// Subject, 0 to 999.
    pub subject: u16,
    /// Detail, 0 to 999.
    pub detail: u16,
}

impl EnhancedCode {
    /// `class.subject.detail`, e.g. `EnhancedCode::new(5, 1, 1)` for "bad destination
    /// mailbox address" (RFC 3463 §3.2). The encoder refuses a code whose class is not
    /// 2, 4 or 5 or differs from the reply's.
    pub const fn new(class: u8, subject: u16, detail: u16) -> EnhancedCode {
        EnhancedCode {
            class,
            subject,
            detail,
        }
    }

    /// Parses `c.s.d` (`class = 2/4/5`, `subject` and `detail` 1 to 3 digits).
    pub fn parse(s: &str) -> Option<EnhancedCode> {
        let mut it = s.split('.');
        let class = match it.next()? {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        let num = |p: &str| -> Option<u16> {
            if (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        };
        let subject = num(it.next()?)?;
        let detail = num(it.next()?)?;
        it.next().is_none().then_some(EnhancedCode {
            class,
            subject,
            detail,
        })
    }

    fn is_valid(&self) -> bool {
        matches!(self.class, 2 | 4 | 5) && self.subject <= 999 && self.detail <= 999
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl fmt::Display for Reply {
    /// `250 2.0.0 first line` with further lines after ` | `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {}.{}.{}", e.class, e.subject, e.detail)?;
        }
        for (i, line) in self.lines.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { " | " })?;
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// A complete reply, single or multi-line (RFC 5321 §4.2.1).
///
/// `enhanced` is the enhanced status code of the first line, if it has one of the
/// reply's class; it is removed from the start of every line that carries it. The
/// encoder writes it at the start of every line. `lines` holds at least one line
/// (an empty `lines` encodes as one empty line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, the same on every line.
    pub code: ReplyCode,
    /// The enhanced status code (RFC 2034 §4), when present.
    pub enhanced: Option<EnhancedCode>,
    /// The text of each line, without code, separator and enhanced code.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: ReplyCode, enhanced: Option<EnhancedCode>, text: &str) -> Reply {
        Reply {
            code,
            enhanced,
            lines: alloc::vec![String::from(text)],
        }
    }

    /// Appends `250-a\r\n250 b\r\n` to `out`. Refuses CR, LF, NUL in the text and an
    /// enhanced code whose class differs from the reply's. On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(e) = self.enhanced
            && (!e.is_valid() || e.class != self.code.class())
        {
            return Err(EncodeError::Invalid {
                field: "enhanced code",
                reason: "class must be 2, 4 or 5 and match the reply code",
            });
        }
        // Every `ReplyCode` is one: `ReplyCode::new` checks, and the crate builds the others
        // from constants.
        debug_assert!(ReplyCode::new(self.code.0).is_some(), "{:?}", self.code);
        for text in &self.lines {
            check_text("reply text", text)?;
        }
        // `250-2.1.5 `: the code, the separator, the enhanced code and a space, written
        // once and copied to every line.
        let mut prefix = [0u8; 16];
        prefix[..3].copy_from_slice(&three_digits(self.code.0));
        let mut len = 4;
        if let Some(e) = self.enhanced {
            prefix[4] = b'0' + e.class;
            len = 5;
            for n in [e.subject, e.detail] {
                prefix[len] = b'.';
                len += 1 + put_decimal(&mut prefix[len + 1..], n);
            }
            prefix[len] = b' ';
            len += 1;
        }
        let mut line = |out: &mut Vec<u8>, sep: u8, text: &str| {
            prefix[3] = sep;
            // No space between the enhanced code and an empty text.
            let head = if self.enhanced.is_some() && text.is_empty() {
                len - 1
            } else {
                len
            };
            // A fixed-size copy (two stores) then a cut, rather than a `memcpy` call.
            let at = out.len();
            out.extend_from_slice(&prefix);
            out.truncate(at + head);
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        match self.lines.split_last() {
            None => line(out, b' ', ""),
            Some((last, init)) => {
                for text in init {
                    line(out, b'-', text);
                }
                line(out, b' ', last);
            }
        }
        Ok(())
    }
}

/// The three digits of a reply code (100 to 999).
fn three_digits(n: u16) -> [u8; 3] {
    // Digits of at most 999 fit in `u8` arithmetic after the first division.
    [
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]
}

/// Writes `n` (at most 999) in decimal at the start of `buf`; returns the digit count.
fn put_decimal(buf: &mut [u8], n: u16) -> usize {
    if n < 10 {
        buf[0] = b'0' + n as u8;
        1
    } else if n < 100 {
        buf[0] = b'0' + (n / 10) as u8;
        buf[1] = b'0' + (n % 10) as u8;
        2
    } else {
        buf[..3].copy_from_slice(&three_digits(n));
        3
    }
}

/// One parsed reply line (RFC 5321 §4.2 `Reply-line`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    /// The code.
    pub code: ReplyCode,
    /// `true` for `code SP text` or a bare code, `false` for `code "-" text`.
    pub last: bool,
    /// The text after the separator; invalid UTF-8 is replaced (U+FFFD), as replies
    /// from old servers may carry Latin-1.
    pub text: String,
}

impl ReplyLine {
    /// Parses one reply line without its CRLF.
    pub fn parse(line: &[u8]) -> Result<ReplyLine, ReplyError> {
        if let Some(offset) = memchr::memchr3(0, b'\r', b'\n', line) {
            return Err(ReplyError::ForbiddenByte {
                byte: line[offset],
                offset,
            });
        }
        let code = match line {
            [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                let n = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
                ReplyCode::new(n)
            }
            _ => None,
        }
        .ok_or_else(|| ReplyError::InvalidCode(Snippet::from_bytes(line)))?;
        let (last, text) = match line.get(3) {
            None => (true, &line[3..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(ReplyError::InvalidSeparator(Snippet::from_bytes(line))),
        };
        Ok(ReplyLine {
            code,
            last,
            text: String::from_utf8_lossy(text).into_owned(),
        })
    }
}

/// Limits of the [`ReplyParser`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyLimits {
    /// Reply line including the CRLF, default 512 (RFC 5321 §4.5.3.1.5).
    pub line: usize,
    /// Lines in one reply, default 128.
    pub max_lines: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            line: 512,
            max_lines: 128,
        }
    }
}

impl ReplyLimits {
    /// The limits a client reads replies with: lines of up to 4096 octets. RFC 5321
    /// §4.5.3.1.5 bounds what a server sends at 512, but deployed servers exceed it (long
    /// EHLO keywords, verbose rejections); a client is liberal in what it accepts, while
    /// this crate's server sends at most 512.
    pub fn lenient() -> Self {
        ReplyLimits {
            line: 4096,
            ..ReplyLimits::default()
        }
    }

    /// Set [`line`](Self::line).
    pub fn with_line(mut self, octets: usize) -> Self {
        self.line = octets;
        self
    }

    /// Set [`max_lines`](Self::max_lines).
    pub fn with_max_lines(mut self, lines: usize) -> Self {
        self.max_lines = lines;
        self
    }
}

/// Accumulates the lines of a multi-line reply, fed one framed line at a time.
///
/// ```
/// use mailproto_core::smtp::ReplyParser;
/// let mut p = ReplyParser::default();
/// assert_eq!(p.feed_line(b"250-mx.example.org").unwrap(), None);
/// let reply = p.feed_line(b"250 SIZE 1000000").unwrap().unwrap();
/// assert_eq!(reply.lines, ["mx.example.org", "SIZE 1000000"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReplyParser {
    limits: ReplyLimits,
    code: Option<ReplyCode>,
    lines: Vec<String>,
}

impl ReplyParser {
    /// A parser with the given limits.
    pub fn new(limits: ReplyLimits) -> ReplyParser {
        ReplyParser {
            limits,
            code: None,
            lines: Vec::new(),
        }
    }

    /// Whether a multi-line reply has started and not ended.
    pub fn is_partial(&self) -> bool {
        self.code.is_some()
    }

    /// Feeds one line without its CRLF. Returns the reply when this line ends it.
    ///
    /// On error the partial reply is discarded; the stream is no longer trustworthy and
    /// a client should close the connection.
    pub fn feed_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let r = self.feed_inner(line);
        if r.is_err() {
            self.code = None;
            self.lines.clear();
        }
        r
    }

    fn feed_inner(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let length = line.len().saturating_add(2);
        if length > self.limits.line {
            return Err(ReplyError::LineTooLong {
                length,
                max: self.limits.line,
            });
        }
        let l = ReplyLine::parse(line)?;
        match self.code {
            Some(expected) if expected != l.code => {
                return Err(ReplyError::InconsistentCode {
                    expected,
                    found: l.code,
                });
            }
            _ => {}
        }
        if self.lines.len() >= self.limits.max_lines {
            return Err(ReplyError::TooManyLines {
                max: self.limits.max_lines,
            });
        }
        self.code = Some(l.code);
        self.lines.push(l.text);
        if !l.last {
            return Ok(None);
        }
        self.code = None;
        let mut lines = core::mem::take(&mut self.lines);
        let enhanced = lines
            .first()
            .and_then(|t| split_enhanced(t, l.code))
            .map(|(e, _)| e);
        if let Some(e) = enhanced {
            for t in &mut lines {
                if let Some((e2, rest)) = split_enhanced(t, l.code)
                    && e2 == e
                {
                    *t = String::from(rest);
                }
            }
        }
        Ok(Some(Reply {
            code: l.code,
            enhanced,
            lines,
        }))
    }
}

/// An enhanced code at the start of `text` (followed by SP or the end), of the class of
/// `code` (RFC 2034 §4, RFC 3463 §2), and the text after it and its SP.
fn split_enhanced(text: &str, code: ReplyCode) -> Option<(EnhancedCode, &str)> {
    let (head, rest) = match text.split_once(' ') {
        Some((h, r)) => (h, r),
        None => (text, ""),
    };
    let e = EnhancedCode::parse(head)?;
    (e.class == code.class()).then_some((e, rest))
}
