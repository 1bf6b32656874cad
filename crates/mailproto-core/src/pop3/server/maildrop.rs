//! [`Maildrop`]: the listing the application hands over at login, and the session's
//! deletion marks over it (RFC 1939 §§4-6).

use alloc::vec;
use alloc::vec::Vec;

use crate::pop3::UniqueId;

/// One message of a maildrop: what STAT, LIST and UIDL report about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageInfo {
    /// The exact size in octets as sent by RETR, CRLF line endings counted as two
    /// octets and dot-stuffing not counted (RFC 1939 §11).
    pub size: u64,
    /// The unique-id (RFC 1939 §7), stable across sessions.
    pub uid: UniqueId,
}

impl MessageInfo {
    /// A message of `size` octets with unique-id `uid`.
    pub fn new(size: u64, uid: UniqueId) -> Self {
        MessageInfo { size, uid }
    }
}

/// The messages of a maildrop, in message-number order: the first is message 1
/// (RFC 1939 §4). Handed to [`Server::login_ok`](super::Server::login_ok).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Maildrop {
    /// The messages; index 0 is message number 1.
    pub messages: Vec<MessageInfo>,
}

impl Maildrop {
    /// A maildrop holding these messages.
    pub fn new(messages: Vec<MessageInfo>) -> Self {
        Maildrop { messages }
    }
}

/// Why a message number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// No message has this number.
    NoSuchMessage {
        /// Messages in the maildrop (deleted ones included: numbers never change).
        count: u32,
    },
    /// The message is marked as deleted.
    Deleted,
}

/// A maildrop opened by a session: message numbers never change, deletions are marks
/// until the UPDATE state (RFC 1939 §5).
#[derive(Debug, Clone)]
pub(super) struct OpenMaildrop {
    messages: Vec<MessageInfo>,
    deleted: Vec<bool>,
}

impl OpenMaildrop {
    pub(super) fn new(maildrop: Maildrop) -> Self {
        let deleted = vec![false; maildrop.messages.len()];
        OpenMaildrop {
            messages: maildrop.messages,
            deleted,
        }
    }

    /// Messages in the maildrop, deleted ones included (numbers beyond `u32` are
    /// unreachable by any command and not counted).
    fn count(&self) -> u32 {
        u32::try_from(self.messages.len()).unwrap_or(u32::MAX)
    }

    /// The message `msg` (1-based), if it exists and is not marked as deleted.
    pub(super) fn get(&self, msg: u32) -> Result<&MessageInfo, Lookup> {
        let index = usize::try_from(msg.wrapping_sub(1)).unwrap_or(usize::MAX);
        let no_such = Lookup::NoSuchMessage {
            count: self.count(),
        };
        if msg == 0 {
            return Err(no_such);
        }
        match (self.messages.get(index), self.deleted.get(index)) {
            (Some(_), Some(true)) => Err(Lookup::Deleted),
            (Some(info), _) => Ok(info),
            (None, _) => Err(no_such),
        }
    }

    /// Mark `msg` as deleted (RFC 1939 §5 DELE).
    pub(super) fn delete(&mut self, msg: u32) -> Result<(), Lookup> {
        self.get(msg)?;
        let index = usize::try_from(msg - 1).unwrap_or(usize::MAX);
        if let Some(mark) = self.deleted.get_mut(index) {
            *mark = true;
        }
        Ok(())
    }

    /// Unmark every message (RFC 1939 §5 RSET).
    pub(super) fn reset(&mut self) {
        self.deleted.iter_mut().for_each(|d| *d = false);
    }

    /// The messages not marked as deleted, with their numbers.
    pub(super) fn live(&self) -> impl Iterator<Item = (u32, &MessageInfo)> {
        self.messages
            .iter()
            .zip(&self.deleted)
            .zip(1..=u32::MAX)
            .filter(|((_, deleted), _)| !**deleted)
            .map(|((info, _), msg)| (msg, info))
    }

    /// Number and total size of the messages not marked as deleted (RFC 1939 §5 STAT).
    pub(super) fn stat(&self) -> (u32, u64) {
        self.live().fold((0u32, 0u64), |(n, size), (_, info)| {
            (n.saturating_add(1), size.saturating_add(info.size))
        })
    }

    /// The numbers of the messages marked as deleted, increasing.
    pub(super) fn deleted(&self) -> Vec<u32> {
        self.deleted
            .iter()
            .zip(1..=u32::MAX)
            .filter(|(deleted, _)| **deleted)
            .map(|(_, msg)| msg)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_of(sizes: &[u64]) -> OpenMaildrop {
        let messages = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                MessageInfo::new(size, UniqueId::new(alloc::format!("uid{i}")).unwrap())
            })
            .collect();
        OpenMaildrop::new(Maildrop::new(messages))
    }

    #[test]
    fn numbers_are_stable_and_deletions_are_marks() {
        let mut s = drop_of(&[120, 200, 5]);
        assert_eq!(s.stat(), (3, 325));
        assert_eq!(s.delete(2), Ok(()));
        assert_eq!(s.delete(2), Err(Lookup::Deleted));
        assert_eq!(s.get(2), Err(Lookup::Deleted));
        assert_eq!(s.get(3).map(|i| i.size), Ok(5));
        assert_eq!(s.get(4), Err(Lookup::NoSuchMessage { count: 3 }));
        assert_eq!(s.get(0), Err(Lookup::NoSuchMessage { count: 3 }));
        assert_eq!(s.get(u32::MAX), Err(Lookup::NoSuchMessage { count: 3 }));
        assert_eq!(s.stat(), (2, 125));
        assert_eq!(s.live().map(|(n, _)| n).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(s.deleted(), [2]);
        s.reset();
        assert_eq!(s.stat(), (3, 325));
        assert!(s.deleted().is_empty());
    }

    #[test]
    fn sizes_saturate() {
        let s = drop_of(&[u64::MAX, 1]);
        assert_eq!(s.stat(), (2, u64::MAX));
    }
}
