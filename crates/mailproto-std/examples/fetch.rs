//! Fetch messages with the blocking POP3 client.
//!
//! `cargo run -p mailproto-std --example fetch -- HOST PORT USER PASSWORD [CA_FILE]`: logs
//! in (STLS when offered; the certificate checked against CA_FILE if given, else the
//! system roots), lists the maildrop and prints every message to standard output.
use mailproto_core::secret::Secret;
use mailproto_std::pop3_client::{Pop3Client, Pop3Options, Security};
use mailproto_std::tls::ClientTls;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, password, ca @ ..] = args.as_slice() else {
        return Err("usage: fetch HOST PORT USER PASSWORD [CA_FILE]".into());
    };
    let tls = match ca.first() {
        Some(file) => ClientTls::with_root_file(file.as_ref())?,
        None => ClientTls::system(),
    };
    let options = Pop3Options::default()
        .with_security(Security::StartTlsOpportunistic)
        .with_tls(tls);
    let mut client = Pop3Client::connect(host, port.parse()?, options)?;
    client.login(user, &Secret::from(password.as_str()))?;
    let (count, size) = client.stat()?;
    println!("{count} messages, {size} octets");
    for entry in client.uidl()? {
        println!("--- message {} ({})", entry.msg, entry.uid.as_str());
        client.retr(entry.msg, &mut std::io::stdout())?;
    }
    client.quit()?;
    Ok(())
}
