//! Failure injection for `serve`: rules that make chosen commands fail, stall or drop
//! the connection on purpose, so a sender's or a fetcher's retries, back-off and
//! timeouts can be tested against a real server.
//!
//! One rule per line (`--rule`, or a line of `--rules FILE`):
//!
//! ```text
//! rcpt *@slow.example every=3 reply="451 4.7.1 slow down"
//! data-end reply="554 5.6.0 rejected" probability=0.5
//! connect from=10.0.0.0/8 disconnect
//! ehlo *.spam.example reply="550 5.7.1 go away"
//! pop3 retr reply="-ERR [SYS/TEMP] busy"
//! pop3 stat from=127.0.0.1 reply="-ERR [SYS/TEMP] try later"
//! mail sender=*@spam.example delay=2s
//! ```
//!
//! A rule names a phase, then conditions (all must hold), actions and how often it
//! fires. Each rule counts its matches across every session of the server; `every=N`
//! fires at the N-th, 2N-th, ... match, and `probability=P` fires at the k-th match when
//! a hash of (`--seed`, the rule's position, k) falls below P, so a run with the same
//! seed and the same traffic fails the same commands. When several rules match, each
//! counts; the delays of those that fire add up and the first one with a verdict
//! (`reply=`, `disconnect`, `fail`) decides. docs/serve.md has the full grammar.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mailproto_core::pop3::{Limits as Pop3Limits, ResponseCode, Status};
use mailproto_core::smtp::{EnhancedCode, Reply, ReplyCode};
use mailproto_std::Network;

/// Where in a session a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// An SMTP connection was accepted: before the greeting.
    Connect,
    /// SMTP HELO, EHLO or LHLO, before its reply.
    Ehlo,
    /// SMTP AUTH, once the credentials are in.
    Auth,
    /// SMTP MAIL FROM.
    Mail,
    /// SMTP RCPT TO.
    Rcpt,
    /// SMTP DATA before the `354` (or the first BDAT chunk): the body starts.
    Data,
    /// The end of an SMTP message: the reply that accepts or refuses it.
    DataEnd,
    /// A POP3 login: USER/PASS, APOP or AUTH, decided when the credentials are in.
    Pop3Login,
    /// POP3 RETR or TOP: a message is opened.
    Pop3Retr,
    /// POP3 QUIT in the TRANSACTION state: the UPDATE that removes deleted messages.
    Pop3Quit,
    /// A POP3 command the server answers from the listing: USER, CAPA, STAT, LIST,
    /// UIDL, DELE, NOOP, RSET.
    Pop3Command(Pop3Verb),
}

/// The POP3 commands a `pop3 <command>` rule can name besides login, RETR/TOP and QUIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop3Verb {
    /// `USER name` (the rule's pattern matches the name).
    User,
    /// `CAPA`.
    Capa,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List,
    /// `UIDL [msg]`.
    Uidl,
    /// `DELE msg`.
    Dele,
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
}

impl Pop3Verb {
    /// The verb of a command the engine asks the backend about.
    pub fn of(command: &mailproto_core::pop3::Command) -> Option<Pop3Verb> {
        use mailproto_core::pop3::Command;
        Some(match command {
            Command::User(_) => Pop3Verb::User,
            Command::Capa => Pop3Verb::Capa,
            Command::Stat => Pop3Verb::Stat,
            Command::List(_) => Pop3Verb::List,
            Command::Uidl(_) => Pop3Verb::Uidl,
            Command::Dele(_) => Pop3Verb::Dele,
            Command::Noop => Pop3Verb::Noop,
            Command::Rset => Pop3Verb::Rset,
            _ => return None,
        })
    }
}

impl Phase {
    fn is_pop3(self) -> bool {
        matches!(
            self,
            Phase::Pop3Login | Phase::Pop3Retr | Phase::Pop3Quit | Phase::Pop3Command(_)
        )
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Ehlo => "ehlo",
            Phase::Auth => "auth",
            Phase::Mail => "mail",
            Phase::Rcpt => "rcpt",
            Phase::Data => "data",
            Phase::DataEnd => "data-end",
            Phase::Pop3Login => "pop3 login",
            Phase::Pop3Retr => "pop3 retr",
            Phase::Pop3Quit => "pop3 quit",
            Phase::Pop3Command(verb) => match verb {
                Pop3Verb::User => "pop3 user",
                Pop3Verb::Capa => "pop3 capa",
                Pop3Verb::Stat => "pop3 stat",
                Pop3Verb::List => "pop3 list",
                Pop3Verb::Uidl => "pop3 uidl",
                Pop3Verb::Dele => "pop3 dele",
                Pop3Verb::Noop => "pop3 noop",
                Pop3Verb::Rset => "pop3 rset",
            },
        }
    }
}

/// What a firing rule does besides its delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Answer with this SMTP reply (a `421` closes the session after it).
    Smtp(Reply),
    /// Answer with this POP3 `-ERR`.
    Pop3(Pop3Error),
    /// Close the session: SMTP `421` then the close; POP3 RETR/TOP: `+OK`, then the
    /// connection drops before the message; other POP3 commands: the connection drops
    /// without an answer.
    Disconnect,
    /// Refuse a login as a wrong password is refused (SMTP `535 5.7.8`, POP3
    /// `-ERR [AUTH]`).
    Fail,
}

/// The POP3 answers a rule can give: the ones the backend can ask the engine for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Error {
    /// `-ERR [AUTH]` (a login only).
    Auth,
    /// `-ERR [IN-USE]` (a login only).
    InUse,
    /// `-ERR [SYS/TEMP] <engine's words>: <text>`.
    SysTemp(String),
    /// This `-ERR` as written (the commands of [`Phase::Pop3Command`]).
    Status(Status),
}

/// How often a matching rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    Always,
    Every(u64),
    Probability(f64),
}

/// A case-insensitive pattern: `*` any run of characters, `?` one; `<>` is the null
/// sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<char>);

impl Glob {
    fn new(pattern: &str) -> Glob {
        let pattern = if pattern == "<>" { "" } else { pattern };
        Glob(pattern.chars().flat_map(char::to_lowercase).collect())
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        let p = &self.0;
        let (mut i, mut j) = (0, 0);
        // The last `*` seen and the text position it was tried at: on a mismatch, let it
        // take one more character (linear backtracking, no recursion).
        let mut star: Option<(usize, usize)> = None;
        while i < text.len() {
            if j < p.len() && (p[j] == '?' || p[j] == text[i]) {
                i += 1;
                j += 1;
            } else if j < p.len() && p[j] == '*' {
                star = Some((j, i));
                j += 1;
            } else if let Some((sj, si)) = star {
                j = sj + 1;
                i = si + 1;
                star = Some((sj, si + 1));
            } else {
                return false;
            }
        }
        p[j..].iter().all(|&c| c == '*')
    }
}

/// One rule as parsed.
#[derive(Debug)]
pub struct Rule {
    /// The rule as written (for the log).
    text: String,
    phase: Phase,
    client: Option<Network>,
    user: Option<Glob>,
    sender: Option<Glob>,
    recipient: Option<Glob>,
    helo: Option<Glob>,
    delay: Duration,
    verdict: Option<Verdict>,
    when: When,
    /// Matches so far, across sessions.
    matched: AtomicU64,
}

/// What a session knows when it asks the rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// The client's address.
    pub client: Option<IpAddr>,
    /// The name the SMTP client gave in HELO/EHLO/LHLO.
    pub helo: Option<&'a str>,
    /// The user logging in, or the POP3 session's user.
    pub user: Option<&'a str>,
    /// The MAIL FROM address (`""` for the null sender).
    pub sender: Option<&'a str>,
    /// The recipients: the RCPT being decided, or those accepted so far.
    pub recipients: &'a [String],
}

/// What the rules decided for one command.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    /// Wait this long before answering (the delays of every firing rule, added).
    pub delay: Duration,
    /// The answer of the first firing rule that has one; `None`: answer as usual.
    pub verdict: Option<Verdict>,
    /// The rules that fired, as written (for the log).
    pub fired: Vec<String>,
}

impl Decision {
    /// Whether no rule fired.
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
    }
}

/// The rules of one server, shared by all its sessions.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    seed: u64,
}

/// A rule that does not parse: the rule and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    rule: String,
    why: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rule: String = self.rule.chars().take(120).collect();
        if rule.len() < self.rule.len() {
            rule.push_str("...");
        }
        write!(f, "failure rule `{rule}`: {}", self.why)
    }
}

impl std::error::Error for RuleError {}

impl Rules {
    /// The rules, in order, with `seed` for their probabilities.
    pub fn new(rules: Vec<Rule>, seed: u64) -> Rules {
        Rules { rules, seed }
    }

    /// Parse the lines of a rules file: one rule per line, blank lines and `#` comments
    /// skipped. Errors name the line number.
    pub fn parse_file(text: &str) -> Result<Vec<Rule>, String> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            rules.push(Rule::parse(line).map_err(|e| format!("line {}: {e}", n + 1))?);
        }
        Ok(rules)
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The seed of the probabilities.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether any rule fires by chance (the seed then matters).
    pub fn uses_probability(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.when, When::Probability(_)))
    }

    /// Whether any rule applies at `phase`.
    pub fn has(&self, phase: Phase) -> bool {
        self.rules.iter().any(|r| r.phase == phase)
    }

    /// Count a match of every rule that matches `phase` in `context`, and decide.
    pub fn decide(&self, phase: Phase, context: &Context<'_>) -> Decision {
        let mut decision = Decision::default();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.phase != phase || !rule.matches(context) {
                continue;
            }
            let k = rule.matched.fetch_add(1, Ordering::Relaxed) + 1;
            let fires = match rule.when {
                When::Always => true,
                When::Every(n) => k % n == 0,
                When::Probability(p) => unit(self.seed, index as u64, k) < p,
            };
            if !fires {
                continue;
            }
            decision.delay += rule.delay;
            if decision.verdict.is_none() {
                decision.verdict = rule.verdict.clone();
            }
            decision.fired.push(rule.text.clone());
        }
        decision
    }
}

/// A number in [0, 1) from the seed, the rule's position and its match count:
/// SplitMix64 (Steele, Lea, Flood 2014) over the three mixed together.
fn unit(seed: u64, rule: u64, k: u64) -> f64 {
    let mut x =
        seed ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03);
    for _ in 0..2 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Rule {
    /// Parse one rule.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let err = |why: String| RuleError {
            rule: text.to_string(),
            why,
        };
        let words = split_words(text).map_err(err)?;
        let mut words = words.into_iter();
        let first = words
            .next()
            .ok_or_else(|| err("empty rule: it starts with a phase, e.g. `rcpt`".into()))?;
        let phase = match first.to_ascii_lowercase().as_str() {
            "pop3" => {
                let command = words.next().unwrap_or_default();
                pop3_phase(&command).map_err(err)?
            }
            word => smtp_phase(word).map_err(err)?,
        };
        let mut rule = Rule {
            text: text.to_string(),
            phase,
            client: None,
            user: None,
            sender: None,
            recipient: None,
            helo: None,
            delay: Duration::ZERO,
            verdict: None,
            when: When::Always,
            matched: AtomicU64::new(0),
        };
        let mut when_given = false;
        for word in words {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
                None => (word.to_ascii_lowercase(), None),
            };
            match (key.as_str(), value) {
                ("always", None) => rule.set_when(When::Always, &mut when_given)?,
                ("every", Some(v)) => {
                    let n = v
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| err(format!("every={v}: a whole number from 1")))?;
                    rule.set_when(When::Every(n), &mut when_given)?;
                }
                ("probability", Some(v)) => {
                    let p = v
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| err(format!("probability={v}: a number from 0 to 1")))?;
                    rule.set_when(When::Probability(p), &mut when_given)?;
                }
                ("delay", Some(v)) => rule.delay = parse_duration(&v).map_err(err)?,
                ("reply", Some(v)) => {
                    let verdict = if phase.is_pop3() {
                        Verdict::Pop3(parse_pop3_reply(phase, &v).map_err(err)?)
                    } else {
                        Verdict::Smtp(parse_smtp_reply(phase, &v).map_err(err)?)
                    };
                    rule.set_verdict(verdict)?;
                }
                ("disconnect", None) => rule.set_verdict(Verdict::Disconnect)?,
                ("fail", None) => rule.set_verdict(Verdict::Fail)?,
                ("from" | "client", Some(v)) => {
                    rule.client = Some(v.parse::<Network>().map_err(err)?);
                }
                ("user", Some(v)) => rule.user = Some(Glob::new(&v)),
                ("sender", Some(v)) => rule.sender = Some(Glob::new(&v)),
                ("to" | "rcpt", Some(v)) => rule.recipient = Some(Glob::new(&v)),
                ("helo" | "ehlo", Some(v)) => rule.helo = Some(Glob::new(&v)),
                (_, Some(_)) => return Err(err(format!("unknown setting `{key}=`"))),
                (_, None) => rule.set_address(&word)?,
            }
        }
        rule.check()?;
        Ok(rule)
    }

    fn error(&self, why: impl Into<String>) -> RuleError {
        RuleError {
            rule: self.text.clone(),
            why: why.into(),
        }
    }

    fn set_when(&mut self, when: When, given: &mut bool) -> Result<(), RuleError> {
        if std::mem::replace(given, true) {
            return Err(self.error("give one of always, every=N, probability=P"));
        }
        self.when = when;
        Ok(())
    }

    fn set_verdict(&mut self, verdict: Verdict) -> Result<(), RuleError> {
        if self.verdict.is_some() {
            return Err(self.error("give one of reply=, disconnect, fail"));
        }
        self.verdict = Some(verdict);
        Ok(())
    }

    /// A bare word: the phase's own address pattern.
    fn set_address(&mut self, word: &str) -> Result<(), RuleError> {
        let glob = Some(Glob::new(word));
        let slot = match self.phase {
            Phase::Mail => &mut self.sender,
            Phase::Rcpt | Phase::Data | Phase::DataEnd => &mut self.recipient,
            Phase::Ehlo => &mut self.helo,
            Phase::Auth
            | Phase::Pop3Login
            | Phase::Pop3Retr
            | Phase::Pop3Quit
            | Phase::Pop3Command(_) => &mut self.user,
            Phase::Connect => {
                return Err(self.error(format!(
                    "`{word}`: a connect rule matches the client only (from=NETWORK)"
                )));
            }
        };
        if slot.is_some() {
            return Err(self.error(format!("`{word}`: the address pattern is given twice")));
        }
        *slot = glob;
        Ok(())
    }

    /// Refuse what the phase cannot see or do.
    fn check(&self) -> Result<(), RuleError> {
        let phase = self.phase;
        let name = phase.name();
        if self.delay.is_zero() && self.verdict.is_none() {
            return Err(self.error("no action: give reply=, delay=, disconnect or fail"));
        }
        let sees_helo = !phase.is_pop3() && phase != Phase::Connect;
        if self.helo.is_some() && !sees_helo {
            return Err(self.error(format!("helo=: {name} comes before (or without) EHLO")));
        }
        let sees_user = matches!(phase, Phase::Auth) || phase.is_pop3();
        if self.user.is_some() && !sees_user {
            return Err(self.error(format!("user=: {name} does not know the user")));
        }
        let sees_sender = matches!(
            phase,
            Phase::Mail | Phase::Rcpt | Phase::Data | Phase::DataEnd
        );
        if self.sender.is_some() && !sees_sender {
            return Err(self.error(format!("sender=: {name} does not know the sender")));
        }
        let sees_recipients = matches!(phase, Phase::Rcpt | Phase::Data | Phase::DataEnd);
        if self.recipient.is_some() && !sees_recipients {
            return Err(self.error(format!("to=: {name} does not know the recipients")));
        }
        match (&self.verdict, phase) {
            (Some(Verdict::Fail), Phase::Auth | Phase::Pop3Login) => {}
            (Some(Verdict::Fail), _) => {
                return Err(self.error("fail: only for auth and pop3 login"));
            }
            (Some(Verdict::Disconnect), Phase::Pop3Login | Phase::Pop3Quit) => {
                return Err(self.error(format!(
                    "disconnect: {name} cannot close the connection (the backend answers \
                     a login or UPDATE, it cannot end the session); use reply= or fail"
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether every condition holds in `context`.
    fn matches(&self, context: &Context<'_>) -> bool {
        let client = match (&self.client, context.client) {
            (None, _) => true,
            (Some(net), Some(ip)) => net.contains(ip),
            (Some(_), None) => false,
        };
        let glob = |g: &Option<Glob>, value: Option<&str>| match (g, value) {
            (None, _) => true,
            (Some(g), Some(v)) => g.matches(v),
            (Some(_), None) => false,
        };
        let recipient = match &self.recipient {
            None => true,
            Some(g) => context.recipients.iter().any(|r| g.matches(r)),
        };
        client
            && recipient
            && glob(&self.user, context.user)
            && glob(&self.sender, context.sender)
            && glob(&self.helo, context.helo)
    }
}

fn smtp_phase(word: &str) -> Result<Phase, String> {
    Ok(match word {
        "connect" => Phase::Connect,
        "auth" => Phase::Auth,
        "mail" => Phase::Mail,
        "rcpt" => Phase::Rcpt,
        "data" => Phase::Data,
        "data-end" | "end-of-data" | "eod" => Phase::DataEnd,
        "ehlo" | "helo" | "lhlo" => Phase::Ehlo,
        _ => {
            return Err(format!(
                "unknown phase `{word}`: connect, ehlo, auth, mail, rcpt, data, data-end, \
                 or pop3 login|user|capa|stat|list|uidl|dele|noop|rset|retr|top|quit"
            ));
        }
    })
}

fn pop3_phase(word: &str) -> Result<Phase, String> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "login" | "pass" | "auth" | "apop" => Phase::Pop3Login,
        "retr" | "top" => Phase::Pop3Retr,
        "quit" | "update" => Phase::Pop3Quit,
        "user" => Phase::Pop3Command(Pop3Verb::User),
        "capa" => Phase::Pop3Command(Pop3Verb::Capa),
        "stat" => Phase::Pop3Command(Pop3Verb::Stat),
        "list" => Phase::Pop3Command(Pop3Verb::List),
        "uidl" => Phase::Pop3Command(Pop3Verb::Uidl),
        "dele" => Phase::Pop3Command(Pop3Verb::Dele),
        "noop" => Phase::Pop3Command(Pop3Verb::Noop),
        "rset" => Phase::Pop3Command(Pop3Verb::Rset),
        "" => return Err("pop3: name the command, e.g. `pop3 retr`".into()),
        other => {
            return Err(format!(
                "unknown POP3 phase `{other}`: login (PASS, APOP, AUTH), user, capa, stat, \
                 list, uidl, dele, noop, rset, retr, top, quit"
            ));
        }
    })
}

/// `451 4.7.1 slow down`, `554 rejected`: a 4xx or 5xx code, an optional enhanced code
/// of the same class, the text.
fn parse_smtp_reply(phase: Phase, value: &str) -> Result<Reply, String> {
    let bad = |why: &str| format!("reply={value:?}: {why}");
    let (code, rest) = value.split_once(' ').unwrap_or((value, ""));
    let code = code
        .parse::<u16>()
        .ok()
        .and_then(ReplyCode::new)
        .filter(|c| matches!(c.class(), 4 | 5))
        .ok_or_else(|| bad("an SMTP reply starts with a 4xx or 5xx code"))?;
    let rest = rest.trim_start();
    let (enhanced, text) = match rest.split_once(' ').unwrap_or((rest, "")) {
        (first, text) if first.contains('.') => {
            let e = EnhancedCode::parse(first)
                .ok_or_else(|| bad("the enhanced code is class.subject.detail, e.g. 4.7.1"))?;
            (Some(e), text.trim_start())
        }
        _ => (None, rest),
    };
    let text = if text.is_empty() {
        format!("Error: refused by failure rule ({})", phase.name())
    } else {
        text.to_string()
    };
    let reply = Reply::new(code, enhanced, &text);
    reply
        .encode(&mut Vec::new())
        .map_err(|e| bad(&e.to_string()))?;
    Ok(reply)
}

/// `-ERR [SYS/TEMP] busy`, `-ERR [AUTH]`, `-ERR [IN-USE]`: the answers the backend can
/// give at `phase`.
fn parse_pop3_reply(phase: Phase, value: &str) -> Result<Pop3Error, String> {
    let bad = |why: &str| format!("reply={value:?}: {why}");
    let rest = value
        .strip_prefix("-ERR")
        .ok_or_else(|| bad("a POP3 reply starts with -ERR"))?
        .trim_start();
    let (code, text) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((code, text)) => (code.to_ascii_uppercase(), text.trim()),
        None => (String::new(), rest),
    };
    if let Phase::Pop3Command(_) = phase {
        // The backend's -ERR goes out as written.
        let status = Status::parse(value.as_bytes(), &Pop3Limits::default())
            .map_err(|e| bad(&e.to_string()))?;
        if status.is_ok() {
            return Err(bad("a POP3 reply starts with -ERR"));
        }
        return Ok(Pop3Error::Status(status));
    }
    let login = phase == Phase::Pop3Login;
    let error = match code.as_str() {
        "AUTH" if login => Pop3Error::Auth,
        "IN-USE" if login => Pop3Error::InUse,
        "SYS/TEMP" => {
            let text = if text.is_empty() { "busy" } else { text };
            Status::err(text)
                .with_code(ResponseCode::SysTemp)
                .encode(&mut Vec::new())
                .map_err(|e| bad(&e.to_string()))?;
            Pop3Error::SysTemp(text.to_string())
        }
        _ if login => {
            return Err(bad(
                "a login can answer -ERR [AUTH], -ERR [IN-USE] or -ERR [SYS/TEMP] text",
            ));
        }
        _ => {
            return Err(bad(&format!(
                "{} can answer -ERR [SYS/TEMP] text only (the backend reports an error, \
                 the engine words the reply)",
                phase.name()
            )));
        }
    };
    Ok(error)
}

/// `500ms`, `2s`, `1.5s`, `1m`; a bare number is seconds.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let (number, unit) = match value.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => value.split_at(at),
        None => (value, "s"),
    };
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("delay={value}: a duration such as 500ms, 2s or 1m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        _ => return Err(format!("delay={value}: the unit is ms, s or m")),
    };
    if secs > 3600.0 {
        return Err(format!("delay={value}: at most an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Split on spaces, keeping `"..."` and `'...'` together (the quotes removed, `\"` and
/// `\\` unescaped inside double quotes), so `reply="451 4.7.1 slow down"` is one word.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err(format!("an unclosed {quote} quote")),
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(e) => word.push(e),
                            None => return Err("a \\ at the end".into()),
                        },
                        Some(other) => word.push(other),
                    }
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lines: &[&str], seed: u64) -> Rules {
        Rules::new(
            lines.iter().map(|l| Rule::parse(l).unwrap()).collect(),
            seed,
        )
    }

    fn rcpt(to: &str) -> Vec<String> {
        vec![to.to_string()]
    }

    #[test]
    fn globs_match_whole_addresses_case_insensitively() {
        let g = Glob::new("*@slow.example");
        assert!(g.matches("a@slow.example"));
        assert!(g.matches("A.B@SLOW.example"));
        assert!(!g.matches("a@slow.example.org"));
        assert!(Glob::new("a?c*@*").matches("abc@x"));
        assert!(!Glob::new("a?c*@*").matches("ac@x"));
        assert!(Glob::new("*a*b*c").matches("xxaybzzc"));
        assert!(Glob::new("<>").matches(""));
        assert!(!Glob::new("<>").matches("a@b"));
    }

    #[test]
    fn the_examples_parse() {
        let r = Rule::parse(r#"rcpt *@slow.example every=3 reply="451 4.7.1 slow down""#).unwrap();
        assert_eq!(r.phase, Phase::Rcpt);
        assert_eq!(r.when, When::Every(3));
        let reply = match r.verdict {
            Some(Verdict::Smtp(reply)) => reply,
            other => panic!("{other:?}"),
        };
        assert_eq!(reply.to_string(), "451 4.7.1 slow down");
        let r = Rule::parse(r#"data-end reply="554 5.6.0 rejected" probability=0.5"#).unwrap();
        assert_eq!(r.when, When::Probability(0.5));
        let r = Rule::parse("connect from=10.0.0.0/8 disconnect").unwrap();
        assert_eq!(r.verdict, Some(Verdict::Disconnect));
        let r = Rule::parse(r#"pop3 retr reply="-ERR [SYS/TEMP] busy""#).unwrap();
        assert_eq!(
            r.verdict,
            Some(Verdict::Pop3(Pop3Error::SysTemp("busy".into())))
        );
        let r = Rule::parse("mail sender=*@spam.example delay=1.5s").unwrap();
        assert_eq!(r.delay, Duration::from_millis(1500));
        let r = Rule::parse("pop3 login bob fail").unwrap();
        assert_eq!(r.verdict, Some(Verdict::Fail));
    }

    #[test]
    fn what_a_phase_cannot_do_is_refused_with_the_reason() {
        for (rule, why) in [
            ("pop3 login disconnect", "cannot close"),
            ("pop3 quit disconnect", "cannot close"),
            ("pop3 stat reply=\"+OK fine\"", "-ERR"),
            ("connect helo=*.x delay=1s", "before"),
            ("pop3 stat helo=*.x delay=1s", "before"),
            (
                "mail to=*@x reply=\"451 x\"",
                "does not know the recipients",
            ),
            ("rcpt *@x", "no action"),
            ("rcpt reply=\"250 ok\"", "4xx or 5xx"),
            ("rcpt reply=\"451 5.1.1 x\"", "class"),
            ("rcpt every=0 reply=\"451 x\"", "from 1"),
            ("rcpt every=2 probability=0.5 reply=\"451 x\"", "one of"),
            ("rcpt reply=\"451 x\" disconnect", "one of"),
            ("pop3 retr reply=\"-ERR [AUTH] no\"", "SYS/TEMP"),
            ("rcpt reply=\"451 unclosed", "unclosed"),
            ("connect *@x delay=1s", "client only"),
            ("rcpt delay=61m", "an hour"),
        ] {
            let e = Rule::parse(rule).unwrap_err().to_string();
            assert!(e.contains(why), "{rule}: {e}");
        }
    }

    #[test]
    fn the_phases_with_engine_hooks_parse() {
        let r = Rule::parse(r#"ehlo *.spam.example reply="550 5.7.1 go away""#).unwrap();
        assert_eq!(r.phase, Phase::Ehlo);
        let r = Rule::parse(r#"auth reply="454 4.7.0 temporary authentication failure""#).unwrap();
        assert!(matches!(r.verdict, Some(Verdict::Smtp(_))));
        assert_eq!(
            Rule::parse("auth disconnect").unwrap().verdict,
            Some(Verdict::Disconnect)
        );
        let r = Rule::parse(r#"pop3 stat from=127.0.0.1 reply="-ERR [SYS/TEMP] later""#).unwrap();
        assert_eq!(r.phase, Phase::Pop3Command(Pop3Verb::Stat));
        let status = Status::err("later").with_code(ResponseCode::SysTemp);
        assert_eq!(r.verdict, Some(Verdict::Pop3(Pop3Error::Status(status))));
        let r = Rule::parse("pop3 user bob disconnect").unwrap();
        assert_eq!(r.phase, Phase::Pop3Command(Pop3Verb::User));
        let r = Rule::parse("pop3 dele reply=\"-ERR no\"").unwrap();
        assert_eq!(
            r.verdict,
            Some(Verdict::Pop3(Pop3Error::Status(Status::err("no"))))
        );
        let r = Rule::parse("mail helo=*.example reply=\"451 x\"").unwrap();
        assert!(r.helo.is_some());
    }

    #[test]
    fn ehlo_patterns_match_the_greeting_name() {
        let r = rules(&[r#"ehlo *.spam.example reply="550 5.7.1 no""#], 0);
        let from = |helo| Context {
            helo: Some(helo),
            ..Context::default()
        };
        assert!(!r.decide(Phase::Ehlo, &from("mx.spam.example")).is_empty());
        assert!(r.decide(Phase::Ehlo, &from("mx.ham.example")).is_empty());
    }

    #[test]
    fn every_n_counts_matches_only() {
        let r = rules(
            &[r#"rcpt *@slow.example every=3 reply="451 4.7.1 slow down""#],
            0,
        );
        let fired: Vec<bool> = (0..7)
            .map(|i| {
                let to = if i % 2 == 0 {
                    "a@slow.example"
                } else {
                    "a@fast.example"
                };
                let to = rcpt(to);
                let c = Context {
                    recipients: &to,
                    ..Context::default()
                };
                r.decide(Phase::Rcpt, &c).verdict.is_some()
            })
            .collect();
        // Matches at 0, 2, 4, 6: the third (index 4) fires.
        assert_eq!(fired, [false, false, false, false, true, false, false]);
    }

    #[test]
    fn a_seeded_probability_repeats_and_varies_with_the_seed() {
        let pattern = |seed| {
            let r = rules(&[r#"rcpt probability=0.5 reply="451 4.3.0 maybe""#], seed);
            let to = rcpt("a@b");
            let c = Context {
                recipients: &to,
                ..Context::default()
            };
            (0..64)
                .map(|_| r.decide(Phase::Rcpt, &c).verdict.is_some())
                .collect::<Vec<bool>>()
        };
        assert_eq!(pattern(7), pattern(7));
        assert_ne!(pattern(7), pattern(8));
        let fired = pattern(7).iter().filter(|f| **f).count();
        assert!((16..=48).contains(&fired), "{fired} of 64");
    }

    #[test]
    fn delays_add_up_and_the_first_verdict_wins() {
        let r = rules(
            &[
                "mail delay=1s",
                r#"mail reply="451 4.7.1 first""#,
                r#"mail delay=500ms reply="554 5.7.1 second""#,
            ],
            0,
        );
        let d = r.decide(
            Phase::Mail,
            &Context {
                sender: Some("x@y"),
                ..Context::default()
            },
        );
        assert_eq!(d.delay, Duration::from_millis(1500));
        match d.verdict {
            Some(Verdict::Smtp(reply)) => assert_eq!(reply.code.get(), 451),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.fired.len(), 3);
    }

    #[test]
    fn client_networks_and_senders_filter() {
        let r = rules(
            &[
                "connect from=10.0.0.0/8 disconnect",
                "mail <> reply=\"550 5.7.1 no bounces\"",
            ],
            0,
        );
        let inside = Context {
            client: Some("10.1.2.3".parse().unwrap()),
            ..Context::default()
        };
        let outside = Context {
            client: Some("127.0.0.1".parse().unwrap()),
            ..Context::default()
        };
        assert!(!r.decide(Phase::Connect, &inside).is_empty());
        assert!(r.decide(Phase::Connect, &outside).is_empty());
        let null = Context {
            sender: Some(""),
            ..Context::default()
        };
        assert!(!r.decide(Phase::Mail, &null).is_empty());
    }

    #[test]
    fn a_rules_file_skips_comments_and_names_the_bad_line() {
        let text = "# slow domain\n\nrcpt *@slow.example reply=\"451 x\"\n  # indented\n";
        assert_eq!(Rules::parse_file(text).unwrap().len(), 1);
        let e = Rules::parse_file("rcpt delay=1s\nbogus x\n").unwrap_err();
        assert!(e.starts_with("line 2: "), "{e}");
    }
}
