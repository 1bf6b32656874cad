//! Message body encoding: dot-stuffed DATA through [`DotEncoder`], or BDAT chunks
//! (RFC 3030 §2) with the same line-ending policy. Nothing here holds more than the
//! chunk being written.

use alloc::vec::Vec;

use crate::dot::{DotEncoder, DotError};
use crate::line::{BareLineEnding, Break, BreakScanner, Scan};
use crate::smtp::Command;

/// How the message data is sent (RFC 5321 §4.1.1.4 DATA, RFC 3030 §2 BDAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyMode {
    /// `DATA`, then the dot-stuffed body and `CRLF . CRLF`.
    #[default]
    Data,
    /// `BDAT size [LAST]` chunks (CHUNKING, RFC 3030); needed for BODY=BINARYMIME.
    Bdat,
}

/// Line-ending canonicalisation for BDAT chunks, streaming: a CR at the end of one chunk
/// waits for the next to know whether it starts a CRLF.
#[derive(Debug, Clone)]
pub(crate) struct CrlfCanon {
    policy: BareLineEnding,
    breaks: BreakScanner,
    /// BODY=BINARYMIME: the bytes go verbatim, no line is completed at the end.
    binary: bool,
    /// The last byte sent does not end a line (the body so far is not empty).
    line_open: bool,
}

impl CrlfCanon {
    /// Appends `input` with bare CR / bare LF handled by the policy.
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DotError> {
        if self.policy == BareLineEnding::Keep {
            out.extend_from_slice(input);
            return Ok(());
        }
        let mut i = 0;
        loop {
            match self.breaks.next(input, i) {
                Scan::Break { at, end, kind } => {
                    out.extend_from_slice(&input[i..at]);
                    match kind {
                        Break::Crlf => out.extend_from_slice(b"\r\n"),
                        Break::BareCr => self.bare(DotError::BareCr, out)?,
                        Break::BareLf => self.bare(DotError::BareLf, out)?,
                    }
                    i = end;
                }
                Scan::Held { at } => {
                    out.extend_from_slice(&input[i..at]);
                    return Ok(());
                }
                Scan::End => {
                    out.extend_from_slice(&input[i..]);
                    return Ok(());
                }
            }
        }
    }

    /// The end of the body: a held CR is bare, and an unfinished last line gets its
    /// CRLF, as the DATA terminator gives it (RFC 5321 §4.1.1.4), unless binary.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DotError> {
        if self.breaks.take_held() {
            if self.binary {
                out.push(b'\r');
            } else {
                self.bare(DotError::BareCr, out)?;
                self.line_open = false;
            }
        }
        if self.line_open && !self.binary {
            out.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    fn bare(&self, e: DotError, out: &mut Vec<u8>) -> Result<(), DotError> {
        match self.policy {
            BareLineEnding::Normalize => {
                out.extend_from_slice(b"\r\n");
                Ok(())
            }
            _ => Err(e),
        }
    }
}

/// The body encoder of one transaction.
#[derive(Debug, Clone)]
pub(crate) enum BodyWriter {
    /// DATA: dot-stuffing.
    Data(DotEncoder),
    /// BDAT: chunks, canonicalised unless binary.
    Bdat(CrlfCanon),
}

impl BodyWriter {
    /// A writer for `mode`; `binary` (BODY=BINARYMIME) sends BDAT bytes verbatim.
    pub(crate) fn new(mode: BodyMode, policy: BareLineEnding, binary: bool) -> Self {
        match mode {
            BodyMode::Data => BodyWriter::Data(DotEncoder::new(policy)),
            BodyMode::Bdat => BodyWriter::Bdat(CrlfCanon {
                policy: if binary { BareLineEnding::Keep } else { policy },
                breaks: BreakScanner::default(),
                binary,
                line_open: false,
            }),
        }
    }

    /// Appends the wire form of one piece of body to `out`: stuffed bytes (DATA), or a
    /// `BDAT n [LAST]` line and its chunk. `last` ends the body. Returns whether a BDAT
    /// command was written (its reply is then due). On error neither `out` nor the
    /// writer changes; `scratch` is a reusable buffer.
    pub(crate) fn write(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<bool, DotError> {
        match self {
            BodyWriter::Data(enc) => {
                let saved = enc.clone();
                let mark = out.len();
                // The encoder refuses a body whose last CR would go out bare (Reject),
                // as BDAT does (`CrlfCanon::finish`).
                let r = enc
                    .encode(input, out)
                    .and_then(|()| if last { enc.finish(out) } else { Ok(()) });
                if let Err(e) = r {
                    // Nothing was sent: the application may go on with other bytes.
                    *enc = saved;
                    out.truncate(mark);
                    return Err(e);
                }
                Ok(false)
            }
            BodyWriter::Bdat(canon) => {
                let saved = canon.clone();
                scratch.clear();
                let r = canon.push(input, scratch).and_then(|()| {
                    if let Some(&b) = scratch.last() {
                        canon.line_open = b != b'\n';
                    }
                    if last { canon.finish(scratch) } else { Ok(()) }
                });
                if let Err(e) = r {
                    *canon = saved;
                    scratch.clear();
                    return Err(e);
                }
                if scratch.is_empty() && !last {
                    return Ok(false);
                }
                let size = scratch.len() as u64;
                let mut line = Vec::new();
                // BDAT never fails to encode.
                let _ = Command::Bdat { size, last }.encode(&mut line);
                out.extend_from_slice(&line);
                out.extend_from_slice(scratch);
                scratch.clear();
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn bdat(policy: BareLineEnding, chunks: &[&[u8]]) -> Vec<u8> {
        let mut w = BodyWriter::new(BodyMode::Bdat, policy, false);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        for (i, c) in chunks.iter().enumerate() {
            w.write(c, i + 1 == chunks.len(), &mut out, &mut scratch)
                .unwrap();
        }
        out
    }

    #[test]
    fn bdat_normalizes_across_chunks() {
        let out = bdat(BareLineEnding::Normalize, &[b"a\r", b"\nb\n", b"c\r", b""]);
        assert_eq!(
            out,
            b"BDAT 1\r\naBDAT 5\r\n\r\nb\r\nBDAT 1\r\ncBDAT 2 LAST\r\n\r\n"
        );
        // The unfinished last line gets its CRLF, as with DATA.
        let out = bdat(BareLineEnding::Normalize, &[b"x\ry"]);
        assert_eq!(out, b"BDAT 6 LAST\r\nx\r\ny\r\n");
    }

    #[test]
    fn bdat_keep_and_binary_are_verbatim() {
        assert_eq!(
            bdat(BareLineEnding::Keep, &[b"a\nb\r", b""]),
            b"BDAT 4\r\na\nb\rBDAT 2 LAST\r\n\r\n"
        );
        let mut w = BodyWriter::new(BodyMode::Bdat, BareLineEnding::Reject, true);
        let (mut out, mut s) = (Vec::new(), Vec::new());
        w.write(b"\n\r\x00", true, &mut out, &mut s).unwrap();
        assert_eq!(out, b"BDAT 3 LAST\r\n\n\r\x00");
    }

    /// Regression (found by the `smtp_client_input` fuzz target): under Reject, ending a
    /// DATA body just after a CR sent `CR CRLF . CRLF`, a bare CR; BDAT refused the same
    /// body. Now both refuse and change nothing, and an LF completes the line.
    #[test]
    fn reject_refuses_to_end_a_body_on_a_cr() {
        for mode in [BodyMode::Data, BodyMode::Bdat] {
            let mut w = BodyWriter::new(mode, BareLineEnding::Reject, false);
            let (mut out, mut s) = (Vec::new(), Vec::new());
            w.write(b"a\r", false, &mut out, &mut s).unwrap();
            let before = out.clone();
            assert_eq!(w.write(b"", true, &mut out, &mut s), Err(DotError::BareCr));
            assert_eq!(w.write(b"b", true, &mut out, &mut s), Err(DotError::BareCr));
            assert_eq!(out, before, "{mode:?}");
            w.write(b"\n", true, &mut out, &mut s).unwrap();
            match mode {
                BodyMode::Data => assert_eq!(out, b"a\r\n.\r\n"),
                _ => assert_eq!(out, b"BDAT 1\r\naBDAT 2 LAST\r\n\r\n"),
            }
        }
    }

    #[test]
    fn reject_leaves_state_unchanged() {
        for mode in [BodyMode::Data, BodyMode::Bdat] {
            let mut w = BodyWriter::new(mode, BareLineEnding::Reject, false);
            let (mut out, mut s) = (vec![b'X'], Vec::new());
            w.write(b"ok\r", false, &mut out, &mut s).unwrap();
            let before = out.clone();
            assert!(w.write(b"bad\n", false, &mut out, &mut s).is_err());
            assert_eq!(out, before, "{mode:?}");
            w.write(b"\nend\r\n", true, &mut out, &mut s).unwrap();
            let tail = &out[before.len()..];
            match mode {
                BodyMode::Data => assert_eq!(tail, b"\nend\r\n.\r\n"),
                _ => assert_eq!(tail, b"BDAT 7 LAST\r\n\r\nend\r\n"),
            }
        }
    }
}
