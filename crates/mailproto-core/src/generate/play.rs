//! Running a player against a server in a `testing::Pair` (features `testing` and
//! `arbitrary` or `proptest`).

use super::player::Player;
use crate::machine::{Io, Machine};
use crate::testing::Pair;
use crate::time::{Duration, Instant};

/// More rounds than any script needs: a server that keeps asking for time without
/// ever closing stops here.
const MAX_ROUNDS: usize = 100_000;

/// Play the client's script against the server to the end, handing every server event
/// to `on_server` (which answers through the machine it is given, at the time it is
/// given, as `Pair::drive` does).
///
/// The pair's virtual clock moves through the script's pauses, and whenever the player
/// waits for an answer that has not come (the server waits for octets that will not
/// arrive, or holds a reply) to the server's next deadline, so deadlines fire as they
/// would on a real connection, without sleeping. Returns when the player is done and
/// the server closed, or when nothing is left to happen. The client's events stay in
/// its log ([`SmtpPlayer::exchanges`](super::SmtpPlayer::exchanges), ...).
pub fn play<P: Player, S: Machine>(
    pair: &mut Pair<P, S>,
    mut on_server: impl FnMut(&mut S, Instant, S::Event),
) {
    for _ in 0..MAX_ROUNDS {
        pair.drive(|_, _, _| {}, &mut on_server);
        if let Some(pause) = pair.client.pause() {
            pair.advance(pause);
            pair.client.resume();
            continue;
        }
        if pair.client.is_done() && pair.server.io() == Io::Closed {
            return;
        }
        let Some(at) = pair.server.poll_timeout() else {
            return;
        };
        let wait = at.saturating_duration_since(pair.now());
        pair.advance(wait.max(Duration::from_millis(1)));
    }
}
