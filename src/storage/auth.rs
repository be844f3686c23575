//! `StaticUsers`: an [`Authenticator`] from a fixed table of users, each with a root
//! (a [`Storage`]) and write permission, plus optional anonymous read-only access.

use std::collections::HashMap;
use std::sync::Arc;

#[cfg(feature = "local-fs")]
use super::local::LocalFs;
use super::{Account, Authenticator, Storage};
use crate::command::Password;
use crate::server::Capabilities;
use crate::text::Text;

/// User names that mean "anonymous", as every FTP client sends them.
const ANONYMOUS_NAMES: [&[u8]; 2] = [b"anonymous", b"ftp"];

/// A fixed table of users, each with a root in a storage back end of type `S` (local
/// directories by default).
///
/// ```no_run
/// use ftp_proto::tokio::{LocalFs, StaticUsers};
/// # fn main() -> std::io::Result<()> {
/// let users = StaticUsers::new()
///     .anonymous(LocalFs::new("/srv/ftp/pub")?)
///     .user("alice", "correct horse", LocalFs::new("/srv/ftp/alice")?, true);
/// # Ok(()) }
/// ```
#[cfg(feature = "local-fs")]
#[derive(Debug, Clone)]
pub struct StaticUsers<S = LocalFs> {
    anonymous: Option<Account<S>>,
    users: HashMap<Vec<u8>, (Vec<u8>, Account<S>)>,
}

/// A fixed table of users, each with a root in a storage back end of type `S` (with
/// feature `local-fs`, `S` defaults to `LocalFs`).
// The same struct as above without the default, which names a type that exists only
// with feature `local-fs`.
#[cfg(not(feature = "local-fs"))]
#[derive(Debug, Clone)]
pub struct StaticUsers<S> {
    anonymous: Option<Account<S>>,
    users: HashMap<Vec<u8>, (Vec<u8>, Account<S>)>,
}

impl<S> Default for StaticUsers<S> {
    fn default() -> Self {
        StaticUsers {
            anonymous: None,
            users: HashMap::new(),
        }
    }
}

impl<S: Storage> StaticUsers<S> {
    /// No users at all.
    pub fn new() -> StaticUsers<S> {
        StaticUsers::default()
    }

    /// Lets anyone log in as `anonymous` or `ftp` (any password), read-only, to `root`.
    pub fn anonymous(mut self, root: S) -> StaticUsers<S> {
        self.anonymous = Some(Account {
            storage: Arc::new(root),
            writable: false,
        });
        self
    }

    /// Adds a user with a password, a root, and whether they may write.
    pub fn user(mut self, name: &str, password: &str, root: S, writable: bool) -> StaticUsers<S> {
        let account = Account {
            storage: Arc::new(root),
            writable,
        };
        self.users.insert(
            name.as_bytes().to_vec(),
            (password.as_bytes().to_vec(), account),
        );
        self
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<S: Storage> Authenticator for StaticUsers<S> {
    type Storage = S;

    /// What every user's storage can do (all of it with no users).
    fn capabilities(&self) -> Capabilities {
        self.anonymous
            .iter()
            .chain(self.users.values().map(|(_, account)| account))
            .fold(Capabilities::ALL, |all, account| {
                all.intersection(account.storage.capabilities())
            })
    }

    async fn authenticate(&self, user: &Text<'_>, password: &Password<'_>) -> Option<Account<S>> {
        if let Some((expected, account)) = self.users.get(user.as_bytes()) {
            return same_secret(expected, password.0.as_bytes()).then(|| account.clone());
        }
        if ANONYMOUS_NAMES.contains(&user.as_bytes()) {
            return self.anonymous.clone();
        }
        None
    }
}
