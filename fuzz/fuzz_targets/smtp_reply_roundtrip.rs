//! SMTP replies: the input is split into lines at LF (a CR before it dropped) and fed to
//! a `ReplyParser`. Every reply it completes encodes to lines that parse back to the
//! same reply; the capabilities read from it survive being written as an EHLO reply and
//! read again. Reading back allows longer lines: invalid UTF-8 is read as U+FFFD, which
//! takes three octets when written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::smtp::{Capabilities, Reply, ReplyLimits, ReplyParser};
use mailproto_fuzz::{crlf_clean, lines};

fn reparse(wire: &[u8]) -> Reply {
    let mut limits = ReplyLimits::default();
    limits.line = usize::MAX;
    let mut parser = ReplyParser::new(limits);
    let mut all = lines(wire).peekable();
    while let Some(line) = all.next() {
        match parser.feed_line(line) {
            Ok(Some(reply)) => {
                assert!(all.peek().is_none(), "reply ended early in {wire:?}");
                return reply;
            }
            Ok(None) => {}
            Err(e) => panic!("{wire:?} does not parse back: {e}"),
        }
    }
    panic!("{wire:?} parses to no reply");
}

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::default();
    for line in lines(data) {
        let Ok(Some(reply)) = parser.feed_line(line) else {
            continue;
        };
        let mut wire = Vec::new();
        if let Err(e) = reply.encode(&mut wire) {
            panic!("{reply:?} does not encode: {e}");
        }
        assert!(crlf_clean(&wire) && wire.ends_with(b"\r\n"));
        assert_eq!(reparse(&wire), reply);

        let caps = Capabilities::from_ehlo_reply(&reply);
        let ehlo = caps.ehlo_reply("mx.example.org");
        let mut wire = Vec::new();
        ehlo.encode(&mut wire).expect("an EHLO reply encodes");
        // `auth_legacy` (an `AUTH=` line) is written only along with mechanisms.
        let mut want = caps;
        want.auth_legacy &= !want.auth.is_empty();
        assert_eq!(Capabilities::from_ehlo_reply(&reparse(&wire)), want);
    }
});
