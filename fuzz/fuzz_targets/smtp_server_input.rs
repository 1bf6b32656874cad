//! The SMTP/LMTP server on arbitrary client bytes: bytes 0-1 pick the configuration
//! (`mailproto_fuzz::smtp::server_config`, STARTTLS included), byte 2 seeds the chunk
//! sizes, byte 3 (mod 16) is the number of decision bytes that follow for the scripted
//! application (which accepts, refuses, closes with 421, answers LMTP per recipient, and
//! first tries answers that must be refused), the rest is the client's bytes. The
//! machine never panics nor stalls, its replies are well-formed lines a client parses
//! (printable, at most 512 octets, consistent codes, none unfinished), and its events
//! nest (body chunks inside a body, one `Closed`, last).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::smtp::{check_events, check_replies, run_server, server_config};
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, seed], choices, wire)) = split_input::<3>(data) else {
        return;
    };
    let config = server_config(a, b, true);
    let run = run_server(config, wire, &data_sizes(wire, seed), choices, choices);
    check_replies(&run.output);
    check_events(&run.events);
});
