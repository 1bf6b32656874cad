//! Transcript tests from the RFCs (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER).

use alloc::{string::String, vec, vec::Vec};

use super::*;
use crate::secret::Secret;

fn b64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_line(data, &mut out);
    out
}

fn start(mechanism: Mechanism, ir: Option<&[u8]>) -> (ServerAuth, Step) {
    ServerAuth::start(mechanism, ir, ServerAuthConfig::default())
}

fn plain(authzid: Option<&str>, authcid: &str, password: &str) -> Credentials {
    Credentials::Plain {
        authzid: authzid.map(String::from),
        authcid: String::from(authcid),
        password: Secret::new(String::from(password)),
    }
}

fn rfc2195_config() -> ServerAuthConfig {
    ServerAuthConfig::default()
        .with_cram_md5_challenge("<1896.697170952@postoffice.reston.mci.net>")
}

#[test]
fn base64_lines() {
    assert_eq!(b64(b""), b"");
    assert_eq!(
        b64(b"\0tim\0tanstaaftanstaaf"),
        b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
    );
    let mut ir = Vec::new();
    encode_initial_response(b"", &mut ir);
    assert_eq!(ir, b"=");
    assert_eq!(decode_initial_response(b"="), Ok(Vec::new()));
    assert_eq!(decode_line(b""), Ok(Vec::new()));
    assert_eq!(decode_line(b"dGlt"), Ok(b"tim".to_vec()));
    // RFC 4954 §4: reject, never ignore, anything outside the alphabet or a misplaced "=".
    for bad in [
        &b"=AAA"[..],
        b"AAA=BBB",
        b"dGlt\r",
        b" dGlt",
        b"dGl",
        b"dGk",
        b"dGm=",
        b"Zg=",
        b"=",
    ] {
        assert!(
            matches!(decode_line(bad), Err(AuthError::BadBase64 { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        decode_line(b"dG*t"),
        Err(AuthError::BadBase64 {
            offset: 2,
            reason: "character outside the alphabet"
        })
    );
}

#[test]
fn rfc4616_examples() {
    // C: <NUL>tim<NUL>tanstaaftanstaaf
    let (_, step) = start(Mechanism::Plain, None);
    assert_eq!(step, Step::Challenge(Vec::new()));
    let (mut server, _) = start(Mechanism::Plain, None);
    let step = server.step(&b64(b"\0tim\0tanstaaftanstaaf"));
    assert_eq!(step, Step::Done(plain(None, "tim", "tanstaaftanstaaf")));
    assert!(server.is_finished());
    // C: AUTHENTICATE "PLAIN" {20+} Ursel<NUL>Kurt<NUL>xipj3plmq
    let (_, step) = start(Mechanism::Plain, Some(&b64(b"Ursel\0Kurt\0xipj3plmq")));
    assert_eq!(step, Step::Done(plain(Some("Ursel"), "Kurt", "xipj3plmq")));
}

#[test]
fn rfc4954_plain_examples() {
    // C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
    // S: 235 2.7.0 Authentication successful
    let (_, step) = start(Mechanism::Plain, Some(b"dGVzdAB0ZXN0ADEyMzQ="));
    assert_eq!(step, Step::Done(plain(Some("test"), "test", "1234")));
    // C: AUTH PLAIN
    // S: 334
    // C: dGVzdAB0ZXN0ADEyMzQ=
    let (mut server, step) = start(Mechanism::Plain, None);
    assert_eq!(step, Step::Challenge(Vec::new()));
    assert_eq!(
        server.step(b"dGVzdAB0ZXN0ADEyMzQ=\r\n"),
        Step::Done(plain(Some("test"), "test", "1234"))
    );
    // RFC 5034 §6: C: AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=
    let (_, step) = start(Mechanism::Plain, Some(b"dGVzdAB0ZXN0AHRlc3Q="));
    assert_eq!(step, Step::Done(plain(Some("test"), "test", "test")));
}

#[test]
fn plain_rejects_bad_messages() {
    let cases: [(&[u8], AuthError); 6] = [
        (
            b"",
            AuthError::Malformed {
                mechanism: "PLAIN",
                reason: "expected [authzid] NUL authcid NUL passwd",
            },
        ),
        (
            b"tim\0pw",
            AuthError::Malformed {
                mechanism: "PLAIN",
                reason: "expected [authzid] NUL authcid NUL passwd",
            },
        ),
        (b"\0\0pw", AuthError::EmptyField { field: "authcid" }),
        (b"\0tim\0", AuthError::EmptyField { field: "passwd" }),
        (
            b"\0tim\0p\0w",
            AuthError::ForbiddenCharacter {
                field: "passwd",
                byte: 0,
            },
        ),
        (b"\0t\xffm\0pw", AuthError::InvalidUtf8 { field: "authcid" }),
    ];
    for (message, error) in cases {
        let (_, step) = start(Mechanism::Plain, Some(&b64(message)));
        assert_eq!(step, Step::Failed(error), "{message:?}");
    }
    // "=" is an empty initial response (RFC 4954 §4), which PLAIN cannot accept.
    let (_, step) = start(Mechanism::Plain, Some(b"="));
    assert!(matches!(step, Step::Failed(AuthError::Malformed { .. })));
    // RFC 4616 §2: servers must accept 255 octets; the default limit is exactly that.
    let long = "x".repeat(255);
    let mut message = vec![0];
    message.extend_from_slice(long.as_bytes());
    message.extend_from_slice(b"\0pw");
    let (_, step) = start(Mechanism::Plain, Some(&b64(&message)));
    assert_eq!(step, Step::Done(plain(None, &long, "pw")));
    message.insert(1, b'x');
    let (_, step) = start(Mechanism::Plain, Some(&b64(&message)));
    assert_eq!(
        step,
        Step::Failed(AuthError::FieldTooLong {
            field: "authcid",
            len: 256,
            max: 255
        })
    );
}

#[test]
fn login_two_steps() {
    // C: AUTH LOGIN
    // S: 334 VXNlcm5hbWU6
    // C: dGlt
    // S: 334 UGFzc3dvcmQ6
    // C: dGFuc3RhYWZ0YW5zdGFhZg==
    let (mut server, step) = start(Mechanism::Login, None);
    assert_eq!(step, Step::Challenge(b"Username:".to_vec()));
    assert_eq!(b64(b"Username:"), b"VXNlcm5hbWU6");
    assert_eq!(server.step(b"dGlt"), Step::Challenge(b"Password:".to_vec()));
    assert_eq!(
        server.step(b"dGFuc3RhYWZ0YW5zdGFhZg=="),
        Step::Done(plain(None, "tim", "tanstaaftanstaaf"))
    );
    assert_eq!(server.rounds(), 2);
    assert_eq!(server.step(b"dGlt"), Step::Failed(AuthError::Finished));

    // Some clients send the user name as initial response: C: AUTH LOGIN dGlt
    let (mut server, step) = start(Mechanism::Login, Some(b"dGlt"));
    assert_eq!(step, Step::Challenge(b"Password:".to_vec()));
    assert_eq!(
        server.step(b"dGFuc3RhYWZ0YW5zdGFhZg=="),
        Step::Done(plain(None, "tim", "tanstaaftanstaaf"))
    );

    // The client answers the draft's own prompts ("User Name\0", "Password") too.
    let mut client = ClientAuth::new(
        Mechanism::Login,
        ClientCredentials::password("tim", "tanstaaftanstaaf"),
    )
    .unwrap();
    assert_eq!(client.initial_response(), None);
    assert_eq!(
        client
            .respond(&decode_line(b"VXNlciBOYW1lAA==").unwrap())
            .unwrap(),
        b"tim"
    );
    assert_eq!(client.respond(b"Password").unwrap(), b"tanstaaftanstaaf");
    assert_eq!(
        client.respond(b"Password"),
        Err(AuthError::UnexpectedChallenge)
    );
}

#[test]
fn cram_md5_rfc2195_example() {
    // S: + PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
    // C: dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw
    let (mut server, step) = ServerAuth::start(Mechanism::CramMd5, None, rfc2195_config());
    let Step::Challenge(challenge) = step else {
        panic!("{step:?}")
    };
    assert_eq!(
        b64(&challenge),
        b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
    );

    let mut client = ClientAuth::new(
        Mechanism::CramMd5,
        ClientCredentials::password("tim", "tanstaaftanstaaf"),
    )
    .unwrap();
    assert_eq!(client.initial_response(), None);
    let response = client.respond(&challenge).unwrap();
    assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
    assert_eq!(
        b64(&response),
        b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    );

    let Step::Done(Credentials::CramMd5(answer)) = server.step(&b64(&response)) else {
        panic!()
    };
    assert_eq!(answer.username, "tim");
    assert_eq!(
        answer.response_digest_hex,
        "b913a602c7eda7a495b4e6e7334d3890"
    );
    assert!(answer.verify(b"tanstaaftanstaaf"));
    assert!(!answer.verify(b"tanstaaftanstaag"));
    assert!(!answer.verify(b""));
}

#[test]
fn cram_md5_rules() {
    // RFC 4954 §4: an initial response for a server-first mechanism is a 501.
    let (_, step) = ServerAuth::start(Mechanism::CramMd5, Some(b"dGlt"), rfc2195_config());
    assert_eq!(step, Step::Failed(AuthError::UnexpectedInitialResponse));
    // No challenge configured: the core cannot invent one.
    let (_, step) = start(Mechanism::CramMd5, None);
    assert_eq!(step, Step::Failed(AuthError::MissingChallenge));
    // RFC 4954 §4 example: C: cmpzMyBlYzNhNTlmZWQzOTVhYmExZWM2MzY3YzRmNGI0MWFjMA==
    let config = ServerAuthConfig::default()
        .with_cram_md5_challenge("<4192942341.12828472@sourcefour.andrew.cmu.edu>");
    let (mut server, step) = ServerAuth::start(Mechanism::CramMd5, None, config);
    assert_eq!(
        step,
        Step::Challenge(
            decode_line(b"PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=")
                .unwrap()
        )
    );
    let Step::Done(Credentials::CramMd5(answer)) =
        server.step(b"cmpzMyBlYzNhNTlmZWQzOTVhYmExZWM2MzY3YzRmNGI0MWFjMA==")
    else {
        panic!()
    };
    assert_eq!(
        (
            answer.username.as_str(),
            answer.response_digest_hex.as_str()
        ),
        ("rjs3", "ec3a59fed395aba1ec6367c4f4b41ac0")
    );
    // Upper-case hex is accepted and normalised; a user name may contain spaces.
    let (mut server, _) = ServerAuth::start(Mechanism::CramMd5, None, rfc2195_config());
    let Step::Done(Credentials::CramMd5(answer)) =
        server.step(&b64(b"t im B913A602C7EDA7A495B4E6E7334D3890"))
    else {
        panic!()
    };
    assert_eq!(answer.username, "t im");
    assert_eq!(
        answer.response_digest_hex,
        "b913a602c7eda7a495b4e6e7334d3890"
    );
    for bad in [
        &b"tim"[..],
        b"tim b913",
        b"tim b913a602c7eda7a495b4e6e7334d389g",
        b" b913a602c7eda7a495b4e6e7334d3890",
    ] {
        let (mut server, _) = ServerAuth::start(Mechanism::CramMd5, None, rfc2195_config());
        assert!(
            matches!(
                server.step(&b64(bad)),
                Step::Failed(AuthError::Malformed { .. } | AuthError::EmptyField { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn xoauth2_success() {
    let message = b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01";
    let client = ClientAuth::new(
        Mechanism::XOAuth2,
        ClientCredentials::token(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        ),
    )
    .unwrap();
    assert_eq!(client.initial_response().unwrap(), message);
    let (_, step) = start(Mechanism::XOAuth2, Some(&b64(message)));
    let expected = Credentials::XOAuth2 {
        user: "someuser@example.com".into(),
        token: Secret::new("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg".into()),
    };
    assert_eq!(step, Step::Done(expected.clone()));
    // Without initial response: S: 334 (empty), C: the message. Unknown keys are ignored,
    // the scheme is case-insensitive.
    let (mut server, step) = start(Mechanism::XOAuth2, None);
    assert_eq!(step, Step::Challenge(Vec::new()));
    let message = b"x=1\x01auth=bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01user=someuser@example.com\x01\x01";
    assert_eq!(server.step(&b64(message)), Step::Done(expected));
}

#[test]
fn xoauth2_error_path() {
    // C: AUTH XOAUTH2 dXNlcj1...
    // S: 334 eyJzdGF0dXMiOiI0MDEiLC...   (application rejected the token)
    // C: (empty line)
    // S: 535 5.7.8 Username and Password not accepted
    let mut client = ClientAuth::new(
        Mechanism::XOAuth2,
        ClientCredentials::token("u@example.com", "expired"),
    )
    .unwrap();
    let ir = client.initial_response().unwrap();
    let (mut server, step) = start(Mechanism::XOAuth2, Some(&b64(&ir)));
    assert!(matches!(step, Step::Done(Credentials::XOAuth2 { .. })));
    let json = xoauth2_error_challenge("401", "bearer", "https://mail.google.com/");
    assert_eq!(
        json,
        br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#
    );
    let Step::Challenge(challenge) = server.fail_with_challenge(json.clone()) else {
        panic!()
    };
    let answer = client.respond(&challenge).unwrap();
    assert_eq!(answer, b"");
    assert_eq!(client.server_error(), Some(&json[..]));
    assert_eq!(
        server.step(&b64(&answer)),
        Step::Failed(AuthError::Rejected)
    );
    assert_eq!(client.respond(b""), Err(AuthError::UnexpectedChallenge));
    // fail_with_challenge on a non-OAuth mechanism simply fails.
    let (mut server, _) = start(Mechanism::Plain, Some(b"dGVzdAB0ZXN0ADEyMzQ="));
    assert_eq!(
        server.fail_with_challenge(json),
        Step::Failed(AuthError::Rejected)
    );
    // Broken XOAUTH2 messages.
    for bad in [
        &b"user=u\x01auth=Bearer t\x01"[..],
        b"user=u\x01\x01",
        b"auth=Bearer t\x01\x01",
        b"user=u\x01auth=Basic t\x01\x01",
        b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
        b"user=u\x01auth=Bearer t\x01\x01x",
        b"=u\x01\x01",
        b"user=u\x01auth=Bearer \x01\x01",
    ] {
        let (_, step) = start(Mechanism::XOAuth2, Some(&b64(bad)));
        assert!(matches!(step, Step::Failed(_)), "{bad:?} gave {step:?}");
    }
    // JSON values are escaped.
    assert_eq!(
        xoauth2_error_challenge("4\"0\\1", "\n", ""),
        br#"{"status":"4\"0\\1","schemes":"\u000a","scope":""}"#
    );
}

#[test]
fn oauthbearer_rfc7628_examples() {
    // §4.1, SMTP: C: AUTH OAUTHBEARER bixhPXVz...
    let ir = b"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
    let (_, step) = start(Mechanism::OAuthBearer, Some(ir));
    let expected = Credentials::OAuthBearer {
        authzid: Some("user@example.com".into()),
        token: Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into()),
        host: Some("server.example.com".into()),
        port: Some(587),
    };
    assert_eq!(step, Step::Done(expected));
    let credentials = ClientCredentials::token(
        "user@example.com",
        "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
    )
    .with_host_port("server.example.com", 587);
    let client = ClientAuth::new(Mechanism::OAuthBearer, credentials).unwrap();
    assert_eq!(b64(&client.initial_response().unwrap()), ir);

    // §4.3: empty auth= asks for discovery; S: + eyJz...; C: AQ==; S: NO
    let ir =
        b"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=";
    let (mut server, step) = start(Mechanism::OAuthBearer, Some(ir));
    let Step::Done(Credentials::OAuthBearer {
        token,
        port: Some(143),
        ..
    }) = step
    else {
        panic!("{step:?}")
    };
    assert_eq!(token.expose(), "");
    let json = oauthbearer_error_challenge(
        "invalid_token",
        Some("example_scope"),
        Some("https://example.com/.well-known/openid-configuration"),
    );
    assert_eq!(
        b64(&json),
        &b"eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="[..]
    );
    assert_eq!(
        server.fail_with_challenge(json.clone()),
        Step::Challenge(json.clone())
    );
    let mut client = ClientAuth::new(
        Mechanism::OAuthBearer,
        ClientCredentials::token("user@example.com", "t"),
    )
    .unwrap();
    assert_eq!(client.respond(&json).unwrap(), b"\x01");
    assert_eq!(server.step(b"AQ=="), Step::Failed(AuthError::Rejected));
    // The same, cancelled with "*".
    let (mut server, _) = start(Mechanism::OAuthBearer, Some(ir));
    let _ = server.fail_with_challenge(json);
    assert_eq!(server.step(b"*"), Step::Failed(AuthError::Cancelled));

    // Escaped authzid, "y" flag, no authzid; channel binding and bad ports refused.
    let (_, step) = start(
        Mechanism::OAuthBearer,
        Some(&b64(b"y,a=a=3Db=2Cc,\x01auth=Bearer t\x01\x01")),
    );
    assert!(
        matches!(step, Step::Done(Credentials::OAuthBearer { authzid: Some(a), .. }) if a == "a=b,c")
    );
    let (_, step) = start(
        Mechanism::OAuthBearer,
        Some(&b64(b"n,,\x01auth=Bearer t\x01\x01")),
    );
    assert!(matches!(
        step,
        Step::Done(Credentials::OAuthBearer {
            authzid: None,
            host: None,
            port: None,
            ..
        })
    ));
    for bad in [
        &b"p=tls-unique,,\x01auth=Bearer t\x01\x01"[..],
        b"\x01",
        b"n,a=x=4,\x01auth=Bearer t\x01\x01",
        b"n,,\x01port=0143\x01auth=Bearer t\x01\x01",
        b"n,,\x01port=65536\x01auth=Bearer t\x01\x01",
        b"n,,auth=Bearer t\x01\x01",
        b"n,user=someuser@example.com,\x01auth=Bearer t\x01\x01",
    ] {
        let (_, step) = start(Mechanism::OAuthBearer, Some(&b64(bad)));
        assert!(
            matches!(step, Step::Failed(AuthError::Malformed { .. })),
            "{bad:?} gave {step:?}"
        );
    }
}

#[test]
fn cancel_with_star() {
    // C: AUTH LOGIN / S: 334 VXNlcm5hbWU6 / C: * / S: 501 5.0.0 Authentication cancelled
    for mechanism in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
    ] {
        let (mut server, step) = start(mechanism, None);
        assert!(matches!(step, Step::Challenge(_)));
        assert_eq!(server.step(b"*"), Step::Failed(AuthError::Cancelled));
        assert_eq!(server.step(b"dGlt"), Step::Failed(AuthError::Finished));
    }
    let (mut server, _) = ServerAuth::start(Mechanism::CramMd5, None, rfc2195_config());
    assert_eq!(server.step(b"*\r\n"), Step::Failed(AuthError::Cancelled));
    assert_eq!(CANCEL, b"*");
}

#[test]
fn bad_base64_fails() {
    let (mut server, _) = start(Mechanism::Login, None);
    assert_eq!(
        server.step(b"dGlt="),
        Step::Failed(AuthError::BadBase64 {
            offset: 4,
            reason: "misplaced padding"
        })
    );
    let (_, step) = start(Mechanism::Plain, Some(b"dGVzdAB0ZXN0ADEyMzQ"));
    assert!(matches!(step, Step::Failed(AuthError::BadBase64 { .. })));
    let (_, step) = start(Mechanism::Plain, Some(b"**"));
    assert!(matches!(
        step,
        Step::Failed(AuthError::BadBase64 { offset: 0, .. })
    ));
}

#[test]
fn rounds_and_line_length_are_bounded() {
    let mut config = ServerAuthConfig {
        max_rounds: 1,
        ..Default::default()
    };
    let (mut server, step) = ServerAuth::start(Mechanism::Login, None, config.clone());
    assert_eq!(step, Step::Challenge(b"Username:".to_vec()));
    assert_eq!(
        server.step(b"dGlt"),
        Step::Failed(AuthError::TooManyRounds { max: 1 })
    );
    // With an initial response LOGIN needs one challenge only.
    let (mut server, _) = ServerAuth::start(Mechanism::Login, Some(b"dGlt"), config.clone());
    assert!(matches!(server.step(b"cHc="), Step::Done(_)));
    config.max_rounds = 0;
    let (_, step) = ServerAuth::start(Mechanism::Plain, None, config.clone());
    assert_eq!(step, Step::Failed(AuthError::TooManyRounds { max: 0 }));
    let (_, step) = ServerAuth::start(Mechanism::Plain, Some(b"dGVzdAB0ZXN0ADEyMzQ="), config);
    assert!(matches!(step, Step::Done(_)));

    let config = ServerAuthConfig {
        max_line_len: 8,
        ..Default::default()
    };
    let (mut server, _) = ServerAuth::start(Mechanism::Plain, None, config);
    assert_eq!(
        server.step(b"dGVzdAB0ZXN0ADEyMzQ="),
        Step::Failed(AuthError::LineTooLong { len: 20, max: 8 })
    );
}

#[test]
fn unsupported_and_misuse() {
    let scram: Mechanism = "SCRAM-SHA-256".parse().unwrap();
    let (_, step) = start(scram.clone(), None);
    assert_eq!(
        step,
        Step::Failed(AuthError::UnsupportedMechanism("SCRAM-SHA-256".into()))
    );
    let creds = ClientCredentials::password("tim", "pw");
    assert_eq!(
        ClientAuth::new(scram, creds.clone()).err(),
        Some(AuthError::UnsupportedMechanism("SCRAM-SHA-256".into()))
    );
    assert_eq!(
        ClientAuth::new(Mechanism::XOAuth2, creds).err(),
        Some(AuthError::MissingCredential { what: "token" })
    );
    assert_eq!(
        ClientAuth::new(Mechanism::Plain, ClientCredentials::password("t\0m", "pw")).err(),
        Some(AuthError::ForbiddenCharacter {
            field: "authcid",
            byte: 0
        })
    );
    assert_eq!(
        ClientAuth::new(Mechanism::Plain, ClientCredentials::password("tim", "")).err(),
        Some(AuthError::EmptyField { field: "passwd" })
    );
    assert!(ClientAuth::new(Mechanism::XOAuth2, ClientCredentials::token("u\x01", "t")).is_err());
    assert!(ClientAuth::new(Mechanism::XOAuth2, ClientCredentials::token("u", "t t")).is_err());
    // PLAIN answers one challenge only; CRAM-MD5 too.
    let mut client =
        ClientAuth::new(Mechanism::Plain, ClientCredentials::password("tim", "pw")).unwrap();
    assert_eq!(client.respond(b"").unwrap(), b"\0tim\0pw");
    assert_eq!(client.respond(b""), Err(AuthError::UnexpectedChallenge));
    // Display names the problem.
    use alloc::string::ToString;
    assert_eq!(
        AuthError::FieldTooLong {
            field: "authcid",
            len: 300,
            max: 255
        }
        .to_string(),
        "SASL field authcid is 300 octets long, limit 255"
    );
    assert_eq!(
        AuthError::UnsupportedMechanism("X".repeat(100))
            .to_string()
            .len(),
        "unsupported SASL mechanism \"\"".len() + 32
    );
    // Debug never shows a password.
    let (_, step) = start(Mechanism::Plain, Some(b"dGVzdAB0ZXN0ADEyMzQ="));
    assert!(!alloc::format!("{step:?}").contains("1234"));
}
