//! The journal of `mailproto fetch`: which messages (by UIDL, RFC 1939 §7) of which
//! account are stored in the output Maildir.
//!
//! One file, `OUT/.mailproto-uidls`, shared by every account fetched into `OUT`, holds
//! one record per line, only ever appended to:
//!
//! ```text
//! SERVER USER UIDL        the message is stored in OUT (durable there before this line)
//! - SERVER USER UIDL      forget it: the server no longer has it
//! ```
//!
//! `SERVER` is `host:port` as `--server` resolves it, `USER` the login name
//! percent-encoded into one word. The first form is the whole format of the state file
//! of earlier versions, which is therefore read as it is. A line counts only once its
//! LF is written: a torn last line (a crash in the middle of an append) is cut off when
//! the journal is loaded, before anything is appended after it. Loading replays the
//! records; when the file holds more than twice as many records as live UIDLs (all
//! accounts together) it is compacted: the live records are written to a temporary file,
//! synced, renamed over the journal, and the directory synced, so a crash leaves the old
//! journal or the new one, whole. Recording a message therefore costs one appended line,
//! and compaction a constant amount per record on average.
//!
//! Besides the journal, while a download moves messages into `new/`, a marker file
//! `OUT/.mailproto-uidls.ACCOUNT.storing` exists (made durable before the first move,
//! removed once every moved message is recorded): finding it at load means a run of the
//! same account was interrupted between moving messages into `new/` and recording them,
//! and [`crate::fetch_store::recover`] looks for those messages by their file names
//! ([`Journal::file_base`]) before anything is fetched again.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Name of the journal, inside the output Maildir.
pub const STATE_FILE: &str = ".mailproto-uidls";

/// The journal of one Maildir, loaded for one account (server and user).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    server: String,
    /// The user, percent-encoded.
    user: String,
    /// This account's live UIDLs.
    mine: HashSet<String>,
    /// Every account's live records (`SERVER USER UIDL`), with the sequence number of
    /// the line that first recorded them (compaction keeps that order).
    live: HashMap<String, u64>,
    next_seq: u64,
    /// Complete records in the file.
    records: u64,
    /// Records added but not yet written.
    pending: Vec<u8>,
    /// The journal opened for appending, once something was appended.
    file: Option<File>,
    /// The marker file of this account, and whether it existed at load.
    marker: PathBuf,
    interrupted: bool,
    marked: bool,
}

impl Journal {
    /// Read the journal at `path` for the account `server` + `user` (none yet: nothing
    /// fetched), cut off a torn last line, and compact it when it has grown past twice
    /// its live records.
    pub fn load(path: &Path, server: &str, user: &str) -> io::Result<Self> {
        let mut bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < bytes.len() {
            // A crash during an append: drop the incomplete line, so that the next
            // append does not glue a record onto it.
            let file = File::options().write(true).open(path)?;
            file.set_len(whole as u64)?;
            file.sync_data()?;
            bytes.truncate(whole);
        }
        let user = encode_user(user);
        let marker = path.with_file_name(format!(
            "{}.{}.storing",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(STATE_FILE),
            hex(&account_digest(server, &user)[..8])
        ));
        let mut journal = Journal {
            path: path.to_path_buf(),
            server: server.to_string(),
            user,
            mine: HashSet::new(),
            live: HashMap::new(),
            next_seq: 0,
            records: 0,
            pending: Vec::new(),
            file: None,
            interrupted: marker.exists(),
            marker,
            marked: false,
        };
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            journal.records += 1;
            // Anything else (not UTF-8, a wrong number of fields) is no record: it is
            // ignored, and dropped by the next compaction.
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[..] {
                [server, user, uid] if is_word(server) && is_word(user) && is_word(uid) => {
                    let mine = server == journal.server && user == journal.user;
                    journal.apply_add(line.to_string(), mine.then_some(uid));
                }
                ["-", server, user, uid] => journal.apply_forget(server, user, uid),
                _ => {}
            }
        }
        journal.compact_if_grown()?;
        Ok(journal)
    }

    /// Whether the message with this UIDL is recorded as stored.
    pub fn contains(&self, uid: &str) -> bool {
        self.mine.contains(uid)
    }

    /// How many messages of this account are recorded.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.mine.len()
    }

    /// Whether a run of this account was interrupted while it moved messages into
    /// `new/` (its marker was found at load).
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// The unique part of the Maildir file name under which the message with this UIDL
    /// is stored: a digest of server, user and UIDL, so that a message fetched again
    /// after a crash is recognised in `new/` or `cur/`.
    pub fn file_base(&self, uid: &str) -> String {
        let mut h = Sha256::new();
        for part in [self.server.as_bytes(), self.user.as_bytes(), uid.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        format!("{}.{FETCH_SUFFIX}", hex(&h.finalize()[..16]))
    }

    /// Record the message with this UIDL as stored (written by the next
    /// [`Journal::commit`]).
    pub fn record(&mut self, uid: &str) {
        let key = format!("{} {} {uid}", self.server, self.user);
        if self.apply_add(key, Some(uid)) {
            self.push_line(None, uid);
        }
    }

    /// Forget this account's UIDLs that `keep` refuses (messages gone from the server);
    /// then write the journal, compacting it when it has grown past twice its live
    /// records. Returns how many were forgotten.
    pub fn forget_absent(&mut self, keep: impl Fn(&str) -> bool) -> io::Result<usize> {
        let mut gone: Vec<String> = self.mine.iter().filter(|u| !keep(u)).cloned().collect();
        gone.sort_unstable();
        for uid in &gone {
            self.live
                .remove(&format!("{} {} {uid}", self.server, self.user));
            self.mine.remove(uid);
            self.push_line(Some("-"), uid);
        }
        if !self.compact_if_grown()? {
            self.commit()?;
        }
        Ok(gone.len())
    }

    /// Append the records added since the last commit and sync the journal (and, when
    /// this created it, its directory): once this returns, they survive a crash.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let created = self.file.is_none() && !self.path.exists();
        if self.file.is_none() {
            let mut options = File::options();
            options.append(true).create(true);
            // Private, as the messages are: it names the accounts and their messages.
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            self.file = Some(options.open(&self.path)?);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        file.write_all(&self.pending)?;
        file.sync_data()?;
        if created {
            sync_dir(self.dir())?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Before the first message of this run is moved into `new/`: create this account's
    /// marker and sync the directory, so a crash from then on is seen at the next load.
    pub fn begin_storing(&mut self) -> io::Result<()> {
        if !self.marked {
            File::create(&self.marker)?;
            sync_dir(self.dir())?;
            self.marked = true;
        }
        Ok(())
    }

    /// Once every message moved into `new/` is recorded and committed: remove the marker
    /// (not synced: should the removal be lost, the next run only looks in the Maildir
    /// once more).
    pub fn end_storing(&mut self) -> io::Result<()> {
        if self.marked || self.interrupted {
            match fs::remove_file(&self.marker) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.marked = false;
            self.interrupted = false;
        }
        Ok(())
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// Add the live record `key` (`SERVER USER UIDL`), with its UIDL when it is this
    /// account's; returns whether it was new.
    fn apply_add(&mut self, key: String, mine: Option<&str>) -> bool {
        if self.live.contains_key(&key) {
            return false;
        }
        self.live.insert(key, self.next_seq);
        self.next_seq += 1;
        if let Some(uid) = mine {
            self.mine.insert(uid.to_string());
        }
        true
    }

    fn apply_forget(&mut self, server: &str, user: &str, uid: &str) {
        self.live.remove(&format!("{server} {user} {uid}"));
        if server == self.server && user == self.user {
            self.mine.remove(uid);
        }
    }

    fn push_line(&mut self, op: Option<&str>, uid: &str) {
        if let Some(op) = op {
            self.pending.extend_from_slice(op.as_bytes());
            self.pending.push(b' ');
        }
        for part in [
            self.server.as_str(),
            " ",
            self.user.as_str(),
            " ",
            uid,
            "\n",
        ] {
            self.pending.extend_from_slice(part.as_bytes());
        }
        self.records += 1;
    }

    /// Rewrite the journal with only the live records when it holds more than twice as
    /// many records. Returns whether it did.
    fn compact_if_grown(&mut self) -> io::Result<bool> {
        if self.records <= 2 * self.live.len() as u64 {
            return Ok(false);
        }
        let mut lines: Vec<(&String, &u64)> = self.live.iter().collect();
        lines.sort_unstable_by_key(|&(_, seq)| *seq);
        let mut tmp = tempfile::Builder::new()
            .prefix(".mailproto-uidls.")
            .tempfile_in(self.dir())?;
        {
            let mut out = BufWriter::new(tmp.as_file_mut());
            for (line, _) in &lines {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        sync_dir(self.dir())?;
        // The append handle, if any, was the replaced file's.
        self.file = None;
        self.pending.clear();
        self.records = self.live.len() as u64;
        Ok(true)
    }
}

/// The suffix of the unique part of the files `fetch` stores.
pub const FETCH_SUFFIX: &str = "fetch";

/// Sync a directory, making the entries created, renamed or removed in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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

/// A journal field: one or more octets of printable ASCII (as a UIDL is, RFC 1939 §7).
fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn account_digest(server: &str, user: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [server.as_bytes(), user.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &Path) -> Journal {
        Journal::load(path, "srv:110", "alice").unwrap()
    }

    #[test]
    fn records_are_appended_and_other_accounts_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        // The format of earlier versions: one `server user uidl` line each.
        fs::write(&path, "other:110 bob u1\nsrv:110 alice u0\n").unwrap();
        let mut j = load(&path);
        assert!(j.contains("u0") && !j.contains("u1"));
        j.record("u2");
        j.record("u2");
        j.commit().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "other:110 bob u1\nsrv:110 alice u0\nsrv:110 alice u2\n"
        );
        let again = load(&path);
        assert!(again.contains("u0") && again.contains("u2") && again.len() == 2);
        let bob = Journal::load(&path, "other:110", "bob").unwrap();
        assert!(bob.contains("u1") && bob.len() == 1);
        // Nothing but the journal (and no temporary file) is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn forgetting_appends_until_the_journal_doubles_then_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        let mut j = load(&path);
        for i in 0..6 {
            j.record(&format!("u{i}"));
        }
        j.commit().unwrap();
        // 6 live of 8 records: appended.
        assert_eq!(j.forget_absent(|u| u != "u0" && u != "u1").unwrap(), 2);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 8, "{text}");
        assert!(
            text.ends_with("srv:110 alice u5\n- srv:110 alice u0\n- srv:110 alice u1\n"),
            "{text}"
        );
        let mut j = load(&path);
        assert!(!j.contains("u0") && j.contains("u5") && j.len() == 4);
        // 1 live of 11 records: compacted, in the order first recorded.
        assert_eq!(j.forget_absent(|u| u == "u4").unwrap(), 3);
        assert_eq!(fs::read_to_string(&path).unwrap(), "srv:110 alice u4\n");
        // Compaction replaced the file: appending goes on into the new one.
        j.record("u9");
        j.commit().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "srv:110 alice u4\nsrv:110 alice u9\n"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_journal_grown_past_twice_its_live_records_is_compacted_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        fs::write(
            &path,
            "srv:110 alice a\nsrv:110 alice b\n- srv:110 alice a\nsrv:110 alice a\n\
             - srv:110 alice b\nnot-a-record\n",
        )
        .unwrap();
        let j = load(&path);
        assert!(j.contains("a") && !j.contains("b"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "srv:110 alice a\n");
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        // A crash in the middle of appending `srv:110 alice u123`.
        fs::write(
            &path,
            "srv:110 alice u0\nsrv:110 alice u1\nsrv:110 alice u12",
        )
        .unwrap();
        let mut j = load(&path);
        assert!(j.contains("u1") && !j.contains("u12") && j.len() == 2);
        j.record("u123");
        j.commit().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "srv:110 alice u0\nsrv:110 alice u1\nsrv:110 alice u123\n"
        );
    }

    #[test]
    fn the_marker_tells_an_interrupted_run_of_the_same_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        let mut j = load(&path);
        assert!(!j.interrupted());
        j.begin_storing().unwrap();
        drop(j); // as if killed: the marker stays
        assert!(load(&path).interrupted());
        assert!(
            !Journal::load(&path, "srv:110", "bob")
                .unwrap()
                .interrupted()
        );
        let mut j = load(&path);
        j.end_storing().unwrap();
        assert!(!load(&path).interrupted());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn file_bases_are_stable_and_distinct_per_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        let a = load(&path);
        let b = Journal::load(&path, "srv:110", "bob").unwrap();
        assert_eq!(a.file_base("u1"), load(&path).file_base("u1"));
        assert_ne!(a.file_base("u1"), b.file_base("u1"));
        assert_ne!(a.file_base("u1"), a.file_base("u2"));
        let base = a.file_base("u1");
        assert_eq!(base.len(), 32 + 1 + FETCH_SUFFIX.len());
        assert!(!base.contains([',', ':', '/']));
    }

    #[test]
    fn user_names_become_one_word() {
        assert_eq!(encode_user("alice"), "alice");
        assert_eq!(encode_user("a b%c"), "a%20b%25c");
        assert_eq!(encode_user("é"), "%C3%A9");
    }
}
