//! Maildir storage: atomic delivery, and a locked POP3 view of one mailbox.
//!
//! Delivery follows the Maildir rules: the message is written under `tmp/`, synced to
//! disk, then renamed into `new/` (and the directory synced), so a message acknowledged
//! with 250 is on disk complete and an interrupted delivery leaves nothing in `new/`.
//! The file is synced with `fdatasync` (its data and the size needed to read it back;
//! the rest of its metadata does not matter for a new file). With [`SyncMode::Group`]
//! (the default) deliveries that finish at the same time share the sync of `new/`: a
//! delivery waits for a sync that started after its rename, and the first one waiting
//! runs it for everyone renamed by then (group commit), so under load each message costs
//! one file sync and a fraction of a directory sync. [`SyncMode::PerMessage`] syncs the
//! directory once per message.
//! The name carries the sizes as Dovecot writes them (Maildir++): `,S=<octets>` on disk
//! and `,W=<octets>` on the wire (each bare LF counted as CRLF, RFC 1939 §11), e.g.
//! `1700000000.M5P6Q7.host,S=1024,W=1040`.
//!
//! A POP3 session opens a [`Maildrop`]: it takes an exclusive lock on the mailbox (a
//! second session gets [`MaildropError::InUse`]), lists `new/` and `cur/` once, names each
//! message by its unique Maildir name (stable across sessions, usable as a UIDL), and
//! deletes files only when [`Maildrop::apply_deletions`] is called at UPDATE. The listing
//! comes from `readdir` alone for names with `,W=`: a login opens no message. A file
//! without it (delivered by another program) is read once to measure it, and the size is
//! kept for the life of the [`Maildir`] (message files never change under a name).
//!
//! Files left in `tmp/` by a delivery that was killed are removed by
//! [`Maildir::remove_stale_tmp`] once older than 36 hours, as the Maildir convention asks.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Name of the lock file inside a Maildir.
const LOCK_FILE: &str = ".mailproto-pop3.lock";

/// Longest UIDL RFC 1939 §7 allows.
const MAX_UIDL: usize = 70;

/// Age past which a file in `tmp/` is a leftover (the Maildir convention's 36 hours).
pub const STALE_TMP: Duration = Duration::from_secs(36 * 3600);

/// How a delivery makes its rename into `new/` durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Deliveries finishing together share one sync of `new/` (group commit).
    #[default]
    Group,
    /// One sync of `new/` per message.
    PerMessage,
}

/// A Maildir on disk (`tmp/`, `new/`, `cur/` under one directory).
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    /// Wire sizes measured for names without `,W=`, by the name before any `:2,` flags.
    measured: Arc<Mutex<HashMap<String, u64>>>,
    /// `new/`, opened once, and the syncs of it.
    new_dir: Arc<DirSync>,
}

impl Maildir {
    /// The Maildir at `root`, creating its three directories if needed, with
    /// [`SyncMode::Group`].
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        Self::open_with(root, SyncMode::default())
    }

    /// [`Maildir::open`] with the given way of syncing `new/`.
    pub fn open_with(root: impl Into<PathBuf>, mode: SyncMode) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            private_dirs().create(root.join(sub))?;
        }
        let dir = File::open(root.join("new"))?;
        Ok(Maildir {
            root,
            measured: Arc::default(),
            new_dir: Arc::new(DirSync::new(dir, mode)),
        })
    }

    /// Remove the files in `tmp/` last modified more than `max_age` ago (deliveries a
    /// crash or a `kill -9` cut short; [`STALE_TMP`] is the convention's age). Returns
    /// what was removed and how old it was.
    pub fn remove_stale_tmp(&self, max_age: Duration) -> io::Result<Vec<(PathBuf, Duration)>> {
        let now = SystemTime::now();
        let mut removed = Vec::new();
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let age = now
                .duration_since(meta.modified()?)
                .unwrap_or(Duration::ZERO);
            if age > max_age {
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed.push((entry.path(), age)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// Start a delivery: a file under `tmp/` that becomes a message only on
    /// [`Delivery::commit`].
    pub fn deliver(&self) -> io::Result<Delivery> {
        let name = unique_name();
        let tmp = self.root.join("tmp").join(&name);
        let file = private_file().write(true).create_new(true).open(&tmp)?;
        Ok(Delivery {
            maildir: self.clone(),
            name,
            tmp,
            file: Some(file),
            size: 0,
            wire: 0,
            last_cr: false,
        })
    }

    /// Lock the mailbox for a POP3 session and list its messages.
    pub fn open_maildrop(&self) -> Result<Maildrop, MaildropError> {
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.root.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(MaildropError::InUse),
            Err(fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        let mut messages = Vec::new();
        let mut measured = 0;
        for sub in ["cur", "new"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let file_name = entry.file_name();
                let Some(name) = file_name.to_str() else {
                    continue;
                };
                // `file_type` comes with the directory entry on Linux: no stat.
                if name.starts_with('.') || !entry.file_type()?.is_file() {
                    continue;
                }
                let path = entry.path();
                let size = match self.wire_size_of(name, &path)? {
                    Size::Named(size) => size,
                    Size::Measured(size) => {
                        measured += 1;
                        size
                    }
                };
                messages.push(StoredMessage {
                    uid: uidl_for(name),
                    order: delivery_order(name),
                    path,
                    size,
                });
            }
        }
        // Oldest first (by the delivery time in the name), then by UIDL: the same order
        // every session.
        messages.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.uid.cmp(&b.uid)));
        Ok(Maildrop {
            messages,
            measured,
            _lock: lock,
        })
    }

    /// The wire size of message file `name`: from its `,W=`, from the sizes measured
    /// before, or read now (and kept).
    fn wire_size_of(&self, name: &str, path: &Path) -> io::Result<Size> {
        let unique = name.split(':').next().unwrap_or(name);
        if let Some(size) = named_wire_size(unique) {
            return Ok(Size::Named(size));
        }
        let known = self.measured.lock().map(|m| m.get(unique).copied());
        if let Ok(Some(size)) = known {
            return Ok(Size::Named(size));
        }
        let size = wire_size(path)?;
        if let Ok(mut m) = self.measured.lock() {
            m.insert(unique.to_string(), size);
        }
        Ok(Size::Measured(size))
    }
}

/// Where a listed size came from.
enum Size {
    /// The name, or the sizes measured before: no file opened.
    Named(u64),
    /// The file, read now.
    Measured(u64),
}

/// The `,W=` size in the unique part of a Maildir name (Dovecot's Maildir++ fields
/// follow the first `,`).
fn named_wire_size(unique: &str) -> Option<u64> {
    unique
        .split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("W="))
        .and_then(|n| n.parse().ok())
}

/// The delivery time a Maildir name starts with, `seconds.M<micros>...Q<n>`, as a key
/// that sorts deliveries in order (zero for the parts a name lacks).
fn delivery_order(name: &str) -> (u64, u64, u64) {
    let mut parts = name.split('.');
    let secs = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let how = parts.next().unwrap_or("");
    let number_after = |tag: char| -> u64 {
        how.split_once(tag)
            .map(|(_, rest)| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .unwrap_or(0)
    };
    (secs, number_after('M'), number_after('Q'))
}

/// A message being written under `tmp/`. Dropped without [`Delivery::commit`], it is
/// removed and nothing reaches `new/`.
#[derive(Debug)]
pub struct Delivery {
    maildir: Maildir,
    name: String,
    tmp: PathBuf,
    file: Option<File>,
    size: u64,
    /// The size on the wire: `size` plus one for each bare LF.
    wire: u64,
    /// Whether the last byte written was a CR.
    last_cr: bool,
}

impl Delivery {
    /// Append message bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        file.write_all(data)?;
        self.size += data.len() as u64;
        self.wire += data.len() as u64 + bare_lfs(data, self.last_cr);
        if let Some(&last) = data.last() {
            self.last_cr = last == b'\r';
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Sync the file, move it into `new/` and sync the directory. Returns the message's
    /// unique name.
    pub fn commit(mut self) -> io::Result<String> {
        let file = self.file.take().ok_or(io::ErrorKind::NotConnected)?;
        file.sync_data()?;
        drop(file);
        let name = format!("{},S={},W={}", self.name, self.size, self.wire);
        let dest = self.maildir.root.join("new").join(&name);
        fs::rename(&self.tmp, &dest)?;
        self.tmp.clear();
        // Renamed: from here a failure leaves the message in new/, unacknowledged (the
        // client sends it again: a duplicate, never a loss).
        self.maildir.new_dir.sync()?;
        Ok(name)
    }
}

/// Syncs of one directory, shared by the deliveries into it.
#[derive(Debug)]
struct DirSync {
    dir: File,
    mode: SyncMode,
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Tickets handed out: one per delivery asking, after its rename.
    asked: u64,
    /// Every ticket up to this one is covered by a completed sync.
    covered: u64,
    /// A sync is running.
    running: bool,
    /// Syncs run (for the tests).
    syncs: u64,
}

/// The state, also after a thread panicked holding it (the counters stay consistent).
fn lock(m: &Mutex<SyncState>) -> std::sync::MutexGuard<'_, SyncState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DirSync {
    fn new(dir: File, mode: SyncMode) -> Self {
        DirSync {
            dir,
            mode,
            state: Mutex::default(),
            done: Condvar::new(),
        }
    }

    /// Make every rename done before this call durable. In group mode a sync covers the
    /// tickets asked before it started; whoever finds none running runs the next one.
    fn sync(&self) -> io::Result<()> {
        if self.mode == SyncMode::PerMessage {
            return self.dir.sync_all();
        }
        let mut state = lock(&self.state);
        state.asked += 1;
        let ticket = state.asked;
        loop {
            if state.covered >= ticket {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                let target = state.asked;
                drop(state);
                let result = self.dir.sync_all();
                state = lock(&self.state);
                state.running = false;
                state.syncs += 1;
                if result.is_ok() {
                    state.covered = state.covered.max(target);
                }
                self.done.notify_all();
                // A failed sync fails the delivery that ran it; the others waiting
                // try again with a sync of their own.
                result?;
                continue;
            }
            state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Why a maildrop could not be opened.
#[derive(Debug)]
pub enum MaildropError {
    /// Another session holds the lock (POP3 `-ERR [IN-USE]`).
    InUse,
    /// The file system failed (POP3 `-ERR [SYS/TEMP]`).
    Io(io::Error),
}

impl From<io::Error> for MaildropError {
    fn from(e: io::Error) -> Self {
        MaildropError::Io(e)
    }
}

impl std::fmt::Display for MaildropError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaildropError::InUse => f.write_str("maildrop already locked by another session"),
            MaildropError::Io(e) => write!(f, "maildrop unavailable: {e}"),
        }
    }
}

impl std::error::Error for MaildropError {}

/// One message as a POP3 session sees it.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// The unique Maildir name (before any `:2,` flags), or a digest of it when that name
    /// is not a valid UIDL.
    pub uid: String,
    /// The file.
    pub path: PathBuf,
    /// Size as sent over POP3 (bare LF counted as CRLF).
    pub size: u64,
    /// The delivery time in the name, for the listing order.
    order: (u64, u64, u64),
}

/// A locked snapshot of a mailbox for one POP3 session. The lock is released on drop.
#[derive(Debug)]
pub struct Maildrop {
    messages: Vec<StoredMessage>,
    /// Message files read to list them (names without `,W=`, not measured before).
    measured: usize,
    _lock: File,
}

impl Maildrop {
    /// The messages, in the session's fixed order (message number = index + 1).
    pub fn messages(&self) -> &[StoredMessage] {
        &self.messages
    }

    /// How many message files the listing had to open and read: zero when every name
    /// carries `,W=` or was measured by an earlier session.
    pub fn measured(&self) -> usize {
        self.measured
    }

    /// Open message `index` (0-based) for reading.
    pub fn open_message(&self, index: usize) -> io::Result<File> {
        let m = self.messages.get(index).ok_or(io::ErrorKind::NotFound)?;
        File::open(&m.path)
    }

    /// Delete the messages at these 0-based indexes (the POP3 UPDATE state). A message
    /// already gone counts as deleted; other failures are returned after trying all.
    pub fn apply_deletions(&self, indexes: &[usize]) -> io::Result<()> {
        let mut first_error = None;
        for &i in indexes {
            let Some(m) = self.messages.get(i) else {
                continue;
            };
            match fs::remove_file(&m.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Maildir directories readable by their owner only (mail is private).
fn private_dirs() -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
}

/// Message files readable by their owner only.
fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// A name unique to this delivery: `seconds.M<micros>P<pid>Q<counter>.<host>`.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let q = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        q,
        hostname()
    )
}

/// The host name with `/` and `:` escaped as the Maildir convention asks (read once).
fn hostname() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(read_hostname)
}

fn read_hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_else(|_| "localhost".into());
    let raw = raw.trim();
    let raw = if raw.is_empty() { "localhost" } else { raw };
    raw.replace('/', "\\057").replace(':', "\\072")
}

/// The UIDL of a Maildir file: its unique part, or a digest when that part is not a valid
/// RFC 1939 unique-id (1-70 characters in 0x21..0x7E).
fn uidl_for(file_name: &str) -> String {
    let unique = file_name.split(':').next().unwrap_or(file_name);
    let unique = unique.split(',').next().unwrap_or(unique);
    if !unique.is_empty()
        && unique.len() <= MAX_UIDL
        && unique.bytes().all(|b| (0x21..0x7f).contains(&b))
    {
        unique.to_string()
    } else {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(unique.as_bytes());
        digest.iter().take(24).map(|b| format!("{b:02x}")).collect()
    }
}

/// The size of a stored message as POP3 sends it: each bare LF becomes CRLF.
fn wire_size(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    let mut last_cr = false;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(size);
        }
        let chunk = &buf[..n];
        size += n as u64 + bare_lfs(chunk, last_cr);
        last_cr = chunk[n - 1] == b'\r';
    }
}

/// The LFs in `chunk` not preceded by a CR (`last_cr`: the byte before the chunk was).
fn bare_lfs(chunk: &[u8], last_cr: bool) -> u64 {
    memchr::memchr_iter(b'\n', chunk)
        .filter(|&i| {
            !if i == 0 {
                last_cr
            } else {
                chunk[i - 1] == b'\r'
            }
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_deliveries_share_directory_syncs_and_all_land() {
        let dir = temp();
        for (mode, most) in [(SyncMode::Group, 40), (SyncMode::PerMessage, 40)] {
            let md = Maildir::open_with(dir.path().join(format!("{mode:?}")), mode).unwrap();
            let names: Vec<String> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..8)
                    .map(|t| {
                        let md = md.clone();
                        scope.spawn(move || {
                            (0..5)
                                .map(|i| {
                                    let mut d = md.deliver().unwrap();
                                    d.write(format!("Subject: {t}-{i}\r\n\r\nx\r\n").as_bytes())
                                        .unwrap();
                                    d.commit().unwrap()
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap())
                    .collect()
            });
            assert_eq!(names.len(), 40);
            for name in &names {
                assert!(md.root.join("new").join(name).is_file(), "{name}");
            }
            let syncs = md.new_dir.state.lock().unwrap().syncs;
            match mode {
                // Never more syncs than messages; each delivery waited for one.
                SyncMode::Group => assert!((1..=most).contains(&syncs), "{syncs}"),
                SyncMode::PerMessage => assert_eq!(syncs, 0, "counted in group mode only"),
            }
        }
    }

    #[test]
    fn a_sync_covers_only_renames_before_it_started() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        // One at a time: every delivery runs a sync of its own.
        for _ in 0..3 {
            md.deliver().unwrap().commit().unwrap();
        }
        let state = md.new_dir.state.lock().unwrap();
        assert_eq!((state.asked, state.covered, state.syncs), (3, 3, 3));
        assert!(!state.running);
    }

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn committed_delivery_is_in_new_whole() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        let mut d = md.deliver().unwrap();
        d.write(b"Subject: x\r\n\r\nhello\r\n").unwrap();
        let name = d.commit().unwrap();
        let body = fs::read(dir.path().join("new").join(&name)).unwrap();
        assert_eq!(body, b"Subject: x\r\n\r\nhello\r\n");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn mail_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp();
        let md = Maildir::open(dir.path().join("u")).unwrap();
        let mut d = md.deliver().unwrap();
        d.write(b"x\r\n").unwrap();
        let name = d.commit().unwrap();
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("u").join("new")), 0o700);
        assert_eq!(mode(&dir.path().join("u").join("new").join(name)), 0o600);
    }

    #[test]
    fn abandoned_delivery_leaves_nothing() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        let mut d = md.deliver().unwrap();
        d.write(b"partial").unwrap();
        drop(d);
        assert_eq!(fs::read_dir(dir.path().join("new")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn second_session_is_in_use_until_the_first_ends() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        let first = md.open_maildrop().unwrap();
        assert!(matches!(md.open_maildrop(), Err(MaildropError::InUse)));
        drop(first);
        md.open_maildrop().unwrap();
    }

    #[test]
    fn uidls_are_stable_and_deletions_apply_only_when_asked() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        for i in 0..3 {
            let mut d = md.deliver().unwrap();
            d.write(format!("n: {i}\n\nbody\n").as_bytes()).unwrap();
            d.commit().unwrap();
        }
        let drop1 = md.open_maildrop().unwrap();
        let uids: Vec<String> = drop1.messages().iter().map(|m| m.uid.clone()).collect();
        assert_eq!(uids.len(), 3);
        // Bare LF counted as CRLF: 4 lines of LF -> 3 extra octets.
        assert_eq!(drop1.messages()[0].size, "n: 0\n\nbody\n".len() as u64 + 3);
        drop(drop1);
        let drop2 = md.open_maildrop().unwrap();
        let again: Vec<String> = drop2.messages().iter().map(|m| m.uid.clone()).collect();
        assert_eq!(uids, again);
        drop2.apply_deletions(&[1]).unwrap();
        drop(drop2);
        let drop3 = md.open_maildrop().unwrap();
        let left: Vec<String> = drop3.messages().iter().map(|m| m.uid.clone()).collect();
        assert_eq!(left, vec![uids[0].clone(), uids[2].clone()]);
    }

    #[test]
    fn names_carry_the_sizes_on_disk_and_on_the_wire() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        let mut d = md.deliver().unwrap();
        // Two bare LFs, one of them at a chunk boundary after a CR (not bare).
        d.write(b"a\nb\r").unwrap();
        d.write(b"\nc\n").unwrap();
        let name = d.commit().unwrap();
        assert!(name.ends_with(",S=7,W=9"), "{name}");
        let listed = md.open_maildrop().unwrap();
        assert_eq!(listed.messages()[0].size, 9);
        assert_eq!(listed.measured(), 0, "the name alone gave the size");
    }

    #[test]
    fn foreign_files_are_measured_once() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        fs::write(dir.path().join("new/1700000000.x.host"), b"a\nb\n").unwrap();
        fs::write(dir.path().join("cur/1600000000.y.host,S=3:2,S"), b"c\r\n").unwrap();
        let first = md.open_maildrop().unwrap();
        assert_eq!(first.measured(), 2);
        let sizes: Vec<u64> = first.messages().iter().map(|m| m.size).collect();
        // Oldest first by the time in the name, whatever the directory.
        assert_eq!(sizes, [3, 6]);
        drop(first);
        let second = md.open_maildrop().unwrap();
        assert_eq!(second.measured(), 0, "measured sizes are kept");
        // Another Maildir value for the same directory has measured nothing yet.
        drop(second);
        assert_eq!(
            Maildir::open(dir.path())
                .unwrap()
                .open_maildrop()
                .unwrap()
                .measured(),
            2
        );
    }

    #[test]
    fn deliveries_list_in_order_within_a_second() {
        assert!(delivery_order("5.M2P1Q10.h") > delivery_order("5.M2P1Q9.h"));
        assert!(delivery_order("5.M10P1Q0.h") > delivery_order("5.M9P1Q0.h"));
        assert!(delivery_order("6.M0P1Q0.h") > delivery_order("5.M999999P1Q0.h"));
        assert_eq!(delivery_order("foreign"), (0, 0, 0));
        assert_eq!(named_wire_size("1.M2P3Q4.h,S=10,W=12"), Some(12));
        assert_eq!(named_wire_size("1.M2P3Q4.h,S=10"), None);
    }

    #[test]
    fn stale_tmp_files_go_recent_ones_stay() {
        let dir = temp();
        let md = Maildir::open(dir.path()).unwrap();
        let old = dir.path().join("tmp/old");
        let recent = dir.path().join("tmp/recent");
        fs::write(&old, b"partial").unwrap();
        fs::write(&recent, b"in progress").unwrap();
        let two_days = SystemTime::now() - Duration::from_secs(48 * 3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        let removed = md.remove_stale_tmp(STALE_TMP).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].0, old);
        assert!(removed[0].1 >= Duration::from_secs(47 * 3600));
        assert!(!old.exists() && recent.exists());
    }

    #[test]
    fn foreign_names_get_a_valid_uidl() {
        assert_eq!(uidl_for("1234.abc.host:2,S"), "1234.abc.host");
        let long = "x".repeat(100);
        let u = uidl_for(&long);
        assert!(u.len() <= MAX_UIDL && u.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
