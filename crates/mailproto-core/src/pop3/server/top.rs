//! [`TopFilter`]: cuts a streamed message after its header, the blank line and `n` body
//! lines, for `TOP msg n` (RFC 1939 §7).
//!
//! Line breaks are counted the way the dot encoder under [`BareLineEnding::Normalize`]
//! writes them: CRLF, a bare LF and a bare CR each end one line. The filter keeps a few
//! bits of state, so a message can arrive in chunks split anywhere, even between the CR
//! and the LF of one line break.
//!
//! [`BareLineEnding::Normalize`]: crate::line::BareLineEnding::Normalize

use crate::line::{BreakScanner, Scan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// In the header: the first empty line ends it.
    Header,
    /// In the body, with this many lines still to send (at least 1).
    Body(u32),
    /// Everything wanted has been passed on.
    Done,
}

/// Decides how much of each chunk of a message `TOP msg n` sends.
#[derive(Debug, Clone)]
pub(super) struct TopFilter {
    part: Part,
    lines: u32,
    /// No content byte since the last line break (or the start).
    line_empty: bool,
    breaks: BreakScanner,
}

impl TopFilter {
    /// A filter for `TOP msg lines`.
    pub(super) fn new(lines: u32) -> Self {
        TopFilter {
            part: Part::Header,
            lines,
            line_empty: true,
            breaks: BreakScanner::default(),
        }
    }

    /// Whether everything wanted has been passed on: the rest of the message is dropped.
    pub(super) fn is_done(&self) -> bool {
        self.part == Part::Done
    }

    /// How many leading bytes of `chunk` to send; the rest (if any) is past the cut.
    pub(super) fn take(&mut self, chunk: &[u8]) -> usize {
        if self.is_done() || chunk.is_empty() {
            return 0;
        }
        let mut i = 0;
        loop {
            match self.breaks.next(chunk, i) {
                Scan::Break { at, end, .. } => {
                    if at > i {
                        self.line_empty = false;
                    }
                    i = end;
                    if self.line_break() {
                        return i;
                    }
                }
                Scan::Held { at } => {
                    if at > i {
                        self.line_empty = false;
                    }
                    return chunk.len();
                }
                Scan::End => {
                    if i < chunk.len() {
                        self.line_empty = false;
                    }
                    return chunk.len();
                }
            }
        }
    }

    /// A line ended; returns whether the cut falls right after it.
    fn line_break(&mut self) -> bool {
        let empty = core::mem::replace(&mut self.line_empty, true);
        self.part = match self.part {
            Part::Header if empty => match self.lines {
                0 => Part::Done,
                n => Part::Body(n),
            },
            Part::Header => Part::Header,
            Part::Body(1) | Part::Done => Part::Done,
            Part::Body(n) => Part::Body(n - 1),
        };
        self.is_done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// What TOP sends of `message`, fed in chunks of `size`.
    fn top(message: &[u8], lines: u32, size: usize) -> Vec<u8> {
        let mut f = TopFilter::new(lines);
        let mut out = Vec::new();
        for chunk in message.chunks(size.max(1)) {
            let n = f.take(chunk);
            out.extend_from_slice(&chunk[..n]);
            if f.is_done() {
                break;
            }
        }
        out
    }

    const MSG: &[u8] = b"Subject: x\r\nFrom: y\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";

    #[test]
    fn header_blank_line_and_n_lines() {
        assert_eq!(top(MSG, 0, 100), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(top(MSG, 1, 100), b"Subject: x\r\nFrom: y\r\n\r\nline 1\r\n");
        assert_eq!(top(MSG, 3, 100), MSG);
        assert_eq!(top(MSG, 10, 100), MSG);
    }

    #[test]
    fn bare_line_endings_count_as_lines() {
        let m = b"A: 1\n\nb1\nb2\rb3\r\nb4";
        assert_eq!(top(m, 0, 100), b"A: 1\n\n");
        assert_eq!(top(m, 2, 100), b"A: 1\n\nb1\nb2\r");
        assert_eq!(top(m, 3, 100), b"A: 1\n\nb1\nb2\rb3\r\n");
        assert_eq!(top(m, 4, 100), m);
    }

    #[test]
    fn no_blank_line_sends_everything() {
        assert_eq!(top(b"A: 1\r\nB: 2", 0, 3), b"A: 1\r\nB: 2");
    }

    #[test]
    fn message_starting_with_blank_line_has_no_header() {
        assert_eq!(top(b"\r\nbody\r\nmore\r\n", 1, 1), b"\r\nbody\r\n");
    }

    #[test]
    fn crlf_split_between_chunks() {
        // "A: 1\r" | "\n\r" | "\nbody..."
        let mut f = TopFilter::new(0);
        assert_eq!(f.take(b"A: 1\r"), 5);
        assert_eq!(f.take(b"\n\r"), 2);
        assert!(!f.is_done());
        assert_eq!(f.take(b"\nbody"), 1);
        assert!(f.is_done());
        assert_eq!(f.take(b"more"), 0);
    }

    #[test]
    fn bare_cr_at_chunk_end_cuts_before_next_chunk() {
        let mut f = TopFilter::new(1);
        assert_eq!(f.take(b"\r\nbody\r"), 7);
        assert!(!f.is_done());
        assert_eq!(f.take(b"x"), 0);
        assert!(f.is_done());
    }

    proptest! {
        /// The cut does not depend on how the message is chunked.
        #[test]
        fn split_independent(
            message in proptest::collection::vec(
                proptest::sample::select(&b"ab: \r\n"[..]), 0..200),
            lines in 0u32..6,
            size in 1usize..20,
        ) {
            prop_assert_eq!(top(&message, lines, size), top(&message, lines, message.len() + 1));
        }
    }
}
