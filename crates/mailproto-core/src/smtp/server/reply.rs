//! The replies the machine writes itself, with their enhanced status codes (RFC 2034,
//! RFC 3463, RFC 5248).

use alloc::format;
use alloc::string::String;

use super::Server;
use crate::line::LineError;
use crate::sasl::AuthError;
use crate::smtp::{EnhancedCode, ParseError, Reply, ReplyCode};

/// `s` with every character outside printable ASCII replaced by `?`, so that client
/// input quoted in a reply can neither break the line nor smuggle non-ASCII text into
/// it (RFC 5321 §4.2: reply text is printable US-ASCII).
pub(super) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// A reply line is at most 512 octets, CRLF included (RFC 5321 §4.5.3.1.5).
const REPLY_LINE_MAX: usize = 512;

/// `text`, cut and ended with `...` if needed so that the line `code SP [enhanced SP]
/// text CRLF` fits [`REPLY_LINE_MAX`]: client input quoted in a reply (a parameter
/// keyword can be over a thousand octets) must not make a line no client reads.
fn fitted(text: &str, enhanced: Option<EnhancedCode>) -> String {
    let prefix = 4 + enhanced.map_or(0, |e| format!("{e}").len() + 1);
    let max = REPLY_LINE_MAX - 2 - prefix;
    if text.len() <= max {
        return String::from(text);
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl Server {
    /// A reply with the enhanced code `class.subject.detail` (class from `code`) when
    /// ENHANCEDSTATUSCODES is on; never on 3xx replies (RFC 2034 §3). The text is cut to
    /// fit a reply line.
    pub(super) fn status(&self, code: u16, subject: u16, detail: u16, text: &str) -> Reply {
        let code = ReplyCode::new(code).unwrap_or(ReplyCode::LOCAL_ERROR);
        let class = code.class();
        let enhanced = (self.config.extensions.enhanced_status_codes && class != 3)
            .then_some(EnhancedCode::new(class, subject, detail));
        Reply::new(code, enhanced, &fitted(text, enhanced))
    }

    /// A reply to HELO/EHLO/LHLO: no enhanced code (RFC 2034 §3 exempts "any response
    /// to HELO or EHLO"). The text is cut to fit a reply line.
    pub(super) fn hello_reply(code: u16, text: &str) -> Reply {
        Reply::new(
            ReplyCode::new(code).unwrap_or(ReplyCode::LOCAL_ERROR),
            None,
            &fitted(text, None),
        )
    }

    /// The reply to a command line the parser refused (RFC 5321 §4.2.2, §4.5.3.1.9).
    pub(super) fn parse_error_reply(&self, e: &ParseError, hello: bool) -> Reply {
        let text = match e {
            ParseError::LineTooLong { .. } => String::from("Line too long"),
            _ => printable(&format!("{e}")),
        };
        if hello {
            return Self::hello_reply(e.reply_code().get(), &text);
        }
        let enhanced = e.enhanced_code();
        self.status(
            e.reply_code().get(),
            enhanced.subject,
            enhanced.detail,
            &text,
        )
    }

    /// The reply to a command line the framing layer refused.
    pub(super) fn line_error_reply(&self, e: LineError) -> Reply {
        match e {
            LineError::TooLong { .. } => self.status(500, 5, 2, "Line too long"),
            LineError::BareCr => self.status(
                500,
                5,
                2,
                "Bare CR not allowed: lines end with CRLF (RFC 5321 section 2.3.8)",
            ),
            LineError::BareLf => self.status(
                500,
                5,
                2,
                "Bare LF not allowed: lines end with CRLF (RFC 5321 section 2.3.8)",
            ),
        }
    }

    /// The reply to a failed SASL exchange (RFC 4954 §4, §6) and whether it counts as
    /// an authentication failure.
    pub(super) fn auth_error_reply(&self, e: &AuthError) -> (Reply, bool) {
        match e {
            AuthError::Cancelled => (self.status(501, 0, 0, "Authentication cancelled"), true),
            AuthError::BadBase64 { .. } => {
                let text = printable(&format!("Authentication failed: {e}"));
                (self.status(501, 5, 2, &text), true)
            }
            AuthError::UnexpectedInitialResponse => {
                // RFC 4954 §4: 501, and the enhanced code 5.7.0.
                let text = printable(&format!("Authentication failed: {e}"));
                (self.status(501, 7, 0, &text), true)
            }
            AuthError::UnsupportedMechanism(_) | AuthError::InvalidMechanismName => (
                self.status(504, 5, 4, "Unrecognized authentication type"),
                false,
            ),
            AuthError::LineTooLong { .. } => (
                self.status(500, 5, 6, "Authentication Exchange line is too long"),
                true,
            ),
            AuthError::MissingChallenge => (
                self.status(454, 7, 0, "Temporary authentication failure"),
                false,
            ),
            _ => (
                self.status(535, 7, 8, "Authentication credentials invalid"),
                true,
            ),
        }
    }
}
