//! Property tests: client -> server roundtrips for every mechanism, and no panics on
//! arbitrary input.

use alloc::{string::String, vec, vec::Vec};

use proptest::prelude::*;

use super::*;
use crate::secret::Secret;

fn b64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_line(data, &mut out);
    out
}

/// A user name or password valid for every mechanism: non-empty UTF-8 without NUL or
/// %x01, at most 255 octets; "=" and "," exercise the OAUTHBEARER escaping.
fn field() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 =,.@_ä€😀-]{1,60}".prop_filter("≤ 255 octets", |s| s.len() <= 255)
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~+/-]{1,200}=*"
}

/// Runs a whole exchange: initial response if the mechanism has one, then challenges
/// and responses through base64 lines, as the protocol layers would.
fn run(
    mechanism: Mechanism,
    credentials: ClientCredentials,
    config: ServerAuthConfig,
    use_ir: bool,
) -> Step {
    let mut client = ClientAuth::new(mechanism.clone(), credentials).unwrap();
    let ir = client.initial_response().filter(|_| use_ir).map(|ir| {
        let mut line = Vec::new();
        encode_initial_response(&ir, &mut line);
        line
    });
    let (mut server, mut step) = ServerAuth::start(mechanism, ir.as_deref(), config);
    for _ in 0..4 {
        let Step::Challenge(challenge) = &step else {
            return step;
        };
        let challenge = decode_line(&b64(challenge)).unwrap();
        let response = client.respond(&challenge).unwrap();
        step = server.step(&b64(&response));
    }
    step
}

proptest! {
    #[test]
    fn plain_and_login_roundtrip(user in field(), password in field(), authzid in proptest::option::of(field()), use_ir: bool) {
        let mut credentials = ClientCredentials::password(user.clone(), password.clone());
        if let Some(authzid) = &authzid {
            credentials = credentials.with_authzid(authzid.clone());
        }
        let step = run(Mechanism::Plain, credentials.clone(), ServerAuthConfig::default(), use_ir);
        prop_assert_eq!(step, Step::Done(Credentials::Plain { authzid: authzid.clone(), authcid: user.clone(), password: Secret::new(password.clone()) }));
        let step = run(Mechanism::Login, credentials, ServerAuthConfig::default(), use_ir);
        prop_assert_eq!(step, Step::Done(Credentials::Plain { authzid: None, authcid: user, password: Secret::new(password) }));
    }

    #[test]
    fn cram_md5_roundtrip(user in field(), password in ".{0,80}", other in ".{0,80}", nonce in "[0-9]{1,10}") {
        let config = ServerAuthConfig::default().with_cram_md5_challenge(alloc::format!("<{nonce}.1@mx.example>"));
        let step = run(Mechanism::CramMd5, ClientCredentials::password(user.clone(), password.clone()), config, true);
        let Step::Done(Credentials::CramMd5(answer)) = step else { panic!("{step:?}") };
        prop_assert_eq!(&answer.username, &user);
        prop_assert!(answer.verify(password.as_bytes()));
        prop_assert_eq!(answer.verify(other.as_bytes()), other == password);
    }

    #[test]
    fn oauth_roundtrip(user in field(), token in token(), host in proptest::option::of(("[a-z0-9.-]{1,40}", 1u16..)), use_ir: bool) {
        let credentials = ClientCredentials::token(user.clone(), token.clone());
        let step = run(Mechanism::XOAuth2, credentials.clone(), ServerAuthConfig::default(), use_ir);
        prop_assert_eq!(step, Step::Done(Credentials::XOAuth2 { user: user.clone(), token: Secret::new(token.clone()) }));
        let credentials = match &host {
            Some((host, port)) => credentials.with_host_port(host.clone(), *port),
            None => credentials,
        };
        let step = run(Mechanism::OAuthBearer, credentials, ServerAuthConfig::default(), use_ir);
        prop_assert_eq!(step, Step::Done(Credentials::OAuthBearer {
            authzid: Some(user),
            token: Secret::new(token),
            host: host.as_ref().map(|(h, _)| h.clone()),
            port: host.map(|(_, p)| p),
        }));
    }

    #[test]
    fn server_never_panics(
        mechanism in proptest::sample::select(vec!["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER", "X-OTHER"]),
        ir in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        lines in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::collection::vec(any::<u8>(), 0..64).prop_map(|raw| b64(&raw)),
                Just(b"*".to_vec()),
                Just(b"=".to_vec()),
            ],
            0..6,
        ),
        reject: bool,
    ) {
        let (mut server, mut step) = ServerAuth::start(mechanism.parse().unwrap(), ir.as_deref(), ServerAuthConfig::default().with_cram_md5_challenge("<1896.697170952@postoffice.reston.mci.net>"));
        for line in &lines {
            if reject && matches!(step, Step::Done(_)) {
                let _ = server.fail_with_challenge(b"{}".to_vec());
            }
            step = server.step(line);
            prop_assert!(server.rounds() <= ServerAuthConfig::default().max_rounds);
        }
    }

    #[test]
    fn client_never_panics(challenges in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..5)) {
        for mechanism in [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5, Mechanism::XOAuth2, Mechanism::OAuthBearer] {
            let mut client = ClientAuth::new(mechanism, ClientCredentials::token("u", "t").with_authzid("a")).unwrap_or_else(|_| {
                ClientAuth::new(Mechanism::Plain, ClientCredentials::password("u", "p")).unwrap()
            });
            for challenge in &challenges {
                let _ = client.respond(challenge);
            }
        }
    }
}
