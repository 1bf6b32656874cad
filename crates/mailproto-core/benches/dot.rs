//! Dot codec throughput: mailproto's decoder and encoder beside a plain memcpy of the same
//! bytes and smtp-proto's `DataReceiver`, on realistic bodies (78-octet CRLF lines, some
//! starting with `.`) of 4 KiB, 256 KiB and 32 MiB, fed in 64 KiB reads.
//!
//! Run: `cargo bench -p mailproto-core --bench dot`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailproto_core::dot::{BareLineEnding, DotDecoder, DotEncoder};

const READ: usize = 64 * 1024;

/// A body of about `size` bytes: 76 printable octets + CRLF per line, every 13th line
/// starting with a dot.
fn body(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 80);
    let mut n = 0u32;
    while out.len() < size {
        if n.is_multiple_of(13) {
            out.push(b'.');
        }
        let start = out.len();
        while out.len() - start < 76 {
            out.push(b'a' + ((n as usize + out.len()) % 26) as u8);
        }
        out.extend_from_slice(b"\r\n");
        n += 1;
    }
    out
}

fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    let mut e = DotEncoder::new(BareLineEnding::Reject);
    e.encode(body, &mut wire).expect("CRLF body");
    e.finish(&mut wire).unwrap();
    wire
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("dot");
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    for (label, size) in [
        ("4KiB", 4 << 10),
        ("256KiB", 256 << 10),
        ("32MiB", 32 << 20),
    ] {
        let plain = body(size);
        let wire = stuffed(&plain);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.sample_size(if size > (1 << 20) { 10 } else { 50 });
        let mut out = Vec::with_capacity(wire.len());

        group.bench_function(BenchmarkId::new("memcpy", label), |b| {
            b.iter(|| {
                out.clear();
                for chunk in wire.chunks(READ) {
                    out.extend_from_slice(black_box(chunk));
                }
                black_box(out.len())
            })
        });
        group.bench_function(BenchmarkId::new("mailproto_decode", label), |b| {
            b.iter(|| {
                out.clear();
                let mut d = DotDecoder::new(BareLineEnding::Reject);
                for chunk in wire.chunks(READ) {
                    let r = d.decode(black_box(chunk), &mut out);
                    if r.done {
                        break;
                    }
                }
                assert!(d.is_done());
                black_box(out.len())
            })
        });
        group.bench_function(BenchmarkId::new("smtp_proto_decode", label), |b| {
            b.iter(|| {
                out.clear();
                let mut d = smtp_proto::request::receiver::DataReceiver::new();
                let mut done = false;
                for chunk in wire.chunks(READ) {
                    let mut it = black_box(chunk).iter();
                    if d.ingest(&mut it, &mut out) {
                        done = true;
                        break;
                    }
                }
                assert!(done);
                black_box(out.len())
            })
        });
        group.throughput(Throughput::Bytes(plain.len() as u64));
        group.bench_function(BenchmarkId::new("mailproto_encode", label), |b| {
            b.iter(|| {
                out.clear();
                let mut e = DotEncoder::new(BareLineEnding::Reject);
                for chunk in plain.chunks(READ) {
                    e.encode(black_box(chunk), &mut out).expect("CRLF body");
                }
                e.finish(&mut out).unwrap();
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
