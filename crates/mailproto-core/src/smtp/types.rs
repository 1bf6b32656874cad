//! SMTP commands and paths (RFC 5321 §4.1), and the parser configuration.

use alloc::string::String;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::error::{ParseError, Snippet};
use super::params::{MailParams, RcptParams};

/// A domain name: dot-separated labels (RFC 5321 §4.1.2 `Domain`), or with SMTPUTF8
/// U-labels (RFC 6531 §3.3).
///
/// Always valid: build it with [`Domain::new`] or get it from a parser. Compared exactly
/// (domains are case-insensitive in DNS; compare with [`Domain::eq_ignore_case`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    /// Validates `name` as a domain: labels of letters, digits and inner hyphens (or
    /// non-ASCII, i.e. U-labels), 1 to 63 octets each, separated by single dots.
    /// Length limits are the parser's business ([`Limits::domain`]).
    pub fn new(name: &str) -> Result<Domain, ParseError> {
        if super::path::is_domain(name, true) {
            Ok(Domain(String::from(name)))
        } else {
            Err(ParseError::InvalidHost(Snippet::new(name)))
        }
    }

    pub(crate) fn from_validated(name: &str) -> Domain {
        Domain(String::from(name))
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ASCII case-insensitive comparison (RFC 5321 §2.4: domains are not case-sensitive).
    pub fn eq_ignore_case(&self, other: &Domain) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// Whether the name has non-ASCII labels (needs SMTPUTF8, RFC 6531).
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address literal in brackets (RFC 5321 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressLiteral {
    /// `[192.0.2.1]`.
    Ipv4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`.
    Ipv6(Ipv6Addr),
    /// `[tag:content]`, a General-address-literal with a standardized tag.
    General {
        /// The Standardized-tag (Ldh-str).
        tag: String,
        /// The content after the colon: 1 or more of `dcontent` (printable ASCII except
        /// `[`, `\`, `]`).
        content: String,
    },
}

/// What HELO/EHLO/LHLO name and what a mailbox's domain part is: a domain or an address
/// literal (RFC 5321 §4.1.1.1, §4.1.2 `Mailbox`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(Domain),
    /// An address literal.
    Literal(AddressLiteral),
}

/// A mailbox `local-part@domain` (RFC 5321 §4.1.2).
///
/// `local_part` holds the *decoded* local part: the Quoted-string `"a b"` is stored as
/// `a b`. The encoder quotes it again when it is not a valid Dot-string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part, unquoted. Printable ASCII and space; non-ASCII needs SMTPUTF8.
    pub local_part: String,
    /// The domain or address literal.
    pub domain: Host,
}

impl Mailbox {
    /// Whether the mailbox needs SMTPUTF8 (RFC 6531 §3.3) to be sent.
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii()
            && match &self.domain {
                Host::Domain(d) => d.is_ascii(),
                Host::Literal(_) => true,
            }
    }
}

/// The argument of `MAIL FROM:` (RFC 5321 §4.1.1.2). A source route is accepted by the
/// parser and discarded (§4.1.1.3, Appendix C).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: the null reverse-path of notifications (RFC 5321 §4.5.5).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

/// The argument of `RCPT TO:` (RFC 5321 §4.1.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (any case), which every server must accept.
    Postmaster,
    /// A recipient mailbox (including `<Postmaster@domain>`).
    Mailbox(Mailbox),
}

/// The initial response of `AUTH` (RFC 4954 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InitialResponse {
    /// `=`: an initial response of zero length.
    Empty,
    /// Base64 text, not decoded here (the SASL layer decodes it).
    Base64(String),
}

/// One SMTP command (RFC 5321 §4.1.1 and extensions).
///
/// Parse with [`Command::parse`], encode with [`Command::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `HELO domain` (RFC 5321 §4.1.1.1).
    Helo(Domain),
    /// `EHLO domain-or-address-literal` (RFC 5321 §4.1.1.1).
    Ehlo(Host),
    /// `LHLO domain-or-address-literal` (LMTP, RFC 2033 §4.1).
    Lhlo(Host),
    /// `MAIL FROM:<reverse-path> [params]` (RFC 5321 §4.1.1.2).
    Mail {
        /// The sender.
        from: ReversePath,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<forward-path> [params]` (RFC 5321 §4.1.1.3).
    Rcpt {
        /// The recipient.
        to: ForwardPath,
        /// ESMTP parameters.
        params: RcptParams,
    },
    /// `DATA` (RFC 5321 §4.1.1.4).
    Data,
    /// `BDAT size [LAST]` (CHUNKING, RFC 3030 §2).
    Bdat {
        /// Octets of the chunk that follows the line.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET` (RFC 5321 §4.1.1.5).
    Rset,
    /// `NOOP [string]` (RFC 5321 §4.1.1.9); the argument is ignored by servers.
    Noop(Option<String>),
    /// `QUIT` (RFC 5321 §4.1.1.10).
    Quit,
    /// `VRFY string` (RFC 5321 §4.1.1.6).
    Vrfy(String),
    /// `EXPN string` (RFC 5321 §4.1.1.7).
    Expn(String),
    /// `HELP [string]` (RFC 5321 §4.1.1.8).
    Help(Option<String>),
    /// `STARTTLS` (RFC 3207 §4).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// The SASL mechanism name, upper case.
        mechanism: String,
        /// The initial response, if any.
        initial_response: Option<InitialResponse>,
    },
    /// Any other verb (letters and digits), kept for the server to answer 500/502.
    Unknown {
        /// The verb as sent.
        verb: String,
        /// Everything after the first space, if anything.
        args: Option<String>,
    },
}

impl Command {
    /// The command verb in upper case, e.g. `"MAIL"`; for [`Command::Unknown`] the verb
    /// as sent.
    pub fn verb(&self) -> &str {
        match self {
            Command::Helo(_) => "HELO",
            Command::Ehlo(_) => "EHLO",
            Command::Lhlo(_) => "LHLO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop(_) => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
            Command::Unknown { verb, .. } => verb,
        }
    }
}

/// Size limits of the command parser (RFC 5321 §4.5.3.1). All counts are octets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Local part, default 64 (RFC 5321 §4.5.3.1.1).
    pub local_part: usize,
    /// Domain, default 255 (RFC 5321 §4.5.3.1.2).
    pub domain: usize,
    /// Path including `<`, `>` and any source route, default 256 (RFC 5321 §4.5.3.1.3).
    pub path: usize,
    /// Command line including the CRLF, default 512 (RFC 5321 §4.5.3.1.4).
    pub command_line: usize,
    /// Extra octets allowed on MAIL and RCPT lines for ESMTP parameters, default 1000
    /// (RFC 5321 §4.5.3.1.4 "extensions may increase this limit", RFC 1870 §3,
    /// RFC 3461 §4).
    pub param_allowance: usize,
    /// AUTH command line including the CRLF, default 12288 (RFC 4954 §4: deployed
    /// mechanisms such as XOAUTH2 send long initial responses).
    pub auth_line: usize,
}

crate::setters::setters!(Limits {
    set with_local_part: local_part: usize,
    set with_domain: domain: usize,
    set with_path: path: usize,
    set with_command_line: command_line: usize,
    set with_param_allowance: param_allowance: usize,
    set with_auth_line: auth_line: usize,
});

impl Default for Limits {
    fn default() -> Self {
        Limits {
            local_part: 64,
            domain: 255,
            path: 256,
            command_line: 512,
            param_allowance: 1000,
            auth_line: 12288,
        }
    }
}

/// Options of the command parser.
///
/// Strictness: the parser follows the RFC 5321 §4.1 grammar. It accepts verbs and
/// keywords (`FROM:`, `TO:`, `LAST`, parameter names and values) in any case, as ABNF
/// strings are case-insensitive. A space between `FROM:`/`TO:` and `<` is a syntax
/// error (RFC 5321 §4.1.1.2, §3.3) unless [`ParseConfig::allow_space_after_colon`] is set;
/// trailing spaces are always an error. `HELO` takes a domain only, `EHLO`/`LHLO` a
/// domain or address literal, with no trailing text (§4.1.1.1). `VRFY`, `EXPN`, `NOOP`
/// and `HELP` accept a Quoted-string (decoded) or, beyond the `String` grammar, any
/// other text verbatim (e.g. `VRFY user@example.org`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ParseConfig {
    /// Length limits.
    pub limits: Limits,
    /// SMTPUTF8 is in effect (RFC 6531 §3.4): UTF-8 is allowed in local parts, domains,
    /// parameter values and strings. Default false: non-ASCII is an error.
    pub smtputf8: bool,
    /// Accept `MAIL FROM: <a@b>` (one space after the colon), as many servers do for
    /// broken clients. Default false.
    pub allow_space_after_colon: bool,
    /// Reject unknown MAIL/RCPT parameters with [`ParseError::UnknownParameter`] (555)
    /// instead of keeping them in `other`. Default false.
    pub reject_unknown_params: bool,
}

crate::setters::setters!(ParseConfig {
    set with_limits: limits: Limits,
    set with_allow_space_after_colon: allow_space_after_colon: bool,
    set with_reject_unknown_params: reject_unknown_params: bool,
});

impl ParseConfig {
    /// The default configuration with SMTPUTF8 set as given.
    pub fn with_smtputf8(mut self, on: bool) -> Self {
        self.smtputf8 = on;
        self
    }
}
