//! Decodes (or encodes) a 32 MiB body of 78-octet lines a few times, for profilers such as
//! `valgrind --tool=callgrind` that count instructions rather than time.
//!
//! `cargo run --release -p mailproto-core --example dot_profile -- decode|encode|smtp-proto|setup`
//! (`smtp-proto` decodes with smtp-proto's `DataReceiver`, for comparison; `setup` only
//! builds the input, to subtract).

use mailproto_core::dot::{BareLineEnding, DotDecoder, DotEncoder};

fn body(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 80);
    let mut n = 0usize;
    while out.len() < size {
        if n.is_multiple_of(13) {
            out.push(b'.');
        }
        let start = out.len();
        while out.len() - start < 76 {
            out.push(b'a' + ((n + out.len()) % 26) as u8);
        }
        out.extend_from_slice(b"\r\n");
        n += 1;
    }
    out
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "decode".into());
    let plain = body(32 << 20);
    let mut wire = Vec::new();
    let mut e = DotEncoder::new(BareLineEnding::Reject);
    e.encode(&plain, &mut wire).expect("CRLF body");
    e.finish(&mut wire).unwrap();
    let mut out = Vec::with_capacity(wire.len());
    let mut total = 0usize;
    for _ in 0..4 {
        out.clear();
        match mode.as_str() {
            "encode" => {
                let mut e = DotEncoder::new(BareLineEnding::Reject);
                for chunk in plain.chunks(64 * 1024) {
                    e.encode(chunk, &mut out).expect("CRLF body");
                }
                e.finish(&mut out).unwrap();
            }
            "smtp-proto" => {
                let mut d = smtp_proto::request::receiver::DataReceiver::new();
                for chunk in wire.chunks(64 * 1024) {
                    if d.ingest(&mut chunk.iter(), &mut out) {
                        break;
                    }
                }
            }
            "setup" => {}
            _ => {
                let mut d = DotDecoder::new(BareLineEnding::Reject);
                for chunk in wire.chunks(64 * 1024) {
                    if d.decode(chunk, &mut out).done {
                        break;
                    }
                }
            }
        }
        total += out.len();
    }
    println!("{mode}: {total} bytes out");
}
