//! The POP3 server on arbitrary client bytes: bytes 0-1 pick the configuration
//! (`mailproto_fuzz::pop3::server_config`, STLS included), byte 2 seeds the chunk sizes,
//! byte 3 (mod 16) is the number of decision bytes that follow for the scripted
//! application (logins accepted or refused, maildrops of up to five stored messages
//! streamed in pieces, refused or aborted retrievals, UPDATE done or failed; it first
//! tries answers that must be refused), the rest is the client's bytes. The machine never
//! panics nor stalls, writes only CRLF lines (stored bare line endings go out as CRLF),
//! whole unless a message was aborted, with status lines of at most 512 octets, and
//! reports `Closed` once, last.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::pop3::{check_events, check_output, run_server, server_config};
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, seed], choices, wire)) = split_input::<3>(data) else {
        return;
    };
    let run = run_server(
        server_config(a, b, true),
        wire,
        &data_sizes(wire, seed),
        choices,
        choices,
    );
    check_output(&run);
    check_events(&run.events);
});
