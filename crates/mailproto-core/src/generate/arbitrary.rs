//! `arbitrary::Arbitrary` for the generated types (feature `arbitrary`): each draws its
//! choices from the fuzzer's bytes through the generators of this module.

use arbitrary::{Arbitrary, Result, Unstructured};

use super::script::{Pop3Script, SmtpScript};
use super::{Account, Source, pop3, smtp};

impl Source for Unstructured<'_> {
    /// `int_in_range`, which answers the lower bound once the bytes run out.
    fn choose(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        self.int_in_range(0..=n - 1).unwrap_or(0)
    }
}

/// `Arbitrary` through the generator `$f`.
macro_rules! arbitrary_via {
    ($($ty:ty => $f:expr),* $(,)?) => {$(
        impl<'a> Arbitrary<'a> for $ty {
            fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
                Ok($f(u))
            }
        }
    )*};
}

arbitrary_via! {
    crate::smtp::Command => smtp::command,
    crate::smtp::Reply => smtp::reply,
    crate::smtp::MailParams => smtp::mail_params,
    crate::smtp::RcptParams => smtp::rcpt_params,
    crate::pop3::Command => pop3::command,
    crate::pop3::Status => pop3::status,
    crate::pop3::Response => pop3::response,
    SmtpScript => smtp::script,
    // Against the default account (`alice` / `secret`, 3 messages).
    Pop3Script => |u: &mut Unstructured<'a>| pop3::script(u, &Account::default()),
}
