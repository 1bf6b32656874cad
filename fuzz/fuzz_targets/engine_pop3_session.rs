//! A whole POP3 server session through the engine (`mailproto-engine`): bytes 0-1 pick
//! the configuration (`mailproto_fuzz::pop3::server_config`, without STLS), byte 2
//! seeds the read sizes, byte 3 the mode (bit 0: the engine's async server, driver and
//! streaming loop on the in-memory runtime, else the blocking adapter's glue,
//! `Pop3Session`, pumped on a virtual clock; bit 1: the clock moves, by the decision
//! bytes, so deadlines fire; bits 2-4: partial writes on the async path), byte 4 (mod
//! 16) is the number of decision bytes of the scripted `Pop3Backend` and mailbox (logins
//! accepted, refused, in use; commands refused or closing; messages that cannot be
//! opened or fail part-way; UPDATE failing), the rest is the client's bytes. Checked
//! (`mailproto_fuzz::engine::pop3_session::check`): one status line per command and SASL
//! response, none for nothing; multi-line answers dot-stuffed and terminated, RETR
//! giving the mailbox's message; the backend deletes only after QUIT in TRANSACTION,
//! exactly the messages marked since the last RSET; the session closes only after QUIT,
//! a closing -ERR, a deadline or the end of stream; output stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::engine::pop3_session::{ScriptedBackend, check, run_async, run_glue};
use mailproto_fuzz::engine::write_sizes;
use mailproto_fuzz::pop3::server_config;
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, seed, mode], choices, wire)) = split_input::<4>(data) else {
        return;
    };
    let config = server_config(a, b, false);
    let (backend, log) = ScriptedBackend::new(choices);
    let sizes = data_sizes(wire, seed);
    let end = if mode & 1 != 0 {
        run_async(config, backend, wire, sizes, write_sizes(mode >> 2))
    } else {
        let timing = if mode & 2 != 0 { choices } else { &[] };
        run_glue(config, backend, wire, &sizes, timing)
    };
    check(wire, &end, &log.lock().unwrap());
});
