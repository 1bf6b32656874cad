//! Opens N SMTP connections to a server and keeps them idle, for `benches/e2e.sh`.
//!
//! `idle_sessions HOST PORT N HOLD_SECONDS`: connects N times (each reads the 220
//! greeting, so the server has a live session), prints `open=N`, holds them all for
//! HOLD_SECONDS, then closes them and exits. Bounded in count and time.
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mailproto_bench::arg;

const USAGE: &str = "idle_sessions HOST PORT N HOLD_SECONDS";

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let host: String = arg(&args, 0, USAGE);
    let port: u16 = arg(&args, 1, USAGE);
    let n: usize = arg(&args, 2, USAGE);
    let hold: u64 = arg(&args, 3, USAGE);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut open = Vec::with_capacity(n);
    let mut buf = [0u8; 512];
    while open.len() < n && Instant::now() < deadline {
        let mut tcp = TcpStream::connect((host.as_str(), port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let got = tcp.read(&mut buf)?;
        if !buf[..got].starts_with(b"220") {
            eprintln!(
                "connection {}: {:?}",
                open.len(),
                String::from_utf8_lossy(&buf[..got])
            );
            break;
        }
        open.push(tcp);
    }
    println!("open={}", open.len());
    std::thread::sleep(Duration::from_secs(hold));
    drop(open);
    Ok(())
}
