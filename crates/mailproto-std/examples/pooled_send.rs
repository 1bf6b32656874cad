//! Send many messages through the pooled transport, as an application would: one
//! transport configured from a URL and shared by four threads, each message built with
//! `mail-builder`, its envelope taken from its header.
//!
//! `cargo run -p mailproto-std --example pooled_send -- URL FROM TO COUNT`, e.g.
//! `smtp://127.0.0.1:2525?tls=none` for the `smtp_sink` example, or
//! `smtps://user:password@mail.example.org` for a real relay.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mail_builder::MessageBuilder;
use mailproto_std::message::Message;
use mailproto_std::transport::{PoolOptions, SmtpConfig, SmtpTransport, Transport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, from, to, count] = args.as_slice() else {
        return Err("usage: pooled_send URL FROM TO COUNT".into());
    };
    let count: usize = count.parse()?;
    let config =
        SmtpConfig::from_url(url)?.with_pool(PoolOptions::default().with_max_connections(4));
    let transport = SmtpTransport::new(config);
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (transport, next) = (transport.clone(), next.clone());
            let (from, to) = (from.clone(), to.clone());
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Ok(());
                    }
                    let builder = MessageBuilder::new()
                        .from(from.as_str())
                        .to(to.as_str())
                        .subject(format!("message {i}"))
                        .text_body("Hello from the pooled transport.");
                    let message = Message::from_builder(builder).map_err(|e| e.to_string())?;
                    transport.send(&message).map_err(|e| e.to_string())?;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().map_err(|_| "a sender panicked")??;
    }
    let (sessions, _) = transport.sessions();
    println!("sent {count} messages over {sessions} sessions");
    transport.close_idle();
    Ok(())
}
