//! Property-testing your own SMTP handler and POP3 backend, without a socket and
//! without sleeping.
//!
//! The application below has an [`SmtpHandler`] (`Inbox`: refuses one domain and
//! messages that mention "viagra", stores the rest in a shared `Spool`) and a
//! [`Pop3Backend`] (`Store`: one account whose messages live in a shared list). The
//! tests play generated client sessions (`mailproto-core`'s `generate` module,
//! features `proptest` and `testing`) against them through the engine's session glue
//! ([`SmtpSession`], [`Pop3Session`]) and the core's `testing::Pair`, which wires the
//! scripted client to the server machine in memory and runs a virtual clock, so a
//! session with a ten-minute pause takes microseconds. They check what must hold
//! whatever the client does:
//!
//! - every message the server acknowledged with 2xx is stored exactly once, byte for
//!   byte, and nothing else is;
//! - the session survives arbitrary command sequences: every reply is well formed, the
//!   glue never reports an error, the connection ends closed;
//! - the POP3 backend deletes only in UPDATE, after QUIT, exactly the messages marked
//!   since the last RSET, and RETR serves the stored bytes;
//! - deadlines fire in simulated time: a client silent past the idle deadline gets
//!   `421` (SMTP) or is logged out without UPDATE (POP3).
//!
//! # Adapting it
//!
//! 1. In your crate's `[dev-dependencies]`: `mailproto-core` with features
//!    `["testing", "proptest"]`, and `proptest`.
//! 2. Replace `Inbox` and `Store` with your handler and backend (or a test double of
//!    what they store into), and `config()` with your server configuration.
//! 3. Keep `run_smtp` and `run_pop3`: they are the seam. `SmtpSession::connect` gives
//!    the core machine, `Pair` connects it to an `SmtpPlayer` (`Pop3Player`), and
//!    `generate::play` runs the script, handing each server event to the session
//!    glue, streaming POP3 messages as the adapters do.
//! 4. Write your own invariants against the player's record (`exchanges`, `delivered`,
//!    `answers_to`) and your storage.
//!
//! `cargo test -p mailproto-std --example property_test` runs the tests (64 cases
//! each; `PROPTEST_CASES=2000` for a longer run); `cargo run -p mailproto-std
//! --example property_test` plays one session and prints its transcript. To fuzz the
//! same handler, start from `fuzz/templates/smtp_handler.rs`.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use mailproto_std::core::Instant;
use mailproto_std::core::generate::{
    self, Account, Bytes, Pop3Player, Pop3Script, SmtpPlayer, SmtpScript,
};
use mailproto_std::core::pop3;
use mailproto_std::core::smtp::server::ServerConfig;
use mailproto_std::core::smtp::{self, ForwardPath, Host, RcptParams, Reply};
use mailproto_std::core::testing::Pair;
use mailproto_std::pop3_server::{
    LoginAttempt, LoginError, Next, Pop3Backend, Pop3Mailbox, Pop3Service, Pop3Session, Streamed,
    stream_step,
};
use mailproto_std::smtp_server::{SmtpHandler, SmtpService, SmtpSession, reply};

// ---------------------------------------------------------------------------------------
// The application: replace with your own.

/// Where accepted messages go (your queue, Maildir, database).
#[derive(Debug, Clone, Default)]
struct Spool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Spool {
    fn messages(&self) -> Vec<Vec<u8>> {
        self.0.lock().unwrap().clone()
    }
}

/// The application's SMTP handler: refuses recipients at `blocked.example` and messages
/// that mention "viagra", stores the rest.
#[derive(Debug)]
struct Inbox {
    spool: Spool,
    body: Vec<u8>,
}

impl SmtpHandler for Inbox {
    fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<(), Reply> {
        match to {
            ForwardPath::Mailbox(m) if matches!(&m.domain, Host::Domain(d) if d.as_str() == "blocked.example") => {
                Err(reply(550, (5, 1, 1), "No such user here"))
            }
            _ => Ok(()),
        }
    }

    fn data_start(&mut self) -> io::Result<()> {
        self.body.clear();
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn data_end(&mut self) -> Result<(), Reply> {
        let body = std::mem::take(&mut self.body);
        if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"viagra")) {
            return Err(reply(554, (5, 7, 1), "Message refused"));
        }
        self.spool.0.lock().unwrap().push(body);
        Ok(())
    }

    fn data_abort(&mut self) {
        self.body.clear();
    }
}

/// The application's POP3 backend: one account, its messages in a shared list.
#[derive(Debug, Clone)]
struct Store {
    account: Account,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Store {
    fn new(account: Account) -> Self {
        let messages = (1..=account.messages)
            .map(|i| {
                format!("Subject: message {i}\r\n\r\n.leading dot\r\nbody {i}\r\n").into_bytes()
            })
            .collect();
        Store {
            account,
            messages: Arc::new(Mutex::new(messages)),
        }
    }
}

/// One session's view of the store.
#[derive(Debug)]
struct Maildrop {
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The messages as they were at login: numbering is fixed for the session.
    snapshot: Vec<Vec<u8>>,
}

impl Pop3Backend for Store {
    type Mailbox = Maildrop;

    fn login(&self, attempt: LoginAttempt<'_>) -> Result<Maildrop, LoginError> {
        if attempt.user() != self.account.user || !attempt.verify(&self.account.password) {
            return Err(LoginError::Invalid);
        }
        Ok(Maildrop {
            messages: self.messages.clone(),
            snapshot: self.messages.lock().unwrap().clone(),
        })
    }
}

impl Pop3Mailbox for Maildrop {
    fn list(&self) -> Vec<(u64, String)> {
        let uid = |m: &Vec<u8>| {
            format!(
                "{:016x}",
                m.iter().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(*b))
            )
        };
        self.snapshot
            .iter()
            .map(|m| (m.len() as u64, uid(m)))
            .collect()
    }

    fn open(&mut self, index: usize) -> io::Result<Box<dyn Read + Send>> {
        let message = self.snapshot.get(index).ok_or(io::ErrorKind::NotFound)?;
        Ok(Box::new(io::Cursor::new(message.clone())))
    }

    fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        let gone: Vec<&Vec<u8>> = indexes
            .iter()
            .filter_map(|i| self.snapshot.get(*i))
            .collect();
        self.messages.lock().unwrap().retain(|m| !gone.contains(&m));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The seam: a generated session against the application, in memory, in virtual time.

fn config() -> ServerConfig {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.chunking = true;
    config
}

/// Play `script` against an `Inbox` storing into `spool`; the pair when it is over.
fn run_smtp(
    script: SmtpScript,
    splits: Vec<usize>,
    spool: &Spool,
) -> Pair<SmtpPlayer, smtp::server::Server> {
    let service = SmtpService::new(config(), |_| ());
    let mut session = SmtpSession::new(Inbox {
        spool: spool.clone(),
        body: Vec::new(),
    });
    let server = session.connect(service.session_config(false), Instant::ZERO);
    let mut pair = Pair::with_splits(SmtpPlayer::new(script), server, splits);
    generate::play(&mut pair, |server, now, event| {
        session
            .handle(server, now, event)
            .expect("the session glue never fails")
    });
    pair
}

/// Play `script` against `store`; the pair when it is over.
fn run_pop3(script: Pop3Script, store: &Store) -> Pair<Pop3Player, pop3::server::Server> {
    let config = pop3::server::ServerConfig::default().with_plaintext_login(true);
    let service = Pop3Service::new(store.clone(), config);
    let server = pop3::server::Server::new(Instant::ZERO, service.session_config(false));
    let mut session = Pop3Session::new(service.backend());
    let mut pair = Pair::new(Pop3Player::new(script), server);
    let mut buf = [0u8; 64];
    generate::play(&mut pair, |server, now, event| {
        let next = session
            .handle(server, now, event)
            .expect("the session glue never fails");
        if let Next::Stream(mut reader) = next {
            // What the adapters do, without the flushes: the pair takes every byte.
            while stream_step(server, now, &mut *reader, &mut buf).unwrap() == Streamed::Flush {}
        }
    });
    pair
}

fn main() {
    let spool = Spool::default();
    let script = generate::smtp::script(&mut Bytes::new(b"a session from these bytes"));
    let pair = run_smtp(script, Vec::new(), &spool);
    print!("{}", pair.transcript());
    println!("stored {} message(s)\n", spool.messages().len());

    let account = Account::default();
    let store = Store::new(account.clone());
    let script = generate::pop3::script(&mut Bytes::new(b"and a POP3 one from these"), &account);
    let pair = run_pop3(script, &store);
    print!("{}", pair.transcript());
    println!("{} message(s) left", store.messages.lock().unwrap().len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailproto_std::core::generate::{Pop3Step, SmtpStep, strategy};
    use mailproto_std::core::pop3::Response;
    use mailproto_std::core::smtp::Command;
    use mailproto_std::core::time::Duration;
    use mailproto_std::core::{Io, Machine};
    use proptest::prelude::*;

    /// 64 cases unless `PROPTEST_CASES` says otherwise.
    fn cases() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        ProptestConfig::with_cases(cases)
    }

    fn is_ok(answer: &generate::Pop3Answer) -> bool {
        matches!(&answer.response, Response::Status(s) if s.is_ok())
    }

    proptest! {
        #![proptest_config(cases())]

        /// Every 2xx-acknowledged message is stored once, byte for byte; nothing else
        /// is; every reply is well formed and the session ends closed.
        #[test]
        fn accepted_messages_are_stored_exactly_once(
            script in strategy::smtp_script(),
            splits in proptest::collection::vec(1usize..16, 0..3),
        ) {
            let spool = Spool::default();
            let pair = run_smtp(script, splits, &spool);
            let player = &pair.client;
            prop_assert_eq!(spool.messages(), player.delivered());
            prop_assert!(player.garbled().is_empty(), "garbled: {:?}", player.garbled());
            prop_assert_eq!(player.greeting().map(|r| r.code.get()), Some(220));
            prop_assert!(player.exchanges().iter().all(|e| e.reply.lines.iter().all(|l| l.len() < 512)));
            prop_assert_eq!(pair.server.io(), Io::Closed);
        }

        /// Deletion happens in UPDATE only: after a QUIT answered `+OK`, exactly the
        /// messages marked since the last RSET are gone; otherwise (no QUIT, a wrong
        /// password, a deadline) nothing is. RETR serves the stored bytes.
        #[test]
        fn the_backend_deletes_only_after_quit(script in strategy::pop3_script(Account::default())) {
            let store = Store::new(Account::default());
            let before = store.messages.lock().unwrap().clone();
            let pair = run_pop3(script.clone(), &store);
            let player = &pair.client;
            prop_assert!(player.garbled().is_empty(), "garbled: {:?}", player.garbled());
            let mut marked = Vec::new();
            let mut updated = false;
            for (i, step) in script.steps.iter().enumerate() {
                let ok = player.answers_to(i).any(is_ok);
                match step {
                    Pop3Step::Command(pop3::Command::Dele(n)) if ok => marked.push(*n as usize - 1),
                    Pop3Step::Command(pop3::Command::Rset) if ok => marked.clear(),
                    Pop3Step::Command(pop3::Command::Quit) if ok => updated = true,
                    Pop3Step::Command(pop3::Command::Retr(n)) if ok => {
                        let answer = player.answers_to(i).next().unwrap();
                        prop_assert_eq!(answer.body.as_ref(), before.get(*n as usize - 1));
                    }
                    _ => {}
                }
            }
            let expected: Vec<Vec<u8>> = if updated {
                before.iter().enumerate().filter(|(i, _)| !marked.contains(i)).map(|(_, m)| m.clone()).collect()
            } else {
                before.clone()
            };
            prop_assert_eq!(store.messages.lock().unwrap().clone(), expected);
        }
    }

    #[test]
    fn refused_messages_and_recipients_are_not_stored() {
        let spool = Spool::default();
        let rcpt = |to: &str| {
            SmtpStep::Command(Command::Rcpt {
                to: ForwardPath::Mailbox(to.parse().unwrap()),
                params: RcptParams::default(),
            })
        };
        let mut script = generate::smtp::simple_script(
            "ann@example.org".parse().unwrap(),
            "bob@blocked.example".parse().unwrap(),
            b"hello\r\n",
        );
        let quit = script.steps.pop().unwrap();
        let mail = script.steps[1].clone();
        script.steps.insert(3, rcpt("cy@example.org"));
        script.steps.extend([
            mail,
            rcpt("cy@example.org"),
            SmtpStep::Data(b"Buy VIAGRA now\r\n".to_vec()),
            quit,
        ]);
        let pair = run_smtp(script, Vec::new(), &spool);
        let codes: Vec<u16> = pair
            .client
            .exchanges()
            .iter()
            .map(|e| e.reply.code.get())
            .collect();
        // 220, EHLO, MAIL, RCPT bob (refused), RCPT cy, DATA 354 + 250, MAIL, RCPT cy,
        // DATA 354 + 554, QUIT.
        assert_eq!(
            codes,
            [220, 250, 250, 550, 250, 354, 250, 250, 250, 354, 554, 221]
        );
        assert_eq!(spool.messages(), [b"hello\r\n".to_vec()]);
    }

    #[test]
    fn a_silent_client_gets_421_at_the_idle_deadline_in_virtual_time() {
        let spool = Spool::default();
        let mut script = generate::smtp::simple_script(
            "ann@example.org".parse().unwrap(),
            "cy@example.org".parse().unwrap(),
            b"never sent\r\n",
        );
        script
            .steps
            .insert(3, SmtpStep::Pause(Duration::from_secs(3600)));
        let pair = run_smtp(script, Vec::new(), &spool);
        let last = pair.client.exchanges().last().unwrap();
        assert_eq!((last.step, last.reply.code.get()), (None, 421));
        // The idle deadline (5 minutes, RFC 5321 §4.5.3.2.7) fired within the pause.
        assert_eq!(pair.now(), Instant::ZERO + Duration::from_secs(3600));
        assert!(spool.messages().is_empty());
    }

    #[test]
    fn an_autologout_deletes_nothing() {
        let account = Account::default();
        let store = Store::new(account.clone());
        let script = Pop3Script {
            steps: vec![
                Pop3Step::Command(pop3::Command::User(account.user.clone())),
                Pop3Step::Command(pop3::Command::Pass(account.password.clone().into())),
                Pop3Step::Command(pop3::Command::Dele(1)),
                Pop3Step::Pause(Duration::from_secs(11 * 60)),
                Pop3Step::Command(pop3::Command::Quit),
            ],
        };
        let pair = run_pop3(script, &store);
        assert!(pair.client.answers_to(2).all(is_ok), "DELE 1 was accepted");
        assert_eq!(pair.client.answers_to(4).count(), 0, "QUIT came too late");
        assert_eq!(store.messages.lock().unwrap().len(), 3);
    }
}
