//! Fetch messages with the async POP3 client on tokio.
//!
//! `cargo run -p mailproto-tokio --example tokio_fetch -- HOST PORT USER PASSWORD [CA_FILE]`:
//! logs in (STLS when offered; the certificate checked against CA_FILE if given, else the
//! system roots), lists the maildrop and prints every message to standard output.
use mailproto_core::secret::Secret;
use mailproto_tokio::pop3::Pop3Client;
use mailproto_tokio::pop3_client::{Pop3Options, Security};
use mailproto_tokio::tls::ClientTls;
use tokio_util::compat::TokioAsyncWriteCompatExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, password, ca @ ..] = args.as_slice() else {
        return Err("usage: tokio_fetch HOST PORT USER PASSWORD [CA_FILE]".into());
    };
    let tls = match ca.first() {
        Some(file) => ClientTls::with_root_file(file.as_ref())?,
        None => ClientTls::system(),
    };
    let options = Pop3Options::default()
        .with_security(Security::StartTlsOpportunistic)
        .with_tls(tls);
    let mut client = Pop3Client::connect(host, port.parse()?, options).await?;
    client.login(user, &Secret::from(password.as_str())).await?;
    let (count, size) = client.stat().await?;
    println!("{count} messages, {size} octets");
    let mut stdout = tokio::io::stdout().compat_write();
    for entry in client.uidl().await? {
        println!("--- message {} ({})", entry.msg, entry.uid.as_str());
        client.retr(entry.msg, &mut stdout).await?;
    }
    futures_lite::AsyncWriteExt::flush(&mut stdout).await?;
    client.quit().await?;
    Ok(())
}
