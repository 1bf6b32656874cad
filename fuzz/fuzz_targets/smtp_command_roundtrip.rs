//! SMTP command lines: byte 0 picks the parser options (bit 0 SMTPUTF8, bit 1 a space
//! after `FROM:`/`TO:`, bit 2 unknown parameters refused), the rest is split into lines
//! at LF (a CR before it dropped). Every line the parser accepts encodes to one CRLF line
//! that parses back to the same command (line limits aside: quoting a string argument
//! lengthens it), and encoding is canonical: the re-parsed command encodes to the same
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::smtp::{Command, ParseConfig};
use mailproto_fuzz::{crlf_clean, lines};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let mut config = ParseConfig::default();
    config.smtputf8 = flags & 1 != 0;
    config.allow_space_after_colon = flags & 2 != 0;
    config.reject_unknown_params = flags & 4 != 0;
    for line in lines(text) {
        let Ok(command) = Command::parse(line, &config) else {
            continue;
        };
        let mut wire = Vec::new();
        if let Err(e) = command.encode(&mut wire) {
            panic!("{command:?} (from {line:?}) does not encode: {e}");
        }
        assert!(wire.ends_with(b"\r\n"), "no CRLF at the end");
        assert!(crlf_clean(&wire), "bare CR or LF in {wire:?}");
        assert_eq!(lines(&wire).count(), 1, "more than one line: {wire:?}");
        let body = &wire[..wire.len() - 2];
        // Quoting can lengthen a line past the limit it was read under.
        let mut roomy = config.clone();
        roomy.limits.command_line = usize::MAX / 4;
        let again = Command::parse(body, &roomy)
            .unwrap_or_else(|e| panic!("{command:?} encoded as {body:?} does not parse: {e}"));
        assert_eq!(again, command, "{body:?}");
        let mut twice = Vec::new();
        again.encode(&mut twice).expect("encodes again");
        assert_eq!(twice, wire);
    }
});
