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
        }
    }

    /// Stuff `input` and append it to `out`. On error, `out` holds the body up to the
    /// offending byte.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DotError> {
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

    /// Whether [`finish`](Self::finish) would make the CR that ended the body bare:
    /// under [`BareLineEnding::Reject`] only an LF may follow it.
    pub(crate) fn finish_makes_bare_cr(&self) -> bool {
        self.after_cr && self.policy == BareLineEnding::Reject
    }

    /// Write the terminator: `.\r\n` after a body that ends with CRLF (or is empty),
    /// `\r\n.\r\n` otherwise. The encoder is then ready for a new body.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
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
    }
}

/// Stuff and terminate a whole body in one call.
pub fn encode_body(body: &[u8], policy: BareLineEnding, out: &mut Vec<u8>) -> Result<(), DotError> {
    let mut encoder = DotEncoder::new(policy);
    encoder.encode(body, out)?;
    encoder.finish(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    /// Decode `input` fed in chunks of the given sizes: (body, consumed, done, violation).
    fn decode_split(
        policy: BareLineEnding,
        input: &[u8],
        splits: &[usize],
    ) -> (Vec<u8>, usize, bool, Option<DotError>) {
        let mut d = DotDecoder::new(policy);
        let mut body = Vec::new();
        let mut pos = 0;
        let mut sizes = splits.iter().copied().cycle();
        while pos < input.len() {
            let n = sizes
                .next()
                .unwrap_or(input.len())
                .clamp(1, input.len() - pos);
            let r = d.decode(&input[pos..pos + n], &mut body);
            pos += r.consumed;
            if r.done {
                return (body, pos, true, d.violation());
            }
        }
        (body, pos, false, d.violation())
    }

    fn decode_all(
        policy: BareLineEnding,
        input: &[u8],
    ) -> (Vec<u8>, usize, bool, Option<DotError>) {
        decode_split(policy, input, &[input.len().max(1)])
    }

    fn encode_split(
        policy: BareLineEnding,
        body: &[u8],
        splits: &[usize],
    ) -> Result<Vec<u8>, DotError> {
        let mut e = DotEncoder::new(policy);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut sizes = splits.iter().copied().cycle();
        while pos < body.len() {
            let n = sizes
                .next()
                .unwrap_or(body.len())
                .clamp(1, body.len() - pos);
            e.encode(&body[pos..pos + n], &mut out)?;
            pos += n;
        }
        e.finish(&mut out);
        Ok(out)
    }

    const ALL: [BareLineEnding; 3] = [
        BareLineEnding::Reject,
        BareLineEnding::Normalize,
        BareLineEnding::Keep,
    ];

    #[test]
    fn rfc5321_data_example() {
        // RFC 5321 Appendix D.1: the body ends at CRLF.CRLF, the final CRLF belongs to it.
        let input = b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\nQUIT\r\n";
        let (body, consumed, done, v) = decode_all(BareLineEnding::Reject, input);
        assert!(done);
        assert_eq!(v, None);
        assert_eq!(body, b"Blah blah blah...\r\n..etc. etc. etc.\r\n");
        assert_eq!(&input[consumed..], b"QUIT\r\n");
    }

    #[test]
    fn empty_body_right_after_354() {
        let (body, consumed, done, _) = decode_all(BareLineEnding::Reject, b".\r\nRSET\r\n");
        assert!(done);
        assert!(body.is_empty());
        assert_eq!(consumed, 3);
    }

    #[test]
    fn leading_double_dot_is_unstuffed() {
        let (body, _, done, _) = decode_all(BareLineEnding::Reject, b"..x\r\n.\r\n");
        assert!(done);
        assert_eq!(body, b".x\r\n");
    }

    #[test]
    fn rfc1939_multiline_with_stuffed_termination_octet() {
        // RFC 1939 §3: a line starting with the termination octet is byte-stuffed.
        let (body, _, done, _) =
            decode_all(BareLineEnding::Reject, b"From: a\r\n\r\n...\r\n..\r\n.\r\n");
        assert!(done);
        assert_eq!(body, b"From: a\r\n\r\n..\r\n.\r\n");
    }

    #[test]
    fn unstuffed_dot_line_keeps_its_text() {
        // A single leading dot followed by text (a sloppy sender) loses only the dot.
        let (body, _, done, _) = decode_all(BareLineEnding::Reject, b"a\r\n.b\r\n.\r\n");
        assert!(done);
        assert_eq!(body, b"a\r\nb\r\n");
    }

    #[test]
    fn body_ends_only_at_the_terminator_split_byte_by_byte() {
        let input = b"x\r\n.\r\n";
        let (body, consumed, done, _) = decode_split(BareLineEnding::Reject, input, &[1]);
        assert!(done);
        assert_eq!(body, b"x\r\n");
        assert_eq!(consumed, input.len());
    }

    /// Each smuggling terminator variant, placed in a body, must not end it: the decoder
    /// keeps reading until the real `CRLF . CRLF`, under every policy.
    fn assert_not_a_terminator(variant: &[u8]) {
        let mut input = b"Subject: one\r\n\r\nbody".to_vec();
        input.extend_from_slice(variant);
        input.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n");
        let real_end = input.len();
        input.extend_from_slice(b"\r\n.\r\nNEXT");
        for policy in ALL {
            for split in [1usize, 2, 3, 5, 64] {
                let (body, consumed, done, violation) = decode_split(policy, &input, &[split]);
                assert!(done, "{policy:?} {variant:?}");
                assert_eq!(
                    consumed,
                    real_end + 5,
                    "{policy:?} {variant:?} split {split}"
                );
                assert_eq!(&input[consumed..], b"NEXT");
                if violation.is_some() {
                    assert_eq!(policy, BareLineEnding::Reject);
                } else {
                    assert!(body.windows(18).any(|w| w == b"MAIL FROM:<evil@x>"));
                }
            }
        }
    }

    #[test]
    fn smuggling_lf_dot_lf() {
        assert_not_a_terminator(b"\n.\n");
    }

    #[test]
    fn smuggling_lf_dot_crlf() {
        assert_not_a_terminator(b"\n.\r\n");
    }

    #[test]
    fn smuggling_cr_dot_crlf() {
        assert_not_a_terminator(b"\r.\r\n");
    }

    #[test]
    fn smuggling_crlf_dot_cr() {
        assert_not_a_terminator(b"\r\n.\r");
    }

    #[test]
    fn smuggling_crlf_dot_cr_crlf() {
        assert_not_a_terminator(b"\r\n.\r\r\n");
    }

    #[test]
    fn smuggling_crlf_nul_dot_crlf() {
        assert_not_a_terminator(b"\r\n\x00.\r\n");
    }

    #[test]
    fn smuggling_cr_dot_cr() {
        assert_not_a_terminator(b"\r.\r");
    }

    #[test]
    fn smuggling_lf_dot_cr() {
        assert_not_a_terminator(b"\n.\r");
    }

    #[test]
    fn smuggling_crlf_dot_lf() {
        assert_not_a_terminator(b"\r\n.\n");
    }

    #[test]
    fn smuggling_cr_lf_cr_dot_crlf() {
        assert_not_a_terminator(b"\r\n\r.\r\n");
    }

    #[test]
    fn smuggling_lf_lf_dot_lf() {
        assert_not_a_terminator(b"\n\n.\n\n");
    }

    #[test]
    fn reject_reports_the_first_bare_ending_and_emits_nothing_after() {
        let (body, _, done, v) = decode_all(BareLineEnding::Reject, b"ok\r\nbad\nmore\r\n.\r\n");
        assert!(done);
        assert_eq!(v, Some(DotError::BareLf));
        assert_eq!(body, b"ok\r\nbad");
        let (_, _, _, v) = decode_all(BareLineEnding::Reject, b"a\rb\r\n.\r\n");
        assert_eq!(v, Some(DotError::BareCr));
    }

    #[test]
    fn normalize_doubles_at_most() {
        let (body, consumed, done, _) = decode_all(BareLineEnding::Normalize, b"\n\n\n\n");
        assert!(!done);
        assert_eq!(consumed, 4);
        assert_eq!(body, b"\r\n\r\n\r\n\r\n");
    }

    #[test]
    fn normalize_turns_bare_endings_into_crlf() {
        let (body, _, done, v) =
            decode_all(BareLineEnding::Normalize, b"a\nb\rc\r\n\n..d\r\n.\r\n");
        assert!(done);
        assert_eq!(v, None);
        assert_eq!(body, b"a\r\nb\r\nc\r\n\r\n.d\r\n");
    }

    #[test]
    fn keep_passes_bare_endings_through() {
        let (body, _, done, _) = decode_all(BareLineEnding::Keep, b"a\nb\rc\r\n.\r\n");
        assert!(done);
        assert_eq!(body, b"a\nb\rc\r\n");
    }

    #[test]
    fn encoder_stuffs_after_every_break() {
        let wire = encode_split(BareLineEnding::Keep, b".a\r\n.b\n.c\r.d", &[100]).unwrap();
        assert_eq!(wire, b"..a\r\n..b\n..c\r..d\r\n.\r\n");
    }

    #[test]
    fn encoder_finisher_shapes() {
        assert_eq!(
            encode_split(BareLineEnding::Reject, b"", &[1]).unwrap(),
            b".\r\n"
        );
        assert_eq!(
            encode_split(BareLineEnding::Reject, b"a\r\n", &[1]).unwrap(),
            b"a\r\n.\r\n"
        );
        assert_eq!(
            encode_split(BareLineEnding::Reject, b"a", &[1]).unwrap(),
            b"a\r\n.\r\n"
        );
        assert_eq!(
            encode_split(BareLineEnding::Keep, b"a\r", &[1]).unwrap(),
            b"a\r\r\n.\r\n"
        );
        assert_eq!(
            encode_split(BareLineEnding::Normalize, b"a\r", &[1]).unwrap(),
            b"a\r\n.\r\n"
        );
        assert_eq!(
            encode_split(BareLineEnding::Keep, b"a\n", &[1]).unwrap(),
            b"a\n\r\n.\r\n"
        );
        assert_eq!(
            encode_split(BareLineEnding::Normalize, b"a\n", &[1]).unwrap(),
            b"a\r\n.\r\n"
        );
    }

    #[test]
    fn encoder_crlf_split_across_calls_is_not_bare() {
        for policy in ALL {
            let wire = encode_split(policy, b"a\r\n.b\r\n", &[2]).unwrap();
            assert_eq!(wire, b"a\r\n..b\r\n.\r\n", "{policy:?}");
        }
    }

    #[test]
    fn encoder_reject_refuses_bare_endings() {
        assert_eq!(
            encode_split(BareLineEnding::Reject, b"a\nb", &[10]),
            Err(DotError::BareLf)
        );
        assert_eq!(
            encode_split(BareLineEnding::Reject, b"a\rb", &[10]),
            Err(DotError::BareCr)
        );
        assert_eq!(
            encode_split(BareLineEnding::Reject, b"a\r", &[1, 1]).map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn terminator_written_by_caller_is_stuffed() {
        let wire = encode_split(BareLineEnding::Reject, b"x\r\n.\r\nRSET\r\n", &[3]).unwrap();
        assert_eq!(wire, b"x\r\n..\r\nRSET\r\n.\r\n");
        let (body, consumed, done, _) = decode_all(BareLineEnding::Reject, &wire);
        assert!(done);
        assert_eq!(consumed, wire.len());
        assert_eq!(body, b"x\r\n.\r\nRSET\r\n");
    }

    /// Bytes with many CR, LF and dots, the interesting ones for this codec.
    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                3 => proptest::sample::select(&b"ab.\x00"[..]),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => any::<u8>(),
            ],
            0..200,
        )
    }

    /// Lines of up to 150 plain octets with CRLF, some starting with dots, and now and
    /// then a bare CR or LF, a NUL or a terminator: long stretches of the plain text the
    /// codecs pass over in blocks, with something to find at any offset in a block.
    fn long_lines() -> impl Strategy<Value = Vec<u8>> {
        let line = (
            prop_oneof![8 => Just(&b""[..]), 1 => Just(&b"."[..]), 1 => Just(&b".."[..])],
            proptest::collection::vec(proptest::sample::select(&b"ab .:"[..]), 0..150),
            prop_oneof![
                20 => Just(&b"\r\n"[..]),
                1 => Just(&b"\r"[..]),
                1 => Just(&b"\n"[..]),
                1 => Just(&b"\r\r\n"[..]),
                1 => Just(&b"\x00\r\n"[..]),
                1 => Just(&b"\r\n.\r\n"[..]),
            ],
        )
            .prop_map(|(start, text, end)| [start, &text[..], end].concat());
        proptest::collection::vec(line, 0..40).prop_map(|lines| lines.concat())
    }

    fn splits() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(1usize..17, 1..12)
    }

    fn crlf_normalized(x: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < x.len() {
            match x[i] {
                b'\r' if x.get(i + 1) == Some(&b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    i += 2;
                    continue;
                }
                b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
                b => out.push(b),
            }
            i += 1;
        }
        out
    }

    /// The body a decoder returns for an encoded `x`: `x` itself, with a CRLF added when
    /// it did not end in one.
    fn expected_body(x: &[u8]) -> Vec<u8> {
        let mut e = x.to_vec();
        if !e.is_empty() && !e.ends_with(b"\r\n") {
            e.extend_from_slice(b"\r\n");
        }
        e
    }

    proptest! {
        /// (a) decode(encode(x)) == x, under arbitrary chunking on both sides.
        #[test]
        fn roundtrip_keep(x in body_bytes(), es in splits(), ds in splits()) {
            let wire = encode_split(BareLineEnding::Keep, &x, &es).unwrap();
            let (body, consumed, done, v) = decode_split(BareLineEnding::Keep, &wire, &ds);
            prop_assert!(done);
            prop_assert_eq!(v, None);
            prop_assert_eq!(consumed, wire.len());
            prop_assert_eq!(body, expected_body(&x));
        }

        /// Normalizing on either side gives the CRLF-normalized body.
        #[test]
        fn roundtrip_normalize(x in body_bytes(), es in splits(), ds in splits()) {
            let wire = encode_split(BareLineEnding::Normalize, &x, &es).unwrap();
            let (body, consumed, done, v) = decode_split(BareLineEnding::Reject, &wire, &ds);
            prop_assert!(done);
            prop_assert_eq!(v, None);
            prop_assert_eq!(consumed, wire.len());
            prop_assert_eq!(&body, &expected_body(&crlf_normalized(&x)));
            let kept = encode_split(BareLineEnding::Keep, &x, &es).unwrap();
            let (normalized, ..) = decode_split(BareLineEnding::Normalize, &kept, &ds);
            prop_assert_eq!(normalized, crlf_normalized(&expected_body(&x)));
        }

        /// CRLF-only bodies roundtrip exactly under the default policy.
        #[test]
        fn roundtrip_reject_crlf_bodies(
            lines in proptest::collection::vec("[.a-z ]{0,12}", 0..12),
            es in splits(),
            ds in splits(),
        ) {
            let x: Vec<u8> = lines.iter().flat_map(|l| [l.as_bytes(), b"\r\n"].concat()).collect();
            let wire = encode_split(BareLineEnding::Reject, &x, &es).unwrap();
            let (body, _, done, v) = decode_split(BareLineEnding::Reject, &wire, &ds);
            prop_assert!(done);
            prop_assert_eq!(v, None);
            prop_assert_eq!(body, x);
        }

        /// (b) Any split of the same input gives identical output, end and violation.
        #[test]
        fn decode_split_independent(
            input in body_bytes(),
            ds in splits(),
        ) {
            for policy in ALL {
                prop_assert_eq!(decode_all(policy, &input), decode_split(policy, &input, &ds));
            }
        }

        /// Encoding is split-independent too.
        #[test]
        fn encode_split_independent(x in body_bytes(), es in splits()) {
            for policy in ALL {
                prop_assert_eq!(
                    encode_split(policy, &x, &[x.len().max(1)]),
                    encode_split(policy, &x, &es)
                );
            }
        }

        /// (c) No input makes the encoder emit CRLF.CRLF (or a leading .CRLF) before the
        /// finisher, and the finisher's terminator is the first one on the wire.
        #[test]
        fn encoder_never_emits_premature_terminator(x in body_bytes(), es in splits()) {
            for policy in [BareLineEnding::Keep, BareLineEnding::Normalize] {
                let wire = encode_split(policy, &x, &es).unwrap();
                let mut prefixed = b"\r\n".to_vec();
                prefixed.extend_from_slice(&wire);
                let first = prefixed.windows(5).position(|w| w == b"\r\n.\r\n").unwrap();
                prop_assert_eq!(first + 5, prefixed.len());
            }
        }

        /// Plain text passed over in blocks gives what octet-by-octet reading gives (a
        /// one-octet input never fills a block).
        #[test]
        fn bulk_and_octet_by_octet_agree(input in long_lines(), ds in splits()) {
            for policy in ALL {
                let one_by_one = decode_split(policy, &input, &[1]);
                prop_assert_eq!(&decode_all(policy, &input), &one_by_one);
                prop_assert_eq!(&decode_split(policy, &input, &ds), &one_by_one);
                let one_by_one = encode_split(policy, &input, &[1]);
                prop_assert_eq!(&encode_split(policy, &input, &[input.len().max(1)]), &one_by_one);
                prop_assert_eq!(&encode_split(policy, &input, &ds), &one_by_one);
            }
        }

        /// The decoder never emits more than it was given, whatever the input.
        #[test]
        fn decoder_output_bounded(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            for policy in ALL {
                let (body, consumed, ..) = decode_all(policy, &input);
                prop_assert!(consumed <= input.len());
                let bound = if policy == BareLineEnding::Normalize { 2 * consumed } else { consumed };
                prop_assert!(body.len() <= bound);
            }
        }
    }

    #[test]
    fn large_body_streams_in_pieces() {
        let line =
            b"0123456789012345678901234567890123456789012345678901234567890123456789abcdef\r\n";
        let mut x = Vec::new();
        for i in 0..10_000 {
            if i % 7 == 0 {
                x.push(b'.');
            }
            x.extend_from_slice(line);
        }
        let wire = encode_split(BareLineEnding::Reject, &x, &[4096]).unwrap();
        let (body, _, done, _) = decode_split(BareLineEnding::Reject, &wire, &[1500, 4096, 3]);
        assert!(done);
        assert_eq!(body, x);
        assert_eq!(vec![0u8; 0].len(), 0);
    }
}
