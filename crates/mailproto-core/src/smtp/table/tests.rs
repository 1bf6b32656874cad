use super::*;

#[test]
fn every_verb_and_param_has_one_row() {
    for (i, r) in VERBS.iter().enumerate() {
        assert_eq!(r.verb as usize, i, "{:?} out of order", r.verb);
        assert_eq!(rule(r.verb), r);
        assert_eq!(
            Verb::parse(r.keyword.to_ascii_lowercase().as_bytes()),
            Some(r.verb)
        );
        assert!(
            VERBS[i + 1..].iter().all(|o| o.verb != r.verb),
            "{:?}",
            r.verb
        );
    }
    for (i, p) in PARAMS.iter().enumerate() {
        assert_eq!(param_rule(p.param), p);
        assert!(PARAMS[i + 1..].iter().all(|o| o.param != p.param));
    }
}

#[test]
fn body_7bit_needs_8bitmime_too() {
    let mut caps = Capabilities::default();
    assert!(!param_allowed(Param::Body7Bit, Some(&caps), false));
    caps.eight_bit_mime = true;
    assert!(param_allowed(Param::Body7Bit, Some(&caps), false));
    assert!(!param_allowed(Param::Body7Bit, None, false), "after HELO");
}

#[test]
fn requiretls_only_inside_tls() {
    let caps = Capabilities {
        requiretls: true,
        ..Capabilities::default()
    };
    assert!(!param_allowed(Param::RequireTls, Some(&caps), false));
    assert!(param_allowed(Param::RequireTls, Some(&caps), true));
}
