//! Sends COUNT generated messages of SIZE octets over one SMTP connection, for
//! `benches/e2e.sh`.
//!
//! `smtp_blast std|smol HOST PORT COUNT SIZE`: one EHLO, then `send` repeatedly on the same
//! session (envelope pipelined when the server offers PIPELINING), then QUIT. Prints the
//! messages, octets and seconds it took. The body is generated as it is sent, so SIZE can
//! be 1 GiB.
use std::time::Instant;

use mailproto_bench::{Generated, arg};
use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_std::pop3_client::Security;
use mailproto_std::smtp_client::{Envelope, SmtpOptions};

/// Plain TCP: the bench runs on loopback against servers without TLS.
fn options() -> SmtpOptions {
    SmtpOptions::default().with_security(Security::Plain)
}

const USAGE: &str = "smtp_blast std|smol HOST PORT COUNT SIZE";

fn envelope() -> Envelope {
    let from: Mailbox = "bench@example.org".parse().expect("sender");
    let to: Mailbox = "sink@example.org".parse().expect("recipient");
    Envelope::new(ReversePath::Mailbox(from), [ForwardPath::Mailbox(to)])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let adapter: String = arg(&args, 0, USAGE);
    let host: String = arg(&args, 1, USAGE);
    let port: u16 = arg(&args, 2, USAGE);
    let count: u64 = arg(&args, 3, USAGE);
    let size: u64 = arg(&args, 4, USAGE);
    // Small messages are generated once and sent from memory; large ones are streamed.
    let small = (size <= 16 << 20).then(|| Generated::new(size).to_vec());
    let started = Instant::now();
    let mut octets = 0u64;
    match adapter.as_str() {
        "std" => {
            let mut client =
                mailproto_std::smtp_client::SmtpClient::connect(&host, port, options())?;
            for _ in 0..count {
                let report = match &small {
                    Some(body) => client.send(envelope(), &mut body.as_slice())?,
                    None => client.send(envelope(), &mut Generated::new(size))?,
                };
                if !report.all_accepted() {
                    return Err(format!("refused: {}", report.reply).into());
                }
                octets += size;
            }
            client.quit()?;
        }
        "smol" => smol::block_on(async {
            let mut client =
                mailproto_smol::smtp::SmtpClient::connect(&host, port, options()).await?;
            for _ in 0..count {
                let report = match &small {
                    Some(body) => client.send(envelope(), &mut body.as_slice()).await?,
                    None => {
                        let mut body = futures_lite::io::AssertAsync::new(Generated::new(size));
                        client.send(envelope(), &mut body).await?
                    }
                };
                if !report.all_accepted() {
                    return Err::<(), Box<dyn std::error::Error>>(
                        format!("refused: {}", report.reply).into(),
                    );
                }
                octets += size;
            }
            client.quit().await?;
            Ok(())
        })?,
        _ => return Err(USAGE.into()),
    }
    let secs = started.elapsed().as_secs_f64();
    println!("messages={count} octets={octets} seconds={secs:.4}");
    Ok(())
}
