//! `mailproto demo` and `--help` through the real binary.
#![allow(missing_docs)]

use std::process::Command;

#[test]
fn demo_round_trip_succeeds_and_prints_both_transcripts() {
    let out = Command::new(env!("CARGO_BIN_EXE_mailproto"))
        .arg("demo")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("byte-for-byte the message sent"), "{text}");
    for line in [
        "C: STARTTLS",
        "C: AUTH PLAIN ***",
        "C: STLS",
        "C: PASS ***",
        "C: RETR 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("PASS demo-"), "the password leaked:\n{text}");
}

#[test]
fn demo_keeps_the_maildir_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("kept");
    let out = Command::new(env!("CARGO_BIN_EXE_mailproto"))
        .arg("demo")
        .arg("--keep")
        .arg(&keep)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        keep.join("demo").join("cur").is_dir(),
        "the Maildir was not kept"
    );
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["serve", "send", "fetch", "demo"] {
        let out = Command::new(env!("CARGO_BIN_EXE_mailproto"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: mailproto"));
    }
}
