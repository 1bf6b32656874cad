//! Storing fetched messages into the Maildir in batches, with one round of syncs a batch.
//!
//! Each message is streamed into `tmp/NAME` (`NAME` from [`Journal::file_base`]: a digest
//! of server, user and UIDL). Every [`BATCH`] messages, or once a batch is
//! [`BATCH_TIME`] old, and at the end (also after an error, for the messages complete by
//! then), the batch is made durable in this order:
//!
//! 1. every file of the batch is synced (`fdatasync`, from several threads at once so the
//!    file system commits them together);
//! 2. the first time in a run, the account's marker file is created and the Maildir's
//!    directory synced ([`Journal::begin_storing`]);
//! 3. each file is renamed to `new/NAME,S=SIZE,W=WIRE-SIZE`, unless a file of that name
//!    is already there (then the message counts as already stored and the copy in `tmp/`
//!    is removed);
//! 4. `new/` is synced;
//! 5. the batch's UIDLs are appended to the journal, which is synced.
//!
//! Only then are the batch's messages reported as durable (and may be marked with DELE);
//! once the last batch is recorded the marker is removed. A crash before step 3 leaves
//! files in `tmp/` only, and their messages unrecorded: they are fetched again. A crash
//! between 3 and 5 leaves complete messages in `new/` that the journal does not list; the
//! marker is then still there, so the next run lists `new/` and `cur/` ([`recover`]),
//! finds those files by their names, and records them instead of fetching them again.
//! So a crash at any point costs at most the batch in progress fetched again, and
//! loses or doubles no message.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use mailproto_std::Error;
use mailproto_std::pop3_client::Pop3Client;

use crate::fetch_state::{FETCH_SUFFIX, Journal, sync_dir};

/// Most messages in one batch: the RETRs of a batch go out pipelined, and the batch is
/// synced once.
pub const BATCH: usize = 256;

/// Age at which a batch is made durable even when it is not full (checked as each
/// message ends), so slow servers or large messages do not leave much unsynced.
pub const BATCH_TIME: Duration = Duration::from_secs(1);

/// Most threads syncing the files of one batch.
const SYNC_THREADS: usize = 16;

/// Messages below this size are written to their file in one piece.
const WRITE_BUF: usize = 64 * 1024;

/// The messages of a download on their way into the Maildir at `root`, and the counts.
#[derive(Debug)]
pub struct Store<'j> {
    root: PathBuf,
    journal: &'j mut Journal,
    bar: ProgressBar,
    batch: Vec<Written>,
    started: Option<Instant>,
    /// Message numbers whose storage is durable and recorded, not yet taken.
    durable: Vec<u32>,
    /// Whether some message was moved into `new/` and not yet recorded in the journal.
    unrecorded: bool,
    /// Messages stored by this run.
    pub saved: usize,
    /// Messages found already in `new/` under their name (not stored again).
    pub present: usize,
}

/// A message being received.
#[derive(Debug)]
struct Receiving {
    msg: u32,
    uid: String,
    base: String,
    tmp: PathBuf,
    file: File,
    buf: Vec<u8>,
    size: u64,
    /// Size as POP3 sends it: each bare LF counted as CRLF.
    wire: u64,
    last_cr: bool,
}

/// A message complete under `tmp/`, not yet synced.
#[derive(Debug)]
struct Written {
    msg: u32,
    uid: String,
    base: String,
    tmp: PathBuf,
    file: File,
    size: u64,
    wire: u64,
}

impl Receiving {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let bare_lf = memchr::memchr_iter(b'\n', data)
            .filter(|&i| {
                if i == 0 {
                    !self.last_cr
                } else {
                    data[i - 1] != b'\r'
                }
            })
            .count();
        self.last_cr = data[data.len() - 1] == b'\r';
        self.size += data.len() as u64;
        self.wire += (data.len() + bare_lf) as u64;
        if self.buf.len() + data.len() > WRITE_BUF {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        if data.len() > WRITE_BUF {
            self.file.write_all(data)
        } else {
            self.buf.extend_from_slice(data);
            Ok(())
        }
    }

    fn finish(mut self) -> io::Result<Written> {
        self.file.write_all(&self.buf)?;
        Ok(Written {
            msg: self.msg,
            uid: self.uid,
            base: self.base,
            tmp: self.tmp,
            file: self.file,
            size: self.size,
            wire: self.wire,
        })
    }
}

/// The message in progress, shared by the writer handed to the client and the loop.
type Slot = RefCell<Option<Receiving>>;

/// Writes RETR data into the message in progress and advances the progress bar.
struct SlotWriter<'a> {
    slot: &'a Slot,
    bar: &'a ProgressBar,
}

impl Write for SlotWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut slot = self.slot.borrow_mut();
        slot.as_mut()
            .ok_or(io::ErrorKind::NotConnected)?
            .write(buf)?;
        self.bar.inc(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'j> Store<'j> {
    /// Store into the Maildir at `root` (already opened), recording in `journal`.
    pub fn new(root: &Path, journal: &'j mut Journal, bar: ProgressBar) -> Self {
        Store {
            root: root.to_path_buf(),
            journal,
            bar,
            batch: Vec::new(),
            started: None,
            durable: Vec::new(),
            unrecorded: false,
            saved: 0,
            present: 0,
        }
    }

    /// RETR the messages of `batch` (number, UIDL; at most [`BATCH`]), pipelined, into
    /// the Maildir, and make them durable before returning. After an error the messages
    /// complete by then are made durable too, and the one in progress is removed.
    pub fn fetch(&mut self, client: &mut Pop3Client, batch: &[(u32, String)]) -> Result<(), Error> {
        let uids: HashMap<u32, &str> = batch.iter().map(|(m, u)| (*m, u.as_str())).collect();
        let msgs: Vec<u32> = batch.iter().map(|(m, _)| *m).collect();
        let slot: Slot = RefCell::new(None);
        let bar = self.bar.clone();
        // The client asks for the next message's writer only after the previous answer
        // ended, so that is when the previous message is complete.
        let result = client.retr_many(&msgs, |msg| {
            self.complete(&slot)?;
            let uid = uids.get(&msg).copied().unwrap_or_default();
            *slot.borrow_mut() = Some(self.receive(msg, uid)?);
            Ok(SlotWriter {
                slot: &slot,
                bar: &bar,
            })
        });
        let result = match result {
            Ok(()) => self.complete(&slot).map_err(Error::from),
            Err(e) => {
                if let Some(partial) = slot.borrow_mut().take() {
                    drop(partial.file);
                    let _ = fs::remove_file(&partial.tmp);
                }
                Err(e)
            }
        };
        let synced = self.sync_batch();
        result?;
        synced.map_err(Error::from)
    }

    /// The message numbers made durable (and recorded) since the last call.
    pub fn take_durable(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.durable)
    }

    /// At the end of the download: when everything moved into `new/` is recorded,
    /// remove the account's marker.
    pub fn finish(self) -> io::Result<()> {
        if self.unrecorded {
            return Ok(());
        }
        self.journal.end_storing()
    }

    /// Start receiving message `msg` into `tmp/` (a file left there by an interrupted
    /// run under the same name is overwritten).
    fn receive(&mut self, msg: u32, uid: &str) -> io::Result<Receiving> {
        let base = self.journal.file_base(uid);
        let tmp = self.root.join("tmp").join(&base);
        let file = private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(Receiving {
            msg,
            uid: uid.to_string(),
            base,
            tmp,
            file,
            buf: Vec::new(),
            size: 0,
            wire: 0,
            last_cr: false,
        })
    }

    /// Move the message in `slot`, now complete, into the batch; sync the batch when it
    /// is full or old enough.
    fn complete(&mut self, slot: &Slot) -> io::Result<()> {
        let Some(receiving) = slot.borrow_mut().take() else {
            return Ok(());
        };
        self.batch.push(receiving.finish()?);
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.batch.len() >= BATCH || started.elapsed() >= BATCH_TIME {
            self.sync_batch()?;
        }
        Ok(())
    }

    /// Make the batch durable and record it, in the order the module's doc gives. After
    /// an error the batch is dropped (its messages stay unrecorded, so they are fetched
    /// again, or found by [`recover`]) and the marker stays.
    fn sync_batch(&mut self) -> io::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.started = None;
        if batch.is_empty() {
            return Ok(());
        }
        self.unrecorded = true;
        sync_files(&batch)?;
        self.journal.begin_storing()?;
        let new = self.root.join("new");
        for w in &batch {
            let dest = new.join(format!("{},S={},W={}", w.base, w.size, w.wire));
            if fs::symlink_metadata(&dest).is_ok() {
                fs::remove_file(&w.tmp)?;
                self.present += 1;
            } else {
                fs::rename(&w.tmp, &dest)?;
                self.saved += 1;
            }
        }
        sync_dir(&new)?;
        for w in &batch {
            self.journal.record(&w.uid);
        }
        self.journal.commit()?;
        self.unrecorded = false;
        self.durable.extend(batch.iter().map(|w| w.msg));
        Ok(())
    }
}

/// Sync the files, from up to [`SYNC_THREADS`] threads: the file system then commits
/// them together instead of one commit each.
fn sync_files(batch: &[Written]) -> io::Result<()> {
    if batch.len() == 1 {
        return batch[0].file.sync_data();
    }
    let per_thread = batch.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = batch
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().try_for_each(|w| w.file.sync_data())))
            .collect();
        // The scope joins every thread, even when the first error returns early.
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(io::Error::other("sync thread panicked")))
        })
    })
}

/// After an interrupted run of this account (its marker is still there): record the
/// messages of `todo` that the run had already moved into `new/` (or that were moved on
/// to `cur/` since), found by their file names, and remove the files it left in `tmp/`.
/// Returns the UIDLs recorded.
pub fn recover(
    root: &Path,
    journal: &mut Journal,
    todo: &[(u32, String)],
) -> io::Result<Vec<String>> {
    let bases: HashMap<String, &str> = todo
        .iter()
        .map(|(_, uid)| (journal.file_base(uid), uid.as_str()))
        .collect();
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(root.join(sub))? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let base = name.split([',', ':']).next().unwrap_or(name);
            if let Some(uid) = bases.get(base) {
                journal.record(uid);
                found.push(uid.to_string());
            }
        }
    }
    journal.commit()?;
    // Under the download lock nothing else writes files of this form into tmp/: those
    // there are left over from an interrupted run, and never a message's only copy.
    let suffix = format!(".{FETCH_SUFFIX}");
    for entry in fs::read_dir(root.join("tmp"))? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(&suffix))
        {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(found)
}

/// Message files readable by their owner only (as [`crate::maildir`] makes them).
fn private_file() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_size_counts_bare_line_feeds_across_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let mut r = Receiving {
            msg: 1,
            uid: "u".into(),
            base: "b".into(),
            tmp: path.clone(),
            file: File::create(&path).unwrap(),
            buf: Vec::new(),
            size: 0,
            wire: 0,
            last_cr: false,
        };
        for part in [&b"a\r"[..], b"\nb\n", b"\n", b"", b"c\r\n"] {
            r.write(part).unwrap();
        }
        let w = r.finish().unwrap();
        assert_eq!(w.size, 9);
        assert_eq!(w.wire, 11);
        drop(w.file);
        assert_eq!(fs::read(&path).unwrap(), b"a\r\nb\n\nc\r\n");
    }
}
