//! Sends COUNT messages of SIZE octets through the pooled SMTP transport with CONNECTIONS
//! senders at once, for `benches/e2e.sh` (the transport as applications use it: a
//! `Message` per send, the pool deciding which session carries it).
//!
//! `smtp_pool std|smol|tokio HOST PORT COUNT SIZE CONNECTIONS`: std runs CONNECTIONS
//! threads, the async runtimes CONNECTIONS tasks, all sharing one transport whose pool
//! holds at most CONNECTIONS sessions. Prints the messages, octets, seconds and the
//! sessions the pool opened.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use mailproto_bench::{Generated, arg};
use mailproto_std::message::Message;
use mailproto_std::transport::{PoolOptions, SmtpConfig, Transport};

const USAGE: &str = "smtp_pool std|smol|tokio HOST PORT COUNT SIZE CONNECTIONS";

/// A message of about `size` octets: a header with its envelope, a generated body.
fn message(size: u64) -> Message {
    let mut bytes =
        b"From: bench@example.org\r\nTo: sink@example.org\r\nSubject: bench\r\n\r\n".to_vec();
    let body = Generated::new(size.saturating_sub(bytes.len() as u64)).to_vec();
    bytes.extend_from_slice(&body);
    Message::from_bytes(bytes).expect("a message")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let adapter: String = arg(&args, 0, USAGE);
    let host: String = arg(&args, 1, USAGE);
    let port: u16 = arg(&args, 2, USAGE);
    let count: u64 = arg(&args, 3, USAGE);
    let size: u64 = arg(&args, 4, USAGE);
    let connections: usize = arg(&args, 5, USAGE);
    // Plain TCP on loopback; sessions reused for the whole run.
    let config = SmtpConfig::plain(&host).with_port(port).with_pool(
        PoolOptions::default()
            .with_max_connections(connections)
            .with_max_idle(connections)
            .with_max_messages(usize::MAX),
    );
    let message = Arc::new(message(size));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let opened = match adapter.as_str() {
        "std" => {
            let transport = mailproto_std::transport::SmtpTransport::new(config);
            let workers: Vec<_> = (0..connections)
                .map(|_| {
                    let (transport, message, next) =
                        (transport.clone(), message.clone(), next.clone());
                    std::thread::spawn(move || -> Result<(), String> {
                        while next.fetch_add(1, Ordering::Relaxed) < count {
                            transport.send(&message).map_err(|e| e.to_string())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for w in workers {
                w.join().map_err(|_| "a sender panicked")??;
            }
            let opened = transport.sessions().0;
            transport.close_idle();
            opened
        }
        "smol" => {
            let transport = mailproto_smol::smtp::SmtpTransport::new(config);
            let executor = smol::Executor::new();
            let tasks: Vec<_> = (0..connections)
                .map(|_| {
                    let (transport, message, next) =
                        (transport.clone(), message.clone(), next.clone());
                    executor.spawn(async move {
                        while next.fetch_add(1, Ordering::Relaxed) < count {
                            transport.send(&message).await.map_err(|e| e.to_string())?;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            smol::block_on(executor.run(async {
                for t in tasks {
                    t.await?;
                }
                Ok::<(), String>(())
            }))?;
            let opened = transport.sessions().0;
            smol::block_on(transport.close_idle());
            opened
        }
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let transport = mailproto_tokio::smtp::SmtpTransport::new(config);
                let tasks: Vec<_> = (0..connections)
                    .map(|_| {
                        let (transport, message, next) =
                            (transport.clone(), message.clone(), next.clone());
                        tokio::spawn(async move {
                            while next.fetch_add(1, Ordering::Relaxed) < count {
                                transport.send(&message).await.map_err(|e| e.to_string())?;
                            }
                            Ok::<(), String>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.map_err(|e| e.to_string())??;
                }
                let opened = transport.sessions().0;
                transport.close_idle().await;
                Ok::<usize, Box<dyn std::error::Error>>(opened)
            })?
        }
        _ => return Err(USAGE.into()),
    };
    let secs = started.elapsed().as_secs_f64();
    let octets = count * message.bytes().len() as u64;
    println!("messages={count} octets={octets} seconds={secs:.4} sessions={opened}");
    Ok(())
}
