//! SMTP command parsing and reply encoding: mailproto beside smtp-proto's
//! `Request::parse` and `Response::write`, on the commands of a typical transaction.
//!
//! Run: `cargo bench -p mailproto-core --bench smtp`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailproto_core::smtp::{Command, EnhancedCode, ParseConfig, Reply, ReplyCode};

/// The client side of one transaction, as framed lines (CRLF included: smtp-proto parses
/// up to the line end, mailproto's framing strips it first).
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

fn parse(c: &mut Criterion) {
    let bytes: usize = SESSION.iter().map(|l| l.len()).sum();
    let mut group = c.benchmark_group("smtp_parse");
    group.throughput(Throughput::Elements(SESSION.len() as u64));
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    let config = ParseConfig::default();
    group.bench_function("mailproto", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for line in SESSION {
                let line = &line[..line.len() - 2];
                ok += usize::from(Command::parse(black_box(line), &config).is_ok());
            }
            assert_eq!(ok, SESSION.len());
            ok
        })
    });
    group.bench_function("smtp_proto", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for line in SESSION {
                let mut it = black_box(*line).iter();
                ok += usize::from(smtp_proto::Request::parse(&mut it).is_ok());
            }
            assert_eq!(ok, SESSION.len(), "smtp-proto refused a line");
            ok
        })
    });
    group.finish();
    let _ = bytes;
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("smtp_reply_encode");
    group.throughput(Throughput::Elements(3));
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    let ok = |d: u16, text: &str| {
        Reply::new(
            ReplyCode::OK,
            Some(EnhancedCode {
                class: 2,
                subject: 1,
                detail: d,
            }),
            text,
        )
    };
    let replies = [ok(0, "Ok"), ok(5, "Ok"), ok(0, "Ok: queued as 12345")];
    let theirs = [
        smtp_proto::Response::new(250, 2, 1, 0, "Ok"),
        smtp_proto::Response::new(250, 2, 1, 5, "Ok"),
        smtp_proto::Response::new(250, 2, 0, 0, "Ok: queued as 12345"),
    ];
    let mut out = Vec::with_capacity(256);
    group.bench_function("mailproto", |b| {
        b.iter(|| {
            out.clear();
            for r in &replies {
                black_box(r).encode(&mut out).expect("valid reply");
            }
            out.len()
        })
    });
    group.bench_function("smtp_proto", |b| {
        b.iter(|| {
            out.clear();
            for r in &theirs {
                black_box(r).write(&mut out).expect("write to a Vec");
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
