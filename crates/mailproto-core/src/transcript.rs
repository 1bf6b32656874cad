//! A session's transcript for logs: the command lines the client sent and the status
//! lines the server sent, in order, credentials replaced by `***`, as the machine (server
//! or client) saw them, when the application asks for one
//! ([`Machine::record_transcript`]); message contents are never recorded.
//!
//! The transcript is taken with [`Machine::poll_transcript`] after each call. What is
//! not taken is bounded: past [`MAX_LINES`] lines waiting, further lines are counted,
//! not kept, and reported as [`Line::Omitted`].

use alloc::collections::VecDeque;
use alloc::string::String;
use core::fmt;

#[cfg(doc)]
use crate::Machine;

/// Lines kept waiting to be taken, at most.
pub const MAX_LINES: usize = 256;

/// Octets of one line kept, at most (the rest is cut and marked with `…`).
const MAX_LINE: usize = 512;

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Line {
    /// A line the client sent (a command, a SASL response), any credential replaced by
    /// `***`.
    Client(String),
    /// A line the server sent (a reply; a POP3 multi-line response as its status line
    /// with a count of the lines after it).
    Server(String),
    /// Lines left out because the transcript was not taken in time.
    Omitted(usize),
}

impl fmt::Display for Line {
    /// `C: …` for a received line and `S: …` for a sent one, as RFCs write sessions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Client(line) => write!(f, "C: {line}"),
            Line::Server(line) => write!(f, "S: {line}"),
            Line::Omitted(n) => write!(f, "({n} lines omitted)"),
        }
    }
}

/// The lines waiting to be taken.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    /// Kept by a client machine: what it receives is the server's.
    client: bool,
    lines: VecDeque<Line>,
    omitted: usize,
    /// Since an AUTH line, no valid command came: a line that is not one may be a
    /// credential the client sent on after a refused AUTH (masked, with its reply,
    /// which may quote it).
    after_auth: bool,
    /// The next reply answers a masked line.
    mask_reply: bool,
}

impl Transcript {
    /// A transcript kept by a server machine (`client` false) or a client machine.
    pub(crate) fn new(client: bool) -> Transcript {
        Transcript {
            client,
            ..Transcript::default()
        }
    }

    /// A line of the peer's.
    fn peer(&self, text: String) -> Line {
        if self.client {
            Line::Server(text)
        } else {
            Line::Client(text)
        }
    }

    /// A line of our own.
    fn own(&self, text: String) -> Line {
        if self.client {
            Line::Client(text)
        } else {
            Line::Server(text)
        }
    }

    /// A command line this client sent, its credential (if any) masked.
    pub(crate) fn sent_command(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
        let keep = secret_from(line).unwrap_or(line.len());
        let text = masked(line, keep);
        let line = self.own(text);
        self.push(line);
    }

    /// A line this client sent that is a credential as a whole (a SASL response).
    pub(crate) fn sent_secret(&mut self) {
        let line = self.own(String::from("***"));
        self.push(line);
    }

    pub(crate) fn poll(&mut self) -> Option<Line> {
        if let Some(line) = self.lines.pop_front() {
            return Some(line);
        }
        let omitted = core::mem::take(&mut self.omitted);
        (omitted > 0).then_some(Line::Omitted(omitted))
    }

    fn push(&mut self, line: Line) {
        if self.lines.len() >= MAX_LINES {
            self.omitted = self.omitted.saturating_add(1);
        } else {
            self.lines.push_back(line);
        }
    }

    /// A command line received (`valid`: a known command that parsed), its credential
    /// (if any) masked.
    pub(crate) fn command(&mut self, line: &[u8], valid: bool) {
        let auth = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"AUTH");
        if !valid && self.after_auth {
            self.mask_reply = true;
            return self.secret();
        }
        self.after_auth = auth;
        self.received(line, secret_from(line).unwrap_or(line.len()));
    }

    /// A line received that is a credential as a whole (a SASL response).
    pub(crate) fn secret(&mut self) {
        let line = self.peer(String::from("***"));
        self.push(line);
    }

    /// A line received; `keep` of its octets are shown, the rest (a credential) masked.
    pub(crate) fn received(&mut self, line: &[u8], keep: usize) {
        let line = self.peer(masked(line, keep));
        self.push(line);
    }

    /// The octets sent in `out`: every line when `all_lines`, else the status line and
    /// a count of the lines after it.
    pub(crate) fn sent(&mut self, out: &[u8], all_lines: bool) {
        if core::mem::take(&mut self.mask_reply) {
            // The status (`500 5.5.1`, `-ERR`) without the text that may quote the line.
            let status = out.split(|&b| b == b' ' || b == b'\r').take(2);
            let status: alloc::vec::Vec<_> = status.map(printable).collect();
            let status = match status.get(1) {
                Some(e) if e.contains('.') => alloc::format!("{} {e}", status[0]),
                _ => status.first().cloned().unwrap_or_default(),
            };
            let line = self.own(alloc::format!("{status} ***"));
            return self.push(line);
        }
        let mut lines = out
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.is_empty());
        if all_lines {
            for line in lines {
                let line = self.own(printable(line));
                self.push(line);
            }
        } else if let Some(first) = lines.next() {
            let mut text = printable(first);
            let more = lines.count();
            if more > 0 {
                text.push_str(&alloc::format!(" [{more} more lines]"));
            }
            let line = self.own(text);
            self.push(line);
        }
    }
}

/// `line` with the octets from `keep` on (a credential) replaced by `***`.
fn masked(line: &[u8], keep: usize) -> String {
    let shown = printable(line.get(..keep).unwrap_or(line));
    if keep < line.len() {
        let mut text = String::from(shown.trim_end());
        text.push_str(if text.is_empty() { "***" } else { " ***" });
        text
    } else {
        shown
    }
}

/// `line` as text a log can hold: control octets and invalid UTF-8 replaced, cut at
/// [`MAX_LINE`].
fn printable(line: &[u8]) -> String {
    let cut = line.len() > MAX_LINE;
    let line = line.get(..MAX_LINE).unwrap_or(line);
    let mut text: String = String::from_utf8_lossy(line)
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if cut {
        text.push('…');
    }
    text
}

/// Where a command line's credential starts, if it has one: after the verb and the
/// first argument of `AUTH` (SMTP and POP3: the initial response), `PASS` (the
/// password: after the verb) and `APOP` (the digest: after the name).
pub(crate) fn secret_from(line: &[u8]) -> Option<usize> {
    let word_end = |from: usize| {
        let start = from + line[from..].iter().take_while(|&&b| b == b' ').count();
        start + line[start..].iter().take_while(|&&b| b != b' ').count()
    };
    let verb = word_end(0);
    let upper = |s: &[u8]| s.eq_ignore_ascii_case(&line[..verb]);
    let from = if upper(b"PASS") {
        verb
    } else if upper(b"AUTH") || upper(b"APOP") {
        word_end(verb)
    } else {
        return None;
    };
    (from < line.len()).then_some(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn all(t: &mut Transcript) -> Vec<String> {
        core::iter::from_fn(|| t.poll())
            .map(|l| alloc::format!("{l}"))
            .collect()
    }

    #[test]
    fn credentials_are_masked() {
        let mut t = Transcript::new(false);
        for line in [
            &b"AUTH PLAIN AGFsaWNlAHNlY3JldA=="[..],
            b"auth login",
            b"PASS secret",
            b"APOP alice c4c9334bac560ecc979e58001b3e22fb",
            b"MAIL FROM:<a@example.org>",
        ] {
            t.command(line, true);
        }
        // Sent on after a refused AUTH: not a command, perhaps a credential.
        t.command(b"AUTH LOGIN", true);
        t.command(b"YWxpY2U=", false);
        t.sent(
            b"500 5.5.1 invalid command verb near \"YWxpY2U=\"\r\n",
            true,
        );
        t.command(b"c2VjcmV0", false);
        t.sent(b"-ERR unknown command c2VjcmV0\r\n", true);
        t.command(b"NOOP", true);
        t.command(b"N0OP", false);
        assert_eq!(
            all(&mut t),
            [
                "C: AUTH PLAIN ***",
                "C: auth login",
                "C: PASS ***",
                "C: APOP alice ***",
                "C: MAIL FROM:<a@example.org>",
                "C: AUTH LOGIN",
                "C: ***",
                "S: 500 5.5.1 ***",
                "C: ***",
                "S: -ERR ***",
                "C: NOOP",
                "C: N0OP",
            ]
        );
    }

    #[test]
    fn multi_line_replies_and_bounds() {
        let mut t = Transcript::new(false);
        t.sent(b"250-mx\r\n250 SIZE\r\n", true);
        t.sent(b"+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n", false);
        t.received(b"\x1b[31m", 6);
        assert_eq!(
            all(&mut t),
            [
                "S: 250-mx",
                "S: 250 SIZE",
                "S: +OK 2 messages [3 more lines]",
                "C: \u{fffd}[31m"
            ]
        );
        for _ in 0..MAX_LINES + 3 {
            t.sent(b"250 Ok\r\n", true);
        }
        let lines = all(&mut t);
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert_eq!(lines.last().unwrap(), "(3 lines omitted)");
    }

    #[test]
    fn a_client_sees_its_own_lines_as_the_client_s() {
        let mut t = Transcript::new(true);
        t.sent_command(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
        t.received(b"334 ", 4);
        t.sent_secret();
        t.received(b"235 2.7.0 ok", 12);
        assert_eq!(
            all(&mut t),
            ["C: AUTH PLAIN ***", "S: 334 ", "C: ***", "S: 235 2.7.0 ok"]
        );
    }
}
