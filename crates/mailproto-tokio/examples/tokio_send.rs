//! Send a message with the async client on tokio.
//!
//! `cargo run -p mailproto-tokio --example tokio_send -- HOST PORT FROM TO [FILE]`: sends
//! FILE (or a short test message), streamed from a file as it is read, with STARTTLS when
//! the server offers it, and prints each recipient's result.
use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_tokio::TokioAsyncReadCompatExt;
use mailproto_tokio::pop3_client::Security;
use mailproto_tokio::smtp::SmtpClient;
use mailproto_tokio::smtp_client::{Envelope, SmtpOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, from, to, rest @ ..] = args.as_slice() else {
        return Err("usage: tokio_send HOST PORT FROM TO [FILE]".into());
    };
    let options = SmtpOptions::default().with_security(Security::StartTlsOpportunistic);
    let mut client = SmtpClient::connect(host, port.parse()?, options).await?;
    let from = ReversePath::Mailbox(from.parse::<Mailbox>()?);
    let to = ForwardPath::Mailbox(to.parse::<Mailbox>()?);
    let envelope = Envelope::new(from, [to]);
    let report = match rest.first() {
        Some(file) => {
            let mut body = tokio::fs::File::open(file).await?.compat();
            client.send(envelope, &mut body).await?
        }
        None => {
            let text = b"Subject: test\r\n\r\nHello from mailproto.\r\n";
            client
                .send(envelope, &mut futures_lite::io::Cursor::new(text))
                .await?
        }
    };
    for r in &report.recipients {
        match &r.reply {
            Ok(reply) => println!("{}: {reply}", r.recipient),
            Err(reply) => println!("{}: refused {reply}", r.recipient),
        }
    }
    println!("{}", report.reply);
    client.quit().await?;
    Ok(())
}
