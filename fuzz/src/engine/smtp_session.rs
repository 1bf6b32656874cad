//! A whole SMTP server session through the engine: a scripted [`SmtpHandler`], the
//! engine's glue, and a model of the wire that checks every reply against the command it
//! answers.

use std::io;
use std::sync::{Arc, Mutex};

use mailproto_core::sasl::Credentials;
use mailproto_core::smtp::server::ServerConfig;
use mailproto_core::smtp::{ForwardPath, Host, MailParams, RcptParams, Reply, ReversePath};
use mailproto_core::{Io, Machine};
use mailproto_engine::aio::SmtpServer;
use mailproto_engine::smtp_server::{AuthVerdict, Inline, SmtpHandler, SmtpSession, reply};

use super::{Memory, Script, VirtualClock, Wire, dot_body, has_bare, lock, next_line, unstuff};
use crate::chunks;

/// What the scripted handler was asked and what it kept.
#[derive(Debug, Default)]
pub struct HandlerLog {
    /// `connect` calls.
    pub connects: usize,
    /// Messages accepted by `data_end` (stored), with their bodies.
    pub stored: Vec<Vec<u8>>,
    /// The body being received, between `data_start` and its end or abort.
    body: Option<Vec<u8>>,
}

/// A handler whose every decision comes from the fuzz input: accept, refuse (4xx, 5xx),
/// close with `421`, fail to store; it checks the glue calls it in session order.
#[derive(Debug)]
pub struct ScriptedHandler {
    script: Script,
    log: Arc<Mutex<HandlerLog>>,
}

impl ScriptedHandler {
    /// A handler deciding from `choices`, logging into the returned log.
    pub fn new(choices: &[u8]) -> (Self, Arc<Mutex<HandlerLog>>) {
        let log = Arc::new(Mutex::new(HandlerLog::default()));
        let handler = ScriptedHandler {
            script: Script::new(choices),
            log: log.clone(),
        };
        (handler, log)
    }

    /// A refusal, `421` now and then, or acceptance (most often).
    fn verdict(&mut self, refuse: (u16, (u8, u16, u16))) -> Result<(), Reply> {
        match self.script.below(8) {
            0 => Err(reply(refuse.0, refuse.1, "refused by the script")),
            1 => Err(reply(450, (4, 2, 0), "later, says the script")),
            2 if self.script.below(4) == 0 => Err(reply(421, (4, 3, 2), "the script closes")),
            _ => Ok(()),
        }
    }
}

impl SmtpHandler for ScriptedHandler {
    fn connect(&mut self) -> Result<(), Reply> {
        let mut log = lock(&self.log);
        log.connects += 1;
        assert_eq!(log.connects, 1, "connect asked twice");
        drop(log);
        match self.script.below(16) {
            0 => Err(reply(554, (5, 3, 2), "no service for the script")),
            1 => Err(reply(421, (4, 3, 2), "the script closes")),
            _ => Ok(()),
        }
    }

    fn hello(&mut self, _: &Host, _: bool) -> Result<(), Reply> {
        assert_eq!(lock(&self.log).connects, 1, "hello before connect");
        self.verdict((550, (5, 7, 1)))
    }

    fn auth(&mut self, _: &Credentials) -> AuthVerdict {
        match self.script.below(6) {
            0 => AuthVerdict::Reject,
            1 => AuthVerdict::Reply(reply(454, (4, 7, 0), "try later")),
            2 if self.script.below(4) == 0 => AuthVerdict::Reply(reply(421, (4, 3, 2), "bye")),
            3 => AuthVerdict::Reply(reply(235, (2, 7, 0), "in, says the script")),
            _ => AuthVerdict::Accept,
        }
    }

    fn mail(&mut self, _: &ReversePath, _: &MailParams) -> Result<(), Reply> {
        assert!(lock(&self.log).body.is_none(), "MAIL during a body");
        self.verdict((550, (5, 7, 1)))
    }

    fn rcpt(&mut self, _: &ForwardPath, _: &RcptParams) -> Result<(), Reply> {
        assert!(lock(&self.log).body.is_none(), "RCPT during a body");
        self.verdict((550, (5, 1, 1)))
    }

    fn data_command(&mut self) -> Result<(), Reply> {
        assert!(lock(&self.log).body.is_none(), "DATA during a body");
        match self.script.below(16) {
            // A 2xx "refusal" goes ahead (the glue's rule).
            0 => Err(reply(250, (2, 0, 0), "go ahead anyway")),
            _ => self.verdict((554, (5, 7, 1))),
        }
    }

    fn data_start(&mut self) -> io::Result<()> {
        let mut log = lock(&self.log);
        assert!(log.body.is_none(), "a body started inside a body");
        log.body = Some(Vec::new());
        drop(log);
        match self.script.below(16) {
            0 => Err(io::Error::other("the script cannot store")),
            _ => Ok(()),
        }
    }

    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        let mut log = lock(&self.log);
        let body = log.body.as_mut().expect("body bytes outside a body");
        body.extend_from_slice(chunk);
        drop(log);
        match self.script.below(32) {
            0 => Err(io::Error::other("the script's disk is full")),
            _ => Ok(()),
        }
    }

    fn data_end(&mut self) -> Result<(), Reply> {
        let mut log = lock(&self.log);
        let body = log.body.take().expect("end of a body never started");
        drop(log);
        let verdict = match self.script.below(8) {
            0 => Err(reply(554, (5, 6, 0), "the script refuses the content")),
            1 => Err(reply(451, (4, 3, 0), "the script failed")),
            2 if self.script.below(4) == 0 => Err(reply(421, (4, 3, 2), "bye")),
            _ => Ok(()),
        };
        if verdict.is_ok() {
            lock(&self.log).stored.push(body);
        }
        verdict
    }

    fn data_abort(&mut self) {
        lock(&self.log).body = None;
    }
}

/// How a session ended, as the pump saw it.
#[derive(Debug, Default)]
pub struct Ending {
    /// Everything the server sent.
    pub output: Vec<u8>,
    /// Whether the end of stream reached the server.
    pub eof: bool,
    /// Whether the stream was closed (the async driver closes it at the end).
    pub closed: bool,
}

/// The session through [`SmtpSession`], the glue the blocking adapter uses, pumped as its
/// driver does (write, hand events to the glue, read when the machine wants input) over
/// `wire` in chunks of `sizes`, on a virtual clock moved by `timing` (see [`VirtualClock`]).
pub fn run_glue(
    config: ServerConfig,
    handler: ScriptedHandler,
    wire: &[u8],
    sizes: &[usize],
    timing: &[u8],
) -> Ending {
    let mut clock = VirtualClock::new(timing);
    let mut session = SmtpSession::new(handler);
    let mut server = session.connect(config, clock.now);
    let mut input = chunks(wire, sizes);
    let mut end = Ending::default();
    loop {
        crate::take(&mut server, clock.now, &mut end.output);
        if let Some(event) = server.poll_event() {
            if std::env::var_os("FUZZ_DEBUG").is_some() {
                eprintln!("{} event {event:?}", clock.now);
            }
            let now = clock.now;
            if let Err(e) = session.handle(&mut server, now, event) {
                panic!("the glue misused the machine: {e}");
            }
            continue;
        }
        match server.io() {
            Io::Closed => break,
            Io::AwaitingTls => server.tls_established(clock.now),
            Io::Open { wants_read: true } => match input.next() {
                Some(chunk) => {
                    clock.tick(&mut server, &mut end.output);
                    if server.io() == (Io::Open { wants_read: true }) {
                        server.feed(clock.now, chunk);
                    }
                }
                None => {
                    assert!(!end.eof, "wants input after the end of stream");
                    end.eof = true;
                    server.feed_eof(clock.now);
                }
            },
            Io::Open { wants_read: false } => match server.poll_timeout() {
                Some(due) => clock.until(&mut server, due, &mut end.output),
                None => panic!("stalled: no input wanted, no event, no deadline"),
            },
            other => panic!("unknown Io {other:?}"),
        }
    }
    end.closed = true;
    end
}

/// The session through the engine's async server (`aio::SmtpServer`, its driver and the
/// async glue, the handler wrapped in [`Inline`]) on the [`Memory`] runtime, polled to
/// its end.
pub fn run_async(
    config: ServerConfig,
    handler: ScriptedHandler,
    wire: &[u8],
    reads: Vec<usize>,
    writes: Vec<usize>,
) -> Ending {
    let (stream, log) = Wire::new(wire, reads, writes);
    let handler = Mutex::new(Some(handler));
    let server: SmtpServer<Memory, _, _> = SmtpServer::new(config, move |_| {
        Inline(lock(&handler).take().expect("one connection, one handler"))
    });
    let result = futures_lite::future::block_on(server.serve_connection(stream, None, false));
    if let Err(e) = result {
        panic!("the session failed: {e}");
    }
    let log = lock(&log);
    Ending {
        output: log.written(),
        eof: log.eof,
        closed: log.closed,
    }
}

/// One reply: its code and whether its lines were consistent.
#[derive(Debug, Clone, Copy)]
struct Answer {
    code: u16,
}

/// The server's replies, checking each line: CRLF-terminated, a three-digit code, `-`
/// or space or nothing after it, one code per multi-line reply.
fn replies(output: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut open: Option<u16> = None;
    while pos < output.len() {
        let (line, next) = next_line(output, pos).expect("a reply line without CRLF");
        assert!(!has_bare(line), "a bare CR or LF in a reply");
        assert!(
            line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit),
            "no code"
        );
        let code = u16::from(line[0] - b'0') * 100
            + u16::from(line[1] - b'0') * 10
            + u16::from(line[2] - b'0');
        if let Some(c) = open {
            assert_eq!(c, code, "a multi-line reply changed its code");
        }
        match line.get(3) {
            Some(b'-') => open = Some(code),
            None | Some(b' ') => {
                open = None;
                out.push(Answer { code });
            }
            Some(_) => panic!("no separator after the code"),
        }
        pos = next;
    }
    assert!(open.is_none(), "an unfinished multi-line reply");
    out
}

/// `BDAT <size> [LAST]`, exactly: the chunk size and whether it is the last.
fn bdat(line: &[u8]) -> Option<(u64, bool)> {
    let rest = line
        .get(..5)?
        .eq_ignore_ascii_case(b"BDAT ")
        .then(|| &line[5..])?;
    let (size, last) = match rest.iter().position(|&b| b == b' ') {
        Some(at) if rest[at + 1..].eq_ignore_ascii_case(b"LAST") => (&rest[..at], true),
        Some(_) => return None,
        None => (rest, false),
    };
    if size.is_empty() || !size.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(size).ok()?.parse().ok()?, last))
}

/// Checks a whole session against a model of RFC 5321 read from both directions:
///
/// - every reply is well-formed, and nothing follows a `221` or `421`;
/// - every complete command line (and each SASL response after a `334`) gets exactly
///   one reply, a DATA body (after `354`, up to `CRLF.CRLF`) and a BDAT chunk (its
///   octets counted) one more (LMTP: one per accepted recipient), and no reply comes
///   for nothing;
/// - the handler stored exactly the messages whose end got a `2xx`, with the body the
///   client sent (unstuffed; BDAT chunks joined);
/// - the session ended after `221`/`421` or the end of stream (deadlines answer `421`).
///
/// Where the model and the server may legitimately part (bare CR/LF, whose handling is
/// the configured policy's; a refused BDAT chunk), the line-by-line check stops there
/// and only the messages stored up to that point are compared.
pub fn check(client: &[u8], end: &Ending, lmtp: bool, log: &HandlerLog) {
    super::debug(client, &end.output);
    assert!(end.closed, "the session did not close its stream");
    let answers = replies(&end.output);
    if let Some(at) = answers.iter().position(|a| matches!(a.code, 221 | 421)) {
        assert_eq!(at + 1, answers.len(), "a reply after {}", answers[at].code);
    }
    let last = answers.last().map(|a| a.code);
    assert!(
        matches!(last, Some(221 | 421)) || end.eof,
        "closed without 221/421 or end of stream (last reply {last:?})"
    );
    assert!(log.body.is_none(), "a body was left open at the end");
    // Bounded output: a line of input never gets more than a few replies (LMTP: one per
    // recipient).
    let lines = client.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 2;
    assert!(end.output.len() <= 4096 + lines * 600 * if lmtp { 101 } else { 1 });

    let mut replies = answers.iter();
    let greeting = replies.next().expect("no greeting");
    if greeting.code == 421 {
        assert!(log.stored.is_empty());
        return;
    }
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    let mut pos = 0;
    let mut modelled = true;
    let mut ended = false;
    let mut sasl = false;
    let mut rcpts_ok = 0usize;
    let mut chunks: Vec<u8> = Vec::new();
    let mut next = |what: &[u8]| -> u16 {
        match replies.next() {
            Some(a) => a.code,
            None => panic!("no reply to {:?}", String::from_utf8_lossy(what)),
        }
    };
    while !ended {
        let Some((line, after)) = next_line(client, pos) else {
            // A bare CR or LF in the rest may end a line, as the policy says.
            modelled &= !has_bare(&client[pos..]);
            break;
        };
        if has_bare(line) {
            modelled = false;
            break;
        }
        pos = after;
        if !sasl && let Some((size, last)) = bdat(line) {
            // A chunk cut short by the end of stream gets no reply.
            let Some(chunk) = usize::try_from(size)
                .ok()
                .and_then(|n| client.get(pos..pos.checked_add(n)?))
            else {
                break;
            };
            pos += chunk.len();
            let code = next(line);
            match code {
                421 => {
                    ended = true;
                    break;
                }
                // Whether a refused command's octets were read is the server's choice.
                500..=504 => {
                    modelled = false;
                    break;
                }
                _ => {}
            }
            if code / 100 != 2 && !last {
                modelled = false;
                break;
            }
            chunks.extend_from_slice(chunk);
            if last {
                let extra = if lmtp { rcpts_ok.max(1) - 1 } else { 0 };
                for _ in 0..extra {
                    ended |= next(b"BDAT LAST, per recipient") == 421;
                }
                let body = std::mem::take(&mut chunks);
                if code / 100 == 2 {
                    accepted.push(body);
                }
                rcpts_ok = 0;
            }
            continue;
        }
        let code = next(line);
        if sasl {
            sasl = code == 334;
            ended = code == 421;
            continue;
        }
        let verb: Vec<u8> = line
            .split(|&b| b == b' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match (verb.as_slice(), code) {
            (_, 421) => ended = true,
            (b"QUIT", 221) => ended = true,
            (_, 221) => panic!("221 to {:?}", String::from_utf8_lossy(line)),
            (b"AUTH", 334) => sasl = true,
            // A new transaction, or none (RFC 5321 §4.1.4); a refused one changes nothing.
            (b"MAIL" | b"RSET" | b"HELO" | b"EHLO" | b"LHLO", c) if c / 100 == 2 => {
                rcpts_ok = 0;
                chunks.clear();
            }
            (b"RCPT", c) if c / 100 == 2 => rcpts_ok += 1,
            (_, 354) => {
                let Some((body, after)) = dot_body(client, pos) else {
                    break;
                };
                pos = after;
                let due = if lmtp { rcpts_ok.max(1) } else { 1 };
                let codes: Vec<u16> = (0..due).map(|_| next(b"the end of data")).collect();
                if codes.contains(&421) {
                    ended = true;
                }
                rcpts_ok = 0;
                if !crate::crlf_clean(body) {
                    // Bare line endings: the policy decides the body's bytes.
                    modelled = false;
                    break;
                }
                if codes[0] / 100 == 2 {
                    accepted.push(unstuff(body));
                }
            }
            _ => {}
        }
    }
    if modelled && !ended {
        // A session closing on its own (a limit, a deadline) says 421 unasked.
        let rest = replies.filter(|a| a.code != 421).count();
        // A partial line past the line limit may be answered before its end.
        let partial = client.len() - pos;
        assert!(
            rest == 0 || (rest == 1 && partial > 500),
            "{rest} replies to no command"
        );
    }
    if modelled {
        assert_eq!(
            log.stored, accepted,
            "stored messages differ from those accepted"
        );
    } else {
        assert!(
            log.stored.len() >= accepted.len(),
            "an accepted message not stored"
        );
        assert_eq!(log.stored[..accepted.len()], accepted[..]);
    }
}
