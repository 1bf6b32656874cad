//! Testing async code that sends mail, without a server: the application takes an
//! `impl AsyncTransport`; its tests give it a `StubTransport`, which records each
//! message and answers as told. `cargo test -p mailproto-smol --example
//! async_stub_transport` runs the tests below; `cargo run` runs the same check once.
use mailproto_smol::Error;
use mailproto_smol::message::Message;
use mailproto_smol::transport::{AsyncTransport, StubTransport};

/// The application's code: a password-reset mail.
async fn send_reset(transport: &impl AsyncTransport, user: &str) -> Result<(), Error> {
    let raw = format!(
        "From: Example <noreply@example.org>\r\nTo: {user}\r\nSubject: Reset your password\r\n\
         \r\nFollow the link to choose a new password.\r\n"
    );
    let message = Message::from_bytes(raw.into_bytes())?;
    transport.send(&message).await?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let stub = StubTransport::new();
    smol::block_on(send_reset(&stub, "ann@example.net"))?;
    println!("would send {} message(s)", stub.messages().len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_mail_goes_to_the_user() {
        let stub = StubTransport::new();
        smol::block_on(send_reset(&stub, "ann@example.net")).unwrap();
        let sent = stub.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].envelope().recipients[0].0.to_string(),
            "<ann@example.net>"
        );
        assert!(String::from_utf8_lossy(sent[0].bytes()).contains("Subject: Reset"));
    }

    #[test]
    fn a_refusal_reaches_the_caller() {
        let stub = StubTransport::failing(|_| Some(Error::Unsupported("relay down".into())));
        assert!(smol::block_on(send_reset(&stub, "ann@example.net")).is_err());
    }
}
