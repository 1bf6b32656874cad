//! EHLO capabilities (RFC 5321 §4.1.1.1 `ehlo-ok-rsp`): the service extensions a server
//! advertises, parsed from and encoded to the lines of a 250 reply.
//!
//! ```text
//! ehlo-line    = ehlo-keyword *( SP ehlo-param )
//! ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! ehlo-param   = 1*(%d33-126)
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use super::params::{is_keyword, push_u64};
use super::reply::{Reply, ReplyCode};

/// An extension keyword this crate does not model, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    /// The keyword as advertised.
    pub keyword: String,
    /// Its parameters (each 1 or more of `%d33-126`).
    pub params: Vec<String>,
}

/// The extensions advertised in an EHLO reply.
///
/// Keywords are matched case-insensitively. Lines that are not an `ehlo-line` are
/// skipped, as are AUTH mechanism names that are not `sasl-mech` (RFC 4954 §4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `SIZE [n]` (RFC 1870 §4): `Some(0)` when advertised without a fixed maximum
    /// (no parameter, or `0`), `Some(n)` for a maximum of `n` octets.
    pub size: Option<u64>,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `BINARYMIME` (RFC 3030).
    pub binary_mime: bool,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `AUTH mech...` (RFC 4954 §3), upper case, without duplicates; empty when AUTH is
    /// not advertised.
    pub auth: Vec<String>,
    /// The server also sent the pre-standard `AUTH=mech...` line (as some servers do for
    /// old clients); the encoder then repeats the mechanisms in that form.
    pub auth_legacy: bool,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// Other keywords, in order.
    pub other: Vec<Extension>,
}

impl Capabilities {
    /// Reads the capabilities of an EHLO reply: every line but the first (which is the
    /// server's domain and greeting).
    pub fn from_ehlo_reply(reply: &Reply) -> Capabilities {
        let mut c = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            c.add_line(line);
        }
        c
    }

    /// Adds one `ehlo-line` (e.g. `SIZE 10240000`).
    pub fn add_line(&mut self, line: &str) {
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let Some(first) = words.next() else { return };
        if first.len() > 5 && first.as_bytes()[..5].eq_ignore_ascii_case(b"AUTH=") {
            self.auth_legacy = true;
            self.add_mechanisms(core::iter::once(&first[5..]).chain(words));
            return;
        }
        if !is_keyword(first) {
            return;
        }
        let kw = first.to_ascii_uppercase();
        match kw.as_str() {
            "PIPELINING" => self.pipelining = true,
            "SIZE" => {
                self.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
            }
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "CHUNKING" => self.chunking = true,
            "BINARYMIME" => self.binary_mime = true,
            "DSN" => self.dsn = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "STARTTLS" => self.starttls = true,
            "REQUIRETLS" => self.requiretls = true,
            "AUTH" => self.add_mechanisms(words),
            _ => self.other.push(Extension {
                keyword: String::from(first),
                params: words
                    .filter(|w| w.bytes().all(|b| (33..=126).contains(&b)))
                    .map(String::from)
                    .collect(),
            }),
        }
    }

    fn add_mechanisms<'a>(&mut self, mechs: impl Iterator<Item = &'a str>) {
        for m in mechs {
            if crate::sasl::is_mechanism_name(m.as_bytes()) && !self.supports_auth(m) {
                self.auth.push(m.to_ascii_uppercase());
            }
        }
    }

    /// Whether the SASL mechanism `mech` is advertised (case-insensitive).
    pub fn supports_auth(&self, mech: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mech))
    }

    /// The parameters of an unmodelled keyword, if advertised (case-insensitive).
    pub fn other(&self, keyword: &str) -> Option<&[String]> {
        self.other
            .iter()
            .find(|e| e.keyword.eq_ignore_ascii_case(keyword))
            .map(|e| e.params.as_slice())
    }

    /// The `ehlo-line`s advertising these capabilities, in a fixed order, unmodelled
    /// keywords last.
    pub fn to_lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        let flags = [
            (self.pipelining, "PIPELINING"),
            (self.eight_bit_mime, "8BITMIME"),
            (self.smtputf8, "SMTPUTF8"),
            (self.chunking, "CHUNKING"),
            (self.binary_mime, "BINARYMIME"),
            (self.dsn, "DSN"),
            (self.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
            (self.starttls, "STARTTLS"),
            (self.requiretls, "REQUIRETLS"),
        ];
        if let Some(n) = self.size {
            let mut s = String::from("SIZE");
            if n > 0 {
                s.push(' ');
                push_u64(&mut s, n);
            }
            v.push(s);
        }
        for (on, kw) in flags {
            if on {
                v.push(String::from(kw));
            }
        }
        if !self.auth.is_empty() {
            let mut s = String::from("AUTH");
            for m in &self.auth {
                s.push(' ');
                s.push_str(m);
            }
            if self.auth_legacy {
                v.push(s.replacen(' ', "=", 1));
            }
            v.push(s);
        }
        for e in &self.other {
            let mut s = e.keyword.clone();
            for p in &e.params {
                s.push(' ');
                s.push_str(p);
            }
            v.push(s);
        }
        v
    }

    /// The EHLO reply: `250-greeting` then one line per capability (RFC 5321 §4.1.1.1).
    /// `greeting` is the server's domain, optionally followed by SP and text.
    pub fn ehlo_reply(&self, greeting: &str) -> Reply {
        let mut lines = alloc::vec![String::from(greeting)];
        lines.extend(self.to_lines());
        Reply {
            code: ReplyCode::OK,
            enhanced: None,
            lines,
        }
    }
}
