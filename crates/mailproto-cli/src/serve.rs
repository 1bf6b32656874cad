//! `mailproto serve`: SMTP and POP3 on loopback over a Maildir per user.
//!
//! SMTP delivers each accepted message atomically into the Maildir of every local
//! recipient (the recipient's local part picks the user); POP3 serves `new/` and `cur/`
//! with the Maildir unique names as UIDLs, locks the maildrop for the session and deletes
//! only at UPDATE.
//!
//! Failure rules ([`crate::rules`]) are asked at each point a handler decides: the SMTP
//! handler's connect (the greeting), hello (HELO/EHLO), auth, MAIL, RCPT, DATA (before
//! `354`) and end-of-data calls, and the POP3 backend's login, per-command (USER, CAPA,
//! STAT, LIST, UIDL, DELE, NOOP, RSET), message open (RETR, TOP) and UPDATE (QUIT)
//! calls, with the client's address. A rule's delay sleeps in
//! that call, which runs on the session's thread (`--runtime std`) or on the blocking
//! pool beside the executor (`Offload`, `OffloadBackend` on smol and tokio), so it holds
//! up its own session only. docs/serve.md describes every flag.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use mailproto_core::pop3::server::{ServerConfig as Pop3Config, Timeouts as Pop3Timeouts};
use mailproto_core::pop3::{Command as Pop3Command, ResponseCode, Status as Pop3Status};
use mailproto_core::sasl::{Credentials, Mechanism};
use mailproto_core::smtp::server::{ServerConfig as SmtpConfig, Timeouts as SmtpTimeouts};
use mailproto_core::smtp::{
    ForwardPath, Host as HeloHost, MailParams, RcptParams, Reply, ReversePath,
};
use mailproto_smol::engine::aio::{self, Runtime, Tls};
use mailproto_smol::engine::pop3_server::OffloadBackend;
use mailproto_smol::engine::smtp_server::Offload;
use mailproto_std::pop3_server::LoginAttempt;
use mailproto_std::pop3_server::{
    CommandRefusal, LoginError, Pop3Backend, Pop3Context, Pop3Mailbox, Pop3Server,
};
use mailproto_std::smtp_server::{AuthVerdict, HandlerFactory, SmtpHandler, SmtpServer, reply};
use mailproto_std::tls::{SelfSigned, server_config_from_pem};
use mailproto_std::{Listener, ListenerOptions, ProxyOptions};

use crate::CliResult;
use crate::maildir::{Delivery, Maildir, Maildrop, MaildropError, STALE_TMP, SyncMode};
use crate::rules::{Context, Decision, Phase, Pop3Error, Pop3Verb, Rule, Rules, Verdict};
use crate::users::Users;

/// The name of `serve`'s smol executor threads (work that blocks must not run there).
pub const SMOL_WORKER: &str = "mailproto-smol";

/// Options of `mailproto serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Where SMTP listens.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub smtp: String,
    /// Where POP3 listens.
    #[arg(long, default_value = "127.0.0.1:1110")]
    pub pop3: String,
    /// Also listen for SMTP over implicit TLS (submissions) here.
    #[arg(long)]
    pub smtps: Option<String>,
    /// Also listen for POP3 over implicit TLS (POP3S) here.
    #[arg(long)]
    pub pop3s: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key, STARTTLS/STLS are offered.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Generate a self-signed certificate at start, in memory (its fingerprint is
    /// printed); clients must skip verification. See --tls-self-signed-dir.
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// Keep a self-signed certificate in DIR: cert.pem (and key.pem, mode 0600) are
    /// written at the first start and reused while valid for localhost, 127.0.0.1 and
    /// --hostname, so clients can trust DIR/cert.pem (send/fetch --ca-file, curl
    /// --cacert). Implies --tls-self-signed.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert")]
    pub tls_self_signed_dir: Option<PathBuf>,
    /// The Maildir root: one Maildir per user below it.
    #[arg(long, default_value = "./mail")]
    pub maildir: PathBuf,
    /// A user, NAME:PASSWORD with the password in plaintext (repeatable; for quick
    /// local use: the command line is visible to other users of the machine).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// A users file, Dovecot passwd-file style: NAME:{ARGON2ID}..., NAME:{SHA512-CRYPT}...,
    /// NAME:{PLAIN}text or NAME:text per line, # comments (`mailproto passwd` writes
    /// it). CRAM-MD5 and APOP are offered only while every password is plaintext.
    #[arg(long = "users", value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Deliver mail for unknown recipients to this user instead of refusing it.
    #[arg(long)]
    pub catch_all: Option<String>,
    /// How a delivery's rename into new/ is made durable before its 250: `group`
    /// (deliveries finishing together share one sync of new/) or `per-message` (one sync
    /// of new/ each). Either way the message file is synced first.
    #[arg(long, value_enum, default_value_t = MaildirSync::Group)]
    pub maildir_sync: MaildirSync,
    /// Require SMTP AUTH before MAIL.
    #[arg(long)]
    pub require_auth: bool,
    /// Largest message accepted, in octets.
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    pub max_message_size: u64,
    /// Most recipients per message.
    #[arg(long, default_value_t = 100)]
    pub max_recipients: usize,
    /// Most connections served at once, per listener.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Most connections served at once from one client address (IPv6: one /64), per
    /// listener; one more gets the busy reply (SMTP 421, POP3 -ERR [SYS/TEMP]).
    #[arg(long, default_value_t = 32)]
    pub max_per_address: usize,
    /// New connections a minute from one client address, per listener (0: no limit);
    /// one more gets SMTP 421 4.7.0 / POP3 -ERR [SYS/TEMP].
    #[arg(long, default_value_t = 120, value_name = "N")]
    pub connections_per_minute: u32,
    /// Messages a minute from one client address (counted at MAIL; 0: no limit); one
    /// more gets 451 4.7.1, which senders retry later.
    #[arg(long, default_value_t = 600, value_name = "N")]
    pub messages_per_minute: u32,
    /// Delay before answering a failed login, in milliseconds, doubled for each failure
    /// from the same client address in a row (kept across sessions for an hour, forgotten
    /// at a success) up to 15 s; 0 for none.
    #[arg(long, default_value_t = 2000, value_name = "MILLISECONDS")]
    pub login_failure_delay: u64,
    /// Time a client has to log in (POP3, default 180 s) or to open its first mail
    /// transaction (SMTP, default 300 s) from connecting, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub login_timeout: Option<u64>,
    /// Accept the PROXY protocol (v1 and v2) from this proxy address or network, e.g.
    /// 127.0.0.1 or 10.0.0.0/8 (repeatable). Every listener then expects a header from
    /// these proxies first and refuses connections from anywhere else; the client it
    /// names counts for the limits, the handler and the logs, and HAProxy's SSL TLV
    /// (send-proxy-v2-ssl) makes the session count as inside TLS.
    #[arg(long = "proxy-from", value_name = "NETWORK")]
    pub proxy_from: Vec<mailproto_std::Network>,
    /// Time a trusted proxy has to send its PROXY header, in seconds.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub proxy_timeout: u64,
    /// Set the idle, line-completion, message-data and write deadlines of both servers to
    /// this many seconds, as Postfix's smtpd_timeout with smtpd_per_record_deadline = yes:
    /// a client that drips a command one byte at a time, or stops reading a RETR, is
    /// dropped within it (data and writes are extended only at 500 octets/s). Without
    /// it, the RFC defaults: SMTP 300 s (RFC 5321 §4.5.3.2), POP3 autologout 600 s in
    /// TRANSACTION (RFC 1939 §3) and 120 s before login.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Override the idle deadline (no command started), in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,
    /// Override the line deadline (a command's first byte to its line end), in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub line_timeout: Option<u64>,
    /// Override the write deadline (output the client does not take), in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub write_timeout: Option<u64>,
    /// The host name in greetings.
    #[arg(long, default_value = "localhost")]
    pub hostname: String,
    /// A failure rule (repeatable), e.g. 'rcpt *@slow.example every=3 reply="451 4.7.1
    /// slow down"': `PHASE [PATTERN] [from=NETWORK] [sender=GLOB] [to=GLOB] [user=GLOB]`
    /// then `reply="CODE TEXT" | disconnect | fail`, and/or `delay=2s`, then `always |
    /// every=N | probability=P`. Phases: connect, ehlo, auth, mail, rcpt, data, data-end,
    /// pop3 login|user|capa|stat|list|uidl|dele|noop|rset|retr|top|quit. docs/serve.md
    /// has the details.
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// A file of failure rules, one per line, # comments (applied before --rule ones).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules_file: Option<PathBuf>,
    /// The seed of the probability=P rules: the same seed and the same traffic fail the
    /// same commands (default: from the clock, printed at start).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Print no log lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// More logging: `-v` each session's transcript (`C:`/`S:` lines, credentials
    /// masked, message contents left out) and the info events, `-vv` the debug events.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text (RFC 3339 timestamps) or one JSON object per line.
    #[arg(long, value_enum, default_value_t = crate::log::LogFormat::Text)]
    pub log_format: crate::log::LogFormat,
    /// What runs the sessions: a thread per connection (std), or tasks on a
    /// multi-threaded smol executor or tokio runtime, one worker per core (storage runs
    /// on a thread pool beside the executor).
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Std)]
    pub runtime: RuntimeChoice,
}

/// The adapter `serve` runs on.
/// `--maildir-sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MaildirSync {
    /// Group commit of new/.
    Group,
    /// One sync of new/ per message.
    PerMessage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeChoice {
    /// mailproto-std: blocking I/O, a thread per connection.
    Std,
    /// mailproto-smol: async tasks on a multi-threaded smol executor.
    Smol,
    /// mailproto-tokio: async tasks on a multi-threaded tokio runtime.
    Tokio,
}

/// The deadlines of both servers from `--timeout` and its overrides.
fn deadlines(args: &ServeArgs) -> (SmtpTimeouts, Pop3Timeouts) {
    let secs = |n: u64| Duration::from_secs(n.max(1));
    let (mut smtp, mut pop3) = match args.timeout {
        Some(n) => (
            SmtpTimeouts::uniform(secs(n)),
            Pop3Timeouts::uniform(secs(n)),
        ),
        None => (SmtpTimeouts::default(), Pop3Timeouts::default()),
    };
    if let Some(n) = args.idle_timeout {
        smtp.idle = secs(n);
        pop3.idle = secs(n);
        pop3.authorization_idle = secs(n);
    }
    if let Some(n) = args.line_timeout {
        smtp.line = secs(n);
        pop3.line = secs(n);
    }
    if let Some(n) = args.write_timeout {
        smtp.write = smtp.write.with_timeout(secs(n));
        pop3.write = pop3.write.with_timeout(secs(n));
    }
    if let Some(n) = args.login_timeout {
        smtp.first_transaction = Some(secs(n));
        pop3.login = Some(secs(n));
    }
    (smtp, pop3)
}

/// Users and their mailboxes, and the failure rules.
#[derive(Debug)]
struct Store {
    maildirs: HashMap<String, Maildir>,
    users: Users,
    catch_all: Option<String>,
    rules: Rules,
}

impl Store {
    /// The user a recipient's local part names (case-insensitively), or the catch-all.
    fn user_for(&self, to: &ForwardPath) -> Option<String> {
        let local = match to {
            ForwardPath::Postmaster => "postmaster".to_string(),
            ForwardPath::Mailbox(m) => m.local_part.to_lowercase(),
        };
        self.users
            .names()
            .find(|u| u.to_lowercase() == local)
            .cloned()
            .or_else(|| self.catch_all.clone())
    }

    /// The user's Maildir, opened (and created) once at start.
    fn maildir(&self, user: &str) -> io::Result<&Maildir> {
        self.maildirs
            .get(user)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such user"))
    }

    /// A log line of the server's own (deliveries, logins, rules that fired), through
    /// `tracing` at info: the subscriber gives it a timestamp, `-q` silences it and
    /// `--log-format json` makes it JSON ([`crate::log::SERVE`] lets it through without
    /// `-v`).
    fn log(&self, line: std::fmt::Arguments<'_>) {
        tracing::info!(target: crate::log::SERVE, "{line}");
    }

    /// Ask the rules about `phase`; log what fired and sleep its delay here (this runs
    /// on the session's thread or the blocking pool, never the executor).
    fn decide(&self, phase: Phase, context: &Context<'_>, session: &str) -> Option<Verdict> {
        let decision = self.rules.decide(phase, context);
        self.apply_delay(&decision, session);
        decision.verdict
    }

    fn apply_delay(&self, decision: &Decision, session: &str) {
        if decision.is_empty() {
            return;
        }
        self.log(format_args!(
            "{session}: failure rule fired: {}",
            decision.fired.join(" | ")
        ));
        if !decision.delay.is_zero() {
            thread::sleep(decision.delay);
        }
    }
}

/// One SMTP connection: delivers each message into the recipients' Maildirs.
struct Delivering {
    store: Arc<Store>,
    peer: Option<SocketAddr>,
    hostname: String,
    /// The name the client gave in HELO/EHLO, for the rules.
    helo: Option<String>,
    from: Option<ReversePath>,
    users: Vec<String>,
    /// The accepted recipients' addresses, for the rules.
    recipients: Vec<String>,
    deliveries: Vec<Delivery>,
    messages: usize,
}

impl Delivering {
    /// A handler for a new connection from `peer`.
    fn new(store: Arc<Store>, peer: Option<SocketAddr>, hostname: String) -> Self {
        Delivering {
            store,
            peer,
            hostname,
            helo: None,
            from: None,
            users: Vec::new(),
            recipients: Vec::new(),
            deliveries: Vec::new(),
            messages: 0,
        }
    }

    fn session(&self) -> String {
        format!("smtp {}", self.peer.map_or("-".into(), |p| p.to_string()))
    }

    fn context(&self) -> Context<'_> {
        Context {
            client: self.peer.map(|p| p.ip()),
            helo: self.helo.as_deref(),
            ..Context::default()
        }
    }

    /// Ask the rules about `phase` in `context` (its delay slept here: the handler runs
    /// on the session's thread or the blocking pool); the verdict, if one fired.
    fn verdict(&self, phase: Phase, context: &Context<'_>) -> Option<Verdict> {
        if !self.store.rules.has(phase) {
            return None;
        }
        self.store.decide(phase, context, &self.session())
    }

    /// Ask the rules about a transaction phase (the sender and the recipients known).
    fn decide(&self, phase: Phase, recipients: &[String]) -> Option<Reply> {
        let sender = self.from.as_ref().map(address);
        let context = Context {
            sender: sender.as_deref(),
            recipients,
            ..self.context()
        };
        let verdict = self.verdict(phase, &context);
        verdict.and_then(|v| self.refusal(v))
    }

    /// The SMTP reply of a verdict: its reply, or `421` for a disconnect.
    fn refusal(&self, verdict: Verdict) -> Option<Reply> {
        match verdict {
            Verdict::Smtp(reply) => Some(reply),
            Verdict::Disconnect => Some(reply(
                421,
                (4, 3, 0),
                &format!(
                    "{} Service not available, closing transmission channel",
                    self.hostname
                ),
            )),
            Verdict::Pop3(_) | Verdict::Fail => None,
        }
    }
}

/// An address as the rules match it: `local@domain`, `""` for the null sender,
/// `postmaster` for `<Postmaster>`.
fn address<P: std::fmt::Display>(path: &P) -> String {
    let text = path.to_string();
    let inner = text
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(&text);
    if inner.eq_ignore_ascii_case("postmaster") {
        "postmaster".into()
    } else {
        inner.to_string()
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        let peer = self.peer.map_or("-".into(), |p| p.to_string());
        self.store.log(format_args!(
            "smtp session {peer} ended, {} message(s) delivered",
            self.messages
        ));
    }
}

impl SmtpHandler for Delivering {
    fn connect(&mut self) -> Result<(), Reply> {
        let verdict = self.verdict(Phase::Connect, &self.context());
        match verdict.and_then(|v| self.refusal(v)) {
            Some(reply) => Err(reply),
            None => Ok(()),
        }
    }

    fn hello(&mut self, domain: &HeloHost, _extended: bool) -> Result<(), Reply> {
        let mut name = Vec::new();
        let _ = domain.encode(&mut name);
        let name = String::from_utf8_lossy(&name).into_owned();
        let context = Context {
            helo: Some(&name),
            ..self.context()
        };
        if let Some(reply) = self
            .verdict(Phase::Ehlo, &context)
            .and_then(|v| self.refusal(v))
        {
            return Err(reply);
        }
        self.helo = Some(name);
        Ok(())
    }

    fn auth(&mut self, credentials: &Credentials) -> AuthVerdict {
        let user = credentials.username().unwrap_or("");
        let context = Context {
            user: Some(user),
            ..self.context()
        };
        match self.verdict(Phase::Auth, &context) {
            Some(Verdict::Fail) => return AuthVerdict::Reject,
            Some(verdict) => {
                if let Some(reply) = self.refusal(verdict) {
                    return AuthVerdict::Reply(reply);
                }
            }
            None => {}
        }
        let ok = self.store.users.verify(&LoginAttempt::Sasl(credentials));
        let peer = self.peer.map_or("-".into(), |p| p.to_string());
        self.store.log(format_args!(
            "smtp {peer} AUTH {user}: {}",
            if ok { "ok" } else { "refused" }
        ));
        if ok {
            AuthVerdict::Accept
        } else {
            AuthVerdict::Reject
        }
    }

    fn mail(&mut self, from: &ReversePath, _params: &MailParams) -> Result<(), Reply> {
        self.from = Some(from.clone());
        if let Some(reply) = self.decide(Phase::Mail, &[]) {
            self.from = None;
            return Err(reply);
        }
        Ok(())
    }

    fn rcpt(&mut self, to: &ForwardPath, _params: &RcptParams) -> Result<(), Reply> {
        if let Some(reply) = self.decide(Phase::Rcpt, &[address(to)]) {
            return Err(reply);
        }
        match self.store.user_for(to) {
            Some(user) => {
                if !self.users.contains(&user) {
                    self.users.push(user);
                }
                self.recipients.push(address(to));
                Ok(())
            }
            None => Err(reply(550, (5, 1, 1), &format!("{to}: no such user here"))),
        }
    }

    fn data_command(&mut self) -> Result<(), Reply> {
        match self.decide(Phase::Data, &self.recipients) {
            Some(reply) => Err(reply),
            None => Ok(()),
        }
    }

    fn data_start(&mut self) -> io::Result<()> {
        let from = self.from.as_ref().map_or("<>".into(), |f| f.to_string());
        let peer = self.peer.map_or("unknown".into(), |p| p.ip().to_string());
        let trace = format!(
            "Return-Path: {from}\r\nReceived: from [{peer}] by {} (mailproto) ; {}\r\n",
            self.hostname,
            mail_builder::headers::date::Date::now().to_rfc822()
        );
        for user in &self.users {
            let mut delivery = self.store.maildir(user)?.deliver()?;
            delivery.write(trace.as_bytes())?;
            self.deliveries.push(delivery);
        }
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        for d in &mut self.deliveries {
            d.write(chunk)?;
        }
        Ok(())
    }

    fn data_end(&mut self) -> Result<(), Reply> {
        let recipients = std::mem::take(&mut self.recipients);
        if let Some(reply) = self.decide(Phase::DataEnd, &recipients) {
            self.deliveries.clear();
            self.users.clear();
            return Err(reply);
        }
        let users = std::mem::take(&mut self.users);
        for (delivery, user) in std::mem::take(&mut self.deliveries).into_iter().zip(&users) {
            let size = delivery.size();
            match delivery.commit() {
                Ok(name) => self
                    .store
                    .log(format_args!("delivered {name} ({size} octets) to {user}")),
                Err(e) => {
                    self.store
                        .log(format_args!("delivery to {user} failed: {e}"));
                    return Err(reply(451, (4, 3, 0), "Local error in processing"));
                }
            }
        }
        self.messages += 1;
        Ok(())
    }

    fn data_abort(&mut self) {
        self.deliveries.clear();
    }

    fn reset(&mut self) {
        self.deliveries.clear();
        self.users.clear();
        self.recipients.clear();
        self.from = None;
    }
}

/// The POP3 side: logins checked against the users, one locked Maildir per session.
#[derive(Debug, Clone)]
struct MaildirBackend(Arc<Store>);

impl Pop3Backend for MaildirBackend {
    type Mailbox = UserDrop;

    fn login(&self, attempt: LoginAttempt<'_>) -> Result<UserDrop, LoginError> {
        self.login_from(attempt, None)
    }

    fn login_from(
        &self,
        attempt: LoginAttempt<'_>,
        peer: Option<SocketAddr>,
    ) -> Result<UserDrop, LoginError> {
        let store = &self.0;
        let user = attempt.user().to_string();
        let session = pop3_session(peer, &user);
        if store.rules.has(Phase::Pop3Login) {
            let context = Context {
                user: Some(&user),
                client: peer.map(|p| p.ip()),
                ..Context::default()
            };
            match store.decide(Phase::Pop3Login, &context, &session) {
                Some(Verdict::Fail | Verdict::Pop3(Pop3Error::Auth)) => {
                    return Err(LoginError::Invalid);
                }
                Some(Verdict::Pop3(Pop3Error::InUse)) => return Err(LoginError::InUse),
                Some(Verdict::Pop3(Pop3Error::SysTemp(text))) => {
                    return Err(LoginError::Unavailable(text));
                }
                _ => {}
            }
        }
        if !store.users.verify(&attempt) {
            store.log(format_args!("pop3 login {user}: refused"));
            return Err(LoginError::Invalid);
        }
        let maildir = store
            .maildir(&user)
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        match maildir.open_maildrop() {
            Ok(drop) => {
                store.log(format_args!(
                    "pop3 login {user}: {} message(s), {} message file(s) read to list them",
                    drop.messages().len(),
                    drop.measured()
                ));
                Ok(UserDrop {
                    drop,
                    session,
                    user,
                    peer,
                    store: store.clone(),
                })
            }
            Err(MaildropError::InUse) => Err(LoginError::InUse),
            Err(MaildropError::Io(e)) => Err(LoginError::Unavailable(e.to_string())),
        }
    }

    fn command(
        &self,
        context: &Pop3Context<'_>,
        command: &Pop3Command,
    ) -> Result<(), CommandRefusal> {
        let store = &self.0;
        let Some(verb) = Pop3Verb::of(command) else {
            return Ok(());
        };
        let phase = Phase::Pop3Command(verb);
        if !store.rules.has(phase) {
            return Ok(());
        }
        let rules_context = Context {
            user: context.user,
            client: context.peer.map(|p| p.ip()),
            ..Context::default()
        };
        let session = pop3_session(context.peer, context.user.unwrap_or("-"));
        match store.decide(phase, &rules_context, &session) {
            Some(Verdict::Pop3(Pop3Error::Status(status))) => Err(CommandRefusal::Err(status)),
            Some(Verdict::Pop3(Pop3Error::SysTemp(text))) => Err(CommandRefusal::Err(
                Pop3Status::err(text).with_code(ResponseCode::SysTemp),
            )),
            Some(Verdict::Disconnect) => Err(CommandRefusal::Close(None)),
            _ => Ok(()),
        }
    }
}

/// A POP3 session's name in the log: the client and the user.
fn pop3_session(peer: Option<SocketAddr>, user: &str) -> String {
    format!("pop3 {} {user}", peer.map_or("-".into(), |p| p.to_string()))
}

/// One POP3 session's locked maildrop, and who it belongs to (for the rules).
#[derive(Debug)]
struct UserDrop {
    drop: Maildrop,
    session: String,
    user: String,
    /// The client, for the rules.
    peer: Option<SocketAddr>,
    store: Arc<Store>,
}

impl UserDrop {
    fn decide(&self, phase: Phase) -> Option<Verdict> {
        if !self.store.rules.has(phase) {
            return None;
        }
        let context = Context {
            user: Some(&self.user),
            client: self.peer.map(|p| p.ip()),
            ..Context::default()
        };
        self.store.decide(phase, &context, &self.session)
    }
}

impl Pop3Mailbox for UserDrop {
    fn list(&self) -> Vec<(u64, String)> {
        self.drop
            .messages()
            .iter()
            .map(|m| (m.size, m.uid.clone()))
            .collect()
    }

    fn open(&mut self, index: usize) -> io::Result<Box<dyn io::Read + Send>> {
        match self.decide(Phase::Pop3Retr) {
            Some(Verdict::Pop3(Pop3Error::SysTemp(text))) => return Err(io::Error::other(text)),
            // The engine has sent `+OK` when the first read fails: it closes the session.
            Some(Verdict::Disconnect) => return Ok(Box::new(Dropped)),
            _ => {}
        }
        Ok(Box::new(io::BufReader::with_capacity(
            64 * 1024,
            self.drop.open_message(index)?,
        )))
    }

    fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        if let Some(Verdict::Pop3(Pop3Error::SysTemp(text))) = self.decide(Phase::Pop3Quit) {
            // UPDATE fails: nothing is removed.
            return Err(io::Error::other(text));
        }
        self.drop.apply_deletions(indexes)
    }
}

/// A message whose first read fails: the connection drops after `+OK`.
struct Dropped;

impl io::Read for Dropped {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection dropped by a failure rule",
        ))
    }
}

/// Servers running in this process; [`Running::stop`] ends them.
pub struct Running {
    /// The SMTP address.
    pub smtp: SocketAddr,
    /// The POP3 address.
    pub pop3: SocketAddr,
    /// The implicit-TLS SMTP address, if any.
    pub smtps: Option<SocketAddr>,
    /// The implicit-TLS POP3 address, if any.
    pub pop3s: Option<SocketAddr>,
    /// The self-signed certificate, if one was generated or loaded.
    pub certificate: Option<SelfSigned>,
    notes: Notes,
    handles: Vec<Stopper>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    /// The async runtime, kept until the servers stop.
    _runtime: Option<Box<dyn std::any::Any + Send>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("smtp", &self.smtp)
            .field("pop3", &self.pop3)
            .field("smtps", &self.smtps)
            .field("pop3s", &self.pop3s)
            .finish_non_exhaustive()
    }
}

/// Stops one listener.
type Stopper = Arc<dyn Fn() + Send + Sync>;

impl Running {
    /// Stop accepting, let sessions finish (up to a few seconds), and wait.
    pub fn stop(self) {
        for h in &self.handles {
            h();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// A handle that stops every listener (for a signal handler).
    pub fn stopper(&self) -> impl Fn() + Send + 'static {
        let handles = self.handles.clone();
        move || handles.iter().for_each(|h| h())
    }

    /// Wait until the servers stop.
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The failure rules of `--rules FILE` then `--rule`, with their seed.
fn rules(args: &ServeArgs) -> Result<Rules, String> {
    let mut rules = Vec::new();
    if let Some(path) = &args.rules_file {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        rules = Rules::parse_file(&text).map_err(|e| format!("{} {e}", path.display()))?;
    }
    for rule in &args.rules {
        rules.push(Rule::parse(rule).map_err(|e| e.to_string())?);
    }
    let seed = args.seed.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_secs() ^ u64::from(now.subsec_nanos()) << 20 ^ u64::from(std::process::id())
    });
    Ok(Rules::new(rules, seed))
}

/// What [`start`] did that the lines after the banner report.
#[derive(Debug, Default)]
struct Notes {
    /// The certificate file of `--tls-self-signed-dir`, whether it was reused, and why
    /// files there were replaced.
    certificate_file: Option<(PathBuf, bool, Option<String>)>,
    /// Leftovers removed from the users' `tmp/`, with their age.
    stale_tmp: Vec<(PathBuf, Duration)>,
    /// A user's `tmp/` that could not be cleaned, and why.
    tmp_errors: Vec<String>,
    /// How many failure rules, and the seed when one fires by chance.
    rules: usize,
    seed: Option<u64>,
    /// Whether CRAM-MD5 and APOP are offered (every password in plaintext).
    digests: bool,
}

/// Start every listener the options ask for, each on its own thread.
pub fn start(args: &ServeArgs) -> Result<Running, Box<dyn std::error::Error>> {
    let users = Users::load(&args.users, args.users_file.as_deref())?;
    if let Some(c) = &args.catch_all
        && !users.contains(c)
    {
        return Err(format!("--catch-all {c}: no such user").into());
    }
    let rules = rules(args)?;
    let mut notes = Notes {
        rules: rules.len(),
        seed: rules.uses_probability().then(|| rules.seed()),
        digests: users.all_plaintext(),
        ..Notes::default()
    };
    fs::create_dir_all(&args.maildir)?;
    let mut maildirs = HashMap::new();
    for user in users.names() {
        let mode = match args.maildir_sync {
            MaildirSync::Group => SyncMode::Group,
            MaildirSync::PerMessage => SyncMode::PerMessage,
        };
        let maildir = Maildir::open_with(args.maildir.join(user), mode)?;
        match maildir.remove_stale_tmp(STALE_TMP) {
            Ok(removed) => notes.stale_tmp.extend(removed),
            Err(e) => notes.tmp_errors.push(format!("{user}: {e}")),
        }
        maildirs.insert(user.clone(), maildir);
    }
    let digests = notes.digests;
    let store = Arc::new(Store {
        maildirs,
        users,
        catch_all: args.catch_all.clone(),
        rules,
    });
    let names = ["localhost", "127.0.0.1", &args.hostname];
    let self_signed = args.tls_self_signed || args.tls_self_signed_dir.is_some();
    let (tls, certificate) = match (&args.tls_cert, &args.tls_key, self_signed) {
        (Some(cert), Some(key), _) => (Some(server_config_from_pem(cert, key)?), None),
        (_, _, true) => {
            let cert = match &args.tls_self_signed_dir {
                Some(dir) => {
                    let kept = crate::tls_dir::load_or_create(dir, &names)
                        .map_err(|e| format!("--tls-self-signed-dir {}: {e}", dir.display()))?;
                    notes.certificate_file = Some((kept.cert_path, kept.reused, kept.replaced));
                    kept.certificate
                }
                None => SelfSigned::generate(&names)?,
            };
            (Some(cert.server_config()?), Some(cert))
        }
        _ => (None, None),
    };
    if (args.smtps.is_some() || args.pop3s.is_some()) && tls.is_none() {
        return Err("--smtps/--pop3s need --tls-cert/--tls-key or --tls-self-signed".into());
    }
    let (smtp_timeouts, pop3_timeouts) = deadlines(args);
    // Without a certificate there is no way to protect a password: allow plaintext
    // logins then (the server listens on loopback by default), refuse them before
    // STARTTLS/STLS otherwise (RFC 4954 §4, RFC 5034 §4).
    let plaintext_logins = tls.is_none();

    let mut smtp_config = SmtpConfig::new(&args.hostname);
    smtp_config.extensions.size = true;
    // CRAM-MD5 and APOP prove knowledge of the password itself: offered only when every
    // password is stored as itself (EHLO and the POP3 greeting come before the user).
    let mut mechanisms = vec![Mechanism::Plain, Mechanism::Login];
    if digests {
        mechanisms.push(Mechanism::CramMd5);
    }
    smtp_config.extensions.auth = mechanisms.clone();
    smtp_config.auth_required = args.require_auth;
    smtp_config.auth_requires_tls = !plaintext_logins;
    smtp_config.limits.max_recipients = args.max_recipients;
    smtp_config.limits.max_message_size = args.max_message_size;
    smtp_config.timeouts = smtp_timeouts;
    let smtp_store = store.clone();
    let hostname = args.hostname.clone();
    let mut smtp = SmtpServer::new(smtp_config, move |peer| {
        smtp_store.log(format_args!(
            "smtp session {}",
            peer.map_or("-".into(), |p: SocketAddr| p.to_string())
        ));
        Delivering::new(smtp_store.clone(), peer, hostname.clone())
    });
    let pop3_config = Pop3Config::default()
        .with_pipelining(true)
        .with_implementation("mailproto")
        .with_timeouts(pop3_timeouts)
        .with_plaintext_login(plaintext_logins)
        .with_sasl_mechanisms(mechanisms);
    // The engine puts an APOP timestamp `<...@HOST>` in every greeting; an empty host
    // makes it invalid, which turns APOP (and the CRAM-MD5 challenge) off (the core's
    // ServerConfig::apop_timestamp documents that an invalid one disables APOP).
    let apop_host = if digests {
        args.hostname.clone()
    } else {
        String::new()
    };
    let mut pop3 =
        Pop3Server::new(MaildirBackend(store.clone()), pop3_config).with_hostname(apop_host);
    if let Some(tls) = &tls {
        smtp = smtp.with_tls(tls.clone());
        pop3 = pop3.with_tls(tls.clone());
    }

    let delay = Duration::from_millis(args.login_failure_delay);
    let mut options = ListenerOptions::default()
        .max_connections(args.max_connections)
        .max_per_address(args.max_per_address)
        .connections_per_minute(args.connections_per_minute)
        .messages_per_minute(args.messages_per_minute)
        .login_failure_delay(delay, Duration::from_secs(15).max(delay))
        .shutdown_grace(Duration::from_secs(5));
    if !args.proxy_from.is_empty() {
        let proxy = ProxyOptions::new(args.proxy_from.clone())
            .header_timeout(Duration::from_secs(args.proxy_timeout.max(1)));
        options = options.proxy(proxy);
    }
    let mut listeners = Listeners::new(certificate);
    match args.runtime {
        RuntimeChoice::Std => {
            listeners.serve(args, |addr, implicit, is_smtp| {
                let listener = Listener::bind(addr, options.clone())?;
                let local = listener.local_addr()?;
                let handle = listener.shutdown_handle();
                let thread = if is_smtp {
                    let s = smtp.clone();
                    thread::spawn(move || s.run(listener, implicit))
                } else {
                    let p = pop3.clone();
                    thread::spawn(move || p.run(listener, implicit))
                };
                Ok((
                    local,
                    Arc::new(move || handle.shutdown()) as Stopper,
                    thread,
                ))
            })?;
        }
        RuntimeChoice::Smol => {
            let executor = Arc::new(smol::Executor::new());
            for _ in 0..workers() {
                let executor = executor.clone();
                thread::Builder::new()
                    .name(SMOL_WORKER.into())
                    .spawn(move || smol::block_on(executor.run(std::future::pending::<()>())))?;
            }
            listeners.serve_async(args, SmolHost(executor), &options, &smtp, &pop3)?;
        }
        RuntimeChoice::Tokio => {
            let tokio = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers())
                .enable_all()
                .build()?;
            let host = TokioHost(tokio.handle().clone());
            listeners.serve_async(args, host, &options, &smtp, &pop3)?;
            listeners.runtime = Some(Box::new(tokio));
        }
    }
    let mut running = listeners.into_running();
    running.notes = notes;
    Ok(running)
}

/// An async runtime `serve` runs on: the runtime value sessions spawn on, and a way to
/// run an accept loop on a thread of its own.
trait Host: Clone + Send + 'static {
    type R: Runtime + Tls<<Self::R as Runtime>::Tcp>;
    fn runtime(&self) -> Self::R;
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T;
}

/// A multi-threaded smol executor.
#[derive(Clone)]
struct SmolHost(Arc<smol::Executor<'static>>);

impl Host for SmolHost {
    type R = mailproto_smol::Smol;
    fn runtime(&self) -> Self::R {
        mailproto_smol::Smol::on(self.0.clone())
    }
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        smol::block_on(f)
    }
}

/// A multi-threaded tokio runtime.
#[derive(Clone)]
struct TokioHost(tokio::runtime::Handle);

impl Host for TokioHost {
    type R = mailproto_tokio::Tokio;
    fn runtime(&self) -> Self::R {
        mailproto_tokio::Tokio::on(self.0.clone())
    }
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.0.block_on(f)
    }
}

/// One worker thread per core.
fn workers() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get())
}

/// The listeners as they are started.
struct Listeners {
    /// Where SMTP, POP3, SMTPS and POP3S listen, in that order, once started.
    addrs: [Option<SocketAddr>; 4],
    certificate: Option<SelfSigned>,
    handles: Vec<Stopper>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    runtime: Option<Box<dyn std::any::Any + Send>>,
}

/// A started listener: where it listens, how to stop it, the thread running it.
type Started = (SocketAddr, Stopper, JoinHandle<io::Result<()>>);

impl Listeners {
    fn new(certificate: Option<SelfSigned>) -> Self {
        Listeners {
            addrs: [None; 4],
            certificate,
            handles: Vec::new(),
            threads: Vec::new(),
            runtime: None,
        }
    }

    /// Start every listener the options ask for with `start(addr, implicit_tls, smtp)`.
    fn serve(
        &mut self,
        args: &ServeArgs,
        mut start: impl FnMut(&str, bool, bool) -> io::Result<Started>,
    ) -> io::Result<()> {
        let wanted = [
            (Some(&args.smtp), false, 0),
            (Some(&args.pop3), false, 1),
            (args.smtps.as_ref(), true, 2),
            (args.pop3s.as_ref(), true, 3),
        ];
        for (addr, implicit, slot) in wanted {
            let Some(addr) = addr else { continue };
            let (local, stop, thread) = start(addr, implicit, slot % 2 == 0)
                .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
            self.addrs[slot] = Some(local);
            self.handles.push(stop);
            self.threads.push(thread);
        }
        Ok(())
    }

    /// Start the listeners on an async runtime: each accept loop on a thread of its own,
    /// the sessions as tasks on the runtime, the blocking Maildir handlers through
    /// [`Offload`] (storage on a thread pool beside the executor).
    fn serve_async<H: Host, F: HandlerFactory<Delivering>>(
        &mut self,
        args: &ServeArgs,
        host: H,
        options: &ListenerOptions,
        smtp: &SmtpServer<Delivering, F>,
        pop3: &Pop3Server<MaildirBackend>,
    ) -> io::Result<()> {
        let runtime = host.runtime();
        let factory = smtp.service().factory();
        let mut async_smtp =
            aio::SmtpServer::<H::R, _, _>::new(smtp.service().config().clone(), move |peer| {
                Offload::new(factory(peer))
            })
            .with_runtime(runtime.clone());
        let pop3_service = pop3.service();
        let mut async_pop3 = aio::Pop3Server::<H::R, _>::new(
            OffloadBackend::from_shared(pop3_service.backend()),
            pop3_service.config().clone(),
        )
        .with_runtime(runtime.clone())
        .with_hostname(pop3_service.hostname());
        if let Some(tls) = smtp.service().tls() {
            async_smtp = async_smtp.with_tls(tls.clone());
            async_pop3 = async_pop3.with_tls(tls.clone());
        }
        self.serve(args, |addr, implicit, is_smtp| {
            let listener = host.block_on(aio::Listener::bind_on(
                runtime.clone(),
                addr,
                options.clone(),
            ))?;
            let local = listener.local_addr()?;
            let handle = listener.shutdown_handle();
            let host = host.clone();
            let thread = if is_smtp {
                let s = async_smtp.clone();
                thread::spawn(move || host.block_on(s.run(listener, implicit)))
            } else {
                let p = async_pop3.clone();
                thread::spawn(move || host.block_on(p.run(listener, implicit)))
            };
            Ok((
                local,
                Arc::new(move || handle.shutdown()) as Stopper,
                thread,
            ))
        })
    }

    fn into_running(self) -> Running {
        Running {
            smtp: self.addrs[0].expect("the SMTP listener is always started"),
            pop3: self.addrs[1].expect("the POP3 listener is always started"),
            smtps: self.addrs[2],
            pop3s: self.addrs[3],
            certificate: self.certificate,
            notes: Notes::default(),
            handles: self.handles,
            threads: self.threads,
            _runtime: self.runtime,
        }
    }
}

/// Run `mailproto serve` until Ctrl-C.
pub fn run(args: ServeArgs) -> CliResult {
    // The servers' security events (failed logins with the client's address,
    // STARTTLS/STLS injection attempts, limits hit, accept errors) on stderr; with -v
    // every session's transcript too.
    crate::log::init_server(args.quiet, args.verbose, args.log_format);
    let running = start(&args)?;
    // Before the banner: whoever reads it may signal at once.
    let stop = running.stopper();
    ctrlc::set_handler(move || {
        eprintln!("mailproto serve: stopping");
        stop();
    })?;
    let tls = if let Some(cert) = &running.certificate {
        format!("self-signed certificate, SHA-256 {}", cert.fingerprint())
    } else if args.tls_cert.is_some() {
        "certificate from --tls-cert".into()
    } else {
        "no TLS: passwords cross in plaintext".into()
    };
    eprintln!(
        "mailproto serve: SMTP {} POP3 {}{}{} Maildir {} ({tls})",
        running.smtp,
        running.pop3,
        running
            .smtps
            .map_or(String::new(), |a| format!(" SMTPS {a}")),
        running
            .pop3s
            .map_or(String::new(), |a| format!(" POP3S {a}")),
        display(&args.maildir),
    );
    report(&running.notes, args.quiet);
    running.wait();
    Ok(ExitCode::SUCCESS)
}

/// The lines after the banner (which stays one line, for scripts that read it).
fn report(notes: &Notes, quiet: bool) {
    if let Some((path, reused, replaced)) = &notes.certificate_file {
        let path = display(path);
        let how = match (reused, replaced) {
            (true, _) => "reused".to_string(),
            (false, None) => "written".to_string(),
            (false, Some(why)) => format!("written anew: the old one {why}"),
        };
        eprintln!("mailproto serve: certificate {path} ({how}); clients: --ca-file {path}");
    }
    for (path, age) in &notes.stale_tmp {
        tracing::warn!(
            file = %path.display(),
            age_hours = age.as_secs() / 3600,
            "removed a stale file from tmp/ (a delivery cut short)"
        );
    }
    for error in &notes.tmp_errors {
        tracing::warn!("could not clean tmp/ of {error}");
    }
    if quiet {
        return;
    }
    if notes.rules > 0 {
        let seed = notes.seed.map_or(String::new(), |s| {
            format!(", seed {s} (--seed {s} repeats them)")
        });
        eprintln!("mailproto serve: {} failure rule(s){seed}", notes.rules);
    }
    if !notes.digests {
        eprintln!("mailproto serve: CRAM-MD5 and APOP off: some passwords are stored hashed");
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
