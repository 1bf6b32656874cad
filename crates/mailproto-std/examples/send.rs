//! Send a message with the blocking client.
//!
//! `cargo run -p mailproto-std --example send -- HOST PORT FROM TO [FILE]`: sends FILE (or
//! a short test message) from FROM to TO, with STARTTLS when the server offers it, and
//! prints each recipient's result.
use std::io::Cursor;

use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_std::pop3_client::Security;
use mailproto_std::smtp_client::{Envelope, SmtpClient, SmtpOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, from, to, rest @ ..] = args.as_slice() else {
        return Err("usage: send HOST PORT FROM TO [FILE]".into());
    };
    let body = match rest.first() {
        Some(file) => std::fs::read(file)?,
        None => b"Subject: test\r\n\r\nHello from mailproto.\r\n".to_vec(),
    };
    let options = SmtpOptions::default().with_security(Security::StartTlsOpportunistic);
    let mut client = SmtpClient::connect(host, port.parse()?, options)?;
    let from = ReversePath::Mailbox(from.parse::<Mailbox>()?);
    let to = ForwardPath::Mailbox(to.parse::<Mailbox>()?);
    let report = client.send(Envelope::new(from, [to]), &mut Cursor::new(body))?;
    for r in &report.recipients {
        match &r.reply {
            Ok(reply) => println!("{}: {reply}", r.recipient),
            Err(reply) => println!("{}: refused {reply}", r.recipient),
        }
    }
    println!("{}", report.reply);
    client.quit()?;
    Ok(())
}
