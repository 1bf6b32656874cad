//! `mailproto fetch`: list, print, or download messages over POP3.
//!
//! - `--list` prints `number size uidl` per message (LIST + UIDL; `-` when the server
//!   has no UIDL).
//! - `--retr N` and `--top N LINES` stream the message to standard output.
//! - Otherwise every message whose UIDL (RFC 1939 §7) was not fetched before is
//!   downloaded into the Maildir `--out`, in batches (the RETRs of a batch pipelined when
//!   the server offers PIPELINING, RFC 2449 §6.6): each message is streamed into `tmp/`;
//!   each batch is synced, moved into `new/` and then recorded in the journal
//!   `OUT/.mailproto-uidls` ([`crate::fetch_state`]), with one round of syncs a batch
//!   ([`crate::fetch_store`] gives the order and what a crash can cost: at most the batch
//!   in progress fetched again, never a message lost or stored twice).
//! - `--delete` marks with DELE every message already stored (in an earlier run, or in
//!   this one once its batch is durable) and ends with QUIT, when the server deletes them
//!   (RFC 1939 §6). On any error the connection is dropped without QUIT, so the server
//!   deletes nothing.
//!
//! Connection security: STLS required by default (fail when the server does not offer it,
//! naming `--plain`), `--tls` for implicit TLS (POP3S), `--plain` for plaintext.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_std::Error;
use mailproto_std::pop3_client::{Pop3Client, Pop3Options};

use crate::CliResult;
use crate::exit::{self, Failure};
use crate::fetch_state::{Journal, STATE_FILE};
use crate::fetch_store::{self, Store};
use crate::maildir::Maildir;
use crate::secret::PasswordArgs;
use crate::send::{client_tls, connect_failure, format_server, parse_server, security};

/// Name of the lock file that keeps two downloads out of one Maildir at once.
const LOCK_FILE: &str = ".mailproto-fetch.lock";

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
    #[arg(long, conflicts_with_all = ["stls", "plain"])]
    pub tls: bool,
    /// Require STLS, and fail if the server does not offer it (the default).
    #[arg(long, alias = "starttls", conflicts_with = "plain")]
    pub stls: bool,
    /// Plaintext: no TLS at all, so the password and the messages cross the network
    /// readable. Without --tls or --plain, STLS is required.
    #[arg(long)]
    pub plain: bool,
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
    ///
    /// Messages are stored in batches of up to 256 (fewer when a batch is 1 s old, and
    /// at the end): each is written under tmp/; then the batch's files are synced, moved
    /// into new/ (named from a digest of server, user and UIDL, with ,S= and ,W= sizes),
    /// new/ is synced, and their UIDLs are appended to OUT/.mailproto-uidls, which is
    /// synced. After a crash or a kill -9 at any point, the next run fetches again at
    /// most the batch that was in progress, and never loses a message or stores one
    /// twice: the messages already in new/ (or moved on to cur/) but not yet recorded
    /// are found by their names and recorded without being fetched again.
    #[arg(long, default_value = "./inbox")]
    pub out: PathBuf,
    /// After a download, delete on the server every message stored in --out (now or
    /// before).
    ///
    /// DELE is sent only for messages recorded as stored, and for those of this run only
    /// once their batch is synced; the server deletes at the QUIT that ends a complete
    /// run: a run that fails, or is killed, before its QUIT deletes nothing.
    #[arg(long, conflicts_with_all = ["list", "retr", "top"])]
    pub delete: bool,
    /// Print the session as `C:` / `S:` lines on standard error (credentials masked,
    /// message contents left out); twice (`-vv`): the library's debug events too.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Run `mailproto fetch`.
pub fn run(args: FetchArgs) -> CliResult {
    let security = security(args.tls, args.plain);
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
    let fail = |e: Error| Failure::client(&server, &e);
    let mut client = Pop3Client::connect(&host, port, options)
        .map_err(|e| connect_failure(&server, security, &e))?;
    if args.auth == LoginMethod::User && !client.is_tls() && !is_loopback(&host) {
        eprintln!(
            "mailproto: warning: sending the password to {server} without TLS \
             (--plain)"
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
            Failure::new(exit::code_of(&e), message)
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

/// Download the messages not fetched before, in batches made durable one at a time
/// (see [`crate::fetch_store`] for the order and the crash guarantee); with `--delete`,
/// mark for deletion the messages already stored before, then each batch's once it is
/// durable. Returns a one-line summary.
fn download(client: &mut Pop3Client, args: &FetchArgs, server: &str) -> Result<String, Failure> {
    let fail = |e: Error| Failure::client(server, &e);
    let out = &args.out;
    // Local storage that fails is the cannot-create-output case of sysexits.
    let local = |what: String| Failure::new(exit::CANT_CREATE, what);
    Maildir::open(out)
        .map_err(|e| local(format!("cannot open the Maildir {}: {e}", out.display())))?;
    let _lock = lock_output(out).map_err(|e| Failure::new(exit::TEMPORARY, e))?;
    let state_path = out.join(STATE_FILE);
    let journal_error =
        |e: io::Error| local(format!("cannot update {}: {e}", state_path.display()));
    let mut journal = Journal::load(&state_path, server, &args.user).map_err(journal_error)?;

    // CAPA again after the login (RFC 2449 §5): the client pipelines the RETRs only
    // when the last CAPA answer lists PIPELINING.
    match client.capa() {
        Ok(_) | Err(Error::Rejected(_)) => {}
        Err(e) => return Err(fail(e)),
    }
    let uidls = match client.uidl() {
        Ok(listing) => listing,
        Err(Error::Rejected(why)) => {
            return Err(Failure::new(
                exit::UNAVAILABLE,
                format!(
                    "{server}: UIDL refused ({why}): without unique ids new messages cannot \
                     be told from old ones; use --list and --retr"
                ),
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
    journal
        .forget_absent(|uid| present.contains(uid))
        .map_err(journal_error)?;
    let mut todo: Vec<(u32, String)> = uidls
        .iter()
        .filter(|u| !journal.contains(u.uid.as_str()))
        .map(|u| (u.msg, u.uid.as_str().to_string()))
        .collect();
    // A run killed between moving messages into new/ and recording them: find them.
    let mut recovered = 0;
    if journal.interrupted() && !todo.is_empty() {
        let found = fetch_store::recover(out, &mut journal, &todo).map_err(|e| {
            local(format!(
                "recovering an interrupted download into {}: {e}",
                out.display()
            ))
        })?;
        recovered = found.len();
        let found: HashSet<String> = found.into_iter().collect();
        todo.retain(|(_, uid)| !found.contains(uid));
    }
    let already = uidls.len() - todo.len();

    // Stored before this run (or found stored by an interrupted one): deleted at the end.
    let stored_before: Vec<u32> = uidls
        .iter()
        .filter(|u| journal.contains(u.uid.as_str()))
        .map(|u| u.msg)
        .collect();
    let mut deleted = 0;
    let total: u64 = todo.iter().filter_map(|(m, _)| sizes.get(m)).sum();
    let bar = progress_bar(total, todo.len(), args.verbose > 0);
    let mut store = Store::new(out, &mut journal, bar.clone());
    let mut result = Ok(());
    for batch in todo.chunks(fetch_store::BATCH) {
        result = store.fetch(client, batch).map_err(|e| match e {
            Error::Io(e) => local(format!("saving into {}: {e}", out.display())),
            e => fail(e),
        });
        // DELE only for messages whose storage is durable (the QUIT that deletes them
        // comes after this returns).
        if result.is_ok() && args.delete {
            for msg in store.take_durable() {
                if let Err(e) = client.dele(msg) {
                    result = Err(fail(e));
                    break;
                }
                deleted += 1;
            }
        }
        if result.is_err() {
            break;
        }
    }
    bar.finish_and_clear();
    let (saved, doubles) = (store.saved, store.present);
    let finished = store.finish();
    result?;
    finished.map_err(|e| local(format!("saving into {}: {e}", out.display())))?;
    if args.delete {
        for &msg in &stored_before {
            client.dele(msg).map_err(fail)?;
            deleted += 1;
        }
    }

    let mut summary = format!(
        "{saved} new message{} saved in {} ({already} fetched before)",
        if saved == 1 { "" } else { "s" },
        out.display()
    );
    if recovered > 0 {
        summary.push_str(&format!(
            "; {recovered} found stored by an interrupted run, not fetched again"
        ));
    }
    if doubles > 0 {
        summary.push_str(&format!(
            "; {doubles} already in {} under the same name, not stored again",
            out.join("new").display()
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
