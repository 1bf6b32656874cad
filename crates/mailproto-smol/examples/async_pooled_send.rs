//! Send many messages through the pooled async transport on smol: one transport from a
//! URL shared by four tasks, each message built with `mail-builder`, its envelope taken
//! from its header.
//!
//! `cargo run -p mailproto-smol --example async_pooled_send -- URL FROM TO COUNT`, e.g.
//! `smtp://127.0.0.1:2525?tls=none` for the `async_smtp_sink` example.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mail_builder::MessageBuilder;
use mailproto_smol::message::Message;
use mailproto_smol::smtp::SmtpTransport;
use mailproto_smol::transport::{PoolOptions, SmtpConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, from, to, count] = args.as_slice() else {
        return Err("usage: async_pooled_send URL FROM TO COUNT".into());
    };
    let count: usize = count.parse()?;
    let config =
        SmtpConfig::from_url(url)?.with_pool(PoolOptions::default().with_max_connections(4));
    let transport = SmtpTransport::new(config);
    let next = Arc::new(AtomicUsize::new(0));
    let executor = smol::Executor::new();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (transport, next) = (transport.clone(), next.clone());
            let (from, to) = (from.clone(), to.clone());
            executor.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Ok::<(), String>(());
                    }
                    let builder = MessageBuilder::new()
                        .from(from.as_str())
                        .to(to.as_str())
                        .subject(format!("message {i}"))
                        .text_body("Hello from the pooled transport.");
                    let message = Message::from_builder(builder).map_err(|e| e.to_string())?;
                    transport.send(&message).await.map_err(|e| e.to_string())?;
                }
            })
        })
        .collect();
    smol::block_on(executor.run(async {
        for sender in senders {
            sender.await?;
        }
        Ok::<(), String>(())
    }))?;
    let (sessions, _) = transport.sessions();
    println!("sent {count} messages over {sessions} sessions");
    smol::block_on(transport.close_idle());
    Ok(())
}
