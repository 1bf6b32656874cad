//! [`Secret`]: a wrapper that keeps credentials out of logs and wipes them on drop.
//!
//! Passwords (RFC 4616 §2 `passwd`, the LOGIN "authorization authenticator") and OAuth
//! bearer tokens (RFC 7628 §3.1 `auth`) travel through the SASL layer in this wrapper.
//! Its `Debug` output is `Secret(***)`, so a `{:?}` of an event or an error never leaks
//! the value; reading it takes an explicit [`Secret::expose`]. The memory is overwritten
//! with zeroes when the value is dropped (via the `zeroize` crate).

use core::fmt;

use zeroize::Zeroize;

/// A credential (password, token) that is redacted in `Debug` and zeroed on drop.
///
/// Used for the RFC 4616 §2 `passwd`, the LOGIN password and RFC 7628 §3.1 / XOAUTH2
/// bearer tokens.
///
/// ```
/// use mailproto_core::secret::Secret;
///
/// let password = Secret::new(String::from("tanstaaftanstaaf"));
/// assert_eq!(format!("{password:?}"), "Secret(***)");
/// assert_eq!(password.expose(), "tanstaaftanstaaf");
/// ```
///
/// `PartialEq` compares the values in ordinary (not constant) time; it is meant for tests
/// and bookkeeping, not for checking a presented password against a stored one.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a credential.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// Borrows the credential. Every read of a secret is spelled out with this call.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Borrows the credential mutably, e.g. to normalise it in place.
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<alloc::string::String> {
    fn from(value: &str) -> Self {
        Secret(alloc::string::String::from(value))
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, string::String, vec};

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s:#?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
    }

    #[test]
    fn expose_clone_eq() {
        let mut s = Secret::new(vec![1u8, 2, 3]);
        let t = s.clone();
        assert_eq!(s, t);
        s.expose_mut().push(4);
        assert_eq!(s.expose(), &[1, 2, 3, 4]);
        assert_ne!(s, t);
        assert_eq!(Secret::from(String::from("x")).expose(), "x");
    }
}
