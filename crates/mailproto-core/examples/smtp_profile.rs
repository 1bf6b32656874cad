//! Parses the commands of a typical SMTP transaction, or encodes three replies, many times
//! over, for profilers such as `valgrind --tool=callgrind` that count instructions rather
//! than time. The inputs are those of `benches/smtp.rs`.
//!
//! `cargo run --release -p mailproto-core --example smtp_profile -- MODE [ROUNDS]` with
//! MODE one of `parse`, `smtp-proto-parse`, `encode`, `smtp-proto-encode`, `setup` (only
//! builds the inputs, to subtract). ROUNDS defaults to 100000. A third argument N parses
//! only the N-th line of the session (from 0).

use std::hint::black_box;

use mailproto_core::smtp::{Command, EnhancedCode, ParseConfig, Reply, ReplyCode};

const SESSION: &[&[u8]] = &[
    b"EHLO client.example.org\r\n",
    b"MAIL FROM:<sender@example.org> SIZE=12345 BODY=8BITMIME\r\n",
    b"RCPT TO:<first.recipient@example.net>\r\n",
    b"RCPT TO:<second@example.net> NOTIFY=SUCCESS,FAILURE\r\n",
    b"RCPT TO:<third.recipient@example.net>\r\n",
    b"DATA\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "parse".into());
    let rounds: usize = args.next().map_or(100_000, |r| r.parse().expect("ROUNDS"));
    let session = match args.next() {
        Some(n) => &SESSION[n.parse::<usize>().expect("line index")..][..1],
        None => SESSION,
    };
    let config = ParseConfig::default();
    let ok = |d: u16, text: &str| Reply::new(ReplyCode::OK, Some(EnhancedCode::new(2, 1, d)), text);
    let replies = [ok(0, "Ok"), ok(5, "Ok"), ok(0, "Ok: queued as 12345")];
    let theirs = [
        smtp_proto::Response::new(250, 2, 1, 0, "Ok"),
        smtp_proto::Response::new(250, 2, 1, 5, "Ok"),
        smtp_proto::Response::new(250, 2, 0, 0, "Ok: queued as 12345"),
    ];
    let mut out = Vec::with_capacity(256);
    let mut total = 0usize;
    for _ in 0..rounds {
        match mode.as_str() {
            "parse" => {
                for line in session {
                    let line = &line[..line.len() - 2];
                    total += usize::from(Command::parse(black_box(line), &config).is_ok());
                }
            }
            "smtp-proto-parse" => {
                for line in session {
                    let mut it = black_box(*line).iter();
                    total += usize::from(smtp_proto::Request::parse(&mut it).is_ok());
                }
            }
            "encode" => {
                out.clear();
                for r in &replies {
                    black_box(r).encode(&mut out).expect("valid reply");
                }
                total += out.len();
            }
            "smtp-proto-encode" => {
                out.clear();
                for r in &theirs {
                    black_box(r).write(&mut out).expect("write to a Vec");
                }
                total += out.len();
            }
            _ => {}
        }
    }
    println!("{mode}: {total}");
}
