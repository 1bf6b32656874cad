//! [`Mechanism`]: SASL mechanism names and the client's choice among them.

use alloc::{string::String, vec::Vec};
use core::{fmt, hash, str::FromStr};

use super::AuthError;

/// A SASL mechanism, named as in the IANA "SASL Mechanisms" registry (RFC 4422 §3.1).
///
/// Parsing is case-insensitive; `Display` gives the registered upper-case name. Names
/// this crate does not implement parse to [`Mechanism::Other`] (stored upper-case), so
/// an EHLO `AUTH` keyword or a POP3 `CAPA SASL` line keeps every offer. Equality and
/// hashing compare the names case-insensitively, also for `Other`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN`, RFC 4616.
    Plain,
    /// `LOGIN`, draft-murchison-sasl-login-00.
    Login,
    /// `CRAM-MD5`, RFC 2195.
    CramMd5,
    /// `XOAUTH2`, Google's OAuth 2.0 bearer mechanism (predecessor of OAUTHBEARER).
    XOAuth2,
    /// `OAUTHBEARER`, RFC 7628 §3.
    OAuthBearer,
    /// Any other registered or private name, e.g. `SCRAM-SHA-256` (not implemented here).
    Other(String),
}

impl Mechanism {
    /// The IANA name, upper-case (RFC 4422 §3.1).
    pub fn name(&self) -> &str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::Other(name) => name,
        }
    }

    /// Parses a mechanism name as sent on the wire (`AUTH` argument, EHLO keyword).
    ///
    /// RFC 4422 §3.1: `sasl-mech = 1*20 mech-char`, `mech-char = UPPER-ALPHA / DIGIT /
    /// "-" / "_"`; lower case is accepted and folded, as servers and clients commonly do.
    pub fn parse(name: &[u8]) -> Result<Mechanism, AuthError> {
        if !super::is_mechanism_name(name) {
            return Err(AuthError::InvalidMechanismName);
        }
        let known = [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::XOAuth2,
            Mechanism::OAuthBearer,
        ];
        for mechanism in known {
            if mechanism.name().as_bytes().eq_ignore_ascii_case(name) {
                return Ok(mechanism);
            }
        }
        let upper = name
            .iter()
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect();
        Ok(Mechanism::Other(upper))
    }

    /// Whether this crate implements the mechanism (client and server side).
    pub fn is_supported(&self) -> bool {
        !matches!(self, Mechanism::Other(_))
    }

    /// Whether the mechanism sends the password itself over the connection (PLAIN,
    /// LOGIN) or a bearer token (XOAUTH2, OAUTHBEARER), so it needs TLS underneath
    /// (RFC 4616 §5, RFC 7628 §5).
    pub fn needs_tls(&self) -> bool {
        matches!(
            self,
            Mechanism::Plain | Mechanism::Login | Mechanism::XOAuth2 | Mechanism::OAuthBearer
        )
    }

    /// Picks the mechanism a client should use among the server's offers.
    ///
    /// The choice, in order:
    /// 1. With a token and TLS: `OAUTHBEARER`, then `XOAUTH2` (a token given by the user
    ///    is meant to be used; the standard mechanism first).
    /// 2. With a password and TLS: `PLAIN`, then `LOGIN`, then `CRAM-MD5`. Under TLS the
    ///    password is protected anyway; PLAIN is one round trip, works with servers that
    ///    store only password hashes, and is the one mechanism every server implements
    ///    (RFC 4954 §4 discussion, RFC 8314). CRAM-MD5 forces the server to keep a
    ///    plaintext-equivalent secret and is last.
    /// 3. With a password and no TLS: only `CRAM-MD5`, which never sends the password.
    ///    PLAIN/LOGIN/tokens are never chosen in the clear (RFC 4616 §5, RFC 7628 §5); a
    ///    caller that really wants that can build a [`ClientAuth`](super::ClientAuth)
    ///    for the mechanism directly.
    ///
    /// Returns `None` when nothing acceptable is offered.
    pub fn choose(
        server_offers: &[Mechanism],
        have_password: bool,
        have_token: bool,
        tls: bool,
    ) -> Option<Mechanism> {
        let mut preference = Vec::with_capacity(5);
        if have_token && tls {
            preference.extend([Mechanism::OAuthBearer, Mechanism::XOAuth2]);
        }
        if have_password {
            if tls {
                preference.extend([Mechanism::Plain, Mechanism::Login]);
            }
            preference.push(Mechanism::CramMd5);
        }
        preference
            .into_iter()
            .find(|wanted| server_offers.contains(wanted))
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::parse(s.as_bytes())
    }
}

impl PartialEq for Mechanism {
    fn eq(&self, other: &Self) -> bool {
        self.name().eq_ignore_ascii_case(other.name())
    }
}

impl Eq for Mechanism {}

impl hash::Hash for Mechanism {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        for b in self.name().bytes() {
            state.write_u8(b.to_ascii_uppercase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{string::ToString, vec};

    #[test]
    fn parse_and_display() {
        assert_eq!("plain".parse::<Mechanism>(), Ok(Mechanism::Plain));
        assert_eq!("Cram-Md5".parse::<Mechanism>(), Ok(Mechanism::CramMd5));
        assert_eq!("xoauth2".parse::<Mechanism>(), Ok(Mechanism::XOAuth2));
        assert_eq!(
            "OAUTHBEARER".parse::<Mechanism>(),
            Ok(Mechanism::OAuthBearer)
        );
        assert_eq!("LOGIN".parse::<Mechanism>(), Ok(Mechanism::Login));
        let scram = "scram-sha-256".parse::<Mechanism>().unwrap();
        assert_eq!(scram.to_string(), "SCRAM-SHA-256");
        assert_eq!(scram, Mechanism::Other("Scram-Sha-256".into()));
        assert_eq!(Mechanism::Other("plain".into()), Mechanism::Plain);
        assert_eq!(Mechanism::CramMd5.to_string(), "CRAM-MD5");
        for bad in ["", "A B", "PLAIN\r", "ABCDEFGHIJKLMNOPQRSTU", "ü"] {
            assert_eq!(
                bad.parse::<Mechanism>(),
                Err(AuthError::InvalidMechanismName)
            );
        }
    }

    #[test]
    fn choose_prefers_as_documented() {
        use Mechanism::*;
        let all = vec![CramMd5, Login, Plain, XOAuth2, OAuthBearer];
        assert_eq!(Mechanism::choose(&all, true, true, true), Some(OAuthBearer));
        assert_eq!(Mechanism::choose(&all, true, false, true), Some(Plain));
        assert_eq!(Mechanism::choose(&all, true, true, false), Some(CramMd5));
        assert_eq!(
            Mechanism::choose(&[Login, CramMd5], true, false, true),
            Some(Login)
        );
        assert_eq!(Mechanism::choose(&[Plain, Login], true, false, false), None);
        assert_eq!(
            Mechanism::choose(&[XOAuth2, Plain], false, true, true),
            Some(XOAuth2)
        );
        assert_eq!(Mechanism::choose(&[XOAuth2], false, true, false), None);
        assert_eq!(Mechanism::choose(&all, false, false, true), None);
    }
}
