//! `StaticUsers`: an [`Authenticator`] from a fixed table of users, each with a root
//! directory and write permission, plus optional anonymous read-only access.

use std::collections::HashMap;
use std::sync::Arc;

use super::local::LocalFs;
use super::storage::{Account, Authenticator};
use crate::command::Password;
use crate::server::Capabilities;
use crate::text::Text;

/// User names that mean "anonymous", as every FTP client sends them.
const ANONYMOUS_NAMES: [&[u8]; 2] = [b"anonymous", b"ftp"];

/// A fixed table of users over local directories.
///
/// ```no_run
/// use ftp_proto::tokio::{LocalFs, StaticUsers};
/// # fn main() -> std::io::Result<()> {
/// let users = StaticUsers::new()
///     .anonymous(LocalFs::new("/srv/ftp/pub")?)
///     .user("alice", "correct horse", LocalFs::new("/srv/ftp/alice")?, true);
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct StaticUsers {
    anonymous: Option<Account<LocalFs>>,
    users: HashMap<Vec<u8>, (Vec<u8>, Account<LocalFs>)>,
}

impl StaticUsers {
    /// No users at all.
    pub fn new() -> StaticUsers {
        StaticUsers::default()
    }

    /// Lets anyone log in as `anonymous` or `ftp` (any password), read-only, to `root`.
    pub fn anonymous(mut self, root: LocalFs) -> StaticUsers {
        self.anonymous = Some(Account {
            storage: Arc::new(root),
            writable: false,
        });
        self
    }

    /// Adds a user with a password, a root, and whether they may write.
    pub fn user(
        mut self,
        name: &str,
        password: &str,
        root: LocalFs,
        writable: bool,
    ) -> StaticUsers {
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

impl Authenticator for StaticUsers {
    type Storage = LocalFs;

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn authenticate(
        &self,
        user: &Text<'_>,
        password: &Password<'_>,
    ) -> Option<Account<LocalFs>> {
        if let Some((expected, account)) = self.users.get(user.as_bytes()) {
            return same_secret(expected, password.0.as_bytes()).then(|| account.clone());
        }
        if ANONYMOUS_NAMES.contains(&user.as_bytes()) {
            return self.anonymous.clone();
        }
        None
    }
}
