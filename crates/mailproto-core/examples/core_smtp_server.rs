//! One SMTP server session over a `TcpStream`, with the core alone: the polling loop
//! with time. Prints the body it receives and why the session ended.
//!
//! `cargo run -p mailproto-core --example core_smtp_server -- 127.0.0.1:2525`
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant as Clock};

use mailproto_core::smtp::server::{Event, Server, ServerConfig};
use mailproto_core::{Instant, Io, Machine};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2525".into());
    let listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    let (mut tcp, _) = listener.accept()?;
    let origin = Clock::now();
    let now = || Instant::from_millis(origin.elapsed().as_millis() as u64);
    // The socket waits at most until the machine's next deadline.
    let until = |due: Option<Instant>| {
        due.map(|d| Duration::from_millis(1.max(d.as_millis().saturating_sub(now().as_millis()))))
    };
    let mut server = Server::new(now(), ServerConfig::new("localhost"));
    let (mut out, mut buf) = (Vec::new(), vec![0; 16 * 1024]);
    loop {
        out.clear();
        while server.poll_transmit(&mut out) > 0 {}
        if !out.is_empty() {
            tcp.set_write_timeout(until(server.poll_timeout()))?;
            match tcp.write_all(&out) {
                Ok(()) => server.transmitted(now(), out.len()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    server.handle_timeout(now())
                }
                Err(e) => return Err(e),
            }
        }
        let mut answered = false;
        while let Some(event) = server.poll_event() {
            answered = true;
            match event {
                Event::Mail { .. } | Event::Rcpt { .. } | Event::MessageEnd { .. } => {
                    server.accept(now()).unwrap()
                }
                Event::BodyChunk(chunk) => std::io::stdout().write_all(&chunk)?,
                Event::Closed { reason } => println!("closed: {reason}"),
                _ => {}
            }
        }
        if answered {
            continue; // answers queue output: write it first
        }
        match server.io() {
            Io::Closed if server.poll_timeout().is_none() => return Ok(()),
            Io::Open { wants_read: true } => {
                tcp.set_read_timeout(until(server.poll_timeout()))?;
                match tcp.read(&mut buf) {
                    Ok(0) => server.feed_eof(now()),
                    Ok(n) => server.feed(now(), &buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        server.handle_timeout(now())
                    }
                    Err(e) => return Err(e),
                }
            }
            // Output still to write (the loop goes round), or STARTTLS, which this server
            // does not offer.
            _ => {}
        }
    }
}
