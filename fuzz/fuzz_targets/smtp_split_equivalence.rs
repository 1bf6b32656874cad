//! SMTP/LMTP server split independence: bytes 0-1 pick the configuration (without
//! STARTTLS, whose plaintext drop depends on the reads), byte 2 seeds the chunk sizes,
//! byte 3 (mod 16) is the number of decision bytes for the scripted application, the
//! rest is the client's bytes. Fed whole, in data-derived chunks and byte by byte, the
//! server gives the same events (adjacent body chunks merged) and the same replies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::smtp::{merged, run_server, server_config};
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, seed], choices, wire)) = split_input::<3>(data) else {
        return;
    };
    let config = server_config(a, b, false);
    let whole = run_server(config.clone(), wire, &[], choices, &[]);
    for sizes in [data_sizes(wire, seed), vec![1]] {
        let split = run_server(config.clone(), wire, &sizes, choices, &[]);
        assert_eq!(whole.output, split.output, "replies differ");
        assert_eq!(
            merged(whole.events.clone()),
            merged(split.events),
            "events differ"
        );
    }
});
