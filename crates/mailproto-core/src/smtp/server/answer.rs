//! The application's answers to the events that need one.

use alloc::vec::Vec;

use super::{
    Answer, AnswerError, AnswerErrorKind, ChunkOutcome, Chunks, CloseReason, Flush, Pending, Phase,
    Server, Transaction,
};
use crate::smtp::{EnhancedCode, Reply, ReplyCode};
use crate::time::Instant;

/// Whether the machine can send `reply` on the application's behalf.
fn check(reply: &Reply) -> Result<(), AnswerErrorKind> {
    if reply.code.class() == 3 {
        return Err(AnswerErrorKind::IntermediateCode(reply.code));
    }
    let mut probe = Vec::new();
    reply
        .encode(&mut probe)
        .map_err(AnswerErrorKind::InvalidReply)
}

impl Server {
    /// Accepts what the pending event asked for, with the standard reply:
    /// MAIL `250 2.1.0 Ok`, RCPT `250 2.1.5 Ok`, end of message `250 2.0.0 Ok: queued`
    /// (LMTP: `Ok: delivered`, for the next recipient in RCPT order).
    ///
    /// AUTH needs [`auth_accept`](Self::auth_accept), VRFY/EXPN a
    /// [`reply`](Self::reply); otherwise, or with nothing pending, an error.
    pub fn accept(&mut self, now: Instant) -> Result<(), AnswerError> {
        crate::kernel::answer(self, now, |m| m.accept_at())
    }

    fn accept_at(&mut self) -> Result<(), AnswerError> {
        let reply = match self.pending {
            None => {
                return Err(AnswerError::new(
                    "accept",
                    AnswerErrorKind::NothingPending,
                    Answer::Accept,
                ));
            }
            Some(Pending::Mail { .. }) => self.status(250, 1, 0, "Ok"),
            Some(Pending::Rcpt) => self.status(250, 1, 5, "Ok"),
            Some(Pending::MessageEnd { .. }) if self.config.lmtp => {
                self.status(250, 0, 0, "Ok: delivered")
            }
            Some(Pending::MessageEnd { .. }) => self.status(250, 0, 0, "Ok: queued"),
            Some(Pending::Hello { .. } | Pending::Data { .. }) => {
                self.grant();
                return Ok(());
            }
            Some(other) => {
                return Err(AnswerError::new(
                    "accept",
                    AnswerErrorKind::WrongAnswer {
                        awaiting: other.public(),
                    },
                    Answer::Accept,
                ));
            }
        };
        self.apply(reply);
        Ok(())
    }

    /// Answers the pending event with `reply`. A 2xx reply counts as acceptance (MAIL
    /// opens the transaction, RCPT adds a recipient, AUTH authenticates); `421` closes
    /// the session after it is sent (RFC 5321 §3.8). In LMTP, answers the next
    /// recipient of the message.
    ///
    /// Refused, with the reply handed back: nothing pending, a 3xx code, a reply that
    /// cannot be encoded (CR/LF/NUL in the text, enhanced code of another class).
    pub fn reply(&mut self, now: Instant, reply: Reply) -> Result<(), AnswerError> {
        crate::kernel::answer(self, now, |m| m.reply_at(reply))
    }

    fn reply_at(&mut self, reply: Reply) -> Result<(), AnswerError> {
        if self.pending.is_none() {
            return Err(AnswerError::new(
                "reply",
                AnswerErrorKind::NothingPending,
                Answer::Reply(reply),
            ));
        }
        if let Err(kind) = check(&reply) {
            return Err(AnswerError::new("reply", kind, Answer::Reply(reply)));
        }
        if reply.code.class() == 2
            && matches!(
                self.pending,
                Some(Pending::Hello { .. } | Pending::Data { .. })
            )
        {
            // Acceptance: the machine's own reply (the capabilities, the 354).
            self.grant();
            return Ok(());
        }
        self.apply(reply);
        Ok(())
    }

    /// Accepts a greeting or the start of a body the application was asked about
    /// ([`ServerConfig::ask_hello`](super::ServerConfig::ask_hello),
    /// [`ServerConfig::ask_data`](super::ServerConfig::ask_data)).
    fn grant(&mut self) {
        match self.pending.take() {
            Some(Pending::Hello { extended }) => {
                if let Some(host) = self.asked_hello.take() {
                    self.greet(host, extended, false);
                }
            }
            Some(Pending::Data { chunked: false }) => self.open_data(),
            // The chunk's octets are read and delivered as they come.
            _ => {}
        }
        self.process();
    }

    /// [`reply`](Self::reply) with a single-line reply, e.g.
    /// `reject(ReplyCode::MAILBOX_UNAVAILABLE, Some(EnhancedCode::new(5, 1, 1)), "No such user")`.
    pub fn reject(
        &mut self,
        now: Instant,
        code: ReplyCode,
        enhanced: Option<EnhancedCode>,
        text: &str,
    ) -> Result<(), AnswerError> {
        self.reply(now, Reply::new(code, enhanced, text))
    }

    /// Answers the end of an LMTP message with one reply per accepted recipient, in
    /// RCPT order (RFC 2033 §4.2). Also accepts a single reply for SMTP. Refused unless
    /// the number of replies is the number due and every reply can be sent.
    pub fn reply_lmtp(&mut self, now: Instant, replies: Vec<Reply>) -> Result<(), AnswerError> {
        crate::kernel::answer(self, now, |m| m.reply_lmtp_at(replies))
    }

    fn reply_lmtp_at(&mut self, replies: Vec<Reply>) -> Result<(), AnswerError> {
        let due = match self.pending {
            None => {
                return Err(AnswerError::new(
                    "reply_lmtp",
                    AnswerErrorKind::NothingPending,
                    Answer::Replies(replies),
                ));
            }
            Some(Pending::MessageEnd { replies }) => replies,
            Some(other) => {
                return Err(AnswerError::new(
                    "reply_lmtp",
                    AnswerErrorKind::WrongAnswer {
                        awaiting: other.public(),
                    },
                    Answer::Replies(replies),
                ));
            }
        };
        if replies.len() != due {
            let kind = AnswerErrorKind::WrongReplyCount {
                expected: due,
                got: replies.len(),
            };
            return Err(AnswerError::new(
                "reply_lmtp",
                kind,
                Answer::Replies(replies),
            ));
        }
        if let Some(kind) = replies.iter().find_map(|r| check(r).err()) {
            return Err(AnswerError::new(
                "reply_lmtp",
                kind,
                Answer::Replies(replies),
            ));
        }
        for reply in replies {
            if self.pending.is_none() {
                break;
            }
            self.apply(reply);
        }
        Ok(())
    }

    /// Accepts the credentials of the pending AUTH: `235 2.7.0 Authentication
    /// successful` (RFC 4954 §6).
    pub fn auth_accept(&mut self, now: Instant) -> Result<(), AnswerError> {
        crate::kernel::answer(self, now, |m| m.auth_accept_at())
    }

    fn auth_accept_at(&mut self) -> Result<(), AnswerError> {
        self.auth_answer(true)
    }

    /// Rejects the credentials of the pending AUTH: `535 5.7.8 Authentication
    /// credentials invalid` (RFC 4954 §6). Counts towards
    /// [`ServerLimits::max_auth_failures`](super::ServerLimits::max_auth_failures).
    pub fn auth_reject(&mut self, now: Instant) -> Result<(), AnswerError> {
        crate::kernel::answer(self, now, |m| m.auth_reject_at())
    }

    fn auth_reject_at(&mut self) -> Result<(), AnswerError> {
        self.auth_answer(false)
    }

    /// Rejects the credentials of a pending XOAUTH2 or OAUTHBEARER exchange with an
    /// error challenge (RFC 7628 §3.2.2: `334` with the base64 of `error`, built with
    /// [`xoauth2_error_challenge`] or [`oauthbearer_error_challenge`]); the client's
    /// dummy response then gets `535 5.7.8`. For other mechanisms this is
    /// [`auth_reject`](Self::auth_reject).
    ///
    /// [`xoauth2_error_challenge`]: crate::sasl::xoauth2_error_challenge
    /// [`oauthbearer_error_challenge`]: crate::sasl::oauthbearer_error_challenge
    pub fn auth_reject_with_challenge(
        &mut self,
        now: Instant,
        error: Vec<u8>,
    ) -> Result<(), AnswerError> {
        crate::kernel::answer(self, now, |m| m.auth_reject_with_challenge_at(error))
    }

    fn auth_reject_with_challenge_at(&mut self, error: Vec<u8>) -> Result<(), AnswerError> {
        match self.pending {
            Some(Pending::Auth) => {
                self.sasl_error_challenge(error);
                Ok(())
            }
            None => Err(AnswerError::new(
                "auth_reject_with_challenge",
                AnswerErrorKind::NothingPending,
                Answer::AuthChallenge(error),
            )),
            Some(other) => Err(AnswerError::new(
                "auth_reject_with_challenge",
                AnswerErrorKind::WrongAnswer {
                    awaiting: other.public(),
                },
                Answer::AuthChallenge(error),
            )),
        }
    }

    fn auth_answer(&mut self, ok: bool) -> Result<(), AnswerError> {
        let call = if ok { "auth_accept" } else { "auth_reject" };
        let answer = || {
            if ok {
                Answer::AuthAccept
            } else {
                Answer::AuthReject
            }
        };
        match self.pending {
            Some(Pending::Auth) => {}
            None => {
                return Err(AnswerError::new(
                    call,
                    AnswerErrorKind::NothingPending,
                    answer(),
                ));
            }
            Some(other) => {
                let kind = AnswerErrorKind::WrongAnswer {
                    awaiting: other.public(),
                };
                return Err(AnswerError::new(call, kind, answer()));
            }
        }
        let reply = if ok {
            self.status(235, 7, 0, "Authentication successful")
        } else {
            self.status(535, 7, 8, "Authentication credentials invalid")
        };
        self.apply(reply);
        Ok(())
    }

    /// Sends a checked answer to the pending event and moves on.
    fn apply(&mut self, reply: Reply) {
        let Some(pending) = self.pending else {
            return;
        };
        let ok = reply.code.class() == 2;
        let mut flush = Flush::Later;
        self.pending = None;
        match pending {
            Pending::Mail { smtputf8, binary } => {
                if ok {
                    self.k.timers.logged_in();
                    self.txn = Some(Transaction {
                        smtputf8,
                        binary,
                        recipients: 0,
                        chunks: Chunks::None,
                    });
                }
            }
            Pending::Rcpt => {
                if let (true, Some(txn)) = (ok, self.txn.as_mut()) {
                    txn.recipients = txn.recipients.saturating_add(1);
                }
            }
            Pending::MessageEnd { replies } => {
                if replies > 1 {
                    self.pending = Some(Pending::MessageEnd {
                        replies: replies - 1,
                    });
                } else {
                    self.txn = None;
                }
            }
            Pending::Auth => {
                flush = Flush::Now;
                self.finished_sasl = None;
                if ok {
                    self.session.authenticated = true;
                }
            }
            Pending::Vrfy | Pending::Expn => flush = Flush::Now,
            Pending::Hello { .. } => {
                // Refused: the session stays as it was (a greeting before keeps its
                // effect, an open transaction stays open).
                self.asked_hello = None;
                flush = Flush::Now;
            }
            Pending::Data { chunked: false } => {
                // Refused: the transaction ends, as a refused message does (clients do
                // not all send RSET after a failed DATA).
                if self.txn.take().is_some() {
                    self.k.emit(super::Event::Reset);
                }
                flush = Flush::Now;
            }
            Pending::Data { chunked: true } => {
                if reply.code != ReplyCode::NOT_AVAILABLE {
                    // RFC 3030 §2: the chunk is read and dropped, then refused; so are
                    // the transaction's later chunks.
                    self.refuse_chunks(reply);
                    self.process();
                    return;
                }
            }
        }
        self.send(&reply, flush);
        if reply.code == ReplyCode::NOT_AVAILABLE {
            self.close(CloseReason::Application, None);
            return;
        }
        if matches!(pending, Pending::Auth) && !ok {
            self.auth_failed();
        }
        if self.pending.is_none() {
            self.process();
        }
    }

    /// The first BDAT chunk was refused: it is read and dropped and answered with
    /// `reply`, and so is every later chunk of the transaction.
    fn refuse_chunks(&mut self, reply: Reply) {
        self.k.timers.end_message();
        if let Some(txn) = self.txn.as_mut() {
            txn.chunks = Chunks::Failed(reply.clone());
        }
        if let Phase::Chunk(chunk) = &mut self.phase {
            chunk.outcome = ChunkOutcome::Discard {
                reply,
                end_transaction: true,
                count_error: false,
                verdict: true,
            };
        }
    }
}
