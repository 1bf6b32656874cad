//! The POP3 server machine under `ask_commands`: the commands it answers itself are put
//! to the application first, and each answer (allow, refuse, close) does what it says.

use mailproto_core::pop3::server::{
    Awaiting, CloseReason, Event, Maildrop, MessageInfo, Server, ServerConfig,
};
use mailproto_core::pop3::{Command, ResponseCode, Status, UniqueId};
use mailproto_core::{Instant, Io, Machine};

const T0: Instant = Instant::ZERO;

fn output(s: &mut Server) -> String {
    let mut out = Vec::new();
    while s.poll_transmit(&mut out) > 0 {}
    s.transmitted(T0, out.len());
    String::from_utf8(out).unwrap()
}

fn events(s: &mut Server) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn config(ask: bool) -> ServerConfig {
    ServerConfig::default()
        .with_plaintext_login(true)
        .with_ask_commands(ask)
}

/// Logged in as `u` with two messages, output taken.
fn logged_in(ask: bool) -> Server {
    let mut s = Server::new(T0, config(ask));
    s.feed(T0, b"USER u\r\n");
    if ask {
        assert!(matches!(&events(&mut s)[..], [Event::Command { .. }]));
        s.command_allow(T0).unwrap();
    }
    s.feed(T0, b"PASS p\r\n");
    assert!(matches!(&events(&mut s)[..], [Event::Login { .. }]));
    let drop = Maildrop::new(vec![
        MessageInfo::new(10, UniqueId::new("a").unwrap()),
        MessageInfo::new(20, UniqueId::new("b").unwrap()),
    ]);
    s.login_ok(T0, drop).unwrap();
    output(&mut s);
    s
}

#[test]
fn without_ask_commands_nothing_is_asked() {
    let mut s = logged_in(false);
    s.feed(T0, b"STAT\r\nDELE 1\r\n");
    assert_eq!(events(&mut s), []);
    assert_eq!(output(&mut s), "+OK 2 30\r\n+OK message 1 deleted\r\n");
}

#[test]
fn an_allowed_command_is_answered_as_usual_and_the_pipeline_goes_on() {
    let mut s = logged_in(true);
    s.feed(T0, b"STAT\r\nLIST 2\r\n");
    assert_eq!(
        events(&mut s),
        [Event::Command {
            command: Command::Stat
        }]
    );
    assert_eq!(s.awaiting(), Awaiting::CommandAnswer);
    assert_eq!(output(&mut s), "", "nothing before the answer");
    s.command_allow(T0).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Command {
            command: Command::List(Some(2))
        }]
    );
    s.command_allow(T0).unwrap();
    assert_eq!(output(&mut s), "+OK 2 30\r\n+OK 2 20\r\n");
}

#[test]
fn a_refused_command_has_no_effect() {
    let mut s = logged_in(true);
    s.feed(T0, b"DELE 1\r\n");
    events(&mut s);
    let busy = Status::err("busy").with_code(ResponseCode::SysTemp);
    s.command_refuse(T0, busy).unwrap();
    assert_eq!(output(&mut s), "-ERR [SYS/TEMP] busy\r\n");
    // C: STAT: message 1 was not marked.
    s.feed(T0, b"STAT\r\n");
    events(&mut s);
    s.command_allow(T0).unwrap();
    assert_eq!(output(&mut s), "+OK 2 30\r\n");
    // A +OK is not a refusal.
    s.feed(T0, b"NOOP\r\n");
    events(&mut s);
    assert!(s.command_refuse(T0, Status::ok("no")).is_err());
}

#[test]
fn a_refused_user_remembers_no_name() {
    let mut s = Server::new(T0, config(true));
    output(&mut s);
    s.feed(T0, b"USER u\r\nPASS p\r\n");
    assert_eq!(
        events(&mut s),
        [Event::Command {
            command: Command::User("u".into())
        }]
    );
    s.command_refuse(T0, Status::err("not today")).unwrap();
    assert_eq!(
        output(&mut s),
        "-ERR not today\r\n-ERR PASS must follow a successful USER\r\n"
    );
}

#[test]
fn command_close_answers_then_closes_without_update() {
    let mut s = logged_in(true);
    s.feed(T0, b"DELE 1\r\n");
    events(&mut s);
    s.command_allow(T0).unwrap();
    s.feed(T0, b"UIDL\r\n");
    events(&mut s);
    s.command_close(T0, Some(Status::err("bye"))).unwrap();
    assert_eq!(output(&mut s), "+OK message 1 deleted\r\n-ERR bye\r\n");
    assert_eq!(
        events(&mut s),
        [Event::Closed {
            reason: CloseReason::Application
        }]
    );
    assert_eq!(s.io(), Io::Closed);
}

#[test]
fn answers_out_of_turn_are_refused() {
    let mut s = logged_in(true);
    assert!(s.command_allow(T0).is_err());
    assert!(s.command_refuse(T0, Status::err("x")).is_err());
    assert!(s.command_close(T0, None).is_err());
}
