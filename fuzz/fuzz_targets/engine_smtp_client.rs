//! The engine's SMTP client flow (`aio::SmtpClient` over the in-memory runtime: greeting,
//! EHLO, STARTTLS, AUTH, messages with per-recipient results, RSET, QUIT) fed scripted
//! server replies: byte 0 picks the options (`mailproto_fuzz::smtp::client_config` without
//! LMTP; bit 5 prefers BDAT; bits 6-7 the TLS mode: plain, opportunistic or required
//! STARTTLS, whose handshake fails here), byte 1 seeds the read sizes, byte 2 the write
//! sizes, byte 3 (mod 16) is the number of decision bytes that pick the steps (AUTH with a
//! mechanism, forced or chosen; messages to 1-3 recipients with SIZE, BODY and bodies with
//! dots, bare line endings, 8-bit and 64 KiB; RSET; a usability check; QUIT), the rest is
//! what the server sends, read whatever the client writes (curl's approach). Checked
//! (`mailproto_fuzz::engine::smtp_client::check`): no panic, every step ends with Ok or
//! a clean error (never `Idle`); command lines CRLF-clean; nothing written after QUIT or
//! close; a body only after DATA's 354 was read, nothing before it; BDAT only with
//! CHUNKING, each chunk its size; a message reported sent had a 2xx to its end, each
//! recipient's result its RCPT reply; a DATA body never follows all recipients refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::engine::smtp_client::{check, run};
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
