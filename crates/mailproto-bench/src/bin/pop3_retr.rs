//! RETRs every message of a maildrop over one POP3 connection, for `benches/e2e.sh`.
//!
//! `pop3_retr std|smol HOST PORT USER PASSWORD`: USER/PASS, CAPA, STAT, then RETR 1..=N (the
//! blocking adapter's `retr_many`, pipelined when the server lists PIPELINING in CAPA;
//! the async adapter one RETR at a time), discarding the bytes; QUIT without DELE.
//! Prints the messages, octets and seconds.
use std::cell::Cell;
use std::io::Write;
use std::time::Instant;

use mailproto_bench::arg;
use mailproto_core::secret::Secret;
use mailproto_std::pop3_client::Pop3Options;
use mailproto_std::pop3_client::Security;

/// Plain TCP: the bench runs on loopback against servers without TLS.
fn options() -> Pop3Options {
    Pop3Options::default().with_security(Security::Plain)
}

const USAGE: &str = "pop3_retr std|smol HOST PORT USER PASSWORD";

/// Counts what it is given into a shared total.
struct Count<'a>(&'a Cell<u64>);

impl Write for Count<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let adapter: String = arg(&args, 0, USAGE);
    let host: String = arg(&args, 1, USAGE);
    let port: u16 = arg(&args, 2, USAGE);
    let user: String = arg(&args, 3, USAGE);
    let password: String = arg(&args, 4, USAGE);
    let password = Secret::from(password.as_str());
    let started = Instant::now();
    let total = Cell::new(0u64);
    let count;
    match adapter.as_str() {
        "std" => {
            let mut client =
                mailproto_std::pop3_client::Pop3Client::connect(&host, port, options())?;
            client.login(&user, &password)?;
            // CAPA after the login tells the machine whether the server pipelines (RFC 2449
            // §5: capabilities may change at login, so the machine forgets them there).
            let _ = client.capa();
            count = client.stat()?.0;
            let msgs: Vec<u32> = (1..=count).collect();
            client.retr_many(&msgs, |_| Ok(Count(&total)))?;
            client.quit()?;
        }
        "smol" => {
            count = smol::block_on(async {
                let mut client =
                    mailproto_smol::pop3::Pop3Client::connect(&host, port, options()).await?;
                client.login(&user, &password).await?;
                let _ = client.capa().await;
                let n = client.stat().await?.0;
                for msg in 1..=n {
                    let mut sink = futures_lite::io::AssertAsync::new(Count(&total));
                    client.retr(msg, &mut sink).await?;
                }
                client.quit().await?;
                Ok::<_, Box<dyn std::error::Error>>(n)
            })?;
        }
        _ => return Err(USAGE.into()),
    }
    let secs = started.elapsed().as_secs_f64();
    println!("messages={count} octets={} seconds={secs:.4}", total.get());
    Ok(())
}
