//! An in-memory POP3 backend for the suite: users with passwords, mailboxes of byte
//! strings, one session per mailbox, deletions applied only at UPDATE.

use std::collections::{HashMap, HashSet};
use std::io::{self, Cursor, Read};
use std::sync::{Arc, Mutex};

use mailproto_std::pop3_server::{LoginAttempt, LoginError, Pop3Backend, Pop3Mailbox};

#[derive(Default)]
struct Store {
    passwords: HashMap<String, String>,
    boxes: HashMap<String, Vec<(String, Vec<u8>)>>,
    locked: HashSet<String>,
}

/// Shared by the server and the test, which inspects it.
#[derive(Clone, Default)]
pub struct MemBackend {
    store: Arc<Mutex<Store>>,
}

impl MemBackend {
    /// A backend with one user and these messages (unique ids `m1`, `m2`, ...).
    pub fn with_user(user: &str, password: &str, messages: &[&[u8]]) -> Self {
        let backend = MemBackend::default();
        {
            let mut store = backend.store.lock().unwrap();
            store.passwords.insert(user.into(), password.into());
            let msgs = messages
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("m{}", i + 1), m.to_vec()))
                .collect();
            store.boxes.insert(user.into(), msgs);
        }
        backend
    }

    /// The unique ids left in `user`'s mailbox.
    pub fn uids(&self, user: &str) -> Vec<String> {
        let store = self.store.lock().unwrap();
        store.boxes[user].iter().map(|(u, _)| u.clone()).collect()
    }
}

/// A locked mailbox snapshot.
pub struct MemMailbox {
    user: String,
    messages: Vec<(String, Vec<u8>)>,
    store: Arc<Mutex<Store>>,
}

impl Drop for MemMailbox {
    fn drop(&mut self) {
        self.store.lock().unwrap().locked.remove(&self.user);
    }
}

impl Pop3Backend for MemBackend {
    type Mailbox = MemMailbox;

    fn login(&self, attempt: LoginAttempt<'_>) -> Result<MemMailbox, LoginError> {
        let mut store = self.store.lock().unwrap();
        let user = attempt.user().to_string();
        let ok = store
            .passwords
            .get(&user)
            .is_some_and(|secret| attempt.verify(secret));
        if !ok {
            return Err(LoginError::Invalid);
        }
        if !store.locked.insert(user.clone()) {
            return Err(LoginError::InUse);
        }
        let messages = store.boxes.get(&user).cloned().unwrap_or_default();
        Ok(MemMailbox {
            user,
            messages,
            store: self.store.clone(),
        })
    }
}

impl Pop3Mailbox for MemMailbox {
    fn list(&self) -> Vec<(u64, String)> {
        self.messages
            .iter()
            .map(|(uid, m)| (crlf_size(m), uid.clone()))
            .collect()
    }

    fn open(&mut self, index: usize) -> io::Result<Box<dyn Read + Send>> {
        let (_, m) = self.messages.get(index).ok_or(io::ErrorKind::NotFound)?;
        Ok(Box::new(Cursor::new(m.clone())))
    }

    fn delete(&mut self, indexes: &[usize]) -> io::Result<()> {
        let gone: HashSet<String> = indexes
            .iter()
            .filter_map(|i| self.messages.get(*i).map(|(u, _)| u.clone()))
            .collect();
        let mut store = self.store.lock().unwrap();
        if let Some(mailbox) = store.boxes.get_mut(&self.user) {
            mailbox.retain(|(u, _)| !gone.contains(u));
        }
        Ok(())
    }
}

/// Size with every bare LF counted as CRLF.
fn crlf_size(m: &[u8]) -> u64 {
    let bare = m
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' && (*i == 0 || m[i - 1] != b'\r'))
        .count();
    (m.len() + bare) as u64
}
