//! The SMTP/LMTP client on arbitrary server bytes: byte 0 picks the configuration
//! (`mailproto_fuzz::smtp::client_config`), byte 1 seeds the chunk sizes, byte 2 (mod 16)
//! is the number of decision bytes that follow for the scripted application (EHLO, then
//! envelopes over DATA or BDAT with bodies sent in pieces, AUTH, STARTTLS, NOOP, RSET,
//! VRFY, QUIT), the rest is what the server sends. The client never panics nor stalls,
//! body calls made while no body is open are refused and write nothing, and the events
//! end with exactly one `Closed`, after which nothing is read or written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::smtp::{client_config, run_client};
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([config, seed], choices, wire)) = split_input::<2>(data) else {
        return;
    };
    run_client(
        client_config(config),
        wire,
        &data_sizes(wire, seed),
        choices,
        choices,
    );
});
