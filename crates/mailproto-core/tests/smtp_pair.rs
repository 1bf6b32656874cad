//! The SMTP client machine talking to the SMTP server machine through the in-memory
//! `testing::Pair`, checked against a model.
//!
//! The property test generates a server configuration (PIPELINING, CHUNKING, LMTP and
//! ENHANCEDSTATUSCODES each on or off, a SIZE limit that is sometimes small), then one
//! to five transactions, each with a sender (now and then the null path or a quoted local
//! part), one to six recipients, the server application's verdict on the sender, on
//! every recipient and on the message (per recipient in LMTP), and a mail-shaped body:
//! CRLF lines, lines starting with `.`, a lone `.`, embedded `CRLF . CRLF` and its
//! smuggling variants, bare LF and bare CR (which the client normalises to CRLF), 8-bit
//! bytes, no final line break, empty bodies, long lines and bodies of up to ~40 KB, some
//! over the SIZE limit. The client sends the body in pieces of random sizes over DATA, or
//! BDAT when CHUNKING is on, ending it with `finish_body` or `send_last_body`; now and
//! then it declares `SIZE=` (which it must refuse itself when over the limit). The bytes
//! cross the pair whole or cut at random points; the session ends with QUIT.
//!
//! Checked against the model, per transaction: the MAIL and RCPT replies the client
//! reports, its concluding event (`TransactionFailed` with the reason and reply,
//! `MessageAccepted`, `MessageRejected`, or one `LmtpReply` per accepted recipient in
//! RCPT order); and what the server application sees: the envelope as sent, the body
//! as the concatenation of its `BodyChunk`s, exactly the CRLF-normalised body up to
//! `MessageEnd`, the exact prefix that fits before `MessageAborted` for an over-size body
//! (whose client sees `552`), no body at all when no recipient was accepted, and the RSET
//! the client sends after a failed transaction. Each transaction ends on both sides
//! before the next MAIL, and both sides end with `Closed` after QUIT. A session must also
//! give the same events on both sides when its bytes cross whole.
//!
//! The server runs without an error limit: a pipelining client whose MAIL is refused
//! has every RCPT and DATA/BDAT of the group refused as out of sequence, and counting
//! those towards `max_errors` would end the session in a way that depends on how many
//! transactions were refused so.
//!
//! A fixed session follows: RFC 5321 Appendix D.1, compared with its transcript.

use mailproto_core::Machine as _;
use mailproto_core::smtp::client::{
    BodyMode, Client, ClientConfig, ClientError, CloseReason as ClientClose, Event as ClientEvent,
    FailureReason,
};
use mailproto_core::smtp::server::{
    AbortReason, CloseReason as ServerClose, Event as ServerEvent, Server, ServerConfig,
};
use mailproto_core::smtp::{
    Domain, EnhancedCode, Extension, ForwardPath, Host, MailParams, Mailbox, RcptParams, Reply,
    ReplyCode, ReversePath,
};
use mailproto_core::testing::Pair;
use mailproto_core::transcript::Line;
use proptest::collection::vec;
use proptest::prelude::*;

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

const SERVER: &str = "mx.example.org";
const CLIENT: &str = "client.example.net";

// ---------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------

/// One session: the server's configuration, the transactions, how the bytes are cut.
#[derive(Debug, Clone)]
struct Scenario {
    pipelining: bool,
    chunking: bool,
    lmtp: bool,
    enhanced: bool,
    /// The server's SIZE limit (`max_message_size`).
    limit: u64,
    txns: Vec<Txn>,
    /// The pair's byte splits (empty: whole writes).
    splits: Vec<usize>,
}

/// One mail transaction as the client sends it and the server application judges it.
#[derive(Debug, Clone)]
struct Txn {
    from: ReversePath,
    /// Declare `SIZE=` with the exact size of the body the server will count.
    declare_size: bool,
    /// The application's answer to MAIL: `None` accepts.
    mail: Option<Reply>,
    /// Each recipient with the application's answer (`None` accepts).
    rcpts: Vec<(ForwardPath, Option<Reply>)>,
    /// The body as the client is given it.
    body: Vec<u8>,
    /// The sizes of the pieces handed to `send_body`, cycled (empty: one piece).
    pieces: Vec<usize>,
    /// End with `send_last_body(last piece)` rather than `finish_body()`.
    send_last: bool,
    /// Use BDAT when the server offers CHUNKING.
    bdat: bool,
    /// The application's answer to the message, by recipient index (SMTP uses the
    /// first): `None` accepts.
    message: Vec<Option<Reply>>,
}

impl Scenario {
    fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(SERVER);
        config.lmtp = self.lmtp;
        if self.lmtp {
            config.greeting = String::from("LMTP ready");
        }
        config.extensions.pipelining = self.pipelining;
        config.extensions.chunking = self.chunking;
        config.extensions.enhanced_status_codes = self.enhanced;
        config.limits.max_message_size = self.limit;
        // See the module documentation.
        config.limits.max_errors = 0;
        config
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(host(CLIENT));
        config.lmtp = self.lmtp;
        config
    }

    fn mode(&self, t: &Txn) -> BodyMode {
        if self.chunking && t.bdat {
            BodyMode::Bdat
        } else {
            BodyMode::Data
        }
    }

    /// A reply the server machine makes itself: with its enhanced code when
    /// ENHANCEDSTATUSCODES is on.
    fn status(&self, code: u16, subject: u16, detail: u16, text: &str) -> Reply {
        let code = ReplyCode::new(code).unwrap();
        let enhanced = self
            .enhanced
            .then(|| EnhancedCode::new(code.class(), subject, detail));
        Reply::new(code, enhanced, text)
    }
}

fn host(name: &str) -> Host {
    Host::Domain(Domain::new(name).unwrap())
}

/// CRLF, bare CR and bare LF each become CRLF: what the client's default line-ending
/// policy sends.
fn normalized(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// What one call of the client's body API sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `send_body(body[a..b])`.
    Piece(usize, usize),
    /// `send_last_body(body[a..b])`.
    Last(usize, usize),
    /// `finish_body()`.
    Finish,
}

impl Txn {
    /// The calls that send the body: pieces of the scenario's sizes (at most about 256
    /// of them, so that a large body stays quick), then the end.
    fn steps(&self) -> Vec<Step> {
        let floor = (self.body.len() / 256).max(1);
        let mut sizes = self.pieces.iter().map(|&n| n.max(floor)).cycle();
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < self.body.len() {
            let n = if self.pieces.is_empty() {
                self.body.len()
            } else {
                sizes.next().unwrap()
            };
            let end = (at + n).min(self.body.len());
            cuts.push((at, end));
            at = end;
        }
        let mut steps: Vec<Step> = cuts.iter().map(|&(a, b)| Step::Piece(a, b)).collect();
        match steps.last_mut() {
            Some(last @ Step::Piece(..)) if self.send_last => {
                let Step::Piece(a, b) = *last else {
                    unreachable!()
                };
                *last = Step::Last(a, b);
            }
            None if self.send_last => steps.push(Step::Last(0, 0)),
            _ => steps.push(Step::Finish),
        }
        steps
    }

    /// The body the server must deliver: normalised, with a final CRLF (the client
    /// completes the last line, before the DATA terminator or in the LAST chunk).
    fn delivered(&self, _mode: BodyMode) -> Vec<u8> {
        let mut body = normalized(&self.body);
        if !body.is_empty() && !body.ends_with(b"\r\n") {
            body.extend_from_slice(b"\r\n");
        }
        body
    }

    /// The BDAT chunks the client writes: their sizes and whether each is LAST. A CR at
    /// the end of a piece waits for the next piece (it may start a CRLF), and a piece
    /// that adds nothing writes no chunk.
    fn bdat_chunks(&self) -> Vec<(usize, bool)> {
        let total = self.delivered(BodyMode::Bdat).len();
        let mut chunks = Vec::new();
        let mut sent = 0;
        for step in self.steps() {
            match step {
                Step::Piece(_, end) => {
                    let mut prefix = &self.body[..end];
                    if prefix.ends_with(b"\r") {
                        prefix = &prefix[..prefix.len() - 1];
                    }
                    let upto = normalized(prefix).len();
                    if upto > sent {
                        chunks.push((upto - sent, false));
                        sent = upto;
                    }
                }
                Step::Last(..) | Step::Finish => chunks.push((total - sent, true)),
            }
        }
        chunks
    }
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// How the client concludes a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Failed(FailureReason, Reply),
    Accepted(Reply),
    Rejected(Reply),
    /// LMTP: `(recipient index, reply, last)` per accepted recipient.
    Lmtp(Vec<(usize, Reply, bool)>),
}

/// How a body the server application received ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BodyEnd {
    Open,
    Ended(u64),
    Aborted(AbortReason),
}

/// A body as the server application saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenBody {
    chunked: bool,
    bytes: Vec<u8>,
    end: BodyEnd,
}

/// One transaction as the server application saw it: from its MAIL to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenTxn {
    from: ReversePath,
    params: MailParams,
    rcpts: Vec<ForwardPath>,
    body: Option<SeenBody>,
    /// `Reset` events (the client's RSET after a failure).
    resets: usize,
}

/// What the model says about one transaction.
#[derive(Debug)]
enum Expected {
    /// `send_envelope` refused it: nothing crosses.
    Local(ClientError),
    Wire {
        mail: Reply,
        rcpts: Vec<(usize, Reply)>,
        outcome: Outcome,
        /// The client was given `ReadyForBody` at least once.
        body_sent: bool,
        server: Box<SeenTxn>,
    },
}

fn expect(s: &Scenario, t: &Txn) -> Expected {
    let mode = s.mode(t);
    let body = t.delivered(mode);
    let size = body.len() as u64;
    if t.declare_size && size > s.limit {
        // RFC 1870 §6: the client does not send what the server said it would refuse.
        return Expected::Local(ClientError::MessageTooLarge { size, max: s.limit });
    }
    let mut params = MailParams::default();
    if t.declare_size {
        params.size = Some(size);
    }
    let mut server = SeenTxn {
        from: t.from.clone(),
        params,
        rcpts: Vec::new(),
        body: None,
        resets: 0,
    };
    let bdat = mode == BodyMode::Bdat;
    // With PIPELINING and BDAT the chunks go out with the envelope.
    let early_body = bdat && s.pipelining;

    if let Some(refusal) = &t.mail {
        // The rest of a pipelined group is out of sequence (RFC 5321 §4.1.4).
        let rcpts = if s.pipelining {
            let need_mail = s.status(503, 5, 1, "Error: need MAIL command");
            (0..t.rcpts.len()).map(|i| (i, need_mail.clone())).collect()
        } else {
            Vec::new()
        };
        // The client resets what its chunks may have started (RFC 3030 §2).
        server.resets = usize::from(early_body);
        return Expected::Wire {
            mail: refusal.clone(),
            rcpts,
            outcome: Outcome::Failed(FailureReason::MailRejected, refusal.clone()),
            body_sent: early_body,
            server: Box::new(server),
        };
    }

    let rcpt_ok = s.status(250, 1, 5, "Ok");
    let rcpts: Vec<(usize, Reply)> = t
        .rcpts
        .iter()
        .enumerate()
        .map(|(i, (_, verdict))| (i, verdict.clone().unwrap_or_else(|| rcpt_ok.clone())))
        .collect();
    server.rcpts = t.rcpts.iter().map(|(to, _)| to.clone()).collect();
    let accepted: Vec<usize> = t
        .rcpts
        .iter()
        .enumerate()
        .filter_map(|(i, (_, verdict))| verdict.is_none().then_some(i))
        .collect();
    let mail = s.status(250, 1, 0, "Ok");

    if accepted.is_empty() {
        let last = rcpts.last().unwrap().1.clone();
        server.resets = 1;
        return Expected::Wire {
            mail,
            rcpts,
            outcome: Outcome::Failed(FailureReason::NoValidRecipients, last),
            body_sent: early_body,
            server: Box::new(server),
        };
    }

    let per_recipient = |reply: &dyn Fn(usize) -> Reply| {
        Outcome::Lmtp(
            accepted
                .iter()
                .enumerate()
                .map(|(pos, &i)| (i, reply(i), pos + 1 == accepted.len()))
                .collect(),
        )
    };
    let too_big = s.status(552, 3, 4, "Message too big for system");
    let aborted = BodyEnd::Aborted(AbortReason::TooBig { limit: s.limit });
    let (outcome, seen, resets) = if size <= s.limit {
        let outcome = if s.lmtp {
            per_recipient(&|i| t.message[i].clone().unwrap_or_else(delivered_reply))
        } else {
            match &t.message[0] {
                None => Outcome::Accepted(s.status(250, 0, 0, "Ok: queued")),
                Some(r) => Outcome::Rejected(r.clone()),
            }
        };
        // A refused last chunk fails the transaction on the client, which resets it.
        let resets = usize::from(bdat && matches!(outcome, Outcome::Rejected(_)));
        let seen = SeenBody {
            chunked: bdat,
            bytes: body,
            end: BodyEnd::Ended(size),
        };
        (outcome, seen, resets)
    } else if !bdat {
        // RFC 1870 §6.3: the body is read to its end and refused; the application got
        // what fits.
        let outcome = if s.lmtp {
            per_recipient(&|_| too_big.clone())
        } else {
            Outcome::Rejected(too_big.clone())
        };
        let seen = SeenBody {
            chunked: false,
            bytes: body[..s.limit as usize].to_vec(),
            end: aborted,
        };
        (outcome, seen, 0)
    } else {
        // BDAT: the chunk that crosses the limit is refused whole (RFC 3030 §2).
        let mut fits = 0;
        let mut failing_last = false;
        for (n, last) in t.bdat_chunks() {
            if (fits + n) as u64 > s.limit {
                failing_last = last;
                break;
            }
            fits += n;
        }
        let outcome = if s.lmtp && failing_last {
            per_recipient(&|_| too_big.clone())
        } else {
            Outcome::Rejected(too_big.clone())
        };
        let resets = usize::from(!(s.lmtp && failing_last));
        let seen = SeenBody {
            chunked: true,
            bytes: body[..fits].to_vec(),
            end: aborted,
        };
        (outcome, seen, resets)
    };
    server.body = Some(seen);
    server.resets = resets;
    Expected::Wire {
        mail,
        rcpts,
        outcome,
        body_sent: true,
        server: Box::new(server),
    }
}

/// The LMTP application's reply for a delivered recipient.
fn delivered_reply() -> Reply {
    Reply::new(
        ReplyCode::OK,
        Some(EnhancedCode::new(2, 0, 0)),
        "Delivered to mailbox",
    )
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn mailbox() -> BoxedStrategy<Mailbox> {
    let local = prop_oneof![
        8 => "[a-z][a-z0-9]{0,8}",
        2 => "[a-z]{1,5}[.+-][a-z0-9]{1,5}",
        1 => "[a-z]{1,5} [a-z]{1,5}",
    ];
    (
        local,
        "[a-z]{1,8}",
        prop_oneof![Just("example"), Just("test")],
    )
        .prop_map(|(local_part, name, tld)| Mailbox {
            local_part,
            domain: host(&format!("{name}.{tld}")),
        })
        .boxed()
}

fn reverse_path() -> BoxedStrategy<ReversePath> {
    prop_oneof![
        8 => mailbox().prop_map(ReversePath::Mailbox),
        1 => Just(ReversePath::Null),
    ]
    .boxed()
}

fn forward_path() -> BoxedStrategy<ForwardPath> {
    prop_oneof![
        12 => mailbox().prop_map(ForwardPath::Mailbox),
        1 => Just(ForwardPath::Postmaster),
    ]
    .boxed()
}

fn reply(code: u16, subject: u16, detail: u16, text: &str) -> Reply {
    let code = ReplyCode::new(code).unwrap();
    Reply::new(
        code,
        Some(EnhancedCode::new(code.class(), subject, detail)),
        text,
    )
}

/// An answer of the application: accepted with probability `p`, else one of `refusals`.
fn verdict(p: f64, refusals: fn() -> Vec<Reply>) -> BoxedStrategy<Option<Reply>> {
    let n = refusals().len();
    prop::option::weighted(1.0 - p, (0..n).prop_map(move |i| refusals()[i].clone())).boxed()
}

fn mail_refusals() -> Vec<Reply> {
    vec![
        reply(550, 7, 1, "Sender refused"),
        reply(451, 4, 0, "Try again later"),
        Reply::new(ReplyCode::TRANSACTION_FAILED, None, "No thanks"),
    ]
}

fn rcpt_refusals() -> Vec<Reply> {
    vec![
        reply(550, 1, 1, "No such user here"),
        reply(450, 2, 1, "Mailbox busy, try again later"),
        reply(553, 1, 3, "Bad destination mailbox"),
        Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, None, "Relay denied"),
    ]
}

fn message_refusals() -> Vec<Reply> {
    vec![
        reply(554, 6, 0, "Content refused"),
        reply(452, 3, 1, "Insufficient system storage"),
        reply(552, 2, 2, "Mailbox full"),
    ]
}

/// How a line ends: mostly CRLF, sometimes a bare LF or a bare CR.
fn line_end() -> BoxedStrategy<&'static [u8]> {
    prop_oneof![
        12 => Just(&b"\r\n"[..]),
        3 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
    ]
    .boxed()
}

/// The text of one line; a few carry an embedded terminator or a smuggling variant.
fn line_content() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        16 => "[ -~]{0,60}".prop_map(String::into_bytes),
        5 => "\\.[ -~]{0,12}".prop_map(String::into_bytes),
        3 => Just(b".".to_vec()),
        1 => Just(b"..".to_vec()),
        5 => Just(Vec::new()),
        3 => vec(any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b'~' } else { b }), 0..30),
        2 => Just(b"before\r\n.\r\nafter".to_vec()),
        1 => prop_oneof![
            Just(b"lf\n.\nlf".to_vec()),
            Just(b"cr\r.\r\ncr".to_vec()),
            Just(b"lf\n.\r\ncr".to_vec()),
            Just(b"crlf\r\n.\nlf".to_vec()),
            Just(b"\r\n.\r\n".to_vec()),
        ],
        1 => (999usize..2100, any::<bool>()).prop_map(|(n, dot)| {
            let mut line = vec![b'L'; n];
            if dot {
                line[0] = b'.';
            }
            line
        }),
    ]
    .boxed()
}

/// A mail-shaped body: a few header lines, usually a blank line, body lines, sometimes
/// no final line break; sometimes empty, sometimes 16 to 40 KB.
fn body() -> BoxedStrategy<Vec<u8>> {
    let header = ("[A-Z][a-z]{0,8}", "[ -~]{0,30}", line_end()).prop_map(|(name, value, end)| {
        let mut line = format!("{name}: {value}").into_bytes();
        line.extend_from_slice(end);
        line
    });
    let body_line = (line_content(), line_end()).prop_map(|(mut line, end)| {
        line.extend_from_slice(end);
        line
    });
    let big = (16_000usize..40_000, vec(body_line.clone(), 0..6)).prop_map(|(size, extra)| {
        let mut m = b"Subject: big\r\n\r\n".to_vec();
        let mut i = 0usize;
        while m.len() < size {
            if i % 97 == 3 {
                m.extend_from_slice(b".a line that starts with a dot\r\n");
            }
            m.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 76));
            m.extend_from_slice(b"\r\n");
            i += 1;
        }
        m.extend(extra.concat());
        m
    });
    prop_oneof![
        2 => Just(Vec::new()),
        2 => big,
        24 => (
            vec(header, 0..4),
            prop::option::weighted(0.8, line_end()),
            vec(body_line, 0..30),
            prop::bool::weighted(0.15),
        )
            .prop_map(|(headers, blank, lines, unterminated)| {
                let mut bytes: Vec<u8> = headers.concat();
                if let Some(end) = blank {
                    bytes.extend_from_slice(end);
                }
                bytes.extend(lines.concat());
                if unterminated {
                    if bytes.ends_with(b"\r\n") {
                        bytes.truncate(bytes.len() - 2);
                    } else if bytes.ends_with(b"\n") || bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                bytes
            }),
    ]
    .boxed()
}

/// The sizes the client hands its body to `send_body` in.
fn pieces() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => vec(1usize..8, 1..4),
        2 => vec(1usize..2000, 1..4),
        1 => vec(2000usize..20_000, 1..3),
    ]
    .boxed()
}

fn txn() -> BoxedStrategy<Txn> {
    (
        reverse_path(),
        prop::bool::weighted(0.2),
        verdict(0.85, mail_refusals),
        vec((forward_path(), verdict(0.7, rcpt_refusals)), 1..=6),
        body(),
        pieces(),
        any::<bool>(),
        any::<bool>(),
        vec(verdict(0.75, message_refusals), 6),
    )
        .prop_map(
            |(from, declare_size, mail, rcpts, body, pieces, send_last, bdat, message)| Txn {
                from,
                declare_size,
                mail,
                rcpts,
                body,
                pieces,
                send_last,
                bdat,
                message,
            },
        )
        .boxed()
}

fn splits() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => vec(1usize..8, 1..4),
        2 => vec(1usize..700, 1..6),
    ]
    .boxed()
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.8),
        prop_oneof![2 => Just(1u64 << 20), 1 => 256u64..24_000],
        vec(txn(), 1..=5),
        splits(),
    )
        .prop_map(
            |(pipelining, chunking, lmtp, enhanced, limit, txns, splits)| Scenario {
                pipelining,
                chunking,
                lmtp,
                enhanced,
                limit,
                txns,
                splits,
            },
        )
}

// ---------------------------------------------------------------------------------------
// The two applications
// ---------------------------------------------------------------------------------------

/// The client application: EHLO, the transactions one after the other, QUIT.
struct ClientApp<'a> {
    s: &'a Scenario,
    next: usize,
    /// The body being sent: the transaction and the steps left.
    body: Option<(&'a Txn, std::vec::IntoIter<Step>)>,
    events: Vec<ClientEvent>,
    /// Transactions `send_envelope` refused, by index.
    local: Vec<(usize, ClientError)>,
    /// Transactions that went on the wire, by index.
    wire: Vec<usize>,
    problems: Vec<String>,
}

impl<'a> ClientApp<'a> {
    fn new(s: &'a Scenario) -> Self {
        ClientApp {
            s,
            next: 0,
            body: None,
            events: Vec::new(),
            local: Vec::new(),
            wire: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn on_event(&mut self, client: &mut Client, ev: ClientEvent) {
        match &ev {
            ClientEvent::Greeting(_) => {
                if let Err(e) = client.ehlo(T0) {
                    self.problems.push(format!("ehlo: {e}"));
                }
            }
            ClientEvent::Ready { .. }
            | ClientEvent::TransactionFailed { .. }
            | ClientEvent::MessageAccepted(_)
            | ClientEvent::MessageRejected(_)
            | ClientEvent::LmtpReply { last: true, .. } => {
                self.events.push(ev);
                self.body = None;
                self.start_next(client);
                return;
            }
            ClientEvent::ReadyForBody => {
                self.events.push(ev);
                self.send_body(client);
                return;
            }
            _ => {}
        }
        self.events.push(ev);
    }

    /// Starts the next transaction, or quits after the last.
    fn start_next(&mut self, client: &mut Client) {
        if !client.is_ready() {
            self.problems
                .push(format!("not ready after transaction {}", self.next));
        }
        while let Some(t) = self.s.txns.get(self.next) {
            let index = self.next;
            self.next += 1;
            let mode = self.s.mode(t);
            let mut params = MailParams::default();
            if t.declare_size {
                params.size = Some(t.delivered(mode).len() as u64);
            }
            let rcpts = t
                .rcpts
                .iter()
                .map(|(to, _)| (to.clone(), RcptParams::default()))
                .collect();
            match client.send_envelope(T0, t.from.clone(), params, rcpts, mode) {
                Ok(()) => {
                    self.wire.push(index);
                    self.body = Some((t, t.steps().into_iter()));
                    return;
                }
                Err(refused) => self.local.push((index, refused.into_kind())),
            }
        }
        if let Err(e) = client.quit(T0) {
            self.problems.push(format!("quit: {e}"));
        }
    }

    /// Sends body steps while the client takes them.
    fn send_body(&mut self, client: &mut Client) {
        let Some((t, steps)) = self.body.as_mut() else {
            self.problems
                .push(String::from("ReadyForBody without a body"));
            return;
        };
        while client.body_writable() {
            let Some(step) = steps.next() else { return };
            let result = match step {
                Step::Piece(a, b) => client.send_body(T0, &t.body[a..b]),
                Step::Last(a, b) => client.send_last_body(T0, &t.body[a..b]),
                Step::Finish => client.finish_body(T0),
            };
            match result.map_err(mailproto_core::Misuse::into_kind) {
                Ok(()) => {}
                // The failure is already known; its event is on the way.
                Err(ClientError::TransactionFailed) => return,
                Err(e) => {
                    self.problems.push(format!("{step:?}: {e}"));
                    return;
                }
            }
        }
    }
}

/// The server application: answers from the scenario, records what it saw.
struct ServerApp<'a> {
    s: &'a Scenario,
    /// The scenario's transactions that reach the wire, in order.
    wire: Vec<&'a Txn>,
    hellos: usize,
    txns: Vec<SeenTxn>,
    closed: Vec<ServerClose>,
    other: Vec<ServerEvent>,
    problems: Vec<String>,
}

impl<'a> ServerApp<'a> {
    fn new(s: &'a Scenario) -> Self {
        let wire = s
            .txns
            .iter()
            .filter(|t| matches!(expect(s, t), Expected::Wire { .. }))
            .collect();
        ServerApp {
            s,
            wire,
            hellos: 0,
            txns: Vec::new(),
            closed: Vec::new(),
            other: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn answer(&mut self, server: &mut Server, r: Option<Reply>) {
        let result = match r {
            None => server.accept(T0),
            Some(r) => server.reply(T0, r),
        };
        if let Err(e) = result {
            self.problems.push(format!("answer refused: {e}"));
        }
    }

    fn on_event(&mut self, server: &mut Server, ev: ServerEvent) {
        let k = self.txns.len().wrapping_sub(1);
        match ev {
            ServerEvent::Hello { .. } => self.hellos += 1,
            ServerEvent::Mail { from, params } => {
                if server.in_transaction() {
                    self.problems
                        .push(String::from("MAIL inside a transaction"));
                }
                if let Some(SeenTxn {
                    body:
                        Some(SeenBody {
                            end: BodyEnd::Open, ..
                        }),
                    ..
                }) = self.txns.last()
                {
                    self.problems
                        .push(String::from("MAIL before the body ended"));
                }
                self.txns.push(SeenTxn {
                    from,
                    params,
                    rcpts: Vec::new(),
                    body: None,
                    resets: 0,
                });
                let Some(t) = self.wire.get(self.txns.len() - 1) else {
                    self.problems.push(String::from("MAIL of no transaction"));
                    return server.accept(T0).unwrap();
                };
                self.answer(server, t.mail.clone());
            }
            ServerEvent::Rcpt { to, .. } => {
                let (Some(seen), Some(t)) = (self.txns.get_mut(k), self.wire.get(k)) else {
                    self.problems
                        .push(String::from("RCPT outside a transaction"));
                    return server.accept(T0).unwrap();
                };
                let i = seen.rcpts.len();
                seen.rcpts.push(to);
                let verdict = t.rcpts.get(i).and_then(|(_, v)| v.clone());
                self.answer(server, verdict);
            }
            ServerEvent::DataStart { chunked } => match self.txns.get_mut(k) {
                Some(seen) if seen.body.is_none() => {
                    seen.body = Some(SeenBody {
                        chunked,
                        bytes: Vec::new(),
                        end: BodyEnd::Open,
                    });
                }
                _ => self.problems.push(String::from("DataStart out of place")),
            },
            ServerEvent::BodyChunk(bytes) => {
                if bytes.is_empty() {
                    self.problems.push(String::from("empty BodyChunk"));
                }
                match self.open_body(k) {
                    Some(body) => body.bytes.extend_from_slice(&bytes),
                    None => self.problems.push(String::from("BodyChunk out of place")),
                }
            }
            ServerEvent::MessageEnd { size } => {
                match self.open_body(k) {
                    Some(body) => body.end = BodyEnd::Ended(size),
                    None => self.problems.push(String::from("MessageEnd out of place")),
                }
                let Some(t) = self.wire.get(k) else {
                    return server.accept(T0).unwrap();
                };
                if self.s.lmtp {
                    // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
                    let replies = t
                        .rcpts
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, v))| v.is_none())
                        .map(|(i, _)| t.message[i].clone().unwrap_or_else(delivered_reply))
                        .collect();
                    if let Err(e) = server.reply_lmtp(T0, replies) {
                        self.problems.push(format!("reply_lmtp refused: {e}"));
                    }
                } else {
                    self.answer(server, t.message[0].clone());
                }
            }
            ServerEvent::MessageAborted { reason } => match self.open_body(k) {
                Some(body) => body.end = BodyEnd::Aborted(reason),
                None => self
                    .problems
                    .push(String::from("MessageAborted out of place")),
            },
            ServerEvent::Reset => match self.txns.get_mut(k) {
                Some(seen) => seen.resets += 1,
                None => self.problems.push(String::from("Reset before any MAIL")),
            },
            ServerEvent::Closed { reason } => self.closed.push(reason),
            other => self.other.push(other),
        }
    }

    fn open_body(&mut self, k: usize) -> Option<&mut SeenBody> {
        self.txns
            .get_mut(k)?
            .body
            .as_mut()
            .filter(|b| b.end == BodyEnd::Open)
    }
}

// ---------------------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------------------

/// The client's events of one transaction.
#[derive(Debug, Default)]
struct Group {
    mail: Option<Reply>,
    rcpts: Vec<(usize, Reply)>,
    ready_for_body: usize,
    lmtp: Vec<(usize, Reply, bool)>,
    outcome: Option<Outcome>,
}

/// Cuts the client's events into greeting, EHLO, one group per transaction on the wire,
/// and the final `Closed`.
fn groups(
    s: &Scenario,
    events: &[ClientEvent],
) -> Result<(Vec<Group>, ClientClose), TestCaseError> {
    let mut it = events.iter();
    match it.next() {
        Some(ClientEvent::Greeting(r)) => prop_assert_eq!(r.code, ReplyCode::SERVICE_READY),
        other => prop_assert!(false, "first event {:?}", other),
    }
    match it.next() {
        Some(ClientEvent::Ready {
            capabilities,
            extended,
        }) => {
            prop_assert!(*extended);
            prop_assert_eq!(capabilities.pipelining, s.pipelining);
            prop_assert_eq!(capabilities.chunking, s.chunking);
            prop_assert_eq!(capabilities.size, Some(s.limit));
            prop_assert_eq!(capabilities.enhanced_status_codes, s.enhanced);
        }
        other => prop_assert!(false, "second event {:?}", other),
    }
    let mut out = Vec::new();
    let mut g = Group::default();
    for ev in it {
        match ev {
            ClientEvent::MailReply(r) => {
                prop_assert!(g.mail.is_none(), "second MailReply {:?}", r);
                g.mail = Some(r.clone());
            }
            ClientEvent::RcptReply { index, reply } => g.rcpts.push((*index, reply.clone())),
            ClientEvent::ReadyForBody => g.ready_for_body += 1,
            ClientEvent::LmtpReply { index, reply, last } => {
                g.lmtp.push((*index, reply.clone(), *last));
                if *last {
                    g.outcome = Some(Outcome::Lmtp(std::mem::take(&mut g.lmtp)));
                }
            }
            ClientEvent::TransactionFailed { reason, reply } => {
                g.outcome = Some(Outcome::Failed(*reason, reply.clone()));
            }
            ClientEvent::MessageAccepted(r) => g.outcome = Some(Outcome::Accepted(r.clone())),
            ClientEvent::MessageRejected(r) => g.outcome = Some(Outcome::Rejected(r.clone())),
            ClientEvent::Closed { reason } => {
                prop_assert!(
                    g.mail.is_none() && g.rcpts.is_empty() && g.lmtp.is_empty(),
                    "session closed in a transaction: {:?}",
                    g
                );
                prop_assert_eq!(ev, events.last().unwrap(), "events after Closed");
                return Ok((out, reason.clone()));
            }
            other => prop_assert!(false, "unexpected client event {:?}", other),
        }
        if g.outcome.is_some() {
            out.push(std::mem::take(&mut g));
        }
    }
    Err(TestCaseError::fail("the client never reported Closed"))
}

/// The two machines' transcripts of one session agree: the commands the server took are
/// the first of those the client sent, the replies the client read the first of those
/// the server sent (line for line, masked alike), unless either left lines out.
fn check_transcripts(client: &[Line], server: &[Line]) -> Result<(), TestCaseError> {
    let omitted = |t: &[Line]| t.iter().any(|l| matches!(l, Line::Omitted(_)));
    if omitted(client) || omitted(server) {
        return Ok(());
    }
    let of = |t: &[Line], commands: bool| -> Vec<String> {
        t.iter()
            .filter_map(|l| match l {
                Line::Client(s) if commands => Some(s.clone()),
                Line::Server(s) if !commands => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    let (c_sent, s_took) = (of(client, true), of(server, true));
    let (s_sent, c_read) = (of(server, false), of(client, false));
    prop_assert!(
        c_sent.starts_with(&s_took),
        "commands: client {c_sent:?}\nserver {s_took:?}"
    );
    prop_assert!(
        s_sent.starts_with(&c_read),
        "replies: server {s_sent:?}\nclient {c_read:?}"
    );
    Ok(())
}

/// What one run showed, for comparing runs over different splits (without the client's
/// `ReadyForBody`).
#[derive(Debug, PartialEq, Eq)]
struct Run {
    client_events: Vec<ClientEvent>,
    server_txns: Vec<SeenTxn>,
}

fn run(s: &Scenario) -> Result<Run, TestCaseError> {
    let mut pair = Pair::with_splits(
        Client::new(T0, s.client_config()),
        Server::new(T0, s.server_config()),
        s.splits.clone(),
    );
    let mut capp = ClientApp::new(s);
    let mut sapp = ServerApp::new(s);
    pair.client.record_transcript(true);
    pair.server.record_transcript(true);
    let (mut clines, mut slines) = (Vec::new(), Vec::new());
    pair.drive(
        |client, _now, ev| {
            clines.extend(std::iter::from_fn(|| client.poll_transcript()));
            capp.on_event(client, ev);
        },
        |server, _now, ev| {
            slines.extend(std::iter::from_fn(|| server.poll_transcript()));
            sapp.on_event(server, ev);
        },
    );
    clines.extend(std::iter::from_fn(|| pair.client.poll_transcript()));
    slines.extend(std::iter::from_fn(|| pair.server.poll_transcript()));
    check_transcripts(&clines, &slines)?;
    let transcript = || {
        let t = pair.transcript();
        if t.len() > 6000 {
            format!("{}\n[...]\n{}", &t[..3000], &t[t.len() - 3000..])
        } else {
            t
        }
    };
    prop_assert!(
        capp.problems.is_empty() && sapp.problems.is_empty(),
        "client: {:?}\nserver: {:?}\n{}",
        capp.problems,
        sapp.problems,
        transcript()
    );
    prop_assert!(
        sapp.other.is_empty(),
        "unexpected server events {:?}",
        sapp.other
    );

    let expected: Vec<Expected> = s.txns.iter().map(|t| expect(s, t)).collect();
    let (groups, closed) = groups(s, &capp.events)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{}", transcript())))?;

    // Transactions refused by the client itself.
    let local: Vec<(usize, ClientError)> = expected
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Expected::Local(err) => Some((i, err.clone())),
            Expected::Wire { .. } => None,
        })
        .collect();
    prop_assert_eq!(&capp.local, &local);

    // The client: one group per transaction on the wire, as the model says.
    let wire: Vec<(usize, &Expected)> = expected
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Expected::Wire { .. }))
        .collect();
    prop_assert_eq!(
        groups.len(),
        wire.len(),
        "transactions concluded\n{}",
        transcript()
    );
    prop_assert_eq!(sapp.txns.len(), wire.len(), "MAIL events\n{}", transcript());
    for (((i, e), got), seen) in wire.iter().zip(&groups).zip(&sapp.txns) {
        let Expected::Wire {
            mail,
            rcpts,
            outcome,
            body_sent,
            server,
        } = e
        else {
            unreachable!()
        };
        let ctx = || format!("transaction {i}: {:?}\n{}", s.txns[*i], transcript());
        prop_assert_eq!(got.mail.as_ref(), Some(mail), "MAIL reply, {}", ctx());
        prop_assert_eq!(&got.rcpts, rcpts, "RCPT replies, {}", ctx());
        prop_assert_eq!(got.outcome.as_ref(), Some(outcome), "outcome, {}", ctx());
        if *body_sent {
            prop_assert!(got.ready_for_body >= 1, "no ReadyForBody, {}", ctx());
        } else {
            prop_assert_eq!(got.ready_for_body, 0, "ReadyForBody, {}", ctx());
        }
        // The server application: the envelope as sent, exactly the body.
        prop_assert_eq!(&seen.from, &server.from, "{}", ctx());
        prop_assert_eq!(&seen.params, &server.params, "{}", ctx());
        prop_assert_eq!(&seen.rcpts, &server.rcpts, "{}", ctx());
        match (&seen.body, &server.body) {
            (Some(got), Some(want)) => {
                prop_assert_eq!(
                    (got.chunked, &got.end),
                    (want.chunked, &want.end),
                    "{}",
                    ctx()
                );
                if got.bytes != want.bytes {
                    let at = got
                        .bytes
                        .iter()
                        .zip(&want.bytes)
                        .position(|(a, b)| a != b)
                        .unwrap_or(got.bytes.len().min(want.bytes.len()));
                    let lo = at.saturating_sub(40);
                    prop_assert!(
                        false,
                        "body differs at {} (got {} octets, want {}):\n got: {:?}\nwant: {:?}\n{}",
                        at,
                        got.bytes.len(),
                        want.bytes.len(),
                        String::from_utf8_lossy(&got.bytes[lo..(at + 40).min(got.bytes.len())]),
                        String::from_utf8_lossy(&want.bytes[lo..(at + 40).min(want.bytes.len())]),
                        ctx()
                    );
                }
            }
            (got, want) => prop_assert_eq!(got, want, "body, {}", ctx()),
        }
        prop_assert_eq!(seen.resets, server.resets, "RSETs, {}", ctx());
    }

    // Both sides end with Closed after QUIT.
    let bye = s.status(221, 0, 0, "Bye");
    prop_assert_eq!(closed, ClientClose::Quit(bye));
    prop_assert_eq!(&sapp.closed, &[ServerClose::Quit]);
    prop_assert_eq!(sapp.hellos, 1);
    prop_assert!(pair.server.awaiting().is_none());

    // How often BDAT flow control says `ReadyForBody` depends on when replies arrive.
    capp.events.retain(|e| *e != ClientEvent::ReadyForBody);
    Ok(Run {
        client_events: capp.events,
        server_txns: sapp.txns,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Client and server agree with the model whatever the configuration, the
    /// transactions, the bodies, the pieces they are sent in and the byte splits; and
    /// the same session over whole writes gives the same events on both sides.
    #[test]
    fn client_and_server_agree_with_the_model(s in scenario()) {
        let split = run(&s)?;
        if !s.splits.is_empty() {
            let whole = Scenario { splits: Vec::new(), ..s.clone() };
            prop_assert_eq!(split, run(&whole)?);
        }
    }
}

/// Regression: LMTP with PIPELINING, a BDAT body over the limit before its LAST chunk,
/// which is already in flight, and two recipients. The server answered the discarded
/// LAST chunk once per recipient; the client, which had the failure from the first
/// chunk, expected one reply and fell a reply behind (it took the RSET's `250` for the
/// QUIT reply).
#[test]
fn lmtp_pipelined_bdat_refused_before_last() {
    let to = ForwardPath::Mailbox(mb("a", "a.example"));
    let txn = Txn {
        from: ReversePath::Mailbox(mb("s", "b.example")),
        declare_size: false,
        mail: None,
        rcpts: vec![(to.clone(), None), (to, None)],
        body: vec![b'x'; 300],
        pieces: Vec::new(),
        send_last: false,
        bdat: true,
        message: vec![None; 6],
    };
    let s = Scenario {
        pipelining: true,
        chunking: true,
        lmtp: true,
        enhanced: true,
        limit: 256,
        txns: vec![txn.clone(), txn],
        splits: Vec::new(),
    };
    run(&s).unwrap();
}

// ---------------------------------------------------------------------------------------
// RFC 5321 Appendix D.1
// ---------------------------------------------------------------------------------------

fn mb(local: &str, domain: &str) -> Mailbox {
    Mailbox {
        local_part: local.into(),
        domain: host(domain),
    }
}

/// The typical transaction of RFC 5321 Appendix D.1, end to end, with this server's
/// reply texts. The RFC shows the body line `...etc. etc. etc.` as the user wrote it;
/// on the wire it is dot-stuffed (RFC 5321 §4.5.2), and the server unstuffs it.
#[test]
fn rfc5321_appendix_d1_over_the_pair() {
    let mut config = ServerConfig::new("foo.com");
    config.greeting = String::from("Simple Mail Transfer Service Ready");
    config.extensions.pipelining = false;
    config.extensions.chunking = false;
    config.extensions.enhanced_status_codes = false;
    config.extensions.dsn = true;
    config.extensions.other = vec![Extension {
        keyword: String::from("HELP"),
        params: Vec::new(),
    }];
    let body = b"Blah blah blah...\r\n...etc. etc. etc.\r\n";
    let mut pair = Pair::with_splits(
        Client::new(T0, ClientConfig::new(host("bar.com"))),
        Server::new(T0, config),
        vec![5, 1, 11],
    );

    let mut client_events = Vec::new();
    let mut server_events = Vec::new();
    pair.drive(
        |client, _now, ev| {
            match &ev {
                ClientEvent::Greeting(_) => client.ehlo(T0).unwrap(),
                ClientEvent::Ready { .. } => client
                    .send_envelope(
                        T0,
                        ReversePath::Mailbox(mb("Smith", "bar.com")),
                        MailParams::default(),
                        ["Jones", "Green", "Brown"]
                            .iter()
                            .map(|l| {
                                (
                                    ForwardPath::Mailbox(mb(l, "foo.com")),
                                    RcptParams::default(),
                                )
                            })
                            .collect(),
                        BodyMode::Data,
                    )
                    .unwrap(),
                ClientEvent::ReadyForBody => {
                    client.send_body(T0, &body[..19]).unwrap();
                    client.send_body(T0, &body[19..]).unwrap();
                    client.finish_body(T0).unwrap();
                }
                ClientEvent::MessageAccepted(_) => client.quit(T0).unwrap(),
                _ => {}
            }
            client_events.push(ev);
        },
        |server, _now, ev| {
            match &ev {
                ServerEvent::Mail { .. } | ServerEvent::MessageEnd { .. } => {
                    server.accept(T0).unwrap()
                }
                ServerEvent::Rcpt {
                    to: ForwardPath::Mailbox(m),
                    ..
                } if m.local_part == "Green" => server
                    .reject(
                        T0,
                        ReplyCode::MAILBOX_UNAVAILABLE,
                        None,
                        "No such user here",
                    )
                    .unwrap(),
                ServerEvent::Rcpt { .. } => server.accept(T0).unwrap(),
                _ => {}
            }
            server_events.push(ev);
        },
    );

    assert_eq!(
        pair.transcript(),
        "\
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-SIZE 26214400
S: 250-8BITMIME
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<Smith@bar.com>
S: 250 Ok
C: RCPT TO:<Jones@foo.com>
S: 250 Ok
C: RCPT TO:<Green@foo.com>
S: 550 No such user here
C: RCPT TO:<Brown@foo.com>
S: 250 Ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C: Blah blah blah...
C: ....etc. etc. etc.
C: .
S: 250 Ok: queued
C: QUIT
S: 221 Bye
"
    );

    let r = |code: ReplyCode, text: &str| Reply::new(code, None, text);
    let ok = r(ReplyCode::OK, "Ok");
    assert_eq!(client_events.len(), 9, "{client_events:#?}");
    assert!(
        matches!(&client_events[0], ClientEvent::Greeting(g) if g.code == ReplyCode::SERVICE_READY)
    );
    assert!(
        matches!(&client_events[1], ClientEvent::Ready { capabilities, extended: true }
            if capabilities.dsn && capabilities.eight_bit_mime && !capabilities.pipelining
                && capabilities.other("HELP").is_some())
    );
    assert_eq!(
        client_events[2..],
        [
            ClientEvent::MailReply(ok.clone()),
            ClientEvent::RcptReply {
                index: 0,
                reply: ok.clone()
            },
            ClientEvent::RcptReply {
                index: 1,
                reply: r(ReplyCode::MAILBOX_UNAVAILABLE, "No such user here")
            },
            ClientEvent::RcptReply {
                index: 2,
                reply: ok
            },
            ClientEvent::ReadyForBody,
            ClientEvent::MessageAccepted(r(ReplyCode::OK, "Ok: queued")),
            ClientEvent::Closed {
                reason: ClientClose::Quit(r(ReplyCode::CLOSING, "Bye"))
            },
        ]
    );

    // The server application got the envelope and the unstuffed body.
    let delivered: Vec<u8> = server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::BodyChunk(b) => Some(&b[..]),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    assert_eq!(delivered, body);
    let names: Vec<&str> = server_events
        .iter()
        .filter(|e| !matches!(e, ServerEvent::BodyChunk(_)))
        .map(|e| match e {
            ServerEvent::Hello { .. } => "Hello",
            ServerEvent::Mail { .. } => "Mail",
            ServerEvent::Rcpt { .. } => "Rcpt",
            ServerEvent::DataStart { chunked: false } => "DataStart",
            ServerEvent::MessageEnd { size: 38 } => "MessageEnd",
            ServerEvent::Closed {
                reason: ServerClose::Quit,
            } => "Closed",
            other => panic!("unexpected server event {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "Hello",
            "Mail",
            "Rcpt",
            "Rcpt",
            "Rcpt",
            "DataStart",
            "MessageEnd",
            "Closed"
        ]
    );
    assert!(matches!(
        &server_events[1],
        ServerEvent::Mail { from: ReversePath::Mailbox(m), .. } if *m == mb("Smith", "bar.com")
    ));
}
