//! `mailproto fetch`: list, print, or download messages over POP3.
//!
//! - `--list` prints `number size uidl` per message (LIST + UIDL; `-` when the server
//!   has no UIDL).
//! - `--retr N` and `--top N LINES` stream the message to standard output.
//! - Otherwise every message whose UIDL (RFC 1939 §7) was not fetched before is
//!   downloaded into the Maildir `--out`: each is streamed into a [`Delivery`] (written
//!   under `tmp/`, synced, renamed into `new/`), then its UIDL is added to the state file
//!   `OUT/.mailproto-uidls` (one `server user uidl` line each, replaced atomically by
//!   a synced temporary file and a rename). A message is therefore never stored twice,
//!   and never recorded as fetched before it is safely on disk. The RETRs go out
//!   pipelined when the server offers PIPELINING (RFC 2449 §6.6).
//! - `--delete` marks with DELE every message already stored (in this run or an
//!   earlier one) and ends with QUIT, when the server deletes them (RFC 1939 §6). On any
//!   error the connection is dropped without QUIT, so the server deletes nothing.
//!
//! Connection security: plaintext unless `--stls` (required) or `--tls` (implicit TLS,
//! POP3S).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_std::Error;
use mailproto_std::pop3_client::{Pop3Client, Pop3Options, Security};

use crate::CliResult;
use crate::maildir::{Delivery, Maildir};
use crate::secret::PasswordArgs;
use crate::send::{client_tls, format_server, parse_server};

/// Name of the file, inside the output Maildir, that remembers the fetched UIDLs.
const STATE_FILE: &str = ".mailproto-uidls";

/// Name of the lock file that keeps two downloads out of one Maildir at once.
const LOCK_FILE: &str = ".mailproto-fetch.lock";

/// Most RETRs handed to the client at once (its queue of unanswered commands is bounded).
const RETR_BATCH: usize = 256;

/// How to log in (RFC 1939 §7, RFC 5034).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginMethod {
    /// USER and PASS.
    User,
    /// APOP (the greeting must carry a timestamp).
    Apop,
    /// AUTH with the best SASL mechanism offered (or --mech).
    Sasl,
}

/// Options of `mailproto fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The POP3 server, HOST:PORT (`[::1]:1110` for IPv6). Without a port: 995 with
    /// --tls, else 110.
    #[arg(long, default_value = "127.0.0.1:1110")]
    pub server: String,
    /// Implicit TLS from the first byte (POP3S, port 995).
    #[arg(long, conflicts_with = "stls")]
    pub tls: bool,
    /// Require STLS (fail if the server does not offer it). Without --tls or --stls the
    /// session stays in plaintext.
    #[arg(long)]
    pub stls: bool,
    /// Trust the certificates in this PEM file instead of the system's roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (local testing only).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
    /// The user to log in as.
    #[arg(long)]
    pub user: String,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// How to log in.
    #[arg(long, value_enum, default_value_t = LoginMethod::User)]
    pub auth: LoginMethod,
    /// The SASL mechanism for --auth sasl (PLAIN, LOGIN, CRAM-MD5); default: the best
    /// one offered for this connection.
    #[arg(long)]
    pub mech: Option<String>,
    /// List the messages: number, size, unique id.
    #[arg(long, conflicts_with_all = ["retr", "top"])]
    pub list: bool,
    /// Print message N to standard output.
    #[arg(long, value_name = "N", conflicts_with = "top")]
    pub retr: Option<u32>,
    /// Print the headers and the first LINES lines of message N.
    #[arg(long, num_args = 2, value_names = ["N", "LINES"])]
    pub top: Option<Vec<u32>>,
    /// Download every message not fetched before into this Maildir.
    #[arg(long, default_value = "./inbox")]
    pub out: PathBuf,
    /// After a download, delete on the server every message stored in --out (now or
    /// before).
    #[arg(long, conflicts_with_all = ["list", "retr", "top"])]
    pub delete: bool,
    /// Print the session as `C:` / `S:` lines on standard error (credentials masked,
    /// message contents left out); twice (`-vv`): the library's debug events too.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Run `mailproto fetch`.
pub fn run(args: FetchArgs) -> CliResult {
    let security = match (args.tls, args.stls) {
        (true, _) => Security::ImplicitTls,
        (false, true) => Security::StartTls,
        (false, false) => Security::Plain,
    };
    let default_port = if args.tls { 995 } else { 110 };
    let (host, port) = parse_server(&args.server, default_port)?;
    let server = format_server(&host, port);
    let mechanism = match &args.mech {
        Some(m) if args.auth == LoginMethod::Sasl => Some(
            m.parse::<Mechanism>()
                .map_err(|_| format!("--mech {m:?} is not a SASL mechanism name"))?,
        ),
        Some(_) => return Err("--mech needs --auth sasl".into()),
        None => None,
    };
    let password = args.password.resolve(&args.user, &server)?;
    let options = Pop3Options::default()
        .with_security(security)
        .with_tls(client_tls(args.ca_file.as_deref(), args.insecure)?);
    crate::log::init_client(args.verbose);
    let fail = |e: Error| crate::exit::Failure::client(&server, &e);
    let mut client = Pop3Client::connect(&host, port, options).map_err(fail)?;
    if args.auth == LoginMethod::User && !client.is_tls() && !is_loopback(&host) {
        eprintln!(
            "mailproto: warning: sending the password to {server} without TLS \
             (use --stls or --tls)"
        );
    }
    login(&mut client, &args, mechanism, password).map_err(fail)?;

    if args.list {
        list(&mut client).map_err(fail)?;
    } else if let Some(msg) = args.retr {
        to_stdout(|out| client.retr(msg, out)).map_err(fail)?;
    } else if let Some(top) = &args.top {
        let &[msg, lines] = top.as_slice() else {
            return Err("--top takes N and LINES".into());
        };
        to_stdout(|out| client.top(msg, lines, out)).map_err(fail)?;
    } else {
        let summary = download(&mut client, &args, &server)?;
        // Deletions happen at QUIT (the UPDATE state), so it must succeed.
        client.quit().map_err(|e| {
            let message = format!(
                "{server}: QUIT failed ({e}); the messages are saved, but the server \
                 may not have deleted any"
            );
            crate::exit::Failure::new(crate::exit::code_of(&e), message)
        })?;
        println!("{summary}");
        return Ok(ExitCode::SUCCESS);
    }
    client.quit().map_err(fail)?;
    Ok(ExitCode::SUCCESS)
}

/// Log in as `--auth` says.
fn login(
    client: &mut Pop3Client,
    args: &FetchArgs,
    mechanism: Option<Mechanism>,
    password: Secret<String>,
) -> Result<(), Error> {
    match args.auth {
        LoginMethod::User => client.login(&args.user, &password),
        LoginMethod::Apop => client.apop(&args.user, &password),
        LoginMethod::Sasl => {
            let credentials =
                ClientCredentials::password(args.user.clone(), password.expose().clone());
            client.auth(mechanism, credentials)
        }
    }
}

/// Whether `host` is this machine (a password sent there in clear stays on it).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Print `number size uidl` for every message.
fn list(client: &mut Pop3Client) -> Result<(), Error> {
    let scan = client.list()?;
    let uids: HashMap<u32, String> = match client.uidl() {
        Ok(listing) => listing
            .into_iter()
            .map(|u| (u.msg, u.uid.as_str().to_string()))
            .collect(),
        // UIDL is optional (RFC 1939 §7).
        Err(Error::Rejected(_)) => HashMap::new(),
        Err(e) => return Err(e),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    for s in scan {
        let uid = uids.get(&s.msg).map_or("-", String::as_str);
        writeln!(out, "{} {} {uid}", s.msg, s.size)?;
    }
    out.flush()?;
    Ok(())
}

/// Stream a RETR or TOP answer to standard output.
fn to_stdout(command: impl FnOnce(&mut dyn Write) -> Result<(), Error>) -> Result<(), Error> {
    let mut out = BufWriter::new(io::stdout().lock());
    command(&mut out)?;
    out.flush()?;
    Ok(())
}

/// Download the messages not fetched before; with `--delete`, mark the stored ones for
/// deletion. Returns a one-line summary.
fn download(client: &mut Pop3Client, args: &FetchArgs, server: &str) -> Result<String, String> {
    let fail = |e: Error| format!("{server}: {e}");
    let out = &args.out;
    let maildir = Maildir::open(out)
        .map_err(|e| format!("cannot open the Maildir {}: {e}", out.display()))?;
    let _lock = lock_output(out)?;
    let mut state = UidlState::load(&out.join(STATE_FILE), server, &args.user)?;

    // CAPA again after the login (RFC 2449 §5): the client pipelines the RETRs only
    // when the last CAPA answer lists PIPELINING.
    match client.capa() {
        Ok(_) | Err(Error::Rejected(_)) => {}
        Err(e) => return Err(fail(e)),
    }
    let uidls = match client.uidl() {
        Ok(listing) => listing,
        Err(Error::Rejected(why)) => {
            return Err(format!(
                "{server}: UIDL refused ({why}): without unique ids new messages cannot be \
                 told from old ones; use --list and --retr"
            ));
        }
        Err(e) => return Err(fail(e)),
    };
    let sizes: HashMap<u32, u64> = client
        .list()
        .map_err(fail)?
        .into_iter()
        .map(|s| (s.msg, s.size))
        .collect();
    // Forget messages no longer on the server (deleted there, or by an earlier --delete).
    let present: HashSet<&str> = uidls.iter().map(|u| u.uid.as_str()).collect();
    if state.retain(|uid| present.contains(uid)) {
        state
            .save()
            .map_err(|e| format!("cannot write {}: {e}", state.path.display()))?;
    }
    let todo: Vec<(u32, String)> = uidls
        .iter()
        .filter(|u| !state.contains(u.uid.as_str()))
        .map(|u| (u.msg, u.uid.as_str().to_string()))
        .collect();
    let already = uidls.len() - todo.len();

    let total: u64 = todo.iter().filter_map(|(m, _)| sizes.get(m)).sum();
    let bar = progress_bar(total, todo.len(), args.verbose > 0);
    let result = retrieve(client, &maildir, &todo, &mut state, &bar);
    bar.finish_and_clear();
    result.map_err(|e| match e {
        Error::Io(e) => format!("saving into {}: {e}", out.display()),
        e => fail(e),
    })?;

    let mut deleted = 0;
    if args.delete {
        for u in &uidls {
            if state.contains(u.uid.as_str()) {
                client.dele(u.msg).map_err(fail)?;
                deleted += 1;
            }
        }
    }
    let mut summary = format!(
        "{} new message{} saved in {} ({already} fetched before)",
        todo.len(),
        if todo.len() == 1 { "" } else { "s" },
        out.display()
    );
    if args.delete {
        summary.push_str(&format!("; {deleted} deleted on the server"));
    }
    Ok(summary)
}

/// A progress bar on standard error when it is a terminal (and no transcript is printed
/// there), else a hidden one.
fn progress_bar(total: u64, count: usize, verbose: bool) -> ProgressBar {
    if verbose || count == 0 || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("{count} messages"));
    bar
}

/// The message being received, shared between the writer handed to the client and the
/// loop that commits it.
type Slot = Rc<RefCell<Option<Delivery>>>;

/// Writes RETR data into the current delivery and advances the progress bar.
struct SlotWriter {
    slot: Slot,
    bar: ProgressBar,
}

impl Write for SlotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut slot = self.slot.borrow_mut();
        let delivery = slot.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        delivery.write(buf)?;
        self.bar.inc(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// RETR each message of `todo` into its own delivery; commit each once its answer has
/// ended, then record its UIDL. An error leaves the message in progress uncommitted (its
/// temporary file is removed) and the ones before it recorded.
fn retrieve(
    client: &mut Pop3Client,
    maildir: &Maildir,
    todo: &[(u32, String)],
    state: &mut UidlState,
    bar: &ProgressBar,
) -> Result<(), Error> {
    for batch in todo.chunks(RETR_BATCH) {
        let slot: Slot = Rc::new(RefCell::new(None));
        let uids: HashMap<u32, &str> = batch.iter().map(|(m, u)| (*m, u.as_str())).collect();
        let mut current: Option<u32> = None;
        let msgs: Vec<u32> = batch.iter().map(|(m, _)| *m).collect();
        // The client asks for the next message's writer only after the previous answer
        // ended, so that is when the previous message is complete.
        let commit = |current: Option<u32>, state: &mut UidlState| -> io::Result<()> {
            let delivery = slot.borrow_mut().take();
            if let (Some(msg), Some(delivery)) = (current, delivery) {
                delivery.commit()?;
                if let Some(uid) = uids.get(&msg) {
                    state.add(uid)?;
                }
            }
            Ok(())
        };
        client.retr_many(&msgs, |msg| {
            commit(current.take(), state)?;
            *slot.borrow_mut() = Some(maildir.deliver()?);
            current = Some(msg);
            Ok(SlotWriter {
                slot: slot.clone(),
                bar: bar.clone(),
            })
        })?;
        commit(current.take(), state)?;
    }
    Ok(())
}

/// Hold an exclusive lock on the output Maildir for the length of a download.
fn lock_output(dir: &Path) -> Result<File, String> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(format!(
            "another mailproto fetch is saving into {}",
            dir.display()
        )),
        Err(fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The UIDLs already fetched for one server and user, kept in a state file shared by all
/// accounts fetched into the same Maildir: one `server user uidl` line each (the user
/// name percent-encoded, so it is one word).
#[derive(Debug)]
struct UidlState {
    path: PathBuf,
    server: String,
    user: String,
    /// Lines of other accounts, kept as they are.
    others: Vec<String>,
    /// This account's UIDLs, in the order fetched.
    mine: Vec<String>,
    set: HashSet<String>,
}

impl UidlState {
    /// Read the state file (none yet: nothing fetched).
    fn load(path: &Path, server: &str, user: &str) -> Result<Self, String> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut state = UidlState {
            path: path.to_path_buf(),
            server: server.to_string(),
            user: encode_user(user),
            others: Vec::new(),
            mine: Vec::new(),
            set: HashSet::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.split(' ');
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(s), Some(u), Some(uid), None) if s == state.server && u == state.user => {
                    if state.set.insert(uid.to_string()) {
                        state.mine.push(uid.to_string());
                    }
                }
                _ => state.others.push(line.to_string()),
            }
        }
        Ok(state)
    }

    fn contains(&self, uid: &str) -> bool {
        self.set.contains(uid)
    }

    /// Keep only the UIDLs `keep` accepts (in memory); returns whether any was dropped.
    fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> bool {
        let before = self.mine.len();
        self.mine.retain(|u| keep(u));
        self.set.retain(|u| keep(u));
        self.mine.len() != before
    }

    /// Record a fetched UIDL and replace the state file.
    fn add(&mut self, uid: &str) -> io::Result<()> {
        if self.set.insert(uid.to_string()) {
            self.mine.push(uid.to_string());
        }
        self.save()
    }

    /// Write the whole state to a temporary file in the same directory, sync it, and
    /// rename it over the state file: a crash leaves the old or the new state, whole.
    fn save(&self) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".mailproto-uidls.")
            .tempfile_in(dir)?;
        {
            let mut out = BufWriter::new(tmp.as_file_mut());
            for line in &self.others {
                writeln!(out, "{line}")?;
            }
            for uid in &self.mine {
                writeln!(out, "{} {} {uid}", self.server, self.user)?;
            }
            out.flush()?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()
    }
}

/// A user name as one word of printable ASCII: other octets, and `%`, as `%XX`.
fn encode_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keeps_other_accounts_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        fs::write(&path, "other:110 bob u1\nsrv:110 alice u0\n").unwrap();
        let mut state = UidlState::load(&path, "srv:110", "alice").unwrap();
        assert!(state.contains("u0") && !state.contains("u1"));
        state.add("u2").unwrap();
        assert!(state.retain(|u| u != "u0"));
        assert!(!state.retain(|u| u != "u0"));
        state.add("u3").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "other:110 bob u1\nsrv:110 alice u2\nsrv:110 alice u3\n"
        );
        let again = UidlState::load(&path, "srv:110", "alice").unwrap();
        assert_eq!(again.mine, ["u2", "u3"]);
        // Nothing but the state file (and no temporary file) is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn user_names_become_one_word() {
        assert_eq!(encode_user("alice"), "alice");
        assert_eq!(encode_user("a b%c"), "a%20b%25c");
        assert_eq!(encode_user("é"), "%C3%A9");
    }

    #[test]
    fn a_second_download_into_the_same_maildir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_output(dir.path()).unwrap();
        let err = lock_output(dir.path()).unwrap_err();
        assert!(err.contains("another"), "{err}");
        drop(first);
        lock_output(dir.path()).unwrap();
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("LOCALHOST"));
        assert!(!is_loopback("192.0.2.1") && !is_loopback("mail.example.org"));
    }
}
