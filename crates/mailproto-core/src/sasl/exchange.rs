//! The client's side of one SASL exchange on the wire, shared by SMTP AUTH (RFC 4954 §4)
//! and POP3 AUTH (RFC 5034 §4): the initial response when it fits the command line, one
//! base64 response line per challenge, the round limit, and the `*` that cancels.

use alloc::string::String;
use alloc::vec::Vec;

use zeroize::Zeroize;

use super::{
    AuthError, CANCEL, ClientAuth, Mechanism, decode_line, encode_initial_response, encode_line,
};
use crate::secret::Secret;

/// Challenges one exchange may bring before the client cancels it, by default: LOGIN
/// needs two, an OAuth error challenge one more.
pub const DEFAULT_MAX_ROUNDS: usize = 8;

/// One client exchange in progress.
#[derive(Debug)]
pub struct ClientExchange {
    auth: ClientAuth,
    rounds: usize,
    max_rounds: usize,
    cancelled: bool,
}

impl ClientExchange {
    /// An exchange with `auth` that answers at most `max_rounds` challenges.
    pub fn new(auth: ClientAuth, max_rounds: usize) -> Self {
        ClientExchange {
            auth,
            rounds: 0,
            max_rounds,
            cancelled: false,
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> &Mechanism {
        self.auth.mechanism()
    }

    /// The mechanism's state (e.g. an OAuth server error it was told).
    pub fn auth(&self) -> &ClientAuth {
        &self.auth
    }

    /// Gives the mechanism back.
    pub fn into_auth(self) -> ClientAuth {
        self.auth
    }

    /// Whether the client cancelled with `*` (the server's refusal is due next).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// Challenges answered so far.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// The initial response as the argument of the AUTH command (base64, `=` for an
    /// empty one), when the mechanism has one and the line `AUTH <mechanism> <argument>`
    /// with its CRLF fits `max_line` octets (RFC 4954 §4: 512 for SMTP; RFC 5034 §4: 255
    /// for POP3). Otherwise `None`: the response then answers the server's first, empty
    /// challenge.
    pub fn initial_argument(&self, max_line: usize) -> Option<Secret<String>> {
        let mut response = self.auth.initial_response()?;
        let mut b64 = Vec::new();
        encode_initial_response(&response, &mut b64);
        response.zeroize();
        let line = "AUTH ".len() + self.mechanism().name().len() + 1 + b64.len() + 2;
        // Base64 and `=` are ASCII.
        let text = String::from_utf8(b64).unwrap_or_default();
        (line <= max_line).then(|| Secret::new(text))
    }

    /// Answers one challenge, the base64 text that followed `334 ` or `+ `: appends the
    /// response line (CRLF included) to `out`. When the challenge is not valid base64,
    /// the mechanism cannot answer it, or the round limit is reached, appends `*` CRLF
    /// instead (RFC 4954 §4, RFC 5034 §4: the server then refuses) and returns why.
    pub fn answer(&mut self, challenge: &[u8], out: &mut Vec<u8>) -> Result<(), AuthError> {
        self.rounds += 1;
        let max = self.max_rounds;
        let response = if self.rounds > max {
            Err(AuthError::TooManyRounds { max })
        } else {
            decode_line(challenge).and_then(|c| self.auth.respond(&c))
        };
        let result = match response {
            Ok(response) => {
                let response = Secret::new(response);
                encode_line(response.expose(), out);
                Ok(())
            }
            Err(reason) => {
                self.cancelled = true;
                out.extend_from_slice(CANCEL);
                Err(reason)
            }
        };
        out.extend_from_slice(b"\r\n");
        result
    }
}
