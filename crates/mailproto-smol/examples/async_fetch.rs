//! Fetch messages with the async POP3 client.
//!
//! `cargo run -p mailproto-smol --example async_fetch -- HOST PORT USER PASSWORD`.
use mailproto_core::secret::Secret;
use mailproto_smol::pop3::Pop3Client;
use mailproto_smol::pop3_client::{Pop3Options, Security};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, password] = args.as_slice() else {
        return Err("usage: fetch HOST PORT USER PASSWORD".into());
    };
    smol::block_on(async {
        let options = Pop3Options {
            security: Security::StartTlsOpportunistic,
            ..Pop3Options::default()
        };
        let mut client = Pop3Client::connect(host, port.parse()?, options).await?;
        client.login(user, &Secret::from(password.as_str())).await?;
        let mut out = futures_lite::io::Cursor::new(Vec::new());
        for entry in client.uidl().await? {
            client.retr(entry.msg, &mut out).await?;
        }
        println!("{} octets fetched", out.get_ref().len());
        client.quit().await?;
        Ok(())
    })
}
