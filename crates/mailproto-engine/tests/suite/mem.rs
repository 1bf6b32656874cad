//! An in-memory POP3 backend for the suite: users with passwords, mailboxes of byte
//! strings, one session per mailbox, deletions applied only at UPDATE.

use std::collections::{HashMap, HashSet};
use std::io::{self, Cursor, Read};
use std::sync::{Arc, Mutex};

use mailproto_engine::pop3_server::{LoginAttempt, LoginError, Pop3Backend, Pop3Mailbox};

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

/// A message an in-memory SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct Stored {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    pub authenticated: Option<String>,
    /// The client's address as the handler was told it.
    pub peer: Option<std::net::SocketAddr>,
}

/// An SMTP handler storing messages in memory: accepts every recipient except local
/// part `nobody`, checks AUTH against one user.
pub struct MemSink {
    pub store: Arc<Mutex<Vec<Stored>>>,
    pub user: (String, String),
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    authenticated: Option<String>,
    peer: Option<std::net::SocketAddr>,
}

impl MemSink {
    /// The client's address, as the factory was given it.
    pub fn with_peer(mut self, peer: Option<std::net::SocketAddr>) -> Self {
        self.peer = peer;
        self
    }

    pub fn new(store: Arc<Mutex<Vec<Stored>>>, user: &str, password: &str) -> Self {
        MemSink {
            store,
            user: (user.into(), password.into()),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            authenticated: None,
            peer: None,
        }
    }
}

impl mailproto_engine::smtp_server::SmtpHandler for MemSink {
    fn authenticate(&mut self, credentials: &mailproto_core::sasl::Credentials) -> bool {
        let ok = credentials.username() == Some(self.user.0.as_str())
            && LoginAttempt::Sasl(credentials).verify(&self.user.1);
        if ok {
            self.authenticated = Some(self.user.0.clone());
        }
        ok
    }
    fn mail(
        &mut self,
        from: &mailproto_core::smtp::ReversePath,
        _params: &mailproto_core::smtp::MailParams,
    ) -> Result<(), mailproto_core::smtp::Reply> {
        self.from = from.to_string();
        if self.from.starts_with("<later@") {
            return Err(mailproto_engine::smtp_server::reply(
                451,
                (4, 3, 0),
                "try again later",
            ));
        }
        Ok(())
    }
    fn rcpt(
        &mut self,
        to: &mailproto_core::smtp::ForwardPath,
        _params: &mailproto_core::smtp::RcptParams,
    ) -> Result<(), mailproto_core::smtp::Reply> {
        let text = to.to_string();
        if text.starts_with("<nobody@") {
            return Err(mailproto_engine::smtp_server::reply(
                550,
                (5, 1, 1),
                "no such user",
            ));
        }
        if text.starts_with("<busy@") {
            return Err(mailproto_engine::smtp_server::reply(
                450,
                (4, 2, 1),
                "mailbox busy",
            ));
        }
        self.to.push(text);
        Ok(())
    }
    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(chunk);
        Ok(())
    }
    fn data_end(&mut self) -> Result<(), mailproto_core::smtp::Reply> {
        self.store.lock().unwrap().push(Stored {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
            authenticated: self.authenticated.clone(),
            peer: self.peer,
        });
        Ok(())
    }
    fn data_abort(&mut self) {
        self.data.clear();
    }
    fn reset(&mut self) {
        self.from.clear();
        self.to.clear();
        self.data.clear();
    }
}
