//! An SMTP server that discards every message, for `benches/e2e.sh`.
//!
//! `smtp_discard std|smol|smol1|tokio|tokio1 ADDR [MAX_CONNECTIONS]`: PIPELINING on, no
//! per-message output. `smol` spawns sessions on smol's global executor and accepts on the
//! main thread, `tokio` on a multi-threaded runtime; `smol1` and `tokio1` run the accept
//! loop and every session on one thread. Runs until killed.
use mailproto_bench::arg;
use mailproto_core::smtp::server::ServerConfig;
use mailproto_std::ListenerOptions;
use mailproto_std::smtp_server::{Inline, SmtpHandler};

const USAGE: &str = "smtp_discard std|smol|smol1|tokio|tokio1 ADDR [MAX_CONNECTIONS]";

/// Drops the message bytes.
struct Discard;

impl SmtpHandler for Discard {
    fn data(&mut self, _chunk: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let adapter: String = arg(&args, 0, USAGE);
    let addr: String = arg(&args, 1, USAGE);
    let max: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let mut config = ServerConfig::new("localhost");
    config.extensions.pipelining = true;
    config.limits.max_message_size = 4 << 30;
    // Every load comes from 127.0.0.1: the per-address limit is the total one, and
    // the per-client rates are off.
    let options = ListenerOptions::default()
        .max_connections(max)
        .max_per_address(max)
        .connections_per_minute(0)
        .messages_per_minute(0);
    match adapter.as_str() {
        "std" => {
            let server = mailproto_std::smtp_server::SmtpServer::new(config, |_| Discard);
            let listener = mailproto_std::Listener::bind(addr.as_str(), options)?;
            eprintln!("smtp_discard (std) on {}", listener.local_addr()?);
            server.run(listener, false)
        }
        "smol" => smol::block_on(async {
            let server = mailproto_smol::smtp::SmtpServer::new(config, |_| Inline(Discard));
            let listener = mailproto_smol::Listener::bind(addr.as_str(), options).await?;
            eprintln!("smtp_discard (smol) on {}", listener.local_addr()?);
            server.run(listener, false).await
        }),
        // One thread: the accept loop and every session on one executor, which polls the
        // reactor itself when idle, so no wake-up crosses threads.
        "smol1" => {
            let executor = std::sync::Arc::new(smol::Executor::new());
            let runtime = mailproto_smol::Smol::on(executor.clone());
            smol::block_on(executor.run(async {
                let server = mailproto_smol::smtp::SmtpServer::new(config, |_| Inline(Discard));
                let listener =
                    mailproto_smol::Listener::bind_on(runtime, addr.as_str(), options).await?;
                eprintln!(
                    "smtp_discard (smol, one thread) on {}",
                    listener.local_addr()?
                );
                server.run(listener, false).await
            }))
        }
        "tokio1" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let server = mailproto_tokio::smtp::SmtpServer::new(config, |_| Inline(Discard));
                let listener = mailproto_tokio::Listener::bind(addr.as_str(), options).await?;
                eprintln!(
                    "smtp_discard (tokio, one thread) on {}",
                    listener.local_addr()?
                );
                server.run(listener, false).await
            }),
        "tokio" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let server = mailproto_tokio::smtp::SmtpServer::new(config, |_| Inline(Discard));
                let listener = mailproto_tokio::Listener::bind(addr.as_str(), options).await?;
                eprintln!("smtp_discard (tokio) on {}", listener.local_addr()?);
                server.run(listener, false).await
            }),
        _ => {
            eprintln!("usage: {USAGE}");
            std::process::exit(2)
        }
    }
}
