//! One POP3 client session over a `TcpStream`, with the core alone: log in, list the
//! maildrop, print the first message, quit. The polling loop with time.
//!
//! `cargo run -p mailproto-core --example core_pop3_client -- 127.0.0.1:110 USER PASSWORD`
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant as Clock};

use mailproto_core::pop3::Secret;
use mailproto_core::pop3::client::{Client, ClientConfig, Event};
use mailproto_core::{Instant, Io, Machine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, user, pass] = &args[..] else {
        return Err("usage: core_pop3_client ADDR USER PASSWORD".into());
    };
    let mut tcp = TcpStream::connect(addr)?;
    let origin = Clock::now();
    let now = || Instant::from_millis(origin.elapsed().as_millis() as u64);
    let until = |due: Option<Instant>| {
        due.map(|d| Duration::from_millis(1.max(d.as_millis().saturating_sub(now().as_millis()))))
    };
    let mut client = Client::new(now(), ClientConfig::default());
    // Commands may be issued at once: they are written when the session allows.
    client.user(now(), user)?;
    client.pass(now(), &Secret::from(pass.as_str()))?;
    client.list(now(), None)?;
    client.retr(now(), 1)?;
    client.quit(now())?;
    let (mut out, mut buf) = (Vec::new(), vec![0; 16 * 1024]);
    loop {
        out.clear();
        while client.poll_transmit(&mut out) > 0 {}
        if !out.is_empty() {
            tcp.set_write_timeout(until(client.poll_timeout()))?;
            tcp.write_all(&out)?;
            client.transmitted(now(), out.len());
        }
        let mut answered = false;
        while let Some(event) = client.poll_event() {
            answered = true;
            match event {
                Event::ScanList(list) => println!("{} messages", list.len()),
                Event::MessageData(chunk) => std::io::stdout().write_all(&chunk)?,
                Event::Err { status, .. } => println!("-ERR {}", status.text),
                Event::Closed { reason } => println!("closed: {reason}"),
                _ => {}
            }
        }
        if answered {
            continue; // answers queue output: write it first
        }
        match client.io() {
            Io::Closed => return Ok(()),
            Io::Open { wants_read: true } => {
                tcp.set_read_timeout(until(client.poll_timeout()))?;
                match tcp.read(&mut buf) {
                    Ok(0) => client.feed_eof(now()),
                    Ok(n) => client.feed(now(), &buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        client.handle_timeout(now())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            _ => {}
        }
    }
}
