//! Streaming dot-stuffing and unstuffing of `CRLF . CRLF` terminated bodies.
//!
//! SMTP DATA (RFC 5321 §4.1.1.4, §4.5.2) and POP3 multi-line responses (RFC 1939 §3) send
//! a body as lines, double a `.` that starts a line, and end with a line holding a single
//! `.`. This module does that once, for both protocols and both directions:
//!
//! - [`DotDecoder`] unstuffs bytes as they arrive and finds the terminator. It starts "at
//!   line start", so `.\r\n` straight away is an empty body and a leading `..` is
//!   unstuffed. Only `CRLF . CRLF` (or `. CRLF` at the very start) ends a body: none of the
//!   SMTP smuggling variants (`\n.\n`, `\r.\r\n`, `\r\n.\r\r\n`, ...) does, whatever the
//!   [`BareLineEnding`] policy.
//! - [`DotEncoder`] stuffs a `.` after every line break (bare CR and bare LF included), so
//!   no caller bytes can form a premature terminator, and [`DotEncoder::finish`] writes
//!   `.\r\n` or `\r\n.\r\n` as the body requires.
//!
//! Both keep a few bytes of state, never buffer the body, and find line breaks with
//! `memchr` rather than looking at every byte.

use alloc::vec::Vec;
use core::fmt;

pub use crate::line::BareLineEnding;

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const DOT: u8 = b'.';

/// A bare CR or bare LF found in a body under [`BareLineEnding::Reject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DotError {
    /// A CR not followed by LF.
    BareCr,
    /// An LF not preceded by CR.
    BareLf,
}

impl fmt::Display for DotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DotError::BareCr => f.write_str("bare CR (not followed by LF) in message body"),
            DotError::BareLf => f.write_str("bare LF (not preceded by CR) in message body"),
        }
    }
}

impl core::error::Error for DotError {}

/// Where the decoder stands between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// At the start of the body or just after CRLF: a `.` here may begin the terminator.
    LineStart,
    /// Just after a bare CR or bare LF: a `.` here is unstuffed but cannot terminate.
    BareStart,
    /// A `.` at `LineStart` (not emitted: it is either stuffing or the terminator).
    Dot,
    /// `.` CR at `LineStart` (neither emitted yet).
    DotCr,
    /// Inside a line.
    Mid,
    /// Inside a line, just after a CR (not emitted yet); an LF next completes CRLF.
    Cr,
    /// The terminator has been read.
    Done,
}

/// What one [`DotDecoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Decoded {
    /// Input bytes used. Less than the input only when the body ended: the rest belongs
    /// to what follows it (the next command or response).
    pub consumed: usize,
    /// Whether the terminator was reached.
    pub done: bool,
}

/// Streaming unstuffing decoder for a dot-terminated body.
///
/// ```
/// use mailproto_core::dot::{BareLineEnding, DotDecoder};
///
/// let mut decoder = DotDecoder::new(BareLineEnding::Reject);
/// let mut body = Vec::new();
/// let input = b"Hello\r\n..dot\r\n.\r\nQUIT\r\n";
/// let d = decoder.decode(input, &mut body);
/// assert!(d.done);
/// assert_eq!(body, b"Hello\r\n.dot\r\n");
/// assert_eq!(&input[d.consumed..], b"QUIT\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DotDecoder {
    state: DecodeState,
    policy: BareLineEnding,
    violation: Option<DotError>,
}

impl DotDecoder {
    /// A decoder at the start of a body.
    pub fn new(policy: BareLineEnding) -> Self {
        DotDecoder {
            state: DecodeState::LineStart,
            policy,
            violation: None,
        }
    }

    /// Start over for a new body, keeping the policy.
    pub fn reset(&mut self) {
        self.state = DecodeState::LineStart;
        self.violation = None;
    }

    /// Whether the terminator has been read.
    pub fn is_done(&self) -> bool {
        self.state == DecodeState::Done
    }

    /// The first bare CR or LF met under [`BareLineEnding::Reject`]. Once set, the decoder
    /// emits nothing more but still reads to the terminator, so the stream stays in step
    /// and the whole body can be refused.
    pub fn violation(&self) -> Option<DotError> {
        self.violation
    }

    /// Unstuff `input`, appending body bytes to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Decoded {
        let mut run = Run { start: 0, out };
        let mut i = 0;
        let len = input.len();
        while i < len {
            match self.state {
                DecodeState::Mid => {
                    // Plain text is passed over in bulk; it is copied with the run.
                    i = clean_run(input, i);
                    match memchr::memchr2(CR, LF, &input[i..]) {
                        None => i = len,
                        Some(off) => {
                            let p = i + off;
                            if input[p] == CR && input.get(p + 1) == Some(&LF) {
                                // CRLF: the common case. Stay in `Mid` unless the next line
                                // starts with a dot (or is not here yet).
                                i = p + 2;
                                match input.get(i) {
                                    Some(&DOT) | None => self.state = DecodeState::LineStart,
                                    Some(_) => {}
                                }
                            } else if input[p] == LF {
                                i = self.bare(&mut run, input, p, DotError::BareLf);
                            } else if p + 1 == len {
                                // Hold the CR back until the next byte says what it is.
                                self.emit(&mut run, input, p);
                                run.start = len;
                                self.state = DecodeState::Cr;
                                i = len;
                            } else {
                                i = self.bare(&mut run, input, p, DotError::BareCr);
                            }
                        }
                    }
                }
                DecodeState::LineStart | DecodeState::BareStart => {
                    if input[i] == DOT {
                        self.emit(&mut run, input, i);
                        run.start = i + 1;
                        self.state = if self.state == DecodeState::LineStart {
                            DecodeState::Dot
                        } else {
                            DecodeState::Mid
                        };
                        i += 1;
                    } else {
                        self.state = DecodeState::Mid;
                    }
                }
                DecodeState::Dot => {
                    if input[i] == CR {
                        // Hold the CR back: it may belong to the terminator.
                        self.emit(&mut run, input, i);
                        run.start = i + 1;
                        self.state = DecodeState::DotCr;
                        i += 1;
                    } else {
                        // `.x`: the leading dot is removed (RFC 5321 §4.5.2).
                        self.state = DecodeState::Mid;
                    }
                }
                DecodeState::DotCr => {
                    if input[i] == LF {
                        self.state = DecodeState::Done;
                        return Decoded {
                            consumed: i + 1,
                            done: true,
                        };
                    }
                    // `. CR x`: the held CR is a bare CR.
                    self.held_bare_cr(&mut run, input, i);
                }
                DecodeState::Cr => {
                    if input[i] == LF {
                        if self.violation.is_none() {
                            run.out.push(CR);
                        }
                        self.state = DecodeState::LineStart;
                        i += 1;
                    } else {
                        self.held_bare_cr(&mut run, input, i);
                    }
                }
                DecodeState::Done => {
                    return Decoded {
                        consumed: i,
                        done: true,
                    };
                }
            }
        }
        self.emit(&mut run, input, len);
        Decoded {
            consumed: len,
            done: self.state == DecodeState::Done,
        }
    }

    /// Copy `input[run.start..end]` to the output unless a violation silenced it.
    #[inline]
    fn emit(&self, run: &mut Run<'_>, input: &[u8], end: usize) {
        if self.violation.is_none() && end > run.start {
            run.out.extend_from_slice(&input[run.start..end]);
        }
    }

    /// A bare CR or LF at `p` inside a line; returns where to continue.
    fn bare(&mut self, run: &mut Run<'_>, input: &[u8], p: usize, kind: DotError) -> usize {
        self.state = DecodeState::BareStart;
        if self.violation.is_some() {
            return p + 1;
        }
        match self.policy {
            BareLineEnding::Keep => {}
            BareLineEnding::Normalize => {
                let keep = if kind == DotError::BareCr { p + 1 } else { p };
                self.emit(run, input, keep);
                run.out.extend_from_slice(if kind == DotError::BareCr {
                    b"\n"
                } else {
                    b"\r\n"
                });
                run.start = p + 1;
            }
            BareLineEnding::Reject => {
                self.emit(run, input, p);
                self.violation = Some(kind);
            }
        }
        p + 1
    }

    /// A CR was held back and the next byte (at `i`) is not LF: the CR is bare.
    fn held_bare_cr(&mut self, run: &mut Run<'_>, input: &[u8], i: usize) {
        self.emit(run, input, i);
        run.start = i;
        self.state = DecodeState::BareStart;
        if self.violation.is_some() {
            return;
        }
        match self.policy {
            BareLineEnding::Keep => run.out.push(CR),
            BareLineEnding::Normalize => run.out.extend_from_slice(b"\r\n"),
            BareLineEnding::Reject => self.violation = Some(DotError::BareCr),
        }
    }
}

/// Where the plain text that starts at `i` (inside a line) ends: text that holds no line
/// break but CRLF and no CRLF followed by a dot, so that neither codec has anything to do
/// in it but copy. It is taken in blocks of 64 octets; the result is `i` when the first
/// block does not qualify, and never a position between the CR and LF of a pair.
///
/// The test of a block compares every octet with the one after it, lane by lane and
/// without a branch, which the compiler turns into vector instructions: on text with
/// lines of 80 octets this costs about a third of a `memchr` call per line.
fn clean_run(input: &[u8], i: usize) -> usize {
    // An LF here has no CR before it in this input: not plain text.
    if input.get(i) == Some(&LF) {
        return i;
    }
    i + clean_blocks::<64>(&input[i..])
}

/// How many octets at the start of `b` [`is_clean`] blocks of `N` octets cover.
#[inline]
fn clean_blocks<const N: usize>(b: &[u8]) -> usize {
    let mut end = 0;
    while let (Some(cur), Some(next)) = (
        b[end..].first_chunk::<N>(),
        b.get(end + 1..).and_then(<[u8]>::first_chunk::<N>),
    ) && is_clean(cur, next)
    {
        // A block that ends with a CR leaves it to the next one, with its LF.
        end += if cur[N - 1] == CR { N - 1 } else { N };
    }
    end
}

/// Whether in `cur` every CR is followed by LF, every LF but one at the start is preceded
/// by CR, and no LF is followed by a dot, where `next` is `cur` shifted by one octet.
#[inline]
fn is_clean<const N: usize>(cur: &[u8; N], next: &[u8; N]) -> bool {
    let mut dirty = 0u8;
    for k in 0..N {
        let bare = u8::from(cur[k] == CR) ^ u8::from(next[k] == LF);
        let dot = u8::from(cur[k] == LF) & u8::from(next[k] == DOT);
        dirty |= bare | dot;
    }
    dirty == 0
}

/// The output and the start of the input run not yet copied to it.
struct Run<'a> {
    start: usize,
    out: &'a mut Vec<u8>,
}

/// Streaming dot-stuffing encoder.
///
/// ```
/// use mailproto_core::dot::{BareLineEnding, DotEncoder};
///
/// let mut encoder = DotEncoder::new(BareLineEnding::Normalize);
/// let mut wire = Vec::new();
/// encoder.encode(b".hidden\nline", &mut wire).unwrap();
/// encoder.finish(&mut wire);
/// assert_eq!(wire, b"..hidden\r\nline\r\n.\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DotEncoder {
    policy: BareLineEnding,
    /// The last byte written was a line break (or nothing was written).
    at_break: bool,
    /// The last byte written was a CR (its LF may come in the next call).
    after_cr: bool,
    /// The output so far ends with CRLF, or is empty.
    ends_crlf: bool,
    /// An earlier call failed: the body is incomplete and must not be terminated.
    failed: Option<DotError>,
}

impl DotEncoder {
    /// An encoder at the start of a body. `Normalize` turns bare CR and bare LF into
    /// CRLF, `Keep` sends them as they are (still stuffing after them), `Reject` refuses
    /// them with an error.
    pub fn new(policy: BareLineEnding) -> Self {
        DotEncoder {
            policy,
            at_break: true,
            after_cr: false,
            ends_crlf: true,
            failed: None,
        }
    }

    /// Stuff `input` and append it to `out`.
    ///
    /// An error (a bare CR or LF under [`BareLineEnding::Reject`]) leaves `out` as it was
    /// before the call and poisons the encoder: every later `encode` and
    /// [`finish`](Self::finish) fails the same way, so a body that was not written whole
    /// never gets a terminator that would make it look complete. [`reset`](Self::reset)
    /// starts a new body.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DotError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mark = out.len();
        let saved = (self.at_break, self.after_cr, self.ends_crlf);
        let result = self.encode_unchecked(input, out);
        if let Err(e) = result {
            out.truncate(mark);
            (self.at_break, self.after_cr, self.ends_crlf) = saved;
            self.failed = Some(e);
        }
        result
    }

    /// Start a new body, forgetting an earlier failure.
    pub fn reset(&mut self) {
        *self = DotEncoder::new(self.policy);
    }

    /// The failure that poisoned the encoder, if any.
    pub fn failure(&self) -> Option<DotError> {
        self.failed
    }

    fn encode_unchecked(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DotError> {
        if input.is_empty() {
            return Ok(());
        }
        let len = input.len();
        let out_start = out.len();
        let prev_cr = self.after_cr;
        let mut start = 0;
        let mut i = 0;
        // A CR that ended the previous call.
        if self.after_cr && input[0] != LF {
            self.bare_cr_done(out)?;
        }
        while i < len {
            if self.at_break && input[i] == DOT {
                out.extend_from_slice(&input[start..i]);
                out.push(DOT);
                start = i;
            }
            self.at_break = false;
            // Plain text is passed over in bulk; it is copied with the run.
            i = clean_run(input, i);
            let Some(off) = memchr::memchr2(CR, LF, &input[i..]) else {
                break;
            };
            let p = i + off;
            if input[p] == CR {
                if p + 1 == len {
                    out.extend_from_slice(&input[start..len]);
                    self.after_cr = true;
                    self.at_break = true;
                    self.ends_crlf = false;
                    return Ok(());
                }
                if input[p + 1] == LF {
                    i = p + 2;
                } else {
                    out.extend_from_slice(&input[start..=p]);
                    start = p + 1;
                    self.bare_cr_done(out)?;
                    i = p + 1;
                }
            } else {
                if !(p == 0 && prev_cr) {
                    out.extend_from_slice(&input[start..p]);
                    start = p;
                    match self.policy {
                        BareLineEnding::Reject => return Err(DotError::BareLf),
                        BareLineEnding::Normalize => out.push(CR),
                        BareLineEnding::Keep => {}
                    }
                }
                i = p + 1;
            }
            self.after_cr = false;
            self.at_break = true;
        }
        out.extend_from_slice(&input[start..len]);
        self.after_cr = false;
        let written = &out[out_start..];
        self.ends_crlf = written.ends_with(b"\r\n") || (written == b"\n" && prev_cr);
        Ok(())
    }

    /// The CR just written was bare.
    fn bare_cr_done(&mut self, out: &mut Vec<u8>) -> Result<(), DotError> {
        self.after_cr = false;
        self.at_break = true;
        match self.policy {
            BareLineEnding::Reject => Err(DotError::BareCr),
            BareLineEnding::Normalize => {
                out.push(LF);
                Ok(())
            }
            BareLineEnding::Keep => Ok(()),
        }
    }

    /// Write the terminator: `.\r\n` after a body that ends with CRLF (or is empty),
    /// `\r\n.\r\n` otherwise. The encoder is then ready for a new body.
    ///
    /// Refused, writing nothing, after an `encode` error, and under
    /// [`BareLineEnding::Reject`] when the body ended with a CR: any terminator would
    /// leave that CR bare on the wire (`x\r\r\n.\r\n`). The encoder is poisoned then.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DotError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.after_cr && self.policy == BareLineEnding::Reject {
            self.failed = Some(DotError::BareCr);
            return Err(DotError::BareCr);
        }
        if self.after_cr {
            if self.policy == BareLineEnding::Normalize {
                // The trailing CR is a line break: complete it.
                out.extend_from_slice(b"\n.\r\n");
            } else {
                out.extend_from_slice(b"\r\n.\r\n");
            }
        } else if self.ends_crlf {
            out.extend_from_slice(b".\r\n");
        } else {
            out.extend_from_slice(b"\r\n.\r\n");
        }
        *self = DotEncoder::new(self.policy);
        Ok(())
    }
}

/// Stuff and terminate a whole body in one call. On error `out` is as it was.
pub fn encode_body(body: &[u8], policy: BareLineEnding, out: &mut Vec<u8>) -> Result<(), DotError> {
    let mark = out.len();
    let mut encoder = DotEncoder::new(policy);
    let result = encoder.encode(body, out).and_then(|()| encoder.finish(out));
    if result.is_err() {
        out.truncate(mark);
    }
    result
}
