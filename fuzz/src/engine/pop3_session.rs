//! A whole POP3 server session through the engine: a scripted [`Pop3Backend`] and
//! mailbox in memory, the engine's glue, and a model of the wire that checks every
//! response against the command it answers and every deletion against QUIT.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use mailproto_core::pop3::Status;
use mailproto_core::pop3::server::ServerConfig;
use mailproto_core::{Io, Machine};
use mailproto_engine::aio::Pop3Server;
use mailproto_engine::pop3_server::{
    CommandRefusal, InlineBackend, LoginAttempt, LoginError, Next, Pop3Backend, Pop3Context,
    Pop3Mailbox, Pop3Session, Streamed, stream_step,
};

use super::{Memory, Script, VirtualClock, Wire, has_bare, lock, next_line, unstuff};
use crate::chunks;

/// Messages in the maildrop: mail-shaped, with leading dots and an embedded terminator,
/// empty, with bare line endings, without a final line break.
pub const MESSAGES: [&[u8]; 6] = [
    b"Subject: one\r\n\r\nbody\r\n",
    b"Subject: dots\r\n\r\n.leading\r\n..two\r\n.\r\nafter\r\n",
    b"",
    b"From: x\nSubject: bare\n\nline one\nline two\rline three",
    b"no header at all\r\n\r\n\r\n.\r\n\r\ntail",
    b".\r\n",
];

/// What the scripted backend was asked.
#[derive(Debug, Default)]
pub struct BackendLog {
    /// Each `open`: the message index and whether its reader fails part-way (or the
    /// open failed: `None`).
    pub opened: Vec<(usize, Option<bool>)>,
    /// The indexes `delete` was called with (at most once per session).
    pub deleted: Option<Vec<usize>>,
    /// Whether a command refusal closed the session.
    pub closed: bool,
}

/// A backend deciding every login and command from the fuzz input.
#[derive(Debug)]
pub struct ScriptedBackend {
    script: Arc<Mutex<Script>>,
    log: Arc<Mutex<BackendLog>>,
}

impl ScriptedBackend {
    /// A backend deciding from `choices`, logging into the returned log.
    pub fn new(choices: &[u8]) -> (Self, Arc<Mutex<BackendLog>>) {
        let log = Arc::new(Mutex::new(BackendLog::default()));
        let backend = ScriptedBackend {
            script: Arc::new(Mutex::new(Script::new(choices))),
            log: log.clone(),
        };
        (backend, log)
    }

    fn below(&self, n: usize) -> usize {
        lock(&self.script).below(n)
    }
}

impl Pop3Backend for ScriptedBackend {
    type Mailbox = ScriptedMailbox;

    fn login(&self, _: LoginAttempt<'_>) -> Result<ScriptedMailbox, LoginError> {
        match self.below(8) {
            0 => Err(LoginError::Invalid),
            1 => Err(LoginError::InUse),
            2 => Err(LoginError::Unavailable("the script's disk is away".into())),
            _ => Ok(ScriptedMailbox {
                count: self.below(MESSAGES.len() + 1),
                script: self.script.clone(),
                log: self.log.clone(),
            }),
        }
    }

    fn command(
        &self,
        _: &Pop3Context<'_>,
        _: &mailproto_core::pop3::Command,
    ) -> Result<(), CommandRefusal> {
        match self.below(16) {
            0 => Err(CommandRefusal::Err(Status::err("the script says no"))),
            1 if self.below(4) == 0 => {
                lock(&self.log).closed = true;
                match self.below(2) {
                    0 => Err(CommandRefusal::Close(None)),
                    _ => Err(CommandRefusal::Close(Some(Status::err(
                        "the script closes",
                    )))),
                }
            }
            _ => Ok(()),
        }
    }
}

/// A maildrop of the first messages of [`MESSAGES`].
#[derive(Debug)]
pub struct ScriptedMailbox {
    count: usize,
    script: Arc<Mutex<Script>>,
    log: Arc<Mutex<BackendLog>>,
}

impl Pop3Mailbox for ScriptedMailbox {
    fn list(&self) -> Vec<(u64, String)> {
        (0..self.count)
            .map(|i| (MESSAGES[i].len() as u64, format!("uid-{i}")))
            .collect()
    }

    fn open(&mut self, index: usize) -> io::Result<Box<dyn Read + Send>> {
        assert!(
            index < self.count,
            "open of message {index} of {}",
            self.count
        );
        let mut script = lock(&self.script);
        if script.below(16) == 0 {
            lock(&self.log).opened.push((index, None));
            return Err(io::Error::other("the script lost it"));
        }
        let body = MESSAGES[index];
        let fail_at = (script.below(8) == 0).then(|| script.below(body.len() + 1));
        let piece = 1 + script.below(16);
        lock(&self.log)
            .opened
            .push((index, Some(fail_at.is_some())));
        Ok(Box::new(Piecewise {
            body,
            at: 0,
            piece,
            fail_at,
        }))
    }

    fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        let mut log = lock(&self.log);
        assert!(log.deleted.is_none(), "delete called twice");
        assert!(
            indexes.iter().all(|&i| i < self.count),
            "delete of a message not listed"
        );
        log.deleted = Some(indexes.to_vec());
        drop(log);
        match lock(&self.script).below(8) {
            0 => Err(io::Error::other("the script cannot delete")),
            _ => Ok(()),
        }
    }
}

/// A message read in pieces, failing at `fail_at` when set.
struct Piecewise {
    body: &'static [u8],
    at: usize,
    piece: usize,
    fail_at: Option<usize>,
}

impl Read for Piecewise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|n| self.at >= n) {
            return Err(io::Error::other("the script's disk broke"));
        }
        let end = self.fail_at.unwrap_or(self.body.len());
        let n = buf.len().min(self.piece).min(end - self.at);
        buf[..n].copy_from_slice(&self.body[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// How a session ended, as the pump saw it.
#[derive(Debug, Default)]
pub struct Ending {
    /// Everything the server sent.
    pub output: Vec<u8>,
    /// Whether the end of stream reached the server.
    pub eof: bool,
    /// Whether the stream was closed.
    pub closed: bool,
    /// Whether a deadline fired (the autologout timer closes without a word, RFC 1939 §3).
    pub timed_out: bool,
}

/// The session through [`Pop3Session`], the glue the blocking adapter uses, pumped as its
/// driver does (streaming messages piece by piece with a flush between), over `wire` in
/// chunks of `sizes`, on a virtual clock moved by `timing`.
pub fn run_glue(
    config: ServerConfig,
    backend: ScriptedBackend,
    wire: &[u8],
    sizes: &[usize],
    timing: &[u8],
) -> Ending {
    let mut clock = VirtualClock::new(timing);
    let mut session = Pop3Session::new(Arc::new(backend));
    let mut server = mailproto_core::pop3::server::Server::new(clock.now, config);
    let mut input = chunks(wire, sizes);
    let mut end = Ending::default();
    let mut buf = vec![0; 4096];
    loop {
        crate::take(&mut server, clock.now, &mut end.output);
        if let Some(event) = server.poll_event() {
            let now = clock.now;
            match session.handle(&mut server, now, event) {
                Ok(Next::Continue) => {}
                Ok(Next::Stream(mut reader)) => loop {
                    match stream_step(&mut server, clock.now, &mut *reader, &mut buf) {
                        Ok(Streamed::Done) => break,
                        Ok(Streamed::Flush) => {
                            crate::take(&mut server, clock.now, &mut end.output);
                            if server.io() == Io::Closed {
                                break;
                            }
                        }
                        Err(e) => panic!("streaming misused the machine: {e}"),
                    }
                },
                Err(e) => panic!("the glue misused the machine: {e}"),
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
    end.timed_out = clock.fired;
    end
}

/// The session through the engine's async server (`aio::Pop3Server`, its driver and
/// streaming loop, the backend wrapped in [`InlineBackend`]) on the [`Memory`] runtime.
pub fn run_async(
    config: ServerConfig,
    backend: ScriptedBackend,
    wire: &[u8],
    reads: Vec<usize>,
    writes: Vec<usize>,
) -> Ending {
    let (stream, log) = Wire::new(wire, reads, writes);
    let server: Pop3Server<Memory, _> = Pop3Server::new(InlineBackend(backend), config);
    let result = futures_lite::future::block_on(server.serve_connection(stream, false));
    if let Err(e) = result {
        panic!("the session failed: {e}");
    }
    let log = lock(&log);
    Ending {
        output: log.written(),
        eof: log.eof,
        closed: log.closed,
        timed_out: false,
    }
}

/// Whether the `+OK` to `verb` is multi-line (RFC 1939, RFC 2449, RFC 5034, RFC 6856).
fn multi_line(verb: &[u8], has_argument: bool) -> bool {
    match verb {
        b"RETR" | b"TOP" | b"CAPA" => true,
        b"LIST" | b"UIDL" | b"AUTH" | b"LANG" => !has_argument,
        _ => false,
    }
}

/// The message number a command names, if it reads as one.
fn number(args: &[&[u8]]) -> Option<usize> {
    let arg = args.iter().find(|a| !a.is_empty())?;
    std::str::from_utf8(arg)
        .ok()?
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

/// Checks a whole session against a model of RFC 1939 read from both directions:
///
/// - the output is CRLF lines; the greeting is `+OK`;
/// - every complete command line (and each SASL response after `+ `) gets exactly one
///   status line, `+OK`, `-ERR` or a continuation, and no status line comes for nothing;
/// - a multi-line answer (after `+OK` to RETR, TOP, CAPA, and LIST, UIDL, AUTH without
///   argument) is dot-stuffed and ends with `.`; RETR's body unstuffs to the message the
///   mailbox gave (CRLF-clean ones; a final CRLF added);
/// - the backend deleted only after QUIT in TRANSACTION, exactly the messages marked
///   with DELE since the last RSET, and after such a QUIT with marks it did delete;
/// - the session ended after QUIT, a `-ERR` that closes (limits, the backend), a
///   deadline, or the end of stream.
pub fn check(client: &[u8], end: &Ending, log: &BackendLog) {
    super::debug(client, &end.output);
    assert!(end.closed, "the session did not close its stream");
    // A message whose reading failed part-way is cut off by closing the connection
    // (maybe after the CR of a CRLF).
    let cut = log.opened.iter().any(|(_, fails)| *fails == Some(true));
    let whole = match end.output.strip_suffix(b"\r") {
        Some(rest) if cut => rest,
        _ => &end.output,
    };
    assert!(crate::crlf_clean(whole), "a bare CR or LF in the output");
    assert!(
        cut || end.output.is_empty() || end.output.ends_with(b"\r\n"),
        "an unfinished line"
    );
    let lines = client.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 2;
    let longest: usize = MESSAGES.iter().map(|m| m.len() * 2 + 64).sum();
    assert!(
        end.output.len() <= 4096 + lines * (longest + 600),
        "unbounded output"
    );

    let mut output = crate::lines(&end.output);
    let greeting = output.next().expect("no greeting");
    assert!(
        greeting.starts_with(b"+OK"),
        "greeting {:?}",
        String::from_utf8_lossy(greeting)
    );
    let mut opened = log.opened.iter().filter(|(_, ok)| ok.is_some());
    let mut pos = 0;
    let mut modelled = true;
    let mut ended = false;
    let mut sasl = false;
    let mut transaction = false;
    let mut quit_in_transaction = false;
    let mut marked: Vec<usize> = Vec::new();
    let mut last_err = false;
    while !ended {
        let Some((line, after)) = next_line(client, pos) else {
            modelled &= !has_bare(&client[pos..]);
            break;
        };
        if has_bare(line) {
            modelled = false;
            break;
        }
        pos = after;
        let Some(status) = output.next() else {
            assert!(
                log.closed || last_err || end.timed_out,
                "no response to {:?}",
                String::from_utf8_lossy(line)
            );
            ended = true;
            break;
        };
        let ok = status.starts_with(b"+OK");
        last_err = status.starts_with(b"-ERR");
        let more = status.starts_with(b"+ ") || status == b"+";
        assert!(
            ok || last_err || more,
            "status {:?}",
            String::from_utf8_lossy(status)
        );
        if sasl {
            sasl = more;
            transaction |= ok;
            continue;
        }
        let mut words = line.split(|&b| b == b' ');
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        let args: Vec<&[u8]> = words.collect();
        let has_argument = args.iter().any(|a| !a.is_empty());
        let irregular = args.iter().any(|a| a.is_empty());
        if ok && irregular && multi_line(&verb, false) != multi_line(&verb, true) {
            // Whether "LIST " or "UIDL  1" has an argument is the server's call.
            modelled = false;
            break;
        }
        match (verb.as_slice(), ok) {
            (b"AUTH", false) if more => sasl = true,
            (_, false) if more => panic!("a continuation to {:?}", String::from_utf8_lossy(line)),
            // A QUIT refused for its arguments is only a bad command.
            (b"QUIT", _) if ok || (!has_argument && !irregular) => {
                ended = true;
                quit_in_transaction = transaction;
            }
            (b"PASS" | b"APOP" | b"AUTH", true) => transaction = true,
            (b"DELE", true) => {
                let Some(n) = number(&args) else {
                    modelled = false;
                    break;
                };
                assert!(!marked.contains(&(n - 1)), "DELE {n} twice with +OK");
                marked.push(n - 1);
            }
            (b"RSET", true) => marked.clear(),
            _ => {}
        }
        if ok && multi_line(&verb, has_argument) {
            let mut message = None;
            if matches!(verb.as_slice(), b"RETR" | b"TOP") {
                let &(index, fails) = opened.next().expect("a message sent without open");
                let Some(n) = number(&args) else {
                    modelled = false;
                    break;
                };
                assert_eq!(index + 1, n, "{} answered with message {}", n, index + 1);
                if fails == Some(true) {
                    // Never terminated: the client cannot take the part for the whole
                    // (TOP may have had all it wanted before the reader failed).
                    if verb == b"RETR" {
                        assert!(
                            !output.any(|l| l == b"."),
                            "a message cut short was terminated"
                        );
                    }
                    modelled = false;
                    break;
                }
                message = Some(MESSAGES[index]);
            }
            let mut body = Vec::new();
            loop {
                let line = output.next().expect("an unterminated multi-line response");
                if line == b"." {
                    break;
                }
                assert!(
                    !line.starts_with(b".") || line.starts_with(b".."),
                    "a line not dot-stuffed: {:?}",
                    String::from_utf8_lossy(line)
                );
                body.extend_from_slice(line);
                body.extend_from_slice(b"\r\n");
            }
            let body = unstuff(&body);
            if let Some(message) = message
                && verb == b"RETR"
                && crate::crlf_clean(message)
            {
                let mut expected = message.to_vec();
                if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                    expected.extend_from_slice(b"\r\n");
                }
                assert_eq!(body, expected, "RETR sent another message");
            }
        }
    }
    if let Some(deleted) = &log.deleted {
        if modelled {
            assert!(quit_in_transaction, "deleted without QUIT in TRANSACTION");
            let mut deleted = deleted.clone();
            deleted.sort_unstable();
            marked.sort_unstable();
            assert_eq!(deleted, marked, "deleted other messages than marked");
        } else {
            // Whatever the policy makes of bare line endings, a QUIT was sent.
            assert!(
                client
                    .split(|&b| b == b'\r' || b == b'\n')
                    .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"QUIT")),
                "deleted without QUIT"
            );
        }
    } else if modelled && quit_in_transaction {
        assert!(marked.is_empty(), "QUIT after DELE deleted nothing");
    }
    if modelled && !ended {
        let rest = output.count();
        // A partial line past the line limit may be answered before its end.
        let partial = client.len() - pos;
        assert!(
            rest == 0 || (rest == 1 && partial > 250),
            "{rest} lines answer no command"
        );
    }
    assert!(
        !modelled || ended || end.eof || log.closed || end.timed_out || last_err,
        "closed without QUIT, -ERR, deadline or end of stream"
    );
}
