//! proptest strategies for the generated types (feature `proptest`).
//!
//! Each strategy draws a tape of random numbers and runs the generator of this module
//! over it ([`Tape`]); proptest shrinks the tape's numbers towards 0, which every
//! generator reads as its simplest option, so a failing case shrinks to a short
//! session of plain commands. `any::<T>()` works for the same types.
//!
//! ```
//! use mailproto_core::generate::strategy;
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(16), |(cmd in strategy::smtp_command())| {
//!     let mut out = Vec::new();
//!     prop_assert!(cmd.encode(&mut out).is_ok());
//! });
//! ```

use alloc::vec::Vec;
use core::fmt;

use proptest::arbitrary::{Arbitrary, any};
use proptest::collection::vec;
use proptest::strategy::{BoxedStrategy, Strategy};

use super::script::{Pop3Script, SmtpScript};
use super::{Account, Source, pop3, smtp};

/// Choices for a single value (a command, a reply, ...).
const VALUE_CHOICES: usize = 256;
/// Choices for a whole session.
const SCRIPT_CHOICES: usize = 2048;

/// A [`Source`] over a list of numbers: choice `i` is number `i` modulo `n`, and 0 once
/// the list is used up.
#[derive(Debug, Clone)]
pub struct Tape {
    choices: Vec<u64>,
    at: usize,
}

impl Tape {
    /// A tape of these numbers.
    pub fn new(choices: Vec<u64>) -> Self {
        Tape { choices, at: 0 }
    }
}

impl Source for Tape {
    fn choose(&mut self, n: u64) -> u64 {
        let c = self.choices.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        if n <= 1 { 0 } else { c % n }
    }
}

/// The values of `generate` run over tapes of `len` numbers.
pub fn from_tape<T: fmt::Debug + 'static>(
    len: usize,
    generate: impl Fn(&mut Tape) -> T + 'static,
) -> impl Strategy<Value = T> {
    vec(any::<u64>(), len).prop_map(move |choices| generate(&mut Tape::new(choices)))
}

/// SMTP commands ([`smtp::command`]).
pub fn smtp_command() -> impl Strategy<Value = crate::smtp::Command> {
    from_tape(VALUE_CHOICES, smtp::command)
}

/// SMTP replies ([`smtp::reply`]).
pub fn smtp_reply() -> impl Strategy<Value = crate::smtp::Reply> {
    from_tape(VALUE_CHOICES, smtp::reply)
}

/// MAIL parameters ([`smtp::mail_params`]).
pub fn mail_params() -> impl Strategy<Value = crate::smtp::MailParams> {
    from_tape(VALUE_CHOICES, smtp::mail_params)
}

/// RCPT parameters ([`smtp::rcpt_params`]).
pub fn rcpt_params() -> impl Strategy<Value = crate::smtp::RcptParams> {
    from_tape(VALUE_CHOICES, smtp::rcpt_params)
}

/// SMTP client sessions ([`smtp::script`]).
pub fn smtp_script() -> impl Strategy<Value = SmtpScript> {
    from_tape(SCRIPT_CHOICES, smtp::script)
}

/// POP3 commands ([`pop3::command`]).
pub fn pop3_command() -> impl Strategy<Value = crate::pop3::Command> {
    from_tape(VALUE_CHOICES, pop3::command)
}

/// POP3 status lines ([`pop3::status`]).
pub fn pop3_status() -> impl Strategy<Value = crate::pop3::Status> {
    from_tape(VALUE_CHOICES, pop3::status)
}

/// POP3 first answer lines ([`pop3::response`]).
pub fn pop3_response() -> impl Strategy<Value = crate::pop3::Response> {
    from_tape(VALUE_CHOICES, pop3::response)
}

/// POP3 client sessions against `account` ([`pop3::script`]).
pub fn pop3_script(account: Account) -> impl Strategy<Value = Pop3Script> {
    from_tape(SCRIPT_CHOICES, move |t| pop3::script(t, &account))
}

/// `Arbitrary` (for `any::<T>()`) through the strategy `$f`.
macro_rules! arbitrary_via {
    ($($ty:ty => $f:expr),* $(,)?) => {$(
        impl Arbitrary for $ty {
            type Parameters = ();
            type Strategy = BoxedStrategy<$ty>;
            fn arbitrary_with((): ()) -> Self::Strategy {
                $f.boxed()
            }
        }
    )*};
}

arbitrary_via! {
    crate::smtp::Command => smtp_command(),
    crate::smtp::Reply => smtp_reply(),
    crate::smtp::MailParams => mail_params(),
    crate::smtp::RcptParams => rcpt_params(),
    crate::pop3::Command => pop3_command(),
    crate::pop3::Status => pop3_status(),
    crate::pop3::Response => pop3_response(),
    SmtpScript => smtp_script(),
    // Against the default account (`alice` / `secret`, 3 messages).
    Pop3Script => pop3_script(Account::default()),
}
