//! Parses the commands of a typical POP3 session, or encodes status lines, many times
//! over, for profilers such as `valgrind --tool=callgrind` that count instructions rather
//! than time.
//!
//! `cargo run --release -p mailproto-core --example pop3_profile -- MODE [ROUNDS]` with
//! MODE one of `parse`, `encode`, `setup` (only builds the inputs, to subtract). ROUNDS
//! defaults to 100000.

use std::hint::black_box;

use mailproto_core::pop3::{Command, Limits, ResponseCode, Status};

/// The client side of a session (RFC 1939 §10), without CRLF.
const SESSION: &[&[u8]] = &[
    b"CAPA",
    b"USER alice",
    b"PASS tanstaaf",
    b"STAT",
    b"LIST",
    b"UIDL 1",
    b"RETR 1",
    b"TOP 2 10",
    b"DELE 1",
    b"NOOP",
    b"QUIT",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "parse".into());
    let rounds: usize = args.next().map_or(100_000, |r| r.parse().expect("ROUNDS"));
    let limits = Limits::DEFAULT;
    let statuses = [
        Status::ok("2 320"),
        Status::ok("maildrop has 2 messages (320 octets)"),
        Status::ok(""),
        Status::err("maildrop already locked").with_code(ResponseCode::InUse),
    ];
    let mut out = Vec::with_capacity(256);
    let mut total = 0usize;
    for _ in 0..rounds {
        match mode.as_str() {
            "parse" => {
                for line in SESSION {
                    total += usize::from(Command::parse(black_box(line), &limits).is_ok());
                }
            }
            "encode" => {
                out.clear();
                for s in &statuses {
                    black_box(s).encode(&mut out).expect("valid status");
                }
                total += out.len();
            }
            _ => {}
        }
    }
    println!("{mode}: {total}");
}
