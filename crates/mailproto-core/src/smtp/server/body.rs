//! Message bodies: DATA through the dot decoder (RFC 5321 §4.1.1.4, §4.5.2) and BDAT
//! chunks by count (RFC 3030 §2).

use alloc::format;
use alloc::vec::Vec;

use super::{AbortReason, ChunkOutcome, ChunkState, Chunks, Event, Flush, Pending, Phase, Server};
use crate::dot::DotError;
use crate::smtp::Reply;

impl Server {
    /// Decodes the buffered DATA input; false when there is none.
    pub(super) fn data_step(&mut self) -> bool {
        if self.k.input.is_empty() {
            return false;
        }
        let max = self.config.limits.max_message_size;
        let Phase::Data(state) = &mut self.phase else {
            return false;
        };
        let mut chunk = Vec::new();
        let decoded = self.decoder.decode(self.k.input.buffered(), &mut chunk);
        self.k.input.consume(decoded.consumed);
        if state.failure.is_none() {
            // What comes before a limit or a violation is delivered whatever the reads,
            // so the events do not depend on how the input was split; the rest is read
            // to the terminator and dropped (RFC 1870 §6.3, RFC 5321 §2.3.8).
            let room = usize::try_from(max.saturating_sub(state.size)).unwrap_or(usize::MAX);
            if chunk.len() > room {
                chunk.truncate(room);
                state.failure = Some(AbortReason::TooBig { limit: max });
            } else if let Some(violation) = self.decoder.violation() {
                state.failure = Some(AbortReason::BareLineEnding(violation));
            }
            state.size = state
                .size
                .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
            if !chunk.is_empty() {
                self.k.emit(Event::BodyChunk(chunk));
            }
        }
        if decoded.done {
            // The body itself is not in the transcript; its end is.
            if let Some(t) = self.k.transcript.as_mut() {
                t.received(b".", 1);
            }
            let (size, failure) = (state.size, state.failure);
            self.phase = Phase::Command;
            match failure {
                None => self.message_end(size),
                Some(reason) => {
                    self.k.emit(Event::MessageAborted { reason });
                    self.k.timers.end_message();
                    let reply = self.abort_reply(reason);
                    self.send_per_recipient(&reply);
                    self.txn = None;
                }
            }
        }
        true
    }

    /// The body is complete: the application answers (per recipient for LMTP).
    fn message_end(&mut self, size: u64) {
        self.k.timers.end_message();
        let recipients = self.txn.as_ref().map_or(1, |t| t.recipients);
        let replies = if self.config.lmtp {
            recipients.max(1)
        } else {
            1
        };
        self.pending = Some(Pending::MessageEnd { replies });
        self.k.emit(Event::MessageEnd { size });
    }

    /// The machine's reply to a refused body.
    pub(super) fn abort_reply(&self, reason: AbortReason) -> Reply {
        match reason {
            AbortReason::TooBig { .. } => self.status(552, 3, 4, "Message too big for system"),
            AbortReason::BareLineEnding(DotError::BareCr) => self.status(
                550,
                5,
                2,
                "Message refused: bare CR in body, lines end with CRLF",
            ),
            AbortReason::BareLineEnding(_) => self.status(
                550,
                5,
                2,
                "Message refused: bare LF in body, lines end with CRLF",
            ),
            _ => self.status(451, 3, 0, "Message aborted"),
        }
    }

    /// Sends a reply to the end of a message: once, or in LMTP once per accepted
    /// recipient (RFC 2033 §4.2).
    fn send_per_recipient(&mut self, reply: &Reply) {
        let n = match (&self.txn, self.config.lmtp) {
            (Some(txn), true) => txn.recipients.max(1),
            _ => 1,
        };
        for _ in 0..n {
            self.send(reply, Flush::Later);
        }
    }

    /// `BDAT size [LAST]`: decides what happens to the chunk, which is read in every
    /// case (RFC 3030 §2: "accept and discard the associated message data before sending
    /// the appropriate 5XX or 4XX code").
    pub(super) fn bdat(&mut self, size: u64, last: bool) {
        let outcome = match self.bdat_refusal() {
            Some(outcome) => outcome,
            None => self.bdat_accept(size),
        };
        self.bodies += 1;
        self.phase = Phase::Chunk(ChunkState {
            remaining: size,
            size,
            last,
            outcome,
        });
    }

    /// Why this BDAT cannot add to a body, if it cannot.
    fn bdat_refusal(&mut self) -> Option<ChunkOutcome> {
        let error = |reply| {
            Some(ChunkOutcome::Discard {
                reply,
                end_transaction: false,
                count_error: true,
                verdict: false,
            })
        };
        if self.session.refusing {
            return error(self.status(
                503,
                5,
                1,
                "Bad sequence of commands: service refused, send QUIT",
            ));
        }
        if !(self.config.extensions.chunking && self.session.hello == Some(true)) {
            return error(self.status(502, 5, 1, "Error: command not implemented"));
        }
        if self.config.auth_required && !self.session.authenticated {
            return error(self.status(530, 7, 0, "Authentication required"));
        }
        let no_rcpt = if self.config.lmtp {
            self.status(503, 5, 1, "Error: need RCPT command")
        } else {
            self.status(554, 5, 1, "Error: no valid recipients")
        };
        let need_mail = self.status(503, 5, 1, "Error: need MAIL command");
        let Some(txn) = &mut self.txn else {
            return error(need_mail);
        };
        let (failed, verdict) = match &txn.chunks {
            // An earlier chunk failed the transaction and got the verdict.
            Chunks::Failed(reply) => (reply.clone(), false),
            _ if txn.recipients == 0 => {
                txn.chunks = Chunks::Failed(no_rcpt.clone());
                (no_rcpt, true)
            }
            _ => return None,
        };
        Some(ChunkOutcome::Discard {
            reply: failed,
            end_transaction: true,
            count_error: false,
            verdict,
        })
    }

    /// A BDAT in a transaction with recipients: deliver, unless it makes the message too
    /// big.
    fn bdat_accept(&mut self, size: u64) -> ChunkOutcome {
        let max = self.config.limits.max_message_size;
        let too_big = self.status(552, 3, 4, "Message too big for system");
        let Some(txn) = &mut self.txn else {
            return ChunkOutcome::Discard {
                reply: too_big,
                end_transaction: true,
                count_error: false,
                verdict: true,
            };
        };
        let (first, so_far) = match txn.chunks {
            Chunks::Receiving { size } => (false, size),
            _ => (true, 0),
        };
        let total = so_far.checked_add(size).filter(|total| *total <= max);
        // Under `ask_data` a first chunk already too big is refused without asking.
        let ask = self.config.ask_data;
        if first && !(ask && total.is_none()) {
            let now = self.k.now();
            self.k
                .timers
                .start_message(now, self.config.timeouts.message);
            self.k.emit(Event::DataStart { chunked: true });
            if ask {
                // The chunk is read once the application has answered (RFC 3030 §2).
                self.pending = Some(Pending::Data { chunked: true });
            }
        }
        match total {
            Some(total) => {
                txn.chunks = Chunks::Receiving { size: total };
                ChunkOutcome::Deliver
            }
            None => {
                txn.chunks = Chunks::Failed(too_big.clone());
                if !(first && ask) {
                    self.k.emit(Event::MessageAborted {
                        reason: AbortReason::TooBig { limit: max },
                    });
                    self.k.timers.end_message();
                }
                ChunkOutcome::Discard {
                    reply: too_big,
                    end_transaction: true,
                    count_error: false,
                    verdict: true,
                }
            }
        }
    }

    /// Reads buffered chunk octets; false when the chunk needs more input.
    pub(super) fn chunk_step(&mut self) -> bool {
        let Phase::Chunk(chunk) = &mut self.phase else {
            return false;
        };
        if chunk.remaining > 0 {
            let available = self.k.input.len();
            if available == 0 {
                return false;
            }
            let n = usize::try_from(chunk.remaining).map_or(available, |r| r.min(available));
            if matches!(chunk.outcome, ChunkOutcome::Deliver) {
                let bytes = self.k.input.buffered()[..n].to_vec();
                self.k.emit(Event::BodyChunk(bytes));
            }
            self.k.input.consume(n);
            chunk.remaining -= u64::try_from(n).unwrap_or(chunk.remaining);
            if chunk.remaining > 0 {
                return true;
            }
        }
        if let Phase::Chunk(chunk) = core::mem::replace(&mut self.phase, Phase::Command) {
            self.chunk_done(chunk);
        }
        true
    }

    /// A whole chunk was read.
    fn chunk_done(&mut self, chunk: ChunkState) {
        match chunk.outcome {
            ChunkOutcome::Deliver => {
                if chunk.last {
                    let size = match self.txn.as_mut() {
                        Some(txn) => match core::mem::replace(&mut txn.chunks, Chunks::None) {
                            Chunks::Receiving { size } => size,
                            _ => 0,
                        },
                        None => 0,
                    };
                    self.message_end(size);
                } else {
                    let text = format!("{} octets received", chunk.size);
                    let reply = self.status(250, 0, 0, &text);
                    self.send(&reply, Flush::Later);
                }
            }
            ChunkOutcome::Discard {
                reply,
                end_transaction,
                count_error,
                verdict,
            } => {
                if chunk.last && end_transaction {
                    if verdict {
                        self.send_per_recipient(&reply);
                    } else {
                        self.send(&reply, Flush::Later);
                    }
                    self.txn = None;
                } else {
                    self.send(&reply, Flush::Later);
                }
                if count_error {
                    self.count_error();
                }
            }
        }
    }
}
