//! Client machines that play a script against a server and record its answers.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;

use super::script::{Pop3Script, Pop3Step, SmtpScript, SmtpStep};
use crate::dot::{DotDecoder, encode_body};
use crate::line::{BareLineEnding, LineReader};
use crate::machine::{Io, Machine};
use crate::pop3::{self, Response, Status, table};
use crate::smtp::{Reply, ReplyLimits, ReplyParser};
use crate::time::{Duration, Instant};

/// The longest line a player reads from a server.
const MAX_LINE: usize = 8192;

/// A client [`Machine`] that plays a script: what [`play`](super::play) drives.
pub trait Player: Machine {
    /// The pause the script has reached, if any: the player sends nothing more until
    /// [`resume`](Self::resume). The driver lets this much time pass first
    /// (`testing::Pair::advance`).
    fn pause(&self) -> Option<Duration>;

    /// Go on after a [`pause`](Self::pause).
    fn resume(&mut self);

    /// Whether the player is done: every step played and answered, or the server
    /// closed the connection. A done player is [`Io::Closed`].
    fn is_done(&self) -> bool;
}

/// The parts every player has: input, output, where the script stands.
#[derive(Debug)]
struct Common<E> {
    input: LineReader,
    out: Vec<u8>,
    events: VecDeque<E>,
    log: Vec<E>,
    garbled: Vec<Vec<u8>>,
    /// The index of the next step.
    next: usize,
    pause: Option<Duration>,
    /// Every step is played and answered.
    finished: bool,
    /// The server closed its side.
    eof: bool,
}

/// The [`Machine`] methods both players share (everything but `feed`): they send the
/// script's next step when asked for bytes and record exchanges in `common`.
macro_rules! player_machine {
    ($event:ty) => {
        fn feed_eof(&mut self, _now: Instant) {
            self.common.eof = true;
        }

        fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
            self.send_next();
            self.common.transmit(out)
        }

        fn transmitted(&mut self, _now: Instant, _n: usize) {}

        fn poll_event(&mut self) -> Option<$event> {
            self.common.events.pop_front()
        }

        fn io(&self) -> Io {
            self.common.io()
        }

        fn poll_timeout(&self) -> Option<Instant> {
            None
        }

        fn handle_timeout(&mut self, _now: Instant) {}

        fn tls_established(&mut self, _now: Instant) {}
    };
}

/// [`Player`] for a player whose state lives in `common`.
macro_rules! player_impl {
    ($player:ty) => {
        impl Player for $player {
            fn pause(&self) -> Option<Duration> {
                self.common.pause
            }

            fn resume(&mut self) {
                self.common.pause = None;
            }

            fn is_done(&self) -> bool {
                self.common.done()
            }
        }
    };
}

impl<E: Clone> Common<E> {
    fn new() -> Self {
        Common {
            input: LineReader::new(MAX_LINE, BareLineEnding::Reject),
            out: Vec::new(),
            events: VecDeque::new(),
            log: Vec::new(),
            garbled: Vec::new(),
            next: 0,
            pause: None,
            finished: false,
            eof: false,
        }
    }

    fn record(&mut self, event: E) {
        self.log.push(event.clone());
        self.events.push_back(event);
    }

    fn done(&self) -> bool {
        self.finished || self.eof
    }

    fn io(&self) -> Io {
        if self.done() {
            Io::Closed
        } else {
            Io::Open { wants_read: true }
        }
    }

    fn send_line(&mut self, line: &[u8]) {
        self.out.extend_from_slice(line);
        self.out.extend_from_slice(b"\r\n");
    }

    fn transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }
}

/// One reply an [`SmtpPlayer`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpExchange {
    /// The index of the step it answers; `None` for the greeting, and for a reply no
    /// step asked for (e.g. a `421` at a deadline while the script pauses).
    pub step: Option<usize>,
    /// The reply.
    pub reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmtpWait {
    Greeting,
    Ready,
    /// The reply to this step's line.
    Reply(usize),
    /// The reply to a BDAT chunk, and whether it was the last.
    Bdat(usize, bool),
    /// The `354` (or refusal) of a DATA step.
    DataGo(usize),
    /// The reply to the end of the body.
    MessageEnd(usize),
}

/// An SMTP client [`Machine`] that plays an [`SmtpScript`] one step at a time and
/// records every reply ([`SmtpPlayer::exchanges`]) and every message the server
/// accepted ([`SmtpPlayer::delivered`]).
///
/// It waits for the greeting, then sends each step and waits for its reply (so
/// pipelining is not exercised): a `334` challenge is cancelled with `*`, a `354` to
/// a [`SmtpStep::Data`] gets the body (to any other step, an empty body). When the
/// script is over, the player closes the connection (after QUIT's `221`, or without
/// QUIT when the script has none). A line that is not a well-formed reply goes to
/// [`SmtpPlayer::garbled`]. A command its encoder refuses (only a hand-written script
/// has one) is skipped. LMTP, with one reply per recipient at the end of a message, is
/// not supported. The player has no deadlines of its own.
#[derive(Debug)]
pub struct SmtpPlayer {
    script: SmtpScript,
    common: Common<SmtpExchange>,
    parser: ReplyParser,
    wait: SmtpWait,
    /// The body in flight: a DATA step's, or the BDAT chunks of the transaction.
    body: Vec<u8>,
    /// A chunk of the BDAT transaction was refused.
    bdat_refused: bool,
    delivered: Vec<Vec<u8>>,
}

impl SmtpPlayer {
    /// A player of `script`.
    pub fn new(script: SmtpScript) -> Self {
        SmtpPlayer {
            script,
            common: Common::new(),
            parser: ReplyParser::new(ReplyLimits::lenient()),
            wait: SmtpWait::Greeting,
            body: Vec::new(),
            bdat_refused: false,
            delivered: Vec::new(),
        }
    }

    /// The script.
    pub fn script(&self) -> &SmtpScript {
        &self.script
    }

    /// Every reply received, in order (the greeting first).
    pub fn exchanges(&self) -> &[SmtpExchange] {
        &self.common.log
    }

    /// The greeting, once received.
    pub fn greeting(&self) -> Option<&Reply> {
        self.common.log.first().map(|e| &e.reply)
    }

    /// The replies to step `step`, in order (a DATA step has two: `354` and the
    /// reply to the end of the message).
    pub fn replies_to(&self, step: usize) -> impl Iterator<Item = &Reply> {
        self.common
            .log
            .iter()
            .filter(move |e| e.step == Some(step))
            .map(|e| &e.reply)
    }

    /// The body of every message whose end the server answered with 2xx, in order, as
    /// the server must have stored it (unstuffed; a body that did not end with CRLF
    /// has one added, as it went on the wire). BDAT messages are their chunks joined.
    pub fn delivered(&self) -> &[Vec<u8>] {
        &self.delivered
    }

    /// Lines from the server that were not well-formed replies (or not CRLF-ended).
    pub fn garbled(&self) -> &[Vec<u8>] {
        &self.common.garbled
    }

    /// How many steps were reached (sent, skipped or paused at).
    pub fn steps_played(&self) -> usize {
        self.common.next
    }

    /// Send the next step, if the player is ready for one.
    fn send_next(&mut self) {
        while self.wait == SmtpWait::Ready && self.common.pause.is_none() && !self.common.done() {
            let i = self.common.next;
            let Some(step) = self.script.steps.get(i) else {
                self.common.finished = true;
                return;
            };
            self.common.next += 1;
            if !matches!(step, SmtpStep::Bdat { .. } | SmtpStep::Pause(_)) {
                self.body.clear();
                self.bdat_refused = false;
            }
            match step {
                SmtpStep::Pause(d) => self.common.pause = Some(*d),
                SmtpStep::Command(c) => {
                    let mut line = Vec::new();
                    if c.encode(&mut line).is_ok() {
                        self.common.out.extend_from_slice(&line);
                        self.wait = SmtpWait::Reply(i);
                    }
                }
                SmtpStep::Data(body) => {
                    self.body = body.clone();
                    self.common.send_line(b"DATA");
                    self.wait = SmtpWait::DataGo(i);
                }
                SmtpStep::Bdat { chunk, last } => {
                    let line = format!("BDAT {}{}", chunk.len(), if *last { " LAST" } else { "" });
                    self.common.send_line(line.as_bytes());
                    self.common.out.extend_from_slice(chunk);
                    self.body.extend_from_slice(chunk);
                    self.wait = SmtpWait::Bdat(i, *last);
                }
                SmtpStep::Raw(bytes) => {
                    self.common.send_line(bytes);
                    self.wait = SmtpWait::Reply(i);
                }
            }
        }
    }

    fn on_reply(&mut self, reply: Reply) {
        let code = reply.code.get();
        let class = reply.code.class();
        let step = match self.wait {
            SmtpWait::Greeting | SmtpWait::Ready => None,
            SmtpWait::Reply(i)
            | SmtpWait::Bdat(i, _)
            | SmtpWait::DataGo(i)
            | SmtpWait::MessageEnd(i) => Some(i),
        };
        self.common.record(SmtpExchange { step, reply });
        self.wait = match self.wait {
            SmtpWait::Greeting | SmtpWait::Ready => SmtpWait::Ready,
            SmtpWait::Reply(i) if code == 334 => {
                self.common.send_line(b"*");
                SmtpWait::Reply(i)
            }
            SmtpWait::Reply(i) if code == 354 => {
                self.body.clear();
                self.common.out.extend_from_slice(b".\r\n");
                SmtpWait::MessageEnd(i)
            }
            SmtpWait::Reply(_) => SmtpWait::Ready,
            SmtpWait::Bdat(_, last) => {
                self.bdat_refused |= class != 2;
                if last {
                    let body = core::mem::take(&mut self.body);
                    if !self.bdat_refused {
                        self.delivered.push(body);
                    }
                    self.bdat_refused = false;
                }
                SmtpWait::Ready
            }
            SmtpWait::DataGo(i) if code == 354 => {
                let mut wire = Vec::new();
                if encode_body(&self.body, BareLineEnding::Keep, &mut wire).is_err() {
                    wire = b"\r\n.\r\n".to_vec();
                }
                self.common.out.extend_from_slice(&wire);
                SmtpWait::MessageEnd(i)
            }
            SmtpWait::DataGo(_) => SmtpWait::Ready,
            SmtpWait::MessageEnd(_) => {
                let mut body = core::mem::take(&mut self.body);
                if class == 2 {
                    if !body.is_empty() && !body.ends_with(b"\r\n") {
                        body.extend_from_slice(b"\r\n");
                    }
                    self.delivered.push(body);
                }
                SmtpWait::Ready
            }
        };
    }
}

impl Machine for SmtpPlayer {
    type Event = SmtpExchange;

    fn feed(&mut self, _now: Instant, data: &[u8]) {
        if self.common.done() {
            return;
        }
        self.common.input.push(data);
        while let Some(line) = self.common.input.next_line() {
            match line {
                Ok(line) => {
                    let line = line.to_vec();
                    match self.parser.feed_line(&line) {
                        Ok(Some(reply)) => self.on_reply(reply),
                        Ok(None) => {}
                        Err(_) => self.common.garbled.push(line),
                    }
                }
                Err(e) => self.common.garbled.push(format!("{e}").into_bytes()),
            }
        }
    }

    player_machine!(SmtpExchange);
}

player_impl!(SmtpPlayer);

/// One answer a [`Pop3Player`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Answer {
    /// The first line: a status line, or a SASL challenge (which the player cancels).
    pub response: Response,
    /// The body of a multi-line `+OK` answer (RETR, TOP, LIST, UIDL, CAPA, ...),
    /// unstuffed, without the terminating dot line.
    pub body: Option<Vec<u8>>,
}

/// One answer a [`Pop3Player`] received, with the step it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Exchange {
    /// The index of the step it answers; `None` for the greeting and for an answer no
    /// step asked for.
    pub step: Option<usize>,
    /// The answer.
    pub answer: Pop3Answer,
}

#[derive(Debug)]
enum Pop3Wait {
    Greeting,
    Ready,
    /// The first line answering this step, and whether an `+OK` is multi-line.
    Answer(usize, bool),
    /// The body of a multi-line answer.
    Body {
        step: usize,
        status: Status,
        decoder: DotDecoder,
        body: Vec<u8>,
    },
}

/// A POP3 client [`Machine`] that plays a [`Pop3Script`] one step at a time and
/// records every answer ([`Pop3Player::exchanges`]).
///
/// It waits for the greeting, then sends each step and waits for its answer, reading
/// a multi-line body where the protocol table ([`pop3::table::is_multi_line`]) says
/// an `+OK` to that command has one; a SASL challenge is cancelled with `*`. When the
/// script is over the player closes the connection (after QUIT's `+OK`, or without
/// QUIT when the script has none: the server must then delete nothing). A line that
/// is not a well-formed answer goes to [`Pop3Player::garbled`]; a command its encoder
/// refuses is skipped.
#[derive(Debug)]
pub struct Pop3Player {
    script: Pop3Script,
    common: Common<Pop3Exchange>,
    wait: Pop3Wait,
}

/// Whether `command` carries an argument, as [`table::is_multi_line`] asks.
fn has_argument(command: &pop3::Command) -> bool {
    use pop3::Command as C;
    matches!(
        command,
        C::List(Some(_))
            | C::Uidl(Some(_))
            | C::Lang(Some(_))
            | C::Retr(_)
            | C::Dele(_)
            | C::Top { .. }
            | C::User(_)
            | C::Pass(_)
            | C::Apop { .. }
            | C::Auth { .. }
    ) || matches!(command, C::Unknown { args, .. } if !args.is_empty())
}

impl Pop3Player {
    /// A player of `script`.
    pub fn new(script: Pop3Script) -> Self {
        Pop3Player {
            script,
            common: Common::new(),
            wait: Pop3Wait::Greeting,
        }
    }

    /// The script.
    pub fn script(&self) -> &Pop3Script {
        &self.script
    }

    /// Every answer received, in order (the greeting first).
    pub fn exchanges(&self) -> &[Pop3Exchange] {
        &self.common.log
    }

    /// The greeting, once received.
    pub fn greeting(&self) -> Option<&Response> {
        self.common.log.first().map(|e| &e.answer.response)
    }

    /// The answers to step `step`, in order (an AUTH cancelled has two: the challenge
    /// and the `-ERR`).
    pub fn answers_to(&self, step: usize) -> impl Iterator<Item = &Pop3Answer> {
        self.common
            .log
            .iter()
            .filter(move |e| e.step == Some(step))
            .map(|e| &e.answer)
    }

    /// Lines from the server that were not well-formed answers (or not CRLF-ended).
    pub fn garbled(&self) -> &[Vec<u8>] {
        &self.common.garbled
    }

    /// How many steps were reached (sent, skipped or paused at).
    pub fn steps_played(&self) -> usize {
        self.common.next
    }

    fn send_next(&mut self) {
        while matches!(self.wait, Pop3Wait::Ready)
            && self.common.pause.is_none()
            && !self.common.done()
        {
            let i = self.common.next;
            let Some(step) = self.script.steps.get(i) else {
                self.common.finished = true;
                return;
            };
            self.common.next += 1;
            match step {
                Pop3Step::Pause(d) => self.common.pause = Some(*d),
                Pop3Step::Command(c) => {
                    let mut line = Vec::new();
                    if c.encode(&mut line).is_ok() {
                        self.common.out.extend_from_slice(&line);
                        let multi = c
                            .verb()
                            .is_some_and(|v| table::is_multi_line(v, has_argument(c)));
                        self.wait = Pop3Wait::Answer(i, multi);
                    }
                }
                Pop3Step::Raw(bytes) => {
                    self.common.send_line(bytes);
                    self.wait = Pop3Wait::Answer(i, false);
                }
            }
        }
    }

    fn on_line(&mut self, line: &[u8]) {
        let Ok(response) = Response::parse(line, &super::pop3::limits()) else {
            self.common.garbled.push(line.to_vec());
            return;
        };
        let step = match self.wait {
            Pop3Wait::Answer(i, _) => Some(i),
            _ => None,
        };
        if let (Pop3Wait::Answer(i, true), Response::Status(status)) = (&self.wait, &response)
            && status.is_ok()
        {
            self.wait = Pop3Wait::Body {
                step: *i,
                status: status.clone(),
                decoder: DotDecoder::new(BareLineEnding::Keep),
                body: Vec::new(),
            };
            return;
        }
        let challenge = matches!(response, Response::Continuation(_));
        self.common.record(Pop3Exchange {
            step,
            answer: Pop3Answer {
                response,
                body: None,
            },
        });
        if challenge && step.is_some() {
            self.common.send_line(b"*");
        } else {
            self.wait = Pop3Wait::Ready;
        }
    }
}

impl Machine for Pop3Player {
    type Event = Pop3Exchange;

    fn feed(&mut self, _now: Instant, data: &[u8]) {
        if self.common.done() {
            return;
        }
        self.common.input.push(data);
        loop {
            if let Pop3Wait::Body {
                step,
                status,
                decoder,
                body,
            } = &mut self.wait
            {
                let d = decoder.decode(self.common.input.buffered(), body);
                self.common.input.consume(d.consumed);
                if !d.done {
                    return;
                }
                let exchange = Pop3Exchange {
                    step: Some(*step),
                    answer: Pop3Answer {
                        response: Response::Status(status.clone()),
                        body: Some(core::mem::take(body)),
                    },
                };
                self.common.record(exchange);
                self.wait = Pop3Wait::Ready;
                continue;
            }
            match self.common.input.next_line() {
                None => return,
                Some(Ok(line)) => {
                    let line = line.to_vec();
                    self.on_line(&line);
                }
                Some(Err(e)) => self.common.garbled.push(format!("{e}").into_bytes()),
            }
        }
    }

    player_machine!(Pop3Exchange);
}

player_impl!(Pop3Player);
