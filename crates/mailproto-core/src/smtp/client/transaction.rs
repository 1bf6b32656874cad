//! The mail transaction: envelope (MAIL, RCPT, DATA; pipelined per RFC 2920 §3.1 when
//! advertised), body (DATA or BDAT), and the replies that conclude it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::body::{BodyMode, BodyWriter};
use super::{Client, ClientError, Event, Expect, FailureReason, Refused, Stage};
use crate::machine::Misuse;
use crate::smtp::table::{self, Verb};
use crate::smtp::{
    Body, Capabilities, ForwardPath, MailParams, RcptParams, Reply, ReplyCode, ReversePath,
};
use crate::time::Instant;

/// The arguments of [`Client::send_envelope`], handed back in a [`Refused`] when the
/// envelope is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path (`MAIL FROM:`).
    pub from: ReversePath,
    /// The MAIL parameters.
    pub params: MailParams,
    /// The recipients with their RCPT parameters, in order.
    pub rcpts: Vec<(ForwardPath, RcptParams)>,
    /// DATA or BDAT.
    pub body: BodyMode,
}

/// What made a transaction fail, reported once its replies are all in.
#[derive(Debug, Clone)]
enum Failure {
    /// Before the body: [`Event::TransactionFailed`].
    Envelope(FailureReason, Reply),
    /// A BDAT chunk or the message refused: [`Event::MessageRejected`].
    Message(Reply),
}

/// One mail transaction in progress.
#[derive(Debug)]
pub(super) struct Txn {
    mode: BodyMode,
    pipelined: bool,
    rcpt_total: usize,
    /// Without PIPELINING: RCPT lines not yet sent, in order.
    pending_rcpts: VecDeque<Vec<u8>>,
    mail_ok: bool,
    /// Indices of the accepted recipients, in order (LMTP replies follow them).
    accepted: Vec<usize>,
    /// The body encoder while the caller may send body; `None` before ReadyForBody,
    /// after the end of the body, and after a failure.
    body: Option<BodyWriter>,
    binary: bool,
    chunks_in_flight: usize,
    max_in_flight: usize,
    /// The in-flight limit held the body back: ReadyForBody is due when a reply frees it.
    held: bool,
    bdat_sent: bool,
    lone_dot_sent: bool,
    rset_sent: bool,
    failure: Option<Failure>,
}

impl Txn {
    /// Whether the caller may send body now or after the in-flight limit frees.
    pub(super) fn body_open(&self) -> bool {
        self.body.is_some()
    }
}

fn positive(reply: &Reply) -> bool {
    reply.code.class() == 2
}

/// The extension checks of RFC 5321 §2.2.1 and the extension RFCs, read from the
/// protocol table: a parameter is sent only when its extension was advertised (`caps` is
/// `None` after HELO: no parameter at all).
fn check_envelope(
    caps: Option<&Capabilities>,
    tls: bool,
    max_recipients: usize,
    e: &Envelope,
) -> Result<(), ClientError> {
    if e.rcpts.is_empty() {
        return Err(ClientError::NoRecipients);
    }
    if e.rcpts.len() > max_recipients {
        return Err(ClientError::TooManyRecipients {
            count: e.rcpts.len(),
            max: max_recipients,
        });
    }
    let p = &e.params;
    if e.body == BodyMode::Bdat
        && let Some(ext) = table::rule(Verb::Bdat).extension
        && !caps.is_some_and(|c| ext.offered(c))
    {
        return Err(ClientError::NotAdvertised {
            extension: ext.keyword(),
        });
    }
    if p.body == Some(Body::BinaryMime) && e.body != BodyMode::Bdat {
        return Err(ClientError::BinaryNeedsBdat);
    }
    let refused = table::first_refused(table::mail_params(p), caps, tls).or_else(|| {
        e.rcpts
            .iter()
            .find_map(|(_, r)| table::first_refused(table::rcpt_params(r), caps, tls))
    });
    if let Some(rule) = refused {
        let extension = rule.needs_any.first().map_or(rule.name, |x| x.keyword());
        return Err(ClientError::NotAdvertised { extension });
    }
    if let (Some(size), Some(max)) = (p.size, caps.and_then(|c| c.size))
        && max > 0
        && size > max
    {
        return Err(ClientError::MessageTooLarge { size, max });
    }
    if !p.smtputf8 {
        let from_ascii = match &e.from {
            ReversePath::Mailbox(m) => m.is_ascii(),
            ReversePath::Null => true,
        };
        let rcpts_ascii = e.rcpts.iter().all(|(to, _)| match to {
            ForwardPath::Mailbox(m) => m.is_ascii(),
            ForwardPath::Postmaster => true,
        });
        if !(from_ascii && rcpts_ascii) {
            return Err(ClientError::NeedsSmtpUtf8);
        }
    }
    Ok(())
}

/// `MAIL FROM:<path> params CRLF` and each `RCPT TO:<path> params CRLF`.
fn encode_envelope(e: &Envelope) -> Result<(Vec<u8>, Vec<Vec<u8>>), ClientError> {
    let mut mail = Vec::from(&b"MAIL FROM:"[..]);
    e.from.encode(&mut mail)?;
    e.params.encode(&mut mail)?;
    mail.extend_from_slice(b"\r\n");
    let mut rcpts = Vec::with_capacity(e.rcpts.len());
    for (to, params) in &e.rcpts {
        let mut line = Vec::from(&b"RCPT TO:"[..]);
        to.encode(&mut line)?;
        params.encode(&mut line)?;
        line.extend_from_slice(b"\r\n");
        rcpts.push(line);
    }
    Ok((mail, rcpts))
}

impl Client {
    /// Starts a mail transaction (RFC 5321 §3.3).
    ///
    /// With PIPELINING advertised, `MAIL`, every `RCPT` and `DATA` go out as one group
    /// (RFC 2920 §3.1); without it, one command at a time, each after the previous reply.
    /// Events: [`Event::MailReply`], [`Event::RcptReply`] per recipient, then
    /// [`Event::ReadyForBody`] (after `354`; with BDAT as soon as the chunks may go:
    /// at once with PIPELINING, else after the RCPT replies) or
    /// [`Event::TransactionFailed`]. With BDAT and PIPELINING a refused envelope may be
    /// learnt while chunks are already out: [`Client::send_body`] then returns
    /// [`ClientError::TransactionFailed`] and the failure event follows.
    ///
    /// Refused (the envelope handed back) when not ready, when the envelope has no or too
    /// many recipients, when a parameter needs an extension the server did not advertise
    /// (SIZE, 8BITMIME, BINARYMIME, CHUNKING for BDAT, SMTPUTF8 and non-ASCII mailboxes,
    /// DSN, AUTH, REQUIRETLS), when SIZE exceeds the advertised maximum (RFC 1870 §6), or
    /// when a path or parameter cannot be encoded.
    pub fn send_envelope(
        &mut self,
        now: Instant,
        from: ReversePath,
        params: MailParams,
        rcpts: Vec<(ForwardPath, RcptParams)>,
        body: BodyMode,
    ) -> Result<(), Refused<Envelope>> {
        crate::kernel::answer(self, now, |m| m.send_envelope_at(from, params, rcpts, body))
    }

    fn send_envelope_at(
        &mut self,
        from: ReversePath,
        params: MailParams,
        rcpts: Vec<(ForwardPath, RcptParams)>,
        body: BodyMode,
    ) -> Result<(), Refused<Envelope>> {
        let envelope = Envelope {
            from,
            params,
            rcpts,
            body,
        };
        match self.check_envelope(&envelope) {
            Err(e) => Err(Misuse::new("send_envelope", e, envelope)),
            Ok((mail, rcpts)) => {
                self.start_transaction(&envelope, mail, rcpts);
                Ok(())
            }
        }
    }

    fn check_envelope(&self, e: &Envelope) -> Result<(Vec<u8>, Vec<Vec<u8>>), ClientError> {
        self.check_idle()?;
        if self.stage != Stage::Ready {
            return Err(ClientError::WrongState {
                command: "MAIL",
                needs: "a successful EHLO or HELO",
            });
        }
        check_envelope(
            self.extended.then_some(&self.capabilities),
            self.tls_active,
            self.config.max_recipients,
            e,
        )?;
        encode_envelope(e)
    }

    fn start_transaction(&mut self, e: &Envelope, mail: Vec<u8>, rcpts: Vec<Vec<u8>>) {
        let pipelined = self.capabilities.pipelining;
        let binary = e.params.body == Some(Body::BinaryMime);
        let mut txn = Txn {
            mode: e.body,
            pipelined,
            rcpt_total: rcpts.len(),
            pending_rcpts: VecDeque::new(),
            mail_ok: false,
            accepted: Vec::new(),
            body: None,
            binary,
            chunks_in_flight: 0,
            max_in_flight: if pipelined {
                self.config.max_chunks_in_flight.max(1)
            } else {
                1
            },
            held: false,
            bdat_sent: false,
            lone_dot_sent: false,
            rset_sent: false,
            failure: None,
        };
        self.send(&mail, Expect::Mail);
        // RFC 2920 §3.1, from the table: MAIL and RCPT do not end a group, so with
        // PIPELINING the recipients and DATA (which does) follow at once; BDAT chunks
        // follow too.
        if pipelined && table::may_follow(Verb::Mail) && table::may_follow(Verb::Rcpt) {
            for (index, line) in rcpts.iter().enumerate() {
                self.send(line, Expect::Rcpt { index });
            }
            match e.body {
                BodyMode::Data => self.send(b"DATA\r\n", Expect::Data),
                BodyMode::Bdat => {
                    txn.body = Some(self.new_body_writer(&txn));
                    self.emit(Event::ReadyForBody);
                }
            }
        } else {
            txn.pending_rcpts = rcpts.into();
        }
        self.txn = Some(txn);
    }

    fn new_body_writer(&self, txn: &Txn) -> BodyWriter {
        BodyWriter::new(txn.mode, self.config.body_line_ending, txn.binary)
    }

    /// Whether [`Client::send_body`] may be called now: a body is open and (BDAT) the
    /// in-flight chunk limit leaves room. When it is false during a BDAT body, the next
    /// [`Event::ReadyForBody`] says when to go on.
    pub fn body_writable(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| {
            t.body.is_some() && (t.mode == BodyMode::Data || t.chunks_in_flight < t.max_in_flight)
        })
    }

    /// Sends a piece of the message (after [`Event::ReadyForBody`]).
    ///
    /// DATA: dot-stuffed after every line break, line endings per
    /// [`body_line_ending`](super::ClientConfig::body_line_ending); BDAT: one
    /// `BDAT n` chunk (RFC 3030 §2), canonicalised the same way unless BODY=BINARYMIME.
    /// The output grows by about the size of `chunk`, never by the whole message: flush
    /// after each call. An empty chunk sends nothing.
    pub fn send_body(&mut self, now: Instant, chunk: &[u8]) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.send_body_at(chunk))
            .map_err(|e| Misuse::new("send_body", e, ()))
    }

    fn send_body_at(&mut self, chunk: &[u8]) -> Result<(), ClientError> {
        self.write_body(chunk, false)
    }

    /// Ends the message: `CRLF . CRLF` as needed (DATA), or `BDAT 0 LAST`.
    pub fn finish_body(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.finish_body_at())
            .map_err(|e| Misuse::new("finish_body", e, ()))
    }

    fn finish_body_at(&mut self) -> Result<(), ClientError> {
        self.write_body(&[], true)
    }

    /// Sends the last piece of the message and ends it: for BDAT one `BDAT n LAST` chunk
    /// (RFC 3030 §2), saving the `BDAT 0 LAST` round of [`Client::finish_body`].
    pub fn send_last_body(&mut self, now: Instant, chunk: &[u8]) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.send_last_body_at(chunk))
            .map_err(|e| Misuse::new("send_last_body", e, ()))
    }

    fn send_last_body_at(&mut self, chunk: &[u8]) -> Result<(), ClientError> {
        self.write_body(chunk, true)
    }

    fn write_body(&mut self, chunk: &[u8], last: bool) -> Result<(), ClientError> {
        if matches!(self.stage, Stage::Closed | Stage::AwaitingTls) {
            return Err(ClientError::Closed);
        }
        let writable = self.body_writable();
        let Some(txn) = self.txn.as_mut() else {
            return Err(ClientError::WrongState {
                command: "body",
                needs: "a transaction (send_envelope)",
            });
        };
        if txn.failure.is_some() {
            return Err(ClientError::TransactionFailed);
        }
        if !writable {
            return Err(ClientError::Busy);
        }
        let Some(writer) = txn.body.as_mut() else {
            return Err(ClientError::Busy);
        };
        let mark = self.k.queued_len();
        let bdat = writer
            .write(chunk, last, self.k.out.buf(), &mut self.scratch)
            .map_err(ClientError::Body)?;
        if let Some(t) = self.k.transcript.as_mut() {
            if bdat {
                // The BDAT command line that went before the chunk.
                let queued = self.k.out.queued().get(mark..).unwrap_or_default();
                let end = queued.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
                t.sent_command(&queued[..end]);
            } else if last {
                // The body itself is not in the transcript; its end is.
                t.sent_command(b".");
            }
        }
        self.k.out.release();
        if bdat {
            txn.bdat_sent = true;
            txn.chunks_in_flight += 1;
            self.expect.push_back(Expect::Bdat { last });
            if txn.chunks_in_flight >= txn.max_in_flight {
                txn.held = true;
            }
        }
        if last {
            txn.body = None;
            if txn.mode == BodyMode::Data {
                self.expect.push_back(Expect::DataEnd);
            }
        }
        Ok(())
    }

    /// A reply that belongs to the transaction.
    pub(super) fn on_txn_reply(&mut self, expect: Expect, reply: Reply) {
        let Some(mut txn) = self.txn.take() else {
            // An internal RSET or a stray expectation without a transaction: nothing to do.
            return;
        };
        let done = self.txn_step(&mut txn, expect, reply);
        if !done {
            self.txn = Some(txn);
            self.conclude();
        }
    }

    /// Advances the transaction by one reply; returns true when it is over.
    fn txn_step(&mut self, txn: &mut Txn, expect: Expect, reply: Reply) -> bool {
        match expect {
            Expect::Mail => {
                self.emit(Event::MailReply(reply.clone()));
                if positive(&reply) {
                    txn.mail_ok = true;
                    self.send_next_rcpt(txn, 0);
                } else {
                    self.fail(txn, Failure::Envelope(FailureReason::MailRejected, reply));
                    txn.pending_rcpts.clear();
                }
            }
            Expect::Rcpt { index } => {
                let ok = positive(&reply);
                self.emit(Event::RcptReply {
                    index,
                    reply: reply.clone(),
                });
                if ok && txn.mail_ok {
                    txn.accepted.push(index);
                }
                if index + 1 < txn.rcpt_total {
                    self.send_next_rcpt(txn, index + 1);
                } else {
                    if txn.accepted.is_empty() {
                        let f = Failure::Envelope(FailureReason::NoValidRecipients, reply);
                        self.fail(txn, f);
                    }
                    if !txn.pipelined && txn.failure.is_none() {
                        match txn.mode {
                            BodyMode::Data => self.send(b"DATA\r\n", Expect::Data),
                            BodyMode::Bdat => self.open_body(txn),
                        }
                    }
                }
            }
            Expect::Data => {
                if reply.code == ReplyCode::START_MAIL_INPUT {
                    if txn.failure.is_some() {
                        // RFC 2920 §3.1: DATA accepted with no valid recipient: end it
                        // with an empty body. LMTP answers the end of data once per
                        // accepted recipient (RFC 2033 §4.2): here, not at all.
                        txn.lone_dot_sent = true;
                        if self.config.lmtp {
                            if let Some(t) = self.k.transcript.as_mut() {
                                t.sent_command(b".");
                            }
                            self.k.out.push(b".\r\n");
                        } else {
                            self.send(b".\r\n", Expect::LoneDot);
                        }
                    } else {
                        self.open_body(txn);
                    }
                } else if txn.failure.is_none() {
                    self.fail(txn, Failure::Envelope(FailureReason::DataRejected, reply));
                }
            }
            Expect::LoneDot | Expect::Rset { .. } => {}
            Expect::Bdat { last } => {
                txn.chunks_in_flight = txn.chunks_in_flight.saturating_sub(1);
                if txn.failure.is_some() {
                    // Replies to chunks already in the pipeline (RFC 3030 §2).
                } else if last && self.config.lmtp {
                    return self.lmtp_reply(txn, 0, reply);
                } else if !positive(&reply) {
                    self.fail(txn, Failure::Message(reply));
                } else if last {
                    self.emit(Event::MessageAccepted(reply));
                    return true;
                } else if txn.held && txn.body.is_some() {
                    txn.held = false;
                    self.emit(Event::ReadyForBody);
                }
            }
            Expect::DataEnd => {
                if self.config.lmtp {
                    return self.lmtp_reply(txn, 0, reply);
                }
                if positive(&reply) {
                    self.emit(Event::MessageAccepted(reply));
                } else {
                    self.emit(Event::MessageRejected(reply));
                }
                return true;
            }
            Expect::Lmtp { pos } => return self.lmtp_reply(txn, pos, reply),
            _ => {}
        }
        false
    }

    /// Without PIPELINING, send the RCPT for `index` if it is still pending.
    fn send_next_rcpt(&mut self, txn: &mut Txn, index: usize) {
        if let Some(line) = txn.pending_rcpts.pop_front() {
            self.send(&line, Expect::Rcpt { index });
        }
    }

    fn open_body(&mut self, txn: &mut Txn) {
        txn.body = Some(self.new_body_writer(txn));
        self.emit(Event::ReadyForBody);
    }

    /// Records the first failure; the body is closed to the caller.
    fn fail(&mut self, txn: &mut Txn, failure: Failure) {
        if txn.failure.is_none() {
            txn.failure = Some(failure);
        }
        txn.body = None;
        txn.held = false;
    }

    /// LMTP (RFC 2033 §4.2): the reply for the `pos`-th accepted recipient. Returns
    /// true after the last one.
    fn lmtp_reply(&mut self, txn: &mut Txn, pos: usize, reply: Reply) -> bool {
        let count = txn.accepted.len();
        let Some(&index) = txn.accepted.get(pos) else {
            // No accepted recipient (cannot happen: the body needs one).
            self.emit(Event::MessageRejected(reply));
            return true;
        };
        let last = pos + 1 == count;
        self.emit(Event::LmtpReply { index, reply, last });
        if !last && pos == 0 {
            // The remaining replies come before anything written after the data.
            for p in (1..count).rev() {
                self.expect.push_front(Expect::Lmtp { pos: p });
            }
        }
        last
    }

    /// A failed transaction whose replies are all in: RSET if the server may still hold
    /// transaction state (RFC 5321 §4.1.1.5, RFC 3030 §2), then the failure event.
    fn conclude(&mut self) {
        let Some(txn) = self.txn.as_mut() else { return };
        if txn.failure.is_none() || !self.expect.is_empty() {
            return;
        }
        let needs_rset = !txn.lone_dot_sent && (txn.mail_ok || txn.bdat_sent);
        if needs_rset && !txn.rset_sent {
            txn.rset_sent = true;
            self.send(b"RSET\r\n", Expect::Rset { internal: true });
            return;
        }
        let event = match self.txn.take().and_then(|t| t.failure) {
            Some(Failure::Envelope(reason, reply)) => Event::TransactionFailed { reason, reply },
            Some(Failure::Message(reply)) => Event::MessageRejected(reply),
            None => return,
        };
        self.emit(event);
    }
}
