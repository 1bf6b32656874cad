//! The engine's POP3 client flow (`aio::Pop3Client` over the in-memory runtime: greeting,
//! CAPA, STLS, USER/PASS, APOP, AUTH, STAT, LIST, UIDL, RETR one by one or pipelined, TOP,
//! DELE, RSET, NOOP, QUIT) fed scripted server responses: byte 0 picks the machine's
//! configuration (`mailproto_fuzz::pop3::client_config`; bits 6-7 also plain or
//! opportunistic STLS, whose handshake fails here), byte 1 seeds the read sizes, byte 2
//! the write sizes, byte 3 (mod 16) is the number of decision bytes that pick the steps,
//! the rest is what the server sends, read whatever the client writes (curl's approach).
//! Checked (`mailproto_fuzz::engine::pop3_client::check`): no panic, every step ends
//! with Ok or a clean error (never `Idle`); command lines CRLF-clean, nothing written
//! after QUIT or close; every message RETR or TOP reported is exactly the unstuffed body
//! of the response that answered it, and that response ended: the client never reports
//! a message it did not receive whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::engine::pop3_client::{check, run};
use mailproto_fuzz::engine::write_sizes;
use mailproto_fuzz::{data_sizes, split_input};

fuzz_target!(|data: &[u8]| {
    let Some(([config, reads, writes], choices, server)) = split_input::<3>(data) else {
        return;
    };
    let run = run(
        config,
        choices,
        server,
        data_sizes(server, reads),
        write_sizes(writes),
    );
    check(&run);
});
