//! Maildir storage: atomic delivery, and a locked POP3 view of one mailbox.
//!
//! Delivery follows the Maildir rules: the message is written under `tmp/`, synced to
//! disk, then renamed into `new/` (and the directory synced), so a message acknowledged
//! with 250 is on disk complete and an interrupted delivery leaves nothing in `new/`.
//!
//! A POP3 session opens a [`Maildrop`]: it takes an exclusive lock on the mailbox (a
//! second session gets [`MaildropError::InUse`]), lists `new/` and `cur/` once, names each
//! message by its unique Maildir name (stable across sessions, usable as a UIDL), and
//! deletes files only when [`Maildrop::apply_deletions`] is called at UPDATE.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the lock file inside a Maildir.
const LOCK_FILE: &str = ".mailproto-pop3.lock";

/// Longest UIDL RFC 1939 §7 allows.
const MAX_UIDL: usize = 70;

/// A Maildir on disk (`tmp/`, `new/`, `cur/` under one directory).
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// The Maildir at `root`, creating its three directories if needed.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            private_dirs().create(root.join(sub))?;
        }
        Ok(Maildir { root })
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
        for sub in ["cur", "new"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let file_name = entry.file_name();
                let Some(name) = file_name.to_str() else {
                    continue;
                };
                if name.starts_with('.') || !entry.file_type()?.is_file() {
                    continue;
                }
                let path = entry.path();
                let modified = entry.metadata()?.modified().unwrap_or(UNIX_EPOCH);
                let size = wire_size(&path)?;
                messages.push(StoredMessage {
                    uid: uidl_for(name),
                    path,
                    size,
                    modified,
                });
            }
        }
        // Oldest first, then by name: the same order every session.
        messages.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.uid.cmp(&b.uid)));
        Ok(Maildrop {
            messages,
            _lock: lock,
        })
    }
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
}

impl Delivery {
    /// Append message bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        file.write_all(data)?;
        self.size += data.len() as u64;
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
        file.sync_all()?;
        drop(file);
        let name = format!("{},S={}", self.name, self.size);
        let dest = self.maildir.root.join("new").join(&name);
        fs::rename(&self.tmp, &dest)?;
        File::open(self.maildir.root.join("new"))?.sync_all()?;
        self.tmp.clear();
        Ok(name)
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
    modified: SystemTime,
}

/// A locked snapshot of a mailbox for one POP3 session. The lock is released on drop.
#[derive(Debug)]
pub struct Maildrop {
    messages: Vec<StoredMessage>,
    _lock: File,
}

impl Maildrop {
    /// The messages, in the session's fixed order (message number = index + 1).
    pub fn messages(&self) -> &[StoredMessage] {
        &self.messages
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
    let mut prev_cr = false;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(size);
        }
        let chunk = &buf[..n];
        size += n as u64;
        for i in memchr::memchr_iter(b'\n', chunk) {
            let cr = if i == 0 {
                prev_cr
            } else {
                chunk[i - 1] == b'\r'
            };
            if !cr {
                size += 1;
            }
        }
        prev_cr = chunk[n - 1] == b'\r';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn foreign_names_get_a_valid_uidl() {
        assert_eq!(uidl_for("1234.abc.host:2,S"), "1234.abc.host");
        let long = "x".repeat(100);
        let u = uidl_for(&long);
        assert!(u.len() <= MAX_UIDL && u.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
