//! POP3 response lines: byte 0 picks the limits (bit 0: `Limits::STRICT`), the rest is
//! split into lines at LF (a CR before it dropped). Every parser gets every line and
//! never panics; what parses (status lines, SASL continuations, greetings and their APOP
//! timestamp, STAT/LIST/UIDL answers and listing lines, CAPA lines) encodes and parses
//! back to the same value. Reading back allows longer lines: invalid UTF-8 is read as
//! U+FFFD, which takes three octets when written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::pop3::{
    Capability, DropListing, Greeting, Limits, MAX_APOP_TIMESTAMP, Response, ScanListing, Status,
    UniqueIdListing,
};
use mailproto_fuzz::{crlf_clean, lines};

/// The line `encode` wrote, without its CRLF.
fn written(encode: impl FnOnce(&mut Vec<u8>) -> bool) -> Option<Vec<u8>> {
    let mut wire = Vec::new();
    if !encode(&mut wire) {
        return None;
    }
    assert!(wire.ends_with(b"\r\n") && crlf_clean(&wire), "{wire:?}");
    assert_eq!(lines(&wire).count(), 1, "more than one line: {wire:?}");
    wire.truncate(wire.len() - 2);
    Some(wire)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let limits = if flags & 1 != 0 {
        Limits::STRICT
    } else {
        Limits::DEFAULT
    };
    let mut roomy = limits.clone();
    roomy.status_line = usize::MAX;
    roomy.continuation_line = usize::MAX;
    roomy.capability_line = usize::MAX;
    for line in lines(text) {
        if let Ok(status) = Status::parse(line, &limits) {
            if let Some(wire) = written(|w| status.encode(w).is_ok()) {
                assert_eq!(
                    Status::parse(&wire, &roomy).as_ref(),
                    Ok(&status),
                    "{wire:?}"
                );
            }
            if let Ok(stat) = DropListing::from_status(&status) {
                let wire = written(|w| stat.encode(w).is_ok()).expect("STAT encodes");
                let back = Status::parse(&wire, &roomy).expect("STAT parses");
                assert_eq!(DropListing::from_status(&back), Ok(stat));
            }
            if let Ok(scan) = ScanListing::from_status(&status) {
                let wire = written(|w| scan.encode_status(w).is_ok()).expect("LIST encodes");
                let back = Status::parse(&wire, &roomy).expect("LIST parses");
                assert_eq!(ScanListing::from_status(&back), Ok(scan));
            }
            if let Ok(uidl) = UniqueIdListing::from_status(&status) {
                let wire = written(|w| uidl.encode_status(w).is_ok()).expect("UIDL encodes");
                let back = Status::parse(&wire, &roomy).expect("UIDL parses");
                assert_eq!(UniqueIdListing::from_status(&back), Ok(uidl));
            }
        }
        if let Ok(response) = Response::parse(line, &limits)
            && let Some(wire) = written(|w| response.encode(w).is_ok())
        {
            assert_eq!(
                Response::parse(&wire, &roomy).as_ref(),
                Ok(&response),
                "{wire:?}"
            );
        }
        if let Ok(greeting) = Greeting::parse(line, &limits) {
            let timestamp = greeting.apop_timestamp().map(String::from);
            if let Some(t) = &timestamp {
                assert!(
                    t.starts_with('<') && t.ends_with('>') && t.contains('@'),
                    "{t:?}"
                );
                assert!(t.len() <= MAX_APOP_TIMESTAMP);
            }
            if let Some(wire) = written(|w| greeting.encode(w).is_ok()) {
                let back = Greeting::parse(&wire, &roomy).expect("greeting parses back");
                assert_eq!(back.apop_timestamp().map(String::from), timestamp);
            }
        }
        if let Ok(scan) = ScanListing::parse(line) {
            let wire = written(|w| scan.encode_line(w).is_ok()).expect("LIST line encodes");
            assert_eq!(ScanListing::parse(&wire), Ok(scan));
        }
        if let Ok(uidl) = UniqueIdListing::parse(line) {
            let wire = written(|w| uidl.encode_line(w).is_ok()).expect("UIDL line encodes");
            assert_eq!(UniqueIdListing::parse(&wire), Ok(uidl));
        }
        if let Ok(text) = core::str::from_utf8(line)
            && let Ok(stat) = DropListing::parse(text)
        {
            let wire = written(|w| stat.encode(w).is_ok()).expect("STAT encodes");
            let back = Status::parse(&wire, &roomy).expect("STAT parses");
            assert_eq!(DropListing::from_status(&back), Ok(stat));
        }
        if let Ok(capability) = Capability::parse(line, &limits)
            && let Some(wire) = written(|w| capability.encode(w).is_ok())
        {
            assert_eq!(
                Capability::parse(&wire, &roomy).as_ref(),
                Ok(&capability),
                "{wire:?}"
            );
        }
    }
});
