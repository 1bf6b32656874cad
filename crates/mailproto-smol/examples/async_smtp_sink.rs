//! A working async SMTP sink on ADDR (default 127.0.0.1:2525): one task per connection, an async
//! handler (each decision may await storage or the network without holding up the other
//! sessions), on a multi-threaded executor of its own.
use mailproto_core::smtp::server::ServerConfig;
use mailproto_smol::smtp::SmtpServer;
use mailproto_smol::smtp_server::AsyncSmtpHandler;
use mailproto_smol::{Listener, ListenerOptions, Smol};
use std::sync::Arc;

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

fn main() -> std::io::Result<()> {
    let executor = Arc::new(smol::Executor::new());
    let (_stop, stopped) = smol::channel::bounded::<()>(1);
    for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
        let (executor, stopped) = (executor.clone(), stopped.clone());
        std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())));
    }
    smol::block_on(async {
        let mut config = ServerConfig::new("localhost");
        config.extensions.pipelining = true;
        let server = SmtpServer::new(config, |_peer| Sink(0));
        let runtime = Smol::on(executor.clone());
        let options = ListenerOptions::default();
        let addr = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "127.0.0.1:2525".into());
        let listener = Listener::bind_on(runtime, addr.as_str(), options).await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::Write::flush(&mut std::io::stdout())?;
        server.run(listener, false).await
    })
}
