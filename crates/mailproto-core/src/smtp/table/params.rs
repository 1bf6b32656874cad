//! The MAIL and RCPT parameters: which extension enables each (RFC 5321 §4.1.1.11 and
//! the extension RFCs) and which commands carry them.

use super::{Ext, Verb};
use crate::smtp::{Body, Capabilities, MailParams, RcptParams};

/// A MAIL or RCPT parameter the table knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Param {
    /// `SIZE=` (MAIL, RFC 1870 §4).
    Size,
    /// `BODY=7BIT` (MAIL, RFC 6152 §3: a value of the 8BITMIME extension's parameter).
    Body7Bit,
    /// `BODY=8BITMIME` (MAIL, RFC 6152).
    Body8BitMime,
    /// `BODY=BINARYMIME` (MAIL, RFC 3030 §3).
    BodyBinaryMime,
    /// `SMTPUTF8` (MAIL, RFC 6531 §3.4).
    SmtpUtf8,
    /// `AUTH=` (MAIL, RFC 4954 §5).
    Auth,
    /// `RET=` (MAIL, RFC 3461 §4.3).
    Ret,
    /// `ENVID=` (MAIL, RFC 3461 §4.4).
    Envid,
    /// `REQUIRETLS` (MAIL, RFC 8689 §4.1; only under TLS).
    RequireTls,
    /// `NOTIFY=` (RCPT, RFC 3461 §4.1).
    Notify,
    /// `ORCPT=` (RCPT, RFC 3461 §4.2).
    Orcpt,
}

/// The rule of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamRule {
    /// The parameter.
    pub param: Param,
    /// How it is named in replies, e.g. `SIZE`, `BODY=BINARYMIME`.
    pub name: &'static str,
    /// The keyword with its value where the value decides (`BODY=7BIT`).
    pub shown: &'static str,
    /// The command that carries it.
    pub verb: Verb,
    /// Extensions of which at least one must be advertised (BODY=7BIT: 8BITMIME or
    /// BINARYMIME).
    pub needs_any: &'static [Ext],
    /// It is valid only inside TLS (RFC 8689 §4.1).
    pub needs_tls: bool,
}

/// The rules of every parameter, in the order they are checked.
pub const PARAMS: &[ParamRule] = &[
    ParamRule {
        param: Param::Size,
        name: "SIZE",
        shown: "SIZE",
        verb: Verb::Mail,
        needs_any: &[Ext::Size],
        needs_tls: false,
    },
    ParamRule {
        param: Param::BodyBinaryMime,
        name: "BODY=BINARYMIME",
        shown: "BODY=BINARYMIME",
        verb: Verb::Mail,
        needs_any: &[Ext::BinaryMime],
        needs_tls: false,
    },
    ParamRule {
        param: Param::Body8BitMime,
        name: "BODY",
        shown: "BODY=8BITMIME",
        verb: Verb::Mail,
        needs_any: &[Ext::EightBitMime, Ext::BinaryMime],
        needs_tls: false,
    },
    ParamRule {
        param: Param::Body7Bit,
        name: "BODY",
        shown: "BODY=7BIT",
        verb: Verb::Mail,
        needs_any: &[Ext::EightBitMime, Ext::BinaryMime],
        needs_tls: false,
    },
    ParamRule {
        param: Param::SmtpUtf8,
        name: "SMTPUTF8",
        shown: "SMTPUTF8",
        verb: Verb::Mail,
        needs_any: &[Ext::SmtpUtf8],
        needs_tls: false,
    },
    ParamRule {
        param: Param::Auth,
        name: "AUTH",
        shown: "AUTH",
        verb: Verb::Mail,
        needs_any: &[Ext::Auth],
        needs_tls: false,
    },
    ParamRule {
        param: Param::Ret,
        name: "RET",
        shown: "RET",
        verb: Verb::Mail,
        needs_any: &[Ext::Dsn],
        needs_tls: false,
    },
    ParamRule {
        param: Param::Envid,
        name: "ENVID",
        shown: "ENVID",
        verb: Verb::Mail,
        needs_any: &[Ext::Dsn],
        needs_tls: false,
    },
    ParamRule {
        param: Param::RequireTls,
        name: "REQUIRETLS",
        shown: "REQUIRETLS",
        verb: Verb::Mail,
        needs_any: &[Ext::RequireTls],
        needs_tls: true,
    },
    ParamRule {
        param: Param::Notify,
        name: "NOTIFY",
        shown: "NOTIFY",
        verb: Verb::Rcpt,
        needs_any: &[Ext::Dsn],
        needs_tls: false,
    },
    ParamRule {
        param: Param::Orcpt,
        name: "ORCPT",
        shown: "ORCPT",
        verb: Verb::Rcpt,
        needs_any: &[Ext::Dsn],
        needs_tls: false,
    },
];

/// The rule of `param`.
pub fn param_rule(param: Param) -> &'static ParamRule {
    PARAMS
        .iter()
        .find(|r| r.param == param)
        .unwrap_or(&PARAMS[0])
}

/// Whether `param` may be used in a session whose EHLO reply was `caps` (`None` after
/// HELO: no parameter at all, RFC 5321 §4.1.1.11), inside TLS or not.
pub fn param_allowed(param: Param, caps: Option<&Capabilities>, tls: bool) -> bool {
    let rule = param_rule(param);
    caps.is_some_and(|caps| rule.needs_any.iter().any(|e| e.offered(caps)))
        && (tls || !rule.needs_tls)
}

/// The known parameters of a MAIL command, in table order.
pub fn mail_params(p: &MailParams) -> impl Iterator<Item = Param> + '_ {
    PARAMS
        .iter()
        .map(|r| r.param)
        .filter(move |param| match param {
            Param::Size => p.size.is_some(),
            Param::Body7Bit => p.body == Some(Body::SevenBit),
            Param::Body8BitMime => p.body == Some(Body::EightBitMime),
            Param::BodyBinaryMime => p.body == Some(Body::BinaryMime),
            Param::SmtpUtf8 => p.smtputf8,
            Param::Auth => p.auth.is_some(),
            Param::Ret => p.ret.is_some(),
            Param::Envid => p.envid.is_some(),
            Param::RequireTls => p.requiretls,
            Param::Notify | Param::Orcpt => false,
        })
}

/// The known parameters of a RCPT command, in table order.
pub fn rcpt_params(p: &RcptParams) -> impl Iterator<Item = Param> + '_ {
    PARAMS
        .iter()
        .map(|r| r.param)
        .filter(move |param| match param {
            Param::Notify => p.notify.is_some(),
            Param::Orcpt => p.orcpt.is_some(),
            _ => false,
        })
}

/// The first parameter of `params` the session does not allow (see [`param_allowed`]).
pub fn first_refused(
    mut params: impl Iterator<Item = Param>,
    caps: Option<&Capabilities>,
    tls: bool,
) -> Option<&'static ParamRule> {
    params
        .find(|p| !param_allowed(*p, caps, tls))
        .map(param_rule)
}
