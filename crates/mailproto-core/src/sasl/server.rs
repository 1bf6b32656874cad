//! [`ServerAuth`]: the server side of a SASL exchange, one client line at a time.

use alloc::{string::String, vec::Vec};

use super::{AuthError, Credentials, Mechanism, decode_initial_response, decode_line, wire};
use crate::secret::Secret;

/// Limits and inputs for a server-side exchange.
///
/// `#[non_exhaustive]`: start from [`ServerAuthConfig::default`] and set fields.
///
/// ```
/// use mailproto_core::sasl::ServerAuthConfig;
///
/// let config = ServerAuthConfig::default()
///     .with_cram_md5_challenge("<1896.697170952@postoffice.reston.mci.net>");
/// let mut limits = ServerAuthConfig::default();
/// limits.max_rounds = 3;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerAuthConfig {
    /// Most challenges the server sends in one exchange (default 2, what LOGIN needs). An
    /// error challenge from [`ServerAuth::fail_with_challenge`] is not counted.
    pub max_rounds: usize,
    /// Longest client response line accepted, in base64 octets (default 12288, the size
    /// RFC 4954 §4 calls sufficient for deployed mechanisms).
    pub max_line_len: usize,
    /// Longest user name, authzid, password or host, in octets (default 255, what RFC 4616
    /// §2 requires servers to accept).
    pub max_field_len: usize,
    /// Longest bearer token, in octets (default 8192).
    pub max_token_len: usize,
    /// The CRAM-MD5 challenge, e.g. `<1896.697170952@postoffice.reston.mci.net>`
    /// (RFC 2195 §2: a unique msg-id with a random part and a timestamp). The core has no
    /// clock or randomness, so the caller supplies a fresh one for every exchange;
    /// without it CRAM-MD5 fails with [`AuthError::MissingChallenge`].
    pub cram_md5_challenge: Option<String>,
}

crate::setters::setters!(ServerAuthConfig {
    set with_max_rounds: max_rounds: usize,
    set with_max_line_len: max_line_len: usize,
    set with_max_field_len: max_field_len: usize,
    set with_max_token_len: max_token_len: usize,
});

impl Default for ServerAuthConfig {
    fn default() -> Self {
        ServerAuthConfig {
            max_rounds: 2,
            max_line_len: 12288,
            max_field_len: 255,
            max_token_len: 8192,
            cram_md5_challenge: None,
        }
    }
}

impl ServerAuthConfig {
    /// Sets the CRAM-MD5 challenge for this exchange (see
    /// [`cram_md5_challenge`](Self::cram_md5_challenge)).
    pub fn with_cram_md5_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.cram_md5_challenge = Some(challenge.into());
        self
    }

    /// The configuration for the `attempt`-th exchange of a session (1 for the first).
    /// From the second on, the CRAM-MD5 challenge gets `.attempt` appended to its local
    /// part (`<1896.697170952.2@host>`), so the same session never sends the same
    /// challenge twice and a response seen in one exchange cannot be replayed in the next
    /// (RFC 2195 §2).
    pub fn for_attempt(&self, attempt: u32) -> ServerAuthConfig {
        let mut config = self.clone();
        if attempt > 1
            && let Some(c) = &mut config.cram_md5_challenge
        {
            let at = c.rfind('@').or_else(|| c.rfind('>')).unwrap_or(c.len());
            c.insert_str(at, &alloc::format!(".{attempt}"));
        }
        config
    }
}

/// What the server does next in an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Step {
    /// Send this challenge (raw bytes; the protocol layer base64-encodes them into a
    /// `334 ` reply, RFC 4954 §4, or a `+ ` line, RFC 5034 §4) and feed the next client
    /// line to [`ServerAuth::step`].
    Challenge(Vec<u8>),
    /// The exchange is complete; the application checks the credentials and answers
    /// success (SMTP 235, POP3 `+OK`) or failure (535 / `-ERR`), or calls
    /// [`ServerAuth::fail_with_challenge`] for the OAuth mechanisms.
    Done(Credentials),
    /// The exchange failed; [`AuthError`] documents the reply to send.
    Failed(AuthError),
}

#[derive(Debug)]
enum State {
    /// Sent an empty challenge; the next line is the client's whole message
    /// (PLAIN, XOAUTH2, OAUTHBEARER without initial response, RFC 4422 §5 step 1).
    AwaitMessage,
    /// LOGIN: sent `Username:`.
    LoginUser,
    /// LOGIN: sent `Password:`.
    LoginPassword { username: String },
    /// CRAM-MD5: sent the challenge.
    CramMd5 { challenge: String },
    /// Returned [`Step::Done`]; the application may still send an error challenge.
    Completed,
    /// Sent an OAuth error challenge; waiting for the client's dummy response
    /// (RFC 7628 §3.2.3).
    ErrorSent,
    /// Failed, or failed after an error challenge.
    Finished,
}

/// The server side of one SASL exchange (RFC 4422 §5), protocol-neutral: SMTP AUTH
/// (RFC 4954) and POP3 AUTH (RFC 5034) frame the lines, this machine interprets them.
///
/// ```
/// use mailproto_core::sasl::{Credentials, Mechanism, ServerAuth, ServerAuthConfig, Step};
///
/// // C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=     (RFC 4954 §4 example)
/// let (_auth, step) = ServerAuth::start(
///     Mechanism::Plain,
///     Some(b"dGVzdAB0ZXN0ADEyMzQ="),
///     ServerAuthConfig::default(),
/// );
/// let Step::Done(Credentials::Plain { authcid, password, .. }) = step else { panic!() };
/// assert_eq!((authcid.as_str(), password.expose().as_str()), ("test", "1234"));
/// ```
#[derive(Debug)]
pub struct ServerAuth {
    mechanism: Mechanism,
    config: ServerAuthConfig,
    state: State,
    rounds: usize,
}

impl ServerAuth {
    /// Starts an exchange for `mechanism`, with the initial response exactly as it came
    /// on the wire (base64 text, or `=` for an empty one, RFC 4954 §4; `None` if the
    /// client sent none). Returns the machine and its first step: a challenge, or
    /// `Done`/`Failed` right away (e.g. PLAIN with an initial response).
    pub fn start(
        mechanism: Mechanism,
        initial_response: Option<&[u8]>,
        config: ServerAuthConfig,
    ) -> (ServerAuth, Step) {
        let mut auth = ServerAuth {
            mechanism,
            config,
            state: State::Finished,
            rounds: 0,
        };
        let step = auth.begin(initial_response);
        (auth, step)
    }

    /// Feeds one client line (base64 text; a trailing CRLF is tolerated). A line holding
    /// only `*` cancels (RFC 4954 §4, RFC 5034 §4).
    pub fn step(&mut self, client_line: &[u8]) -> Step {
        let line = client_line.strip_suffix(b"\r\n").unwrap_or(client_line);
        if matches!(self.state, State::Finished | State::Completed) {
            return Step::Failed(AuthError::Finished);
        }
        if line == b"*" {
            return self.fail(AuthError::Cancelled);
        }
        if let State::ErrorSent = self.state {
            // RFC 7628 §3.2.3: any further response ends a failed exchange.
            return self.fail(AuthError::Rejected);
        }
        if line.len() > self.config.max_line_len {
            return self.fail(AuthError::LineTooLong {
                len: line.len(),
                max: self.config.max_line_len,
            });
        }
        match decode_line(line) {
            Ok(message) => self.message(&message),
            Err(e) => self.fail(e),
        }
    }

    /// Ends an exchange whose credentials the application rejected.
    ///
    /// For XOAUTH2 and OAUTHBEARER after [`Step::Done`], this sends `error_json` as a
    /// challenge (RFC 7628 §3.2.2; build it with [`xoauth2_error_challenge`] or
    /// [`oauthbearer_error_challenge`]); the client's next line, whatever it is, then makes
    /// [`step`](Self::step) return `Failed(Rejected)` (RFC 7628 §3.2.3). For any other
    /// mechanism or state it returns `Failed(Rejected)` at once.
    ///
    /// [`xoauth2_error_challenge`]: super::xoauth2_error_challenge
    /// [`oauthbearer_error_challenge`]: super::oauthbearer_error_challenge
    pub fn fail_with_challenge(&mut self, error_json: Vec<u8>) -> Step {
        let oauth = matches!(self.mechanism, Mechanism::XOAuth2 | Mechanism::OAuthBearer);
        if oauth && matches!(self.state, State::Completed) {
            self.state = State::ErrorSent;
            Step::Challenge(error_json)
        } else {
            self.fail(AuthError::Rejected)
        }
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// Challenges sent so far (not counting an error challenge).
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Whether the exchange has ended (`Done` or `Failed` was returned).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished | State::Completed)
    }

    fn begin(&mut self, initial_response: Option<&[u8]>) -> Step {
        let initial = match initial_response.map(decode_initial_response) {
            None => None,
            Some(Ok(message)) => Some(message),
            Some(Err(e)) => return self.fail(e),
        };
        match (&self.mechanism, initial) {
            (Mechanism::Other(name), _) => {
                let name = name.clone();
                self.fail(AuthError::UnsupportedMechanism(name))
            }
            (Mechanism::CramMd5, Some(_)) => self.fail(AuthError::UnexpectedInitialResponse),
            (Mechanism::CramMd5, None) => match self.config.cram_md5_challenge.take() {
                Some(challenge) if !challenge.is_empty() => {
                    let bytes = Vec::from(challenge.as_bytes());
                    self.challenge(State::CramMd5 { challenge }, bytes)
                }
                _ => self.fail(AuthError::MissingChallenge),
            },
            (Mechanism::Login, None) => self.challenge(State::LoginUser, Vec::from(*b"Username:")),
            (_, None) => self.challenge(State::AwaitMessage, Vec::new()),
            (_, Some(message)) => {
                self.state = match self.mechanism {
                    Mechanism::Login => State::LoginUser,
                    _ => State::AwaitMessage,
                };
                self.message(&message)
            }
        }
    }

    /// Interprets one decoded client message in the current state.
    fn message(&mut self, message: &[u8]) -> Step {
        let max = self.config.max_field_len;
        let max_token = self.config.max_token_len;
        let state = core::mem::replace(&mut self.state, State::Finished);
        let result = match state {
            State::AwaitMessage => match self.mechanism {
                Mechanism::Plain => wire::parse_plain(message, max),
                Mechanism::XOAuth2 => wire::parse_xoauth2(message, max, max_token),
                Mechanism::OAuthBearer => wire::parse_oauthbearer(message, max, max_token),
                _ => Err(AuthError::UnsupportedMechanism(String::from(
                    self.mechanism.name(),
                ))),
            },
            State::LoginUser => {
                return match wire::check_field("username", message, max, &[0]) {
                    Ok(username) => {
                        self.challenge(State::LoginPassword { username }, Vec::from(*b"Password:"))
                    }
                    Err(e) => self.fail(e),
                };
            }
            State::LoginPassword { username } => wire::check_field("passwd", message, max, &[0])
                .map(|password| Credentials::Plain {
                    authzid: None,
                    authcid: username,
                    password: Secret::new(password),
                }),
            State::CramMd5 { challenge } => {
                wire::parse_cram_md5(message, &challenge, max).map(Credentials::CramMd5)
            }
            State::Completed | State::ErrorSent | State::Finished => Err(AuthError::Finished),
        };
        match result {
            Ok(credentials) => {
                self.state = State::Completed;
                Step::Done(credentials)
            }
            Err(e) => self.fail(e),
        }
    }

    fn challenge(&mut self, next: State, challenge: Vec<u8>) -> Step {
        if self.rounds >= self.config.max_rounds {
            return self.fail(AuthError::TooManyRounds {
                max: self.config.max_rounds,
            });
        }
        self.rounds += 1;
        self.state = next;
        Step::Challenge(challenge)
    }

    fn fail(&mut self, error: AuthError) -> Step {
        self.state = State::Finished;
        Step::Failed(error)
    }
}
