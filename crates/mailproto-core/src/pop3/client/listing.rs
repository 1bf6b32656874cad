//! Collects the lines of a multi-line CAPA, AUTH, LIST or UIDL answer.
//!
//! The bytes arrive already unstuffed by the shared [`DotDecoder`](crate::dot::DotDecoder)
//! (with [`BareLineEnding::Normalize`](crate::line::BareLineEnding::Normalize), so every
//! line ends with CRLF); here they are cut into lines with a bounded buffer and parsed.

use alloc::vec::Vec;

use super::event::ResponseError;
use crate::pop3::{Capabilities, Limits, ScanListing, UniqueIdListing};
use crate::sasl::Mechanism;

/// What a listing collects, by command.
#[derive(Debug)]
pub(super) enum Items {
    /// CAPA (RFC 2449 §5): lines that do not parse are skipped.
    Capa(Capabilities),
    /// `AUTH` without argument: one mechanism per line, invalid names skipped.
    Mechanisms(Vec<Mechanism>),
    /// LIST (RFC 1939 §5): every line must parse.
    Scan(Vec<ScanListing>),
    /// UIDL (RFC 1939 §7): every line must parse.
    Uidl(Vec<UniqueIdListing>),
}

impl Items {
    fn clear(&mut self) {
        match self {
            Items::Capa(c) => *c = Capabilities::new(),
            Items::Mechanisms(m) => *m = Vec::new(),
            Items::Scan(s) => *s = Vec::new(),
            Items::Uidl(u) => *u = Vec::new(),
        }
    }
}

/// A listing being read.
#[derive(Debug)]
pub(super) struct Listing {
    items: Items,
    /// The current, incomplete line (at most `line_limit` octets).
    line: Vec<u8>,
    /// Longest line, CRLF included.
    line_limit: usize,
    max_lines: usize,
    lines: usize,
    /// Inside a line that went over the limit: drop the rest of it.
    overlong: bool,
    /// The first problem; once set, nothing more is collected.
    error: Option<ResponseError>,
    limits: Limits,
}

impl Listing {
    pub(super) fn new(items: Items, line_limit: usize, max_lines: usize, limits: &Limits) -> Self {
        Listing {
            items,
            line: Vec::new(),
            line_limit,
            max_lines,
            lines: 0,
            overlong: false,
            error: None,
            limits: limits.clone(),
        }
    }

    /// Take the next unstuffed bytes of the listing.
    pub(super) fn feed(&mut self, mut decoded: &[u8]) {
        while let Some(i) = memchr::memchr(b'\n', decoded) {
            let (part, rest) = decoded.split_at(i);
            self.append(part);
            self.end_line();
            decoded = rest.get(1..).unwrap_or_default();
        }
        self.append(decoded);
    }

    /// The collected items, or the first problem met.
    pub(super) fn finish(mut self) -> Result<Items, ResponseError> {
        if !self.line.is_empty() || self.overlong {
            self.end_line();
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.items),
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overlong || bytes.is_empty() {
            return;
        }
        // Content plus its CR may reach `line_limit - 1`; CRLF counts two.
        if self.line.len().saturating_add(bytes.len()) >= self.line_limit {
            self.overlong = true;
            self.line.clear();
            let limit = self.line_limit;
            self.fail(ResponseError::LineTooLong { limit });
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn fail(&mut self, error: ResponseError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        // Nothing more will be reported from this listing: free what it holds.
        self.items.clear();
    }

    fn end_line(&mut self) {
        if core::mem::take(&mut self.overlong) {
            return;
        }
        let mut line = core::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.lines = self.lines.saturating_add(1);
        if self.lines > self.max_lines {
            let limit = self.max_lines;
            self.fail(ResponseError::TooManyLines { limit });
        }
        if self.error.is_none() {
            self.parse(&line);
        }
        line.clear();
        self.line = line;
    }

    fn parse(&mut self, line: &[u8]) {
        let result = match &mut self.items {
            Items::Capa(caps) => {
                // RFC 2449 §5 lets a client skip what it does not understand.
                let _ = caps.parse_line(line, &self.limits);
                Ok(())
            }
            Items::Mechanisms(mechs) => {
                for name in line.split(|b| *b == b' ').filter(|n| !n.is_empty()) {
                    if let Ok(m) = Mechanism::parse(name) {
                        mechs.push(m);
                    }
                }
                Ok(())
            }
            Items::Scan(scans) => ScanListing::parse(line).map(|s| scans.push(s)),
            Items::Uidl(uids) => UniqueIdListing::parse(line).map(|u| uids.push(u)),
        };
        if let Err(e) = result {
            self.fail(ResponseError::Parse(e));
        }
    }
}
