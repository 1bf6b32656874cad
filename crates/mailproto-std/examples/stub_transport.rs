//! Testing code that sends mail, without a server: the application takes a
//! `&dyn Transport`; its tests give it a `StubTransport`, which records each message
//! and answers as told. `cargo test -p mailproto-std --example stub_transport` runs the
//! tests below; `cargo run` runs the same check once.
use mailproto_std::Error;
use mailproto_std::message::Message;
use mailproto_std::transport::{StubTransport, Transport};

/// The application's code: a welcome mail to a new user, with a blind copy to the
/// archive.
fn send_welcome(transport: &dyn Transport, user: &str) -> Result<(), Error> {
    let raw = format!(
        "From: Example <hello@example.org>\r\nTo: {user}\r\nBcc: archive@example.org\r\n\
         Subject: Welcome\r\n\r\nWelcome aboard.\r\n"
    );
    let message = Message::from_bytes(raw.into_bytes())?;
    transport.send(&message)?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let stub = StubTransport::new();
    send_welcome(&stub, "ann@example.net")?;
    let sent = stub.messages();
    println!(
        "would send {} message(s), to {} recipient(s)",
        sent.len(),
        sent[0].envelope().recipients.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welcome_goes_to_the_user_and_the_archive_without_a_bcc_field() {
        let stub = StubTransport::new();
        send_welcome(&stub, "ann@example.net").unwrap();
        let sent = stub.messages();
        assert_eq!(sent.len(), 1);
        let to: Vec<String> = sent[0]
            .envelope()
            .recipients
            .iter()
            .map(|(r, _)| r.to_string())
            .collect();
        assert_eq!(to, ["<ann@example.net>", "<archive@example.org>"]);
        assert!(!String::from_utf8_lossy(sent[0].bytes()).contains("Bcc"));
    }

    #[test]
    fn a_refusal_reaches_the_caller() {
        let stub = StubTransport::failing(|_| Some(Error::Unsupported("relay down".into())));
        assert!(send_welcome(&stub, "ann@example.net").is_err());
        assert!(stub.messages().is_empty());
    }
}
