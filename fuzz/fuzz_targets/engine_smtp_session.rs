//! A whole SMTP/LMTP server session through the engine (`mailproto-engine`): bytes 0-1
//! pick the configuration (`mailproto_fuzz::smtp::server_config`, without STARTTLS),
//! byte 2 seeds the read sizes, byte 3 the mode (bit 0: the engine's async server and
//! driver on the in-memory runtime, else the blocking adapter's glue, `SmtpSession`,
//! pumped on a virtual clock; bit 1: the clock moves, by the decision bytes, so
//! deadlines fire; bits 2-4: partial writes on the async path), byte 4 (mod 16) is the
//! number of decision bytes of the scripted `SmtpHandler` (accept, refuse with 4xx/5xx,
//! 421, fail to store), the rest is the client's bytes. Checked
//! (`mailproto_fuzz::engine::smtp_session::check`): every complete command line and
//! SASL response gets exactly one reply, each body and BDAT chunk one more, no reply
//! for nothing; the session closes only after 221/421 (deadlines answer 421) or the end
//! of stream; the handler stored exactly the messages whose end got a 2xx, with the
//! bytes sent; the glue calls the handler in session order; output stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::engine::smtp_session::{ScriptedHandler, check, run_async, run_glue};
use mailproto_fuzz::engine::write_sizes;
use mailproto_fuzz::smtp::server_config;
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, seed, mode], choices, wire)) = split_input::<4>(data) else {
        return;
    };
    let config = server_config(a, b, false);
    let lmtp = config.lmtp;
    let (handler, log) = ScriptedHandler::new(choices);
    let sizes = data_sizes(wire, seed);
    let end = if mode & 1 != 0 {
        run_async(config, handler, wire, sizes, write_sizes(mode >> 2))
    } else {
        let timing = if mode & 2 != 0 { choices } else { &[] };
        run_glue(config, handler, wire, &sizes, timing)
    };
    check(wire, &end, lmtp, &log.lock().unwrap());
});
