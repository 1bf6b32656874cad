//! The test doubles users put in place of the SMTP transport: the stub records what
//! would be sent and answers as told; the file transport writes `.eml` files with the
//! envelope beside them. Both behind the blocking and the async trait.

use mailproto_engine::Error;
use mailproto_engine::message::Message;
use mailproto_engine::transport::{AsyncTransport, FileTransport, StubTransport, Transport};

const RAW: &[u8] =
    b"From: a@example.org\nTo: b@example.net\nBcc: c@example.net\nSubject: t\n\nbody\n";

/// Application code that only knows the trait.
fn notify(transport: &dyn Transport, to: &str) -> Result<(), Error> {
    let raw = format!("From: app@example.org\r\nTo: {to}\r\nSubject: hi\r\n\r\nhello\r\n");
    let message =
        Message::from_bytes(raw.into_bytes()).map_err(|e| Error::Unsupported(e.to_string()))?;
    transport.send(&message).map(|_| ())
}

#[test]
fn stub_records_and_fails_as_told() {
    let stub = StubTransport::new();
    notify(&stub, "b@example.net").unwrap();
    let sent = stub.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].envelope().recipients.len(), 1);
    assert!(sent[0].bytes().starts_with(b"From: app@example.org\r\n"));

    let failing = StubTransport::failing(|m| {
        let to = m.envelope().recipients[0].0.to_string();
        to.contains("blocked")
            .then(|| Error::Unsupported(format!("{to} is blocked")))
    });
    assert!(notify(&failing, "blocked@example.net").is_err());
    notify(&failing, "ok@example.net").unwrap();
    assert_eq!(
        failing.messages().len(),
        1,
        "only what was accepted is recorded"
    );
    // Clones share the record, and the async side sees the same.
    let clone = failing.clone();
    let message = Message::from_bytes(RAW).unwrap();
    futures_lite::future::block_on(AsyncTransport::send(&clone, &message)).unwrap();
    assert_eq!(failing.messages().len(), 2);
}

#[test]
fn file_transport_writes_eml_and_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let files = FileTransport::new(dir.path().join("out")).unwrap();
    let message = Message::from_bytes(RAW).unwrap();
    let report = Transport::send(&files, &message).unwrap();
    assert_eq!(report.recipients.len(), 2);
    futures_lite::future::block_on(AsyncTransport::send(&files, &message)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(files.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "no temporary file left: {names:?}"
    );
    let eml = names.iter().find(|n| n.ends_with(".eml")).unwrap();
    let bytes = std::fs::read(files.dir().join(eml)).unwrap();
    assert_eq!(
        bytes,
        b"From: a@example.org\r\nTo: b@example.net\r\nSubject: t\r\n\r\nbody\r\n"
    );
    let envelope =
        std::fs::read_to_string(files.dir().join(eml.replace(".eml", ".envelope"))).unwrap();
    assert_eq!(
        envelope,
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n"
    );
}
