//! A working SMTP sink: accepts every message on ADDR (default 127.0.0.1:2525) and prints
//! its size. Try it with `swaks --server 127.0.0.1:2525 --to you@example.org`.
use mailproto_core::smtp::server::ServerConfig;
use mailproto_std::smtp_server::{SmtpHandler, SmtpServer};
use mailproto_std::{Listener, ListenerOptions};

/// Counts the bytes of the message being received.
struct Sink(u64);

impl SmtpHandler for Sink {
    fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0 += chunk.len() as u64;
        Ok(())
    }

    fn data_end(&mut self) -> Result<(), mailproto_core::smtp::Reply> {
        println!("received a message of {} octets", self.0);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        self.0 = 0;
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let mut config = ServerConfig::new("localhost");
    config.extensions.pipelining = true;
    let server = SmtpServer::new(config, |_peer| Sink(0));
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2525".into());
    let listener = Listener::bind(addr.as_str(), ListenerOptions::default())?;
    println!("listening on {}", listener.local_addr()?);
    std::io::Write::flush(&mut std::io::stdout())?;
    server.run(listener, false)
}
