//! [`ClientAuth`]: the client side of a SASL exchange.

use alloc::{string::String, vec::Vec};

use super::{AuthError, Mechanism, credentials::cram_md5_hex, wire};
use crate::secret::Secret;

/// What a client authenticates with.
///
/// `#[non_exhaustive]`: build it with [`ClientCredentials::password`] or
/// [`ClientCredentials::token`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The user name: PLAIN `authcid`, LOGIN user name, CRAM-MD5 user name, XOAUTH2
    /// `user`; for OAUTHBEARER the GS2 `a=` authzid unless [`authzid`](Self::authzid) is
    /// set.
    pub username: String,
    /// The password (PLAIN, LOGIN, CRAM-MD5); empty when only a token is known.
    pub password: Secret<String>,
    /// Identity to act as (PLAIN `authzid`, OAUTHBEARER `a=`); `None` to act as oneself.
    pub authzid: Option<String>,
    /// An OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER).
    pub token: Option<Secret<String>>,
    /// Host name the client connected to, sent as OAUTHBEARER `host` (RFC 7628 §3.1).
    pub host: Option<String>,
    /// Port the client connected to, sent as OAUTHBEARER `port` (RFC 7628 §3.1).
    pub port: Option<u16>,
}

impl ClientCredentials {
    /// A user name and password.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Self {
        ClientCredentials {
            username: username.into(),
            password: Secret::new(password.into()),
            authzid: None,
            token: None,
            host: None,
            port: None,
        }
    }

    /// A user name and OAuth 2.0 bearer token.
    pub fn token(username: impl Into<String>, token: impl Into<String>) -> Self {
        let mut credentials = ClientCredentials::password(username, String::new());
        credentials.token = Some(Secret::new(token.into()));
        credentials
    }

    /// Sets the authorization identity (identity to act as).
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }

    /// Sets the host and port sent by OAUTHBEARER.
    pub fn with_host_port(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = Some(host.into());
        self.port = Some(port);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing answered yet.
    Start,
    /// LOGIN: user name sent.
    LoginUserSent,
    /// The mechanism's last message was sent.
    Sent,
    /// An OAuth error challenge was answered; the server will now fail.
    ErrorAnswered,
}

/// The client side of one SASL exchange (RFC 4422 §5).
///
/// Use [`initial_response`](Self::initial_response) with the `AUTH` command when the
/// server allows it (SMTP always, RFC 4954 §4; POP3 with `SASL-IR`, RFC 5034 §4), then
/// answer each decoded challenge with [`respond`](Self::respond). If a challenge is not
/// valid base64, send `*` instead (RFC 4954 §4).
///
/// ```
/// use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
///
/// // RFC 2195 §2 example.
/// let credentials = ClientCredentials::password("tim", "tanstaaftanstaaf");
/// let mut auth = ClientAuth::new(Mechanism::CramMd5, credentials).unwrap();
/// assert_eq!(auth.initial_response(), None);
/// let response = auth.respond(b"<1896.697170952@postoffice.reston.mci.net>").unwrap();
/// assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
/// ```
#[derive(Debug)]
pub struct ClientAuth {
    mechanism: Mechanism,
    credentials: ClientCredentials,
    state: State,
    server_error: Option<Vec<u8>>,
}

impl ClientAuth {
    /// Prepares an exchange, checking that the credentials fit the mechanism: a non-empty
    /// user name and password without NUL for PLAIN/LOGIN (RFC 4616 §2), a token of
    /// visible ASCII for XOAUTH2/OAUTHBEARER, no `%x01` in OAuth fields (RFC 7628 §3.1).
    /// An empty `authzid` is treated as none.
    pub fn new(
        mechanism: Mechanism,
        mut credentials: ClientCredentials,
    ) -> Result<Self, AuthError> {
        const ANY: usize = usize::MAX;
        if credentials.authzid.as_deref() == Some("") {
            credentials.authzid = None;
        }
        let c = &credentials;
        match &mechanism {
            Mechanism::Plain | Mechanism::Login => {
                wire::check_field("authcid", c.username.as_bytes(), ANY, &[0])?;
                wire::check_field("passwd", c.password.expose().as_bytes(), ANY, &[0])?;
                if let Some(authzid) = &c.authzid {
                    wire::check_field("authzid", authzid.as_bytes(), ANY, &[0])?;
                }
            }
            Mechanism::CramMd5 => {
                wire::check_field("username", c.username.as_bytes(), ANY, &[0])?;
            }
            Mechanism::XOAuth2 | Mechanism::OAuthBearer => {
                let token = c
                    .token
                    .as_ref()
                    .ok_or(AuthError::MissingCredential { what: "token" })?;
                wire::check_token(token.expose().as_bytes(), ANY)?;
                if let Mechanism::XOAuth2 = mechanism {
                    wire::check_field("user", c.username.as_bytes(), ANY, &[0x01])?;
                } else {
                    for (field, value) in
                        [("authzid", c.authzid.as_ref()), ("host", c.host.as_ref())]
                    {
                        if let Some(value) = value {
                            wire::check_field(field, value.as_bytes(), ANY, &[0, 0x01])?;
                        }
                    }
                    if let Some(byte) = c.username.bytes().find(|b| *b == 0 || *b == 0x01) {
                        return Err(AuthError::ForbiddenCharacter {
                            field: "username",
                            byte,
                        });
                    }
                }
            }
            Mechanism::Other(name) => return Err(AuthError::UnsupportedMechanism(name.clone())),
        }
        Ok(ClientAuth {
            mechanism,
            credentials,
            state: State::Start,
            server_error: None,
        })
    }

    /// The initial response (raw bytes; the protocol layer base64-encodes it, sending `=`
    /// when it is empty, RFC 4954 §4), or `None` for mechanisms where the server speaks
    /// first (LOGIN, CRAM-MD5).
    pub fn initial_response(&self) -> Option<Vec<u8>> {
        match self.mechanism {
            Mechanism::Login | Mechanism::CramMd5 => None,
            _ => Some(self.message()),
        }
    }

    /// Answers one server challenge (already base64-decoded).
    ///
    /// - PLAIN, XOAUTH2, OAUTHBEARER: an empty challenge asks for the message (when no
    ///   initial response was sent); for the OAuth mechanisms a non-empty challenge is the
    ///   server's JSON error, answered with an empty response (XOAUTH2) or `%x01`
    ///   (RFC 7628 §3.2.3) and kept in [`server_error`](Self::server_error).
    /// - LOGIN: the user name, then the password. The prompt text is only a hint
    ///   (draft-murchison-sasl-login-00 §2.1 says to ignore it): a prompt containing
    ///   "pass" gets the password, otherwise the order decides.
    /// - CRAM-MD5: `username SP hex(HMAC-MD5(password, challenge))` (RFC 2195 §2).
    ///
    /// A challenge the mechanism has no answer for gives
    /// [`AuthError::UnexpectedChallenge`]; the protocol layer then cancels with `*`.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, AuthError> {
        let c = &self.credentials;
        let (next, response) = match (&self.mechanism, self.state) {
            (Mechanism::Plain, State::Start) => (State::Sent, self.message()),
            (Mechanism::XOAuth2 | Mechanism::OAuthBearer, State::Start | State::Sent)
                if !challenge.is_empty() =>
            {
                self.server_error = Some(Vec::from(challenge));
                let ack = match self.mechanism {
                    Mechanism::OAuthBearer => Vec::from([0x01]),
                    _ => Vec::new(),
                };
                (State::ErrorAnswered, ack)
            }
            (Mechanism::XOAuth2 | Mechanism::OAuthBearer, State::Start) => {
                (State::Sent, self.message())
            }
            (Mechanism::Login, State::Start | State::LoginUserSent) => {
                let wants_password =
                    contains_ignore_case(challenge, b"pass") || self.state == State::LoginUserSent;
                if wants_password {
                    (State::Sent, Vec::from(c.password.expose().as_bytes()))
                } else {
                    (State::LoginUserSent, Vec::from(c.username.as_bytes()))
                }
            }
            (Mechanism::CramMd5, State::Start) => {
                let digest = cram_md5_hex(c.password.expose().as_bytes(), challenge);
                let mut response = Vec::with_capacity(c.username.len() + 33);
                response.extend_from_slice(c.username.as_bytes());
                response.push(b' ');
                response.extend_from_slice(digest.as_bytes());
                (State::Sent, response)
            }
            _ => return Err(AuthError::UnexpectedChallenge),
        };
        self.state = next;
        Ok(response)
    }

    /// The JSON error challenge an OAuth server sent, if any (RFC 7628 §3.2.2).
    pub fn server_error(&self) -> Option<&[u8]> {
        self.server_error.as_deref()
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// The single message of PLAIN / XOAUTH2 / OAUTHBEARER.
    fn message(&self) -> Vec<u8> {
        let c = &self.credentials;
        let token = c.token.as_ref().map_or("", |t| t.expose().as_str());
        match self.mechanism {
            Mechanism::XOAuth2 => wire::encode_xoauth2(&c.username, token),
            Mechanism::OAuthBearer => {
                let authzid = c
                    .authzid
                    .as_deref()
                    .or(Some(c.username.as_str()))
                    .filter(|a| !a.is_empty());
                wire::encode_oauthbearer(authzid, token, c.host.as_deref(), c.port)
            }
            _ => wire::encode_plain(c.authzid.as_deref(), &c.username, c.password.expose()),
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
