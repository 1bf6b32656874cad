//! `C:` / `S:` session transcripts with credentials masked.
//!
//! A [`Tap`] built here sees every plaintext protocol byte a client session writes and
//! reads (the adapter calls it; inside TLS it sees the decrypted bytes) and turns them
//! into one line per protocol line:
//!
//! ```text
//! S: 220 mx.example.org ESMTP
//! C: EHLO localhost
//! C: AUTH PLAIN ***
//! S: 235 2.7.0 Authentication successful
//! ```
//!
//! - Lines split across reads or writes are buffered until their line end; CRLF is
//!   stripped; control characters are shown escaped, so a server cannot drive the
//!   terminal; a very long line is cut.
//! - Credentials never reach the output: the argument of `AUTH <mech> <initial response>`
//!   and every client line answering a challenge (SMTP `334`, POP3 `+ `) become `***`
//!   (RFC 4954 §4, RFC 5034 §4); POP3 `PASS x` is `PASS ***` and `APOP user digest` is
//!   `APOP user ***` (RFC 1939 §7).
//! - Message bodies (SMTP DATA / BDAT, POP3 RETR / TOP) and multi-line listings are shown
//!   when short and summarised as `<N body lines>` / `<N lines>` when long.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use mailproto_std::{Direction, Tap};

/// The protocol a transcript follows: it decides which lines are credentials and where
/// bodies start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP (or LMTP), client side.
    Smtp,
    /// POP3, client side.
    Pop3,
}

/// A tap that writes each transcript line to `out` (one `C: ...` / `S: ...` per line).
pub fn tap(protocol: Protocol, out: impl Write + Send + 'static) -> Tap {
    let mut out = out;
    let mut transcript = Transcript::new(protocol);
    Box::new(move |direction, bytes| {
        transcript.feed(direction, bytes, &mut |line| {
            // A transcript that cannot be written must not end the session.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
    })
}

/// A tap that prints the transcript on standard error (`-v`).
pub fn stderr(protocol: Protocol) -> Tap {
    tap(protocol, io::stderr())
}

/// A tap that appends each transcript line to `sink`, for a caller that prints or checks
/// the transcript itself (the demo).
pub fn collect(protocol: Protocol, sink: Arc<Mutex<Vec<String>>>) -> Tap {
    let mut transcript = Transcript::new(protocol);
    Box::new(move |direction, bytes| {
        transcript.feed(direction, bytes, &mut |line| {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line);
            }
        });
    })
}

/// Bodies and listings with at most this many lines are shown whole.
const PREVIEW_LINES: usize = 10;

/// Octets of one line kept for display; the rest is cut and marked `...`.
const MAX_SHOWN: usize = 1000;

/// The transcript state of one session: partial lines of each direction and where the
/// protocol stands (in a body, in an AUTH exchange, which POP3 answers are multi-line).
#[derive(Debug)]
pub struct Transcript {
    protocol: Protocol,
    client: PartialLine,
    server: PartialLine,
    /// Client lines are SASL responses until the server's final answer.
    in_auth: bool,
    /// SMTP: inside the DATA body, until the client's `.` line.
    client_body: Option<Block>,
    /// SMTP: octets of the current BDAT chunk still to pass, and the chunk's size.
    bdat: Option<(u64, u64)>,
    /// POP3: the commands sent and not yet answered, oldest first (PIPELINING).
    pending: VecDeque<Pop3Answer>,
    /// POP3: inside a multi-line answer, until the server's `.` line.
    server_block: Option<Block>,
}

/// How the server answers a POP3 command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pop3Answer {
    /// A status line only.
    Single,
    /// A status line, then a listing (CAPA, LIST, UIDL, AUTH without argument).
    Listing,
    /// A status line, then a message (RETR, TOP).
    Message,
    /// An AUTH exchange: challenges until the final status.
    Auth,
}

/// Bytes of the line being received in one direction.
#[derive(Debug, Default)]
struct PartialLine {
    bytes: Vec<u8>,
    cut: bool,
}

impl PartialLine {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_SHOWN.saturating_sub(self.bytes.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.bytes
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The complete line as display text, leaving the buffer empty.
    fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.bytes);
        if !self.cut && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let mut text = printable(&bytes);
        if std::mem::take(&mut self.cut) {
            text.push_str("...");
        }
        text
    }
}

/// A body or listing being shown: its first lines, and how many there are.
#[derive(Debug)]
struct Block {
    preview: Vec<String>,
    count: u64,
    what: &'static str,
}

impl Block {
    fn new(what: &'static str) -> Self {
        Block {
            preview: Vec::new(),
            count: 0,
            what,
        }
    }

    fn add(&mut self, line: String) {
        self.count += 1;
        if self.preview.len() <= PREVIEW_LINES {
            self.preview.push(line);
        }
    }

    /// The lines to show: all of them when few, else a count.
    fn finish(self) -> Vec<String> {
        if self.count <= PREVIEW_LINES as u64 {
            self.preview
        } else {
            vec![format!("<{} {}>", self.count, self.what)]
        }
    }
}

impl Transcript {
    /// A transcript at the start of a session (before the greeting).
    pub fn new(protocol: Protocol) -> Self {
        Transcript {
            protocol,
            client: PartialLine::default(),
            server: PartialLine::default(),
            in_auth: false,
            client_body: None,
            bdat: None,
            pending: VecDeque::new(),
            server_block: None,
        }
    }

    /// Take bytes that went in `direction`; `emit` gets each complete transcript line
    /// (`C: ...` or `S: ...`).
    pub fn feed(&mut self, direction: Direction, mut bytes: &[u8], emit: &mut dyn FnMut(String)) {
        while !bytes.is_empty() {
            if direction == Direction::Sent
                && let Some((left, size)) = self.bdat.as_mut()
            {
                // BDAT chunk data is counted, not split into lines (RFC 3030 §2).
                let n = bytes
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                bytes = &bytes[n..];
                if *left == 0 {
                    emit(format!("C: <{size} octets>"));
                    self.bdat = None;
                }
                continue;
            }
            let partial = match direction {
                Direction::Sent => &mut self.client,
                Direction::Received => &mut self.server,
            };
            match memchr::memchr(b'\n', bytes) {
                Some(end) => {
                    partial.push(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    let line = partial.take();
                    match direction {
                        Direction::Sent => self.client_line(line, emit),
                        Direction::Received => self.server_line(line, emit),
                    }
                }
                None => {
                    partial.push(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn client_line(&mut self, line: String, emit: &mut dyn FnMut(String)) {
        if let Some(body) = self.client_body.as_mut() {
            if line == "." {
                if let Some(body) = self.client_body.take() {
                    body.finish()
                        .into_iter()
                        .for_each(|l| emit(format!("C: {l}")));
                }
                emit("C: .".into());
            } else {
                body.add(line);
            }
            return;
        }
        if self.in_auth {
            emit("C: ***".into());
            return;
        }
        let mut words = line.splitn(3, ' ');
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        let arg1 = words.next().map(str::to_owned);
        let rest = words.next().is_some();
        let shown = match (self.protocol, verb.as_str()) {
            (_, "AUTH") if arg1.is_some() => {
                self.in_auth = true;
                if rest {
                    format!("{} {} ***", head(&line), arg1.as_deref().unwrap_or(""))
                } else {
                    line
                }
            }
            (Protocol::Smtp, "BDAT") => {
                let size = arg1.as_deref().and_then(|s| s.parse::<u64>().ok());
                let size = size.unwrap_or(0);
                if size > 0 {
                    self.bdat = Some((size, size));
                }
                line
            }
            (Protocol::Pop3, "PASS") => format!("{} ***", head(&line)),
            (Protocol::Pop3, "APOP") => {
                format!("{} {} ***", head(&line), arg1.as_deref().unwrap_or(""))
            }
            _ => line,
        };
        if self.protocol == Protocol::Pop3 {
            let answer = match verb.as_str() {
                "AUTH" if arg1.is_some() => Pop3Answer::Auth,
                "CAPA" | "AUTH" => Pop3Answer::Listing,
                "LIST" | "UIDL" if arg1.is_none() => Pop3Answer::Listing,
                "RETR" | "TOP" => Pop3Answer::Message,
                _ => Pop3Answer::Single,
            };
            self.pending.push_back(answer);
        }
        emit(format!("C: {shown}"));
    }

    fn server_line(&mut self, line: String, emit: &mut dyn FnMut(String)) {
        match self.protocol {
            Protocol::Smtp => {
                emit(format!("S: {line}"));
                // The last line of a reply is `code SP text` or a bare code.
                let last = line.as_bytes().get(3).is_none_or(|&b| b != b'-');
                let code = line.get(..3).unwrap_or("");
                if last {
                    if self.in_auth && code != "334" {
                        self.in_auth = false;
                    }
                    if code == "354" {
                        self.client_body = Some(Block::new("body lines"));
                    }
                }
            }
            Protocol::Pop3 => {
                if let Some(block) = self.server_block.as_mut() {
                    if line == "." {
                        if let Some(block) = self.server_block.take() {
                            block
                                .finish()
                                .into_iter()
                                .for_each(|l| emit(format!("S: {l}")));
                        }
                        emit("S: .".into());
                    } else {
                        block.add(line);
                    }
                    return;
                }
                let ok = starts_with_ignore_case(&line, "+OK");
                if ok || starts_with_ignore_case(&line, "-ERR") {
                    // The greeting answers no command: the queue is empty then.
                    let answer = self.pending.pop_front();
                    if answer == Some(Pop3Answer::Auth) {
                        self.in_auth = false;
                    }
                    self.server_block = match answer {
                        Some(Pop3Answer::Listing) if ok => Some(Block::new("lines")),
                        Some(Pop3Answer::Message) if ok => Some(Block::new("body lines")),
                        _ => None,
                    };
                }
                emit(format!("S: {line}"));
            }
        }
    }
}

/// The first word of `line`, as sent.
fn head(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

fn starts_with_ignore_case(line: &str, prefix: &str) -> bool {
    line.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Protocol bytes as terminal-safe text: invalid UTF-8 replaced, control characters
/// (except tab) escaped.
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Received as S, Sent as C};

    /// The transcript of a session given as (direction, bytes) steps, fed whole.
    fn run(protocol: Protocol, steps: &[(Direction, &str)]) -> Vec<String> {
        let mut t = Transcript::new(protocol);
        let mut out = Vec::new();
        for (d, bytes) in steps {
            t.feed(*d, bytes.as_bytes(), &mut |l| out.push(l));
        }
        out
    }

    /// The same, with every step fed one byte at a time.
    fn run_bytewise(protocol: Protocol, steps: &[(Direction, &str)]) -> Vec<String> {
        let mut t = Transcript::new(protocol);
        let mut out = Vec::new();
        for (d, bytes) in steps {
            for b in bytes.as_bytes() {
                t.feed(*d, std::slice::from_ref(b), &mut |l| out.push(l));
            }
        }
        out
    }

    const SMTP: &[(Direction, &str)] = &[
        (S, "220 mx ESMTP\r\n"),
        (C, "EHLO localhost\r\n"),
        (S, "250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n"),
        (C, "AUTH PLAIN AGFsaWNlAHB3\r\n"),
        (S, "235 2.7.0 ok\r\n"),
        (C, "AUTH LOGIN\r\n"),
        (S, "334 VXNlcm5hbWU6\r\n"),
        (C, "YWxpY2U=\r\n"),
        (S, "334 UGFzc3dvcmQ6\r\n"),
        (C, "cHc=\r\n"),
        (S, "235 2.7.0 ok\r\n"),
        (C, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
        (S, "250 ok\r\n250 ok\r\n354 go\r\n"),
        (C, "Subject: hi\r\n\r\n..dot\r\n.\r\n"),
        (S, "250 2.0.0 queued\r\n"),
        (C, "QUIT\r\n"),
        (S, "221 bye\r\n"),
    ];

    #[test]
    fn smtp_credentials_are_masked_and_short_bodies_shown() {
        let out = run(Protocol::Smtp, SMTP);
        let expected = [
            "S: 220 mx ESMTP",
            "C: EHLO localhost",
            "S: 250-mx",
            "S: 250-AUTH PLAIN LOGIN",
            "S: 250 PIPELINING",
            "C: AUTH PLAIN ***",
            "S: 235 2.7.0 ok",
            "C: AUTH LOGIN",
            "S: 334 VXNlcm5hbWU6",
            "C: ***",
            "S: 334 UGFzc3dvcmQ6",
            "C: ***",
            "S: 235 2.7.0 ok",
            "C: MAIL FROM:<a@b>",
            "C: RCPT TO:<c@d>",
            "C: DATA",
            "S: 250 ok",
            "S: 250 ok",
            "S: 354 go",
            "C: Subject: hi",
            "C: ",
            "C: ..dot",
            "C: .",
            "S: 250 2.0.0 queued",
            "C: QUIT",
            "S: 221 bye",
        ];
        assert_eq!(out, expected);
        assert_eq!(run_bytewise(Protocol::Smtp, SMTP), expected);
    }

    #[test]
    fn long_bodies_are_counted_and_bdat_chunks_skipped() {
        let body: String = (0..50).map(|i| format!("line {i}\r\n")).collect();
        let body = format!("{body}.\r\n");
        let out = run(
            Protocol::Smtp,
            &[
                (C, "DATA\r\n"),
                (S, "354 go\r\n"),
                (C, &body),
                (S, "250 ok\r\n"),
                (C, "BDAT 12 LAST\r\nab\r\ncd\r\nef\r\nQUIT\r\n"),
            ],
        );
        assert_eq!(
            out,
            [
                "C: DATA",
                "S: 354 go",
                "C: <50 body lines>",
                "C: .",
                "S: 250 ok",
                "C: BDAT 12 LAST",
                "C: <12 octets>",
                "C: QUIT",
            ]
        );
    }

    const POP3: &[(Direction, &str)] = &[
        (S, "+OK POP3 ready <1.2@host>\r\n"),
        (C, "CAPA\r\n"),
        (S, "+OK\r\nUSER\r\nSASL PLAIN\r\nPIPELINING\r\n.\r\n"),
        (C, "USER alice\r\n"),
        (S, "+OK\r\n"),
        (C, "PASS secret word\r\n"),
        (S, "-ERR [AUTH] no\r\n"),
        (C, "APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"),
        (S, "-ERR no\r\n"),
        (C, "AUTH PLAIN\r\n"),
        (S, "+ \r\n"),
        (C, "AGFsaWNlAHB3\r\n"),
        (S, "+OK logged in\r\n"),
        (C, "RETR 1\r\nLIST 1\r\nUIDL\r\n"),
        (
            S,
            "+OK 12 octets\r\nhello\r\n..x\r\n.\r\n+OK 1 12\r\n+OK\r\n1 a\r\n.\r\n",
        ),
        (C, "QUIT\r\n"),
        (S, "+OK bye\r\n"),
    ];

    #[test]
    fn pop3_credentials_are_masked_and_multiline_answers_followed() {
        let expected = [
            "S: +OK POP3 ready <1.2@host>",
            "C: CAPA",
            "S: +OK",
            "S: USER",
            "S: SASL PLAIN",
            "S: PIPELINING",
            "S: .",
            "C: USER alice",
            "S: +OK",
            "C: PASS ***",
            "S: -ERR [AUTH] no",
            "C: APOP alice ***",
            "S: -ERR no",
            "C: AUTH PLAIN",
            "S: + ",
            "C: ***",
            "S: +OK logged in",
            "C: RETR 1",
            "C: LIST 1",
            "C: UIDL",
            "S: +OK 12 octets",
            "S: hello",
            "S: ..x",
            "S: .",
            "S: +OK 1 12",
            "S: +OK",
            "S: 1 a",
            "S: .",
            "C: QUIT",
            "S: +OK bye",
        ];
        assert_eq!(run(Protocol::Pop3, POP3), expected);
        assert_eq!(run_bytewise(Protocol::Pop3, POP3), expected);
    }

    #[test]
    fn pop3_auth_initial_response_is_masked() {
        let out = run(
            Protocol::Pop3,
            &[
                (C, "AUTH PLAIN AGFsaWNlAHB3\r\n"),
                (S, "+OK\r\n"),
                (C, "STAT\r\n"),
            ],
        );
        assert_eq!(out, ["C: AUTH PLAIN ***", "S: +OK", "C: STAT"]);
    }

    #[test]
    fn control_characters_are_escaped_and_long_lines_cut() {
        let long = format!("250 {}\r\n", "x".repeat(3 * MAX_SHOWN));
        let out = run(Protocol::Smtp, &[(S, "220 \x1b[2Jhi\r\n"), (S, &long)]);
        assert_eq!(out[0], "S: 220 \\u{1b}[2Jhi");
        assert!(out[1].ends_with("...") && out[1].len() < MAX_SHOWN + 10);
    }

    #[test]
    fn collect_gathers_lines() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let mut tap = collect(Protocol::Pop3, sink.clone());
        tap(S, b"+OK hi\r");
        tap(S, b"\n");
        tap(C, b"PASS x\r\n");
        assert_eq!(*sink.lock().unwrap(), ["S: +OK hi", "C: PASS ***"]);
    }
}
