//! A ready cargo-fuzz target for your own SMTP handler: the fuzzer's bytes become a
//! client session (`mailproto_core::generate::SmtpScript`: EHLO, transactions with
//! bodies, refused lines, pauses past deadlines, dropped connections) and the cuts of
//! its byte stream, played against your handler through the engine's session glue and
//! the core's in-memory `testing::Pair` under a virtual clock. A session with a
//! ten-minute pause runs in microseconds.
//!
//! To use it:
//!
//! 1. `cargo fuzz init` in your crate (cargo-fuzz, nightly), then copy this file to
//!    `fuzz/fuzz_targets/smtp_handler.rs` and add to `fuzz/Cargo.toml`:
//!
//!    ```toml
//!    [dependencies]
//!    libfuzzer-sys = "0.4"
//!    mailproto-core = { version = "0.1", features = ["arbitrary", "testing"] }
//!    mailproto-engine = "0.1"   # or use mailproto_std::smtp_server below instead
//!    your-crate = { path = ".." }
//!
//!    [[bin]]
//!    name = "smtp_handler"
//!    path = "fuzz_targets/smtp_handler.rs"
//!    test = false
//!    doc = false
//!    bench = false
//!    ```
//!
//!    (`mailproto-std`, `mailproto-smol` and `mailproto-tokio` re-export the same
//!    `SmtpHandler` and `SmtpSession` in their `smtp_server` module: with one of them
//!    already in your dependencies, change the `use mailproto_engine::...` line.)
//! 2. Replace the part between the `----` lines: your handler, the configuration your
//!    server runs with, and how to read what the handler stored.
//! 3. `cargo +nightly fuzz run smtp_handler` (add `--sanitizer none` for a crate
//!    without unsafe code: several times faster).
//!
//! The target checks what must hold whatever the client sends: the session glue never
//! fails, every server line is a well-formed reply, the connection ends closed, and the
//! messages stored are exactly those the server acknowledged with 2xx, byte for byte,
//! each once. Add your own invariants at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::generate::{self, SmtpPlayer, SmtpScript};
use mailproto_core::smtp::server::ServerConfig;
use mailproto_core::smtp::{ForwardPath, Host, RcptParams, Reply};
use mailproto_core::testing::Pair;
use mailproto_core::{Instant, Io, Machine};
use mailproto_engine::smtp_server::{SmtpHandler, SmtpService, SmtpSession, reply};

// ---- Replace from here with your handler. -------------------------------------------

/// A sample handler: refuses recipients at `blocked.example` and bodies over 2000
/// octets, keeps the rest in memory.
#[derive(Debug, Default)]
struct SampleHandler {
    body: Vec<u8>,
    stored: Vec<Vec<u8>>,
}

impl SmtpHandler for SampleHandler {
    fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<(), Reply> {
        match to {
            ForwardPath::Mailbox(m) if matches!(&m.domain, Host::Domain(d) if d.as_str() == "blocked.example") => {
                Err(reply(550, (5, 1, 1), "No such user here"))
            }
            _ => Ok(()),
        }
    }

    fn data_start(&mut self) -> std::io::Result<()> {
        self.body.clear();
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn data_end(&mut self) -> Result<(), Reply> {
        let body = std::mem::take(&mut self.body);
        if body.len() > 2000 {
            return Err(reply(552, (5, 3, 4), "Message too big for this sample"));
        }
        self.stored.push(body);
        Ok(())
    }

    fn data_abort(&mut self) {
        self.body.clear();
    }
}

/// A fresh handler for one connection.
fn new_handler() -> SampleHandler {
    SampleHandler::default()
}

/// The machine configuration your server runs with.
fn config() -> ServerConfig {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.chunking = true;
    config
}

/// The message bodies the handler stored during the session, in order.
fn stored(handler: &mut SampleHandler) -> Vec<Vec<u8>> {
    std::mem::take(&mut handler.stored)
}

// ---- to here. -----------------------------------------------------------------------

fuzz_target!(|input: (SmtpScript, Vec<u8>)| {
    let (script, cuts) = input;
    // Feed the server in chunks of these sizes (1 to 32 octets), or whole writes.
    let splits = cuts
        .iter()
        .take(4)
        .map(|b| usize::from(b % 32) + 1)
        .collect();
    let service = SmtpService::new(config(), |_| ());
    let mut session = SmtpSession::new(new_handler());
    let server = session.connect(service.session_config(false), Instant::ZERO);
    let mut pair = Pair::with_splits(SmtpPlayer::new(script), server, splits);
    generate::play(&mut pair, |server, now, event| {
        session
            .handle(server, now, event)
            .expect("the session glue never fails")
    });
    let player = &pair.client;
    assert!(player.garbled().is_empty(), "{}", pair.transcript());
    assert_eq!(pair.server.io(), Io::Closed, "{}", pair.transcript());
    assert_eq!(
        stored(session.handler()),
        player.delivered(),
        "{}",
        pair.transcript()
    );
});
