//! CRLF line framing over a bounded input buffer.
//!
//! SMTP (RFC 5321 §2.3.8) and POP3 (RFC 1939 §3) exchange lines ended by CRLF. The
//! [`LineReader`] owns a machine's input bytes and cuts complete lines out of them with
//! `memchr`, so that parsers only ever see a whole line and never resume in the middle of
//! one. A line longer than its limit is reported once ([`LineError::TooLong`]) and its
//! bytes are dropped up to its line end, so memory stays bounded and the next command
//! starts cleanly after it.
//!
//! Bare CR and bare LF follow an explicit [`BareLineEnding`] policy. The same policy type
//! is used by the dot codec in [`crate::dot`], so a machine applies one rule to commands
//! and to message bodies.
//!
//! The reader also hands out raw bytes ([`LineReader::buffered`] / [`LineReader::consume`])
//! for the phases that are not line based (a DATA body, a BDAT chunk), and can throw away
//! everything it holds ([`LineReader::discard`]) at a STARTTLS/STLS boundary.

use alloc::vec::Vec;
use core::fmt;

/// What to do with a CR that is not followed by LF, or an LF not preceded by CR.
///
/// RFC 5321 §2.3.8 forbids both outside a CRLF pair, and accepting them inconsistently is
/// what made SMTP smuggling possible. The policy is explicit and applies to command lines
/// and to dot-terminated bodies alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BareLineEnding {
    /// Refuse the line (or body) that contains one. The default, and what a server
    /// should do.
    #[default]
    Reject,
    /// Treat a bare CR or bare LF as a line break and emit it as CRLF. A body's end is
    /// still recognised only on a real `CRLF . CRLF`.
    Normalize,
    /// Pass bare CR and bare LF through unchanged. For command lines a bare LF still ends
    /// the line and a bare CR stays part of it (the parser then refuses it). Useful for a
    /// client that must return stored bytes exactly.
    Keep,
}

/// A line the reader refused. The offending bytes have been consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// The line is longer than the limit (in octets, line ending included). Reported once
    /// per over-long line; the rest of it is discarded up to its line end.
    TooLong {
        /// The limit in force.
        limit: usize,
    },
    /// The line contains a CR not followed by LF (policy [`BareLineEnding::Reject`]).
    BareCr,
    /// The line ends with an LF not preceded by CR (policy [`BareLineEnding::Reject`]).
    BareLf,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => {
                write!(f, "line longer than {limit} octets")
            }
            LineError::BareCr => f.write_str("bare CR (not followed by LF) in line"),
            LineError::BareLf => f.write_str("line ended by bare LF (not preceded by CR)"),
        }
    }
}

impl core::error::Error for LineError {}

/// Owns a machine's buffered input and frames it into lines.
///
/// Lines are returned without their line ending. The limit counts the line ending as two
/// octets, as RFC 5321 §4.5.3.1.4 ("512 octets including CRLF") and RFC 1939 do.
#[derive(Clone)]
pub struct LineReader {
    buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// Bytes after `start` already scanned without finding a line end.
    scanned: usize,
    max_line: usize,
    policy: BareLineEnding,
    /// Inside an over-long line that was already reported.
    discarding: bool,
    /// The current (incomplete) line already holds a bare CR (policy `Reject`).
    tainted: bool,
    /// Lines handed out (or refused) so far.
    lines: u64,
}

impl fmt::Debug for LineReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineReader")
            .field("buffered", &self.len())
            .field("max_line", &self.max_line)
            .field("policy", &self.policy)
            .field("discarding", &self.discarding)
            .finish()
    }
}

const CR: u8 = b'\r';
const LF: u8 = b'\n';

impl LineReader {
    /// A reader that allows lines of up to `max_line` octets (line ending included).
    pub fn new(max_line: usize, policy: BareLineEnding) -> Self {
        LineReader {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line: max_line.max(3),
            policy,
            discarding: false,
            tainted: false,
            lines: 0,
        }
    }

    /// How many lines [`Self::next_line`] has handed out or refused so far. A machine
    /// keys its line deadline on it: each line is a wait of its own.
    pub fn lines_read(&self) -> u64 {
        self.lines
    }

    /// Whether the input ends in part of a line, with no complete line before it (or
    /// an over-long line is being skipped): its line end is awaited. Complete lines
    /// held back are not awaited from the peer.
    pub fn mid_line(&self) -> bool {
        self.discarding || (!self.is_empty() && !self.has_line())
    }

    /// Zero the bytes already consumed and the unused capacity, where copies of a
    /// consumed line (a password, a SASL response) could otherwise stay in memory.
    pub fn wipe_consumed(&mut self) {
        use zeroize::Zeroize;
        self.buf[..self.start].zeroize();
        for b in self.buf.spare_capacity_mut() {
            b.write(0);
        }
    }

    /// The current line limit.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Change the line limit, e.g. to the larger allowance of an AUTH exchange
    /// (RFC 4954 §4: 12288 octets).
    pub fn set_max_line(&mut self, max_line: usize) {
        self.max_line = max_line.max(3);
    }

    /// The bare CR / bare LF policy.
    pub fn policy(&self) -> BareLineEnding {
        self.policy
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Number of unconsumed bytes held.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether no unconsumed byte is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The unconsumed bytes, raw (for bodies that are not line based).
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Mark `n` raw bytes as consumed (at most [`Self::len`]).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.start += n;
        self.scanned = 0;
        self.tainted = false;
        self.discarding = false;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Throw away every byte held and return how many there were. Used at the TLS
    /// boundary, where plaintext received before the handshake must not be acted upon
    /// (CVE-2011-0411 class).
    pub fn discard(&mut self) -> usize {
        let n = self.len();
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        self.tainted = false;
        self.discarding = false;
        n
    }

    /// Whether a complete line (ended by LF, or by a bare CR under `Normalize`) is
    /// buffered. Used to decide when pipelined replies must be flushed (RFC 2920 §3.2).
    pub fn has_line(&self) -> bool {
        let data = self.buffered();
        match self.policy {
            BareLineEnding::Normalize => match memchr::memchr2(CR, LF, data) {
                None => false,
                Some(i) => data[i] == LF || i + 1 < data.len(),
            },
            _ => memchr::memchr(LF, data).is_some(),
        }
    }

    /// The next complete line, without its line ending, or `None` when more input is
    /// needed. A refused line is consumed and reported as an error; reading can continue
    /// with the next line.
    pub fn next_line(&mut self) -> Option<Result<&[u8], LineError>> {
        loop {
            let data = &self.buf[self.start..];
            let found = memchr::memchr2(CR, LF, &data[self.scanned..]).map(|i| i + self.scanned);
            let Some(i) = found else {
                return self.incomplete();
            };
            let (content_end, consumed, bare) = if data[i] == LF {
                (i, i + 1, Some(LineError::BareLf))
            } else if i + 1 == data.len() {
                // A CR at the end: whether it starts CRLF is not known yet.
                self.scanned = i;
                return self.incomplete();
            } else if data[i + 1] == LF {
                (i, i + 2, None)
            } else {
                // Bare CR inside the line.
                match self.policy {
                    BareLineEnding::Normalize => (i, i + 1, None),
                    BareLineEnding::Keep => {
                        self.scanned = i + 1;
                        continue;
                    }
                    BareLineEnding::Reject => {
                        self.tainted = true;
                        self.scanned = i + 1;
                        continue;
                    }
                }
            };
            let line_start = self.start;
            self.start += consumed;
            self.scanned = 0;
            let tainted = core::mem::take(&mut self.tainted);
            if core::mem::take(&mut self.discarding) {
                // The tail of an over-long line, already reported.
                continue;
            }
            self.lines += 1;
            if content_end + 2 > self.max_line {
                return Some(Err(LineError::TooLong {
                    limit: self.max_line,
                }));
            }
            if tainted {
                return Some(Err(LineError::BareCr));
            }
            if bare.is_some() && self.policy == BareLineEnding::Reject {
                return Some(Err(LineError::BareLf));
            }
            return Some(Ok(&self.buf[line_start..line_start + content_end]));
        }
    }

    /// No line end yet: report and drop an over-long partial line.
    fn incomplete(&mut self) -> Option<Result<&[u8], LineError>> {
        let data = &self.buf[self.start..];
        let trailing_cr = usize::from(data.last() == Some(&CR));
        let content = data.len() - trailing_cr;
        if content + 2 <= self.max_line {
            self.scanned = content;
            return None;
        }
        // Keep a trailing CR so that an LF arriving next ends the discarded line as CRLF.
        self.start += content;
        self.scanned = 0;
        self.tainted = false;
        if core::mem::replace(&mut self.discarding, true) {
            None
        } else {
            self.lines += 1;
            Some(Err(LineError::TooLong {
                limit: self.max_line,
            }))
        }
    }
}

/// A line break, as [`BreakScanner`] classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Break {
    /// CR LF.
    Crlf,
    /// A CR not followed by LF.
    BareCr,
    /// An LF not preceded by CR.
    BareLf,
}

/// What [`BreakScanner::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A break whose octets are `chunk[at..end]`; the text before it ends at `at`. A
    /// break that began with a CR held from the previous chunk has `at == 0` (and
    /// `end == 0` when that CR turned out bare).
    Break { at: usize, end: usize, kind: Break },
    /// The chunk ends with a CR at `at`, held: the next chunk says what it is.
    Held { at: usize },
    /// No break in the rest of the chunk.
    End,
}

/// Finds and classifies line breaks in a stream that arrives in chunks cut anywhere,
/// holding a CR that ends one chunk until the next says whether an LF follows. Shared by
/// the streams that only need the breaks: the SMTP client's BDAT canonicaliser and the
/// POP3 server's TOP filter. [`LineReader`] and the dot codec keep their own loops: the
/// reader also bounds and remembers its scan within one line, and the codec's states
/// (line start, a dot, a dot and CR) and its block fast path are the per-octet work.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BreakScanner {
    held_cr: bool,
}

impl BreakScanner {
    /// The next break in `chunk[from..]`.
    pub(crate) fn next(&mut self, chunk: &[u8], from: usize) -> Scan {
        if core::mem::take(&mut self.held_cr) {
            return match chunk.first() {
                Some(&LF) => Scan::Break {
                    at: 0,
                    end: 1,
                    kind: Break::Crlf,
                },
                Some(_) => Scan::Break {
                    at: 0,
                    end: 0,
                    kind: Break::BareCr,
                },
                None => {
                    self.held_cr = true;
                    Scan::End
                }
            };
        }
        let Some(p) = chunk
            .get(from..)
            .and_then(|rest| memchr::memchr2(CR, LF, rest))
            .map(|off| from + off)
        else {
            return Scan::End;
        };
        if chunk[p] == LF {
            return Scan::Break {
                at: p,
                end: p + 1,
                kind: Break::BareLf,
            };
        }
        match chunk.get(p + 1) {
            None => {
                self.held_cr = true;
                Scan::Held { at: p }
            }
            Some(&LF) => Scan::Break {
                at: p,
                end: p + 2,
                kind: Break::Crlf,
            },
            Some(_) => Scan::Break {
                at: p,
                end: p + 1,
                kind: Break::BareCr,
            },
        }
    }

    /// The stream ended: whether a CR was held (it is bare).
    pub(crate) fn take_held(&mut self) -> bool {
        core::mem::take(&mut self.held_cr)
    }
}

/// A field of a command or reply holds an octet no line may carry (CR, LF or NUL).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForbiddenOctet {
    pub(crate) field: &'static str,
    pub(crate) byte: u8,
}

/// Refuses CR, LF and NUL in `s`, the field `field` of a line about to be written
/// (RFC 5321 §2.3.8, RFC 1939 §3): the one check both protocols' encoders use.
pub(crate) fn check_text<E: From<ForbiddenOctet>>(field: &'static str, s: &str) -> Result<(), E> {
    match find_cr_lf_nul(s.as_bytes()) {
        Some(i) => Err(E::from(ForbiddenOctet {
            field,
            byte: s.as_bytes()[i],
        })),
        None => Ok(()),
    }
}

/// The offset of the first NUL, CR or LF in `s`: the octets no argument of a command or
/// reply may hold (RFC 5321 §2.3.8, RFC 1939 §3), as they would end the line early or
/// smuggle another one into it.
///
/// Lines are short, shorter than `memchr`'s vector setup pays for, so they are checked a
/// word at a time, without a branch per word: a line with no octet below 0x0e holds none
/// of the three, and only a line with one (a TAB will do) is searched octet by octet.
pub(crate) fn find_cr_lf_nul(s: &[u8]) -> Option<usize> {
    /// Non-zero exactly when some octet of `w` is below 0x0e (Mycroft's test).
    fn below_0e(w: [u8; 8]) -> u64 {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let w = u64::from_le_bytes(w);
        w.wrapping_sub(ONES * 0x0e) & !w & HIGH
    }
    if s.len() > 64 {
        return memchr::memchr3(0, CR, LF, s);
    }
    let (words, _) = s.as_chunks::<8>();
    if let Some(last) = s.last_chunk::<8>() {
        // The last eight octets overlap the words; together they cover `s`.
        let low = words
            .iter()
            .fold(below_0e(*last), |acc, w| acc | below_0e(*w));
        if low == 0 {
            return None;
        }
    }
    s.iter().position(|&b| matches!(b, 0 | CR | LF))
}

/// `line[ascii..]` as text, where `line[..ascii]` is known to be ASCII; `Err` holds the
/// offset in `line` of the first octet that is not UTF-8.
///
/// `core::str::from_utf8` checks a word at a time from an 8-aligned address and an octet
/// at a time (several times slower) up to it, which on a short line can be most of the
/// work; so the check starts at the aligned address inside the ASCII prefix, if there is
/// one.
pub(crate) fn utf8_after_ascii(line: &[u8], ascii: usize) -> Result<&str, usize> {
    if ascii == line.len() {
        return Ok("");
    }
    let back = (line.as_ptr() as usize).wrapping_add(ascii) % 8;
    let start = ascii.checked_sub(back).unwrap_or(ascii);
    match core::str::from_utf8(&line[start..]) {
        Ok(text) => Ok(&text[ascii - start..]),
        Err(e) => Err(start + e.valid_up_to()),
    }
}

#[cfg(test)]
mod tests;
