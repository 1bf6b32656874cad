//! A working async SMTP sink on 127.0.0.1:2525: one task per connection, the same
//! handler trait as the blocking adapter.
use mailproto_core::smtp::server::ServerConfig;
use mailproto_smol::smtp::SmtpServer;
use mailproto_smol::smtp_server::SmtpHandler;
use mailproto_smol::{Listener, ListenerOptions};

/// Counts the bytes of the message being received.
struct Sink(u64);

impl SmtpHandler for Sink {
    fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0 += chunk.len() as u64;
        Ok(())
    }

    fn data_end(&mut self) -> Result<(), mailproto_core::smtp::Reply> {
        println!("received a message of {} octets", self.0);
        self.0 = 0;
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    smol::block_on(async {
        let mut config = ServerConfig::new("localhost");
        config.extensions.pipelining = true;
        let server = SmtpServer::new(config, |_peer| Sink(0));
        let listener = Listener::bind("127.0.0.1:2525", ListenerOptions::default()).await?;
        println!("listening on {}", listener.local_addr()?);
        server.run(listener, false).await
    })
}
