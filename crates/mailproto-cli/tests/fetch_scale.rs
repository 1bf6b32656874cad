//! `mailproto fetch` at scale and across crashes, through the real binaries: 10,000
//! messages served by `mailproto serve`'s POP3 side are each stored exactly once (by
//! content: every message carries its own Message-ID), after a run, after a run killed
//! with SIGKILL and run again, after a crash between moving a batch into `new/` and
//! recording it, and with `--delete`. Nothing here is timed: `benches/e2e.sh fetch`
//! measures the speed.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use mailproto_testkit::{free_port, wait_for_port};

const MESSAGES: usize = 10_000;

/// The longest any one fetch may take here (10,000 messages take a few seconds).
const FETCH_LIMIT: Duration = Duration::from_secs(120);

/// A child process killed (and reaped) on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mailproto serve` with user alice over a Maildir the test fills, POP3 on a free port.
struct Server {
    _child: Reaped,
    dir: tempfile::TempDir,
    pop3: u16,
}

impl Server {
    /// Put `count` messages (numbered from `first`) into alice's maildrop, then start.
    fn start(first: usize, count: usize) -> Server {
        let dir = tempfile::tempdir().unwrap();
        deliver(&dir.path().join("mail").join("alice"), first, count);
        let (pop3, smtp) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_mailproto"))
            .args(["serve", "--pop3", &format!("127.0.0.1:{pop3}")])
            .args(["--smtp", &format!("127.0.0.1:{smtp}")])
            .args(["--user", "alice:pw", "--maildir"])
            .arg(dir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mailproto serve");
        let server = Server {
            _child: Reaped(child),
            dir,
            pop3,
        };
        assert!(
            wait_for_port(pop3, Duration::from_secs(15)),
            "serve's POP3 side did not start"
        );
        server
    }

    fn maildrop(&self) -> PathBuf {
        self.dir.path().join("mail").join("alice")
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.pop3)
    }
}

/// Deliver messages `first..first + count` into the Maildir `root` (as an MTA would),
/// each a second newer than the one before.
fn deliver(root: &Path, first: usize, count: usize) {
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for i in first..first + count {
        let path = root.join("new").join(format!("1700000000.M{i}P1.scale"));
        let mut f = File::create(&path).unwrap();
        f.write_all(&message(i)).unwrap();
        f.set_modified(epoch + Duration::from_secs(i as u64))
            .unwrap();
    }
}

/// Message `i`: its number in the Message-ID, the subject and the body.
fn message(i: usize) -> Vec<u8> {
    format!(
        "From: <scale@example.org>\r\nTo: <alice@example.org>\r\n\
         Message-ID: <{i}@fetch-scale.test>\r\nSubject: message {i}\r\n\r\n\
         body of message {i}\r\n.a line with a leading dot\r\n"
    )
    .into_bytes()
}

/// The `fetch` command line into `out`, plaintext on loopback (passing `--plain` when
/// this build has it, should plaintext need asking for).
fn fetch_command(server: &Server, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailproto"));
    cmd.args(["fetch", "--server", &server.address(), "--user", "alice"])
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("MAILPROTO_PASSWORD", "pw")
        .stdin(Stdio::null());
    if needs_plain_flag() {
        cmd.arg("--plain");
    }
    cmd
}

fn needs_plain_flag() -> bool {
    let help = Command::new(env!("CARGO_BIN_EXE_mailproto"))
        .args(["fetch", "--help"])
        .output()
        .expect("mailproto fetch --help");
    String::from_utf8_lossy(&help.stdout).contains("--plain")
}

/// Run a fetch to its end (bounded) and return its summary line.
fn fetch(server: &Server, out: &Path, extra: &[&str]) -> String {
    let child = fetch_command(server, out, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailproto fetch");
    let output = wait_bounded(child);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        output.status.success(),
        "fetch failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Wait for `child` for at most [`FETCH_LIMIT`], killing it past that.
fn wait_bounded(mut child: Child) -> Output {
    let deadline = Instant::now() + FETCH_LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fetch took more than {FETCH_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Start a fetch, wait until at least `threshold` messages are in `out/new/` (a bounded
/// poll), and SIGKILL it while it still runs.
fn kill_fetch_midway(server: &Server, out: &Path, extra: &[&str], threshold: usize) {
    let mut child = Reaped(
        fetch_command(server, out, extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mailproto fetch"),
    );
    let deadline = Instant::now() + FETCH_LIMIT;
    loop {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "fetch ended before {threshold} messages were stored: nothing to kill"
        );
        assert!(Instant::now() < deadline, "fetch stored too little in time");
        if count_files(&out.join("new")) >= threshold {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| d.count())
}

/// How many times each message number is stored in `new/` and `cur/` of `maildir`.
fn stored(maildir: &Path) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let data = fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8(data.clone()).unwrap();
            let i: usize = text
                .split("Message-ID: <")
                .nth(1)
                .and_then(|rest| rest.split('@').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a stored file is no test message:\n{text}"));
            assert_eq!(data, message(i), "message {i} is not stored byte for byte");
            *seen.entry(i).or_insert(0) += 1;
        }
    }
    seen
}

/// Every message of `range` stored exactly once in `out`, and nothing else.
fn assert_each_stored_once(out: &Path, range: std::ops::Range<usize>) {
    let seen = stored(out);
    let doubled: Vec<_> = seen.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    let missing: Vec<usize> = range.clone().filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "{} missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(seen.len(), range.len(), "unexpected messages stored");
    assert_eq!(count_files(&out.join("tmp")), 0, "files left in tmp/");
}

#[test]
fn ten_thousand_messages_are_each_stored_once_and_a_rerun_fetches_none() {
    let server = Server::start(1, MESSAGES);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("inbox");
    let summary = fetch(&server, &out, &[]);
    assert!(
        summary.starts_with(&format!("{MESSAGES} new messages saved")),
        "{summary}"
    );
    assert_each_stored_once(&out, 1..MESSAGES + 1);
    // One journal line per message, nothing else left beside the Maildir's own.
    let journal = fs::read_to_string(out.join(".mailproto-uidls")).unwrap();
    assert_eq!(journal.lines().count(), MESSAGES);
    let extra: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".storing") || n.starts_with(".mailproto-uidls."))
        .collect();
    assert!(extra.is_empty(), "left behind: {extra:?}");

    let again = fetch(&server, &out, &[]);
    assert!(
        again.starts_with(&format!(
            "0 new messages saved in {} ({MESSAGES} fetched before)",
            out.display()
        )),
        "{again}"
    );
    assert_each_stored_once(&out, 1..MESSAGES + 1);
    assert_eq!(
        fs::read_to_string(out.join(".mailproto-uidls")).unwrap(),
        journal
    );
}

#[test]
fn a_fetch_killed_twice_then_run_again_stores_every_message_exactly_once() {
    let server = Server::start(1, MESSAGES);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("inbox");
    kill_fetch_midway(&server, &out, &[], 1_000);
    let after_first = count_files(&out.join("new"));
    // The run killed on its way: it had marked itself as storing.
    assert!(has_marker(&out), "no marker after a kill");
    kill_fetch_midway(&server, &out, &[], after_first + 2_000);
    let summary = fetch(&server, &out, &[]);
    assert!(summary.contains("fetched before"), "{summary}");
    assert_each_stored_once(&out, 1..MESSAGES + 1);
    assert!(!has_marker(&out), "marker left after a complete run");
    let nothing = fetch(&server, &out, &[]);
    assert!(nothing.starts_with("0 new messages saved"), "{nothing}");
    assert_each_stored_once(&out, 1..MESSAGES + 1);
}

#[test]
fn a_crash_between_moving_a_batch_into_new_and_recording_it_doubles_nothing() {
    let server = Server::start(1, MESSAGES);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("inbox");
    // At least two batches moved into new/: the first is recorded.
    kill_fetch_midway(&server, &out, &[], 600);
    // As if the last records had not reached the disk, and the crash had torn the
    // append after them: drop 100 lines, and end the journal with half a record of a
    // message that is not stored.
    let path = out.join(".mailproto-uidls");
    let journal = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert!(lines.len() >= 200, "{} records", lines.len());
    let kept = lines[..lines.len() - 100].join("\n") + "\n";
    let stored_now = stored(&out);
    let absent = (1..MESSAGES + 1)
        .find(|i| !stored_now.contains_key(i))
        .unwrap();
    let torn = format!("{} alice 1700000000.M{absent}P1.scale", server.address());
    fs::write(&path, format!("{kept}{torn}")).unwrap();

    let summary = fetch(&server, &out, &[]);
    let found: usize = summary
        .trim_end()
        .split("; ")
        .find_map(|part| {
            part.strip_suffix(" found stored by an interrupted run, not fetched again")
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no recovery in {summary:?}"));
    assert!(found >= 100, "{summary}");
    assert_each_stored_once(&out, 1..MESSAGES + 1);
    let journal = fs::read_to_string(&path).unwrap();
    assert_eq!(journal.lines().count(), MESSAGES, "one record per message");
}

#[test]
fn delete_removes_on_the_server_exactly_the_messages_stored() {
    let server = Server::start(1, MESSAGES);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("inbox");
    let first = fetch(&server, &out, &[]);
    assert!(first.starts_with(&format!("{MESSAGES} new")), "{first}");
    // Two more arrive; a --delete run killed midway deletes nothing (no QUIT).
    deliver(&server.maildrop(), MESSAGES + 1, 2);
    kill_fetch_midway_or_finish(&server, &out);
    assert_eq!(count_files(&server.maildrop().join("new")), MESSAGES + 2);
    // The complete --delete run stores the new ones, then deletes all it stored.
    let summary = fetch(&server, &out, &["--delete"]);
    assert!(
        summary.contains(&format!("; {} deleted on the server", MESSAGES + 2)),
        "{summary}"
    );
    assert_each_stored_once(&out, 1..MESSAGES + 3);
    assert_eq!(count_files(&server.maildrop().join("new")), 0);
    assert_eq!(count_files(&server.maildrop().join("cur")), 0);
    // The next run forgets the deleted messages: the journal shrinks to nothing.
    let next = fetch(&server, &out, &[]);
    assert!(next.starts_with("0 new messages saved"), "{next}");
    assert_eq!(
        fs::read_to_string(out.join(".mailproto-uidls")).unwrap(),
        ""
    );
}

/// Run `fetch --delete` and SIGKILL it as soon as the DELEs are under way (or as late
/// as it lets us: the point is that it never reaches QUIT).
fn kill_fetch_midway_or_finish(server: &Server, out: &Path) {
    let mut child = Reaped(
        fetch_command(server, out, &["--delete"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The 2 new messages are stored once their batch is durable; DELEs follow.
    let deadline = Instant::now() + FETCH_LIMIT;
    while count_files(&out.join("new")) < MESSAGES + 2 {
        assert!(
            Instant::now() < deadline,
            "the new messages were not stored"
        );
        if child.0.try_wait().unwrap().is_some() {
            panic!("fetch --delete ended before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
}

fn has_marker(out: &Path) -> bool {
    fs::read_dir(out).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".storing")
    })
}
