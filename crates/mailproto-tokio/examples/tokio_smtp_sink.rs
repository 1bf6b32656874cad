//! A working SMTP sink on tokio on ADDR (default 127.0.0.1:2525): one task per
//! connection on a multi-threaded runtime, an async handler (each decision may await
//! storage or the network without holding up the other sessions). Prints each message's
//! size.
use mailproto_core::smtp::server::ServerConfig;
use mailproto_tokio::smtp::SmtpServer;
use mailproto_tokio::smtp_server::AsyncSmtpHandler;
use mailproto_tokio::{Listener, ListenerOptions};

/// Counts the bytes of the message being received.
struct Sink(u64);

impl AsyncSmtpHandler for Sink {
    async fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0 += chunk.len() as u64;
        Ok(())
    }

    async fn data_end(&mut self) -> Result<(), mailproto_core::smtp::Reply> {
        println!("received a message of {} octets", self.0);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        self.0 = 0;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut config = ServerConfig::new("localhost");
    config.extensions.pipelining = true;
    let server = SmtpServer::new(config, |_peer| Sink(0));
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2525".into());
    let listener = Listener::bind(addr.as_str(), ListenerOptions::default()).await?;
    println!("listening on {}", listener.local_addr()?);
    std::io::Write::flush(&mut std::io::stdout())?;
    server.run(listener, false).await
}
