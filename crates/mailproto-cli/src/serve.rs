//! `mailproto serve`: SMTP and POP3 on loopback over a Maildir per user.
//!
//! SMTP delivers each accepted message atomically into the Maildir of every local
//! recipient (the recipient's local part picks the user); POP3 serves `new/` and `cur/`
//! with the Maildir unique names as UIDLs, locks the maildrop for the session and deletes
//! only at UPDATE.

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
use mailproto_core::sasl::{Credentials, Mechanism};
use mailproto_core::smtp::server::{ServerConfig as SmtpConfig, Timeouts as SmtpTimeouts};
use mailproto_core::smtp::{ForwardPath, MailParams, RcptParams, Reply, ReversePath};
use mailproto_smol::engine::aio::{self, Runtime, Tls};
use mailproto_smol::engine::pop3_server::OffloadBackend;
use mailproto_smol::engine::smtp_server::Offload;
use mailproto_std::pop3_server::{LoginAttempt, LoginError, Pop3Backend, Pop3Mailbox, Pop3Server};
use mailproto_std::smtp_server::{HandlerFactory, SmtpHandler, SmtpServer, reply};
use mailproto_std::tls::{SelfSigned, server_config_from_pem};
use mailproto_std::{Listener, ListenerOptions, ProxyOptions};

use crate::CliResult;
use crate::maildir::{Delivery, Maildir, Maildrop, MaildropError};

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
    /// Generate a self-signed certificate at start (its fingerprint is printed).
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// The Maildir root: one Maildir per user below it.
    #[arg(long, default_value = "./mail")]
    pub maildir: PathBuf,
    /// A user, NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// A file of NAME:PASSWORD lines.
    #[arg(long = "users")]
    pub users_file: Option<PathBuf>,
    /// Deliver mail for unknown recipients to this user instead of refusing it.
    #[arg(long)]
    pub catch_all: Option<String>,
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
    /// Print no log lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// What runs the sessions: a thread per connection (std), or tasks on a
    /// multi-threaded smol executor or tokio runtime, one worker per core (storage runs
    /// on a thread pool beside the executor).
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Std)]
    pub runtime: RuntimeChoice,
}

/// The adapter `serve` runs on.
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

/// Users and their mailboxes.
#[derive(Debug)]
struct Store {
    maildirs: HashMap<String, Maildir>,
    passwords: HashMap<String, String>,
    catch_all: Option<String>,
    quiet: bool,
}

impl Store {
    /// The user a recipient's local part names (case-insensitively), or the catch-all.
    fn user_for(&self, to: &ForwardPath) -> Option<String> {
        let local = match to {
            ForwardPath::Postmaster => "postmaster".to_string(),
            ForwardPath::Mailbox(m) => m.local_part.to_lowercase(),
        };
        self.passwords
            .keys()
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

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("{} {line}", timestamp());
        }
    }
}

/// Seconds since the epoch, for log lines.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

/// One SMTP connection: delivers each message into the recipients' Maildirs.
struct Delivering {
    store: Arc<Store>,
    peer: Option<SocketAddr>,
    hostname: String,
    from: Option<ReversePath>,
    users: Vec<String>,
    deliveries: Vec<Delivery>,
    messages: usize,
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
    fn authenticate(&mut self, credentials: &Credentials) -> bool {
        let user = credentials.username().unwrap_or("");
        let ok = self
            .store
            .passwords
            .get(user)
            .is_some_and(|secret| LoginAttempt::Sasl(credentials).verify(secret));
        let peer = self.peer.map_or("-".into(), |p| p.to_string());
        self.store.log(format_args!(
            "smtp {peer} AUTH {user}: {}",
            if ok { "ok" } else { "refused" }
        ));
        ok
    }

    fn mail(&mut self, from: &ReversePath, _params: &MailParams) -> Result<(), Reply> {
        self.from = Some(from.clone());
        Ok(())
    }

    fn rcpt(&mut self, to: &ForwardPath, _params: &RcptParams) -> Result<(), Reply> {
        match self.store.user_for(to) {
            Some(user) => {
                if !self.users.contains(&user) {
                    self.users.push(user);
                }
                Ok(())
            }
            None => Err(reply(550, (5, 1, 1), &format!("{to}: no such user here"))),
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
        self.from = None;
    }
}

/// The POP3 side: logins checked against the users, one locked Maildir per session.
#[derive(Debug, Clone)]
struct MaildirBackend(Arc<Store>);

impl Pop3Backend for MaildirBackend {
    type Mailbox = Maildrop;

    fn login(&self, attempt: LoginAttempt<'_>) -> Result<Maildrop, LoginError> {
        let store = &self.0;
        let user = attempt.user().to_string();
        let ok = store
            .passwords
            .get(&user)
            .is_some_and(|secret| attempt.verify(secret));
        if !ok {
            store.log(format_args!("pop3 login {user}: refused"));
            return Err(LoginError::Invalid);
        }
        let maildir = store
            .maildir(&user)
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        match maildir.open_maildrop() {
            Ok(drop) => {
                store.log(format_args!(
                    "pop3 login {user}: {} message(s)",
                    drop.messages().len()
                ));
                Ok(drop)
            }
            Err(MaildropError::InUse) => Err(LoginError::InUse),
            Err(MaildropError::Io(e)) => Err(LoginError::Unavailable(e.to_string())),
        }
    }
}

impl Pop3Mailbox for Maildrop {
    fn list(&self) -> Vec<(u64, String)> {
        self.messages()
            .iter()
            .map(|m| (m.size, m.uid.clone()))
            .collect()
    }

    fn open(&mut self, index: usize) -> io::Result<Box<dyn io::Read + Send>> {
        Ok(Box::new(io::BufReader::with_capacity(
            64 * 1024,
            self.open_message(index)?,
        )))
    }

    fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        self.apply_deletions(indexes)
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
    /// The self-signed certificate, if one was generated.
    pub certificate: Option<SelfSigned>,
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

/// Read `NAME:PASSWORD` pairs from the options and the users file.
fn users(args: &ServeArgs) -> Result<HashMap<String, String>, String> {
    let mut lines: Vec<String> = args.users.clone();
    if let Some(path) = &args.users_file {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    let mut users = HashMap::new();
    for line in lines {
        let (name, password) = line
            .split_once(':')
            .ok_or_else(|| format!("user `{line}` is not NAME:PASSWORD"))?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
        if !valid {
            return Err(format!(
                "user name `{name}` may hold only letters, digits and ._-+"
            ));
        }
        users.insert(name.to_string(), password.to_string());
    }
    Ok(users)
}

/// Start every listener the options ask for, each on its own thread.
pub fn start(args: &ServeArgs) -> Result<Running, Box<dyn std::error::Error>> {
    let passwords = users(args)?;
    if let Some(c) = &args.catch_all
        && !passwords.contains_key(c)
    {
        return Err(format!("--catch-all {c}: no such user").into());
    }
    fs::create_dir_all(&args.maildir)?;
    let mut maildirs = HashMap::new();
    for user in passwords.keys() {
        maildirs.insert(user.clone(), Maildir::open(args.maildir.join(user))?);
    }
    let store = Arc::new(Store {
        maildirs,
        passwords,
        catch_all: args.catch_all.clone(),
        quiet: args.quiet,
    });
    let (tls, certificate) = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => (Some(server_config_from_pem(cert, key)?), None),
        (_, _, true) => {
            let cert = SelfSigned::generate(&["localhost", "127.0.0.1", &args.hostname])?;
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
    smtp_config.extensions.auth = vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5];
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
        Delivering {
            store: smtp_store.clone(),
            peer,
            hostname: hostname.clone(),
            from: None,
            users: Vec::new(),
            deliveries: Vec::new(),
            messages: 0,
        }
    });
    let pop3_config = Pop3Config::default()
        .with_pipelining(true)
        .with_implementation("mailproto")
        .with_timeouts(pop3_timeouts)
        .with_plaintext_login(plaintext_logins)
        .with_sasl_mechanisms([Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]);
    let mut pop3 = Pop3Server::new(MaildirBackend(store.clone()), pop3_config)
        .with_hostname(args.hostname.clone());
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
                    .name("mailproto-smol".into())
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
    Ok(listeners.into_running())
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
            handles: self.handles,
            threads: self.threads,
            _runtime: self.runtime,
        }
    }
}

/// Run `mailproto serve` until Ctrl-C.
pub fn run(args: ServeArgs) -> CliResult {
    if !args.quiet {
        // The servers' security events (failed logins with the client's address,
        // STARTTLS/STLS injection attempts, limits hit, accept errors) on stderr.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init();
    }
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
    running.wait();
    Ok(ExitCode::SUCCESS)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
