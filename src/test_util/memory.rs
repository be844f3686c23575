//! [`MemoryFs`]: a file tree in memory that answers a server session's
//! [`Request`]s the way a simple, correct storage back end and authenticator would. It
//! owns the tree and the accounts; it never sees a socket, a clock or a data connection
//! (the [`Pair`](super::Pair) moves transfer bytes in and out of it).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::reply::{Reply, ReplyCode};
use crate::server::{
    self, FileKind, ListingFormat, Metadata, MoreEntries, Request, Response, StorageError,
    VirtualPath, WriteMode,
};
use crate::text::{Pathname, Text};

/// When the files a test sets up were last modified: 2023-11-14 22:13:20 UTC.
pub fn default_modified() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The wall-clock time a fresh [`MemoryFs`] (and a fresh [`Pair`](super::Pair)) takes
/// it is: one hour after [`default_modified`], so that `ls -l` lines show a time of
/// day and parse back to the same instant.
pub fn wall_clock() -> SystemTime {
    default_modified() + Duration::from_secs(3600)
}

/// One node of a [`MemoryFs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory; its entries are the nodes whose path lies directly under it.
    Directory,
    /// A regular file.
    File {
        /// Its bytes.
        data: Vec<u8>,
        /// When it was last written.
        modified: SystemTime,
    },
}

/// A file tree in memory, keyed by virtual path (absolute, normalised, as bytes: names
/// need not be UTF-8), with a few accounts. It answers every [`Request`] a server
/// session asks with [`answer`](Self::answer).
///
/// The accounts: `anonymous` with any password, read-only; `alice` with password
/// `secret` ([`USER`](Self::USER), [`PASSWORD`](Self::PASSWORD)), writable; and any
/// added with [`with_user`](Self::with_user). `HOST ftp.example.com` is accepted and
/// other hosts refused; with [`Config::enable_site`](crate::server::Config::enable_site)
/// every `SITE` command is answered `200 SITE <command> done`.
///
/// What it decides, so that tests and models agree:
/// - `STOR` (and `REST n` + `STOR`) write from byte `n`, keep what lies beyond the new
///   bytes, and pad with NUL when `n` is past the end (a sparse file); `APPE` appends;
///   `STOU` picks the name asked for, or the first of that name with `.1`, `.2`...
///   appended that names nothing yet;
/// - a broken upload leaves the bytes received so far, as a disk would;
/// - a rename moves the whole subtree and replaces an existing file; an existing
///   directory as the target is refused (550), moving `/` is refused (550), and moving
///   a directory into itself is refused (553);
/// - a file lists as itself.
#[derive(Clone, Debug)]
pub struct MemoryFs {
    nodes: BTreeMap<Vec<u8>, Node>,
    /// (user, password, writable)
    users: Vec<(Vec<u8>, Vec<u8>, bool)>,
    anonymous: bool,
    now: SystemTime,
}

impl Default for MemoryFs {
    fn default() -> MemoryFs {
        MemoryFs::new()
    }
}

impl MemoryFs {
    /// The writable account every `MemoryFs` knows.
    pub const USER: &'static str = "alice";
    /// The password of [`USER`](Self::USER).
    pub const PASSWORD: &'static str = "secret";
    /// The largest file a write may leave (64 MiB): a `REST` offset far past the end
    /// must not make the test allocate the padding.
    pub const MAX_FILE_SIZE: usize = 64 << 20;

    /// A tree holding only the root directory, with the default accounts.
    pub fn new() -> MemoryFs {
        MemoryFs {
            nodes: [(b"/".to_vec(), Node::Directory)].into(),
            users: vec![(
                Self::USER.as_bytes().to_vec(),
                Self::PASSWORD.as_bytes().to_vec(),
                true,
            )],
            anonymous: true,
            now: wall_clock(),
        }
    }

    /// The same tree with a file at `path` (absolute), modified at
    /// [`default_modified`]. The parent directories are not created: add them with
    /// [`with_dir`](Self::with_dir).
    pub fn with_file(mut self, path: impl AsRef<[u8]>, data: &[u8]) -> MemoryFs {
        self.nodes.insert(
            path.as_ref().to_vec(),
            Node::File {
                data: data.to_vec(),
                modified: default_modified(),
            },
        );
        self
    }

    /// The same tree with a directory at `path` (absolute).
    pub fn with_dir(mut self, path: impl AsRef<[u8]>) -> MemoryFs {
        self.nodes.insert(path.as_ref().to_vec(), Node::Directory);
        self
    }

    /// The same tree with one more account.
    pub fn with_user(mut self, user: &str, password: &str, writable: bool) -> MemoryFs {
        self.users.push((
            user.as_bytes().to_vec(),
            password.as_bytes().to_vec(),
            writable,
        ));
        self
    }

    /// The same tree without the `anonymous` account.
    pub fn without_anonymous(mut self) -> MemoryFs {
        self.anonymous = false;
        self
    }

    /// The bytes of the file at `path`, if there is a file there.
    pub fn file(&self, path: impl AsRef<[u8]>) -> Option<&[u8]> {
        match self.nodes.get(path.as_ref()) {
            Some(Node::File { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// The node at `path`, if any.
    pub fn node(&self, path: impl AsRef<[u8]>) -> Option<&Node> {
        self.nodes.get(path.as_ref())
    }

    /// Every node, by path.
    pub fn nodes(&self) -> &BTreeMap<Vec<u8>, Node> {
        &self.nodes
    }

    /// The wall-clock time the tree takes it is: listings are dated against it and
    /// uploads are stamped with it. The [`Pair`](super::Pair) keeps it in step with
    /// its manual clock.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Sets the wall-clock time (see [`now`](Self::now)).
    pub fn set_now(&mut self, now: SystemTime) {
        self.now = now;
    }

    fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        match self.nodes.get(path.as_bytes()) {
            Some(Node::Directory) => Ok(Metadata::directory(None)),
            Some(Node::File { data, modified }) => {
                Ok(Metadata::file(data.len() as u64, Some(*modified)).with_mode(0o644))
            }
            None => Err(StorageError::NotFound),
        }
    }

    fn is_dir(&self, path: &[u8]) -> bool {
        matches!(self.nodes.get(path), Some(Node::Directory))
    }

    fn children(&self, path: &VirtualPath) -> Vec<(Text<'static>, Metadata)> {
        let prefix = if path.is_root() {
            b"/".to_vec()
        } else {
            [path.as_bytes(), b"/"].concat()
        };
        self.nodes
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix) && key.len() > prefix.len())
            .filter(|(key, _)| !key[prefix.len()..].contains(&b'/'))
            .filter_map(|(key, _)| {
                let child = VirtualPath::root().join(&Pathname::borrowed(key)).ok()?;
                let metadata = self.metadata(&child).ok()?;
                Some((Text::from(key[prefix.len()..].to_vec()), metadata))
            })
            .collect()
    }

    /// Answers one request. Requests that open a transfer only check the path: the
    /// bytes move when the transfer runs ([`read`](Self::read),
    /// [`listing`](Self::listing), [`write`](Self::write)).
    pub fn answer(&mut self, request: &Request) -> Response {
        let result = match request {
            Request::Authenticate { user, password } => {
                let user = user.as_bytes();
                if self.anonymous && user == b"anonymous" {
                    return Response::LoggedIn { writable: false };
                }
                return match self
                    .users
                    .iter()
                    .find(|(name, secret, _)| name == user && secret == password.as_bytes())
                {
                    Some(&(_, _, writable)) => Response::LoggedIn { writable },
                    None => Response::LoginDenied,
                };
            }
            Request::SelectHost { host } if host == "ftp.example.com" => Ok(Response::Done),
            Request::SelectHost { .. } => Err(StorageError::NotFound),
            Request::Metadata { path } => self.metadata(path).map(Response::Metadata),
            Request::ListEntries { path, limit } => match self.metadata(path) {
                Ok(metadata) if metadata.kind == FileKind::Directory => {
                    // Cut at the limit and say exactly how many more: this back end has
                    // them all at hand.
                    let mut entries = self.children(path);
                    let more = entries.len().saturating_sub(*limit);
                    entries.truncate(*limit);
                    Ok(Response::Entries {
                        entries,
                        now: self.now,
                        more: match more {
                            0 => MoreEntries::None,
                            more => MoreEntries::Count(more as u64),
                        },
                    })
                }
                Ok(_) => Err(StorageError::NotADirectory),
                Err(error) => Err(error),
            },
            Request::OpenListing { path, .. } => self.metadata(path).map(|_| Response::Opened {
                size: None,
                unique_name: None,
            }),
            Request::OpenRead { path, offset } => match self.metadata(path) {
                Ok(metadata) if metadata.kind == FileKind::File => Ok(Response::Opened {
                    size: Some(metadata.size.saturating_sub(*offset)),
                    unique_name: None,
                }),
                Ok(_) => Err(StorageError::IsADirectory),
                Err(error) => Err(error),
            },
            Request::OpenWrite { path, mode } => self.open_write(path, *mode),
            Request::Delete { path } => match self.nodes.get(path.as_bytes()) {
                Some(Node::File { .. }) => {
                    self.nodes.remove(path.as_bytes());
                    Ok(Response::Done)
                }
                Some(Node::Directory) => Err(StorageError::IsADirectory),
                None => Err(StorageError::NotFound),
            },
            Request::MakeDirectory { path } => {
                if self.nodes.contains_key(path.as_bytes()) {
                    Err(StorageError::AlreadyExists)
                } else if !self.is_dir(path.parent().as_bytes()) {
                    Err(StorageError::NotFound)
                } else {
                    self.nodes.insert(path.as_bytes().to_vec(), Node::Directory);
                    Ok(Response::Done)
                }
            }
            Request::RemoveDirectory { path } => match self.nodes.get(path.as_bytes()) {
                Some(Node::Directory) if path.is_root() => Err(StorageError::PermissionDenied),
                Some(Node::Directory) if !self.children(path).is_empty() => {
                    Err(StorageError::DirectoryNotEmpty)
                }
                Some(Node::Directory) => {
                    self.nodes.remove(path.as_bytes());
                    Ok(Response::Done)
                }
                Some(_) => Err(StorageError::NotADirectory),
                None => Err(StorageError::NotFound),
            },
            Request::Rename { from, to } => self.rename(from, to),
            Request::SetModified { path, modified } => match self.nodes.get_mut(path.as_bytes()) {
                Some(Node::File { modified: old, .. }) => {
                    *old = *modified;
                    Ok(Response::Done)
                }
                Some(_) => Err(StorageError::IsADirectory),
                None => Err(StorageError::NotFound),
            },
            Request::Site { command } => Ok(Response::Reply(Reply::new(
                ReplyCode::COMMAND_OKAY,
                format!("SITE {command} done"),
            ))),
        };
        result.unwrap_or_else(Response::Failed)
    }

    fn open_write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Response, StorageError> {
        let mut unique_name = None;
        let mut path = path.clone();
        if mode == WriteMode::Unique {
            // The name asked for, else the first of `name.1`, `name.2`... that names
            // nothing yet (neither file nor directory).
            let base = path.as_bytes().to_vec();
            let mut counter = 1;
            while self.nodes.contains_key(path.as_bytes()) {
                let name = [base.as_slice(), format!(".{counter}").as_bytes()].concat();
                path = VirtualPath::root()
                    .join(&Pathname::from(name))
                    .map_err(|_| StorageError::InvalidName)?;
                counter += 1;
            }
            unique_name = Some(path.clone());
        }
        if !self.is_dir(path.parent().as_bytes()) {
            return Err(StorageError::NotFound);
        }
        if self.is_dir(path.as_bytes()) {
            return Err(StorageError::IsADirectory);
        }
        Ok(Response::Opened {
            size: None,
            unique_name,
        })
    }

    fn rename(&mut self, from: &VirtualPath, to: &VirtualPath) -> Result<Response, StorageError> {
        if !self.nodes.contains_key(from.as_bytes()) {
            return Err(StorageError::NotFound);
        }
        if from.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        if from == to {
            return Ok(Response::Done);
        }
        let inside = [from.as_bytes(), b"/"].concat();
        if to.as_bytes().starts_with(&inside) {
            return Err(StorageError::InvalidName);
        }
        if !self.is_dir(to.parent().as_bytes()) {
            return Err(StorageError::NotFound);
        }
        match (self.nodes.get(to.as_bytes()), self.is_dir(from.as_bytes())) {
            (Some(Node::Directory), _) => return Err(StorageError::AlreadyExists),
            (Some(Node::File { .. }), true) => return Err(StorageError::NotADirectory),
            _ => {}
        }
        let moved: Vec<Vec<u8>> = self
            .nodes
            .keys()
            .filter(|key| key.as_slice() == from.as_bytes() || key.starts_with(&inside))
            .cloned()
            .collect();
        for key in moved {
            if let Some(node) = self.nodes.remove(&key) {
                let new_key = [to.as_bytes(), &key[from.as_bytes().len()..]].concat();
                self.nodes.insert(new_key, node);
            }
        }
        Ok(Response::Done)
    }

    /// The bytes of the file at `path` from `offset` (none past the end, none for a
    /// missing file).
    pub fn read(&self, path: &VirtualPath, offset: u64) -> Vec<u8> {
        let data = self.file(path.as_bytes()).unwrap_or_default();
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        data[offset..].to_vec()
    }

    /// The listing of `path` in `format`, as the server sends it on a data connection,
    /// dated against [`now`](Self::now). A file lists as itself; a missing path lists
    /// as nothing.
    pub fn listing(&self, path: &VirtualPath, format: &ListingFormat) -> Vec<u8> {
        let entries = match self.metadata(path) {
            Ok(metadata) if metadata.kind == FileKind::Directory => self.children(path),
            Ok(metadata) => vec![(
                Text::from(path.file_name().unwrap_or_default().to_vec()),
                metadata,
            )],
            Err(_) => Vec::new(),
        };
        let mut out = Vec::new();
        for (name, metadata) in &entries {
            server::format_entry(format, name.as_bytes(), metadata, self.now, &mut out);
        }
        out
    }

    /// Writes `data` to the file at `path` as `mode` says (see the type's docs), stamped
    /// [`now`](Self::now). A file would grow past [`MAX_FILE_SIZE`](Self::MAX_FILE_SIZE)
    /// (a `REST` far past the end, padded with NUL) is refused, and left as it was.
    pub fn write(
        &mut self,
        path: &VirtualPath,
        mode: WriteMode,
        data: &[u8],
    ) -> Result<(), StorageError> {
        let old = match self.nodes.get(path.as_bytes()) {
            Some(Node::File { data, .. }) => data.clone(),
            _ => Vec::new(),
        };
        let new = match mode {
            WriteMode::Append => [old.as_slice(), data].concat(),
            WriteMode::At(offset) => {
                let offset = usize::try_from(offset).unwrap_or(usize::MAX);
                let end = offset.saturating_add(data.len());
                if end > Self::MAX_FILE_SIZE {
                    return Err(StorageError::InsufficientStorage);
                }
                let mut new = old;
                if new.len() < end {
                    new.resize(end, 0);
                }
                new[offset..end].copy_from_slice(data);
                new
            }
            _ => data.to_vec(),
        };
        self.nodes.insert(
            path.as_bytes().to_vec(),
            Node::File {
                data: new,
                modified: self.now,
            },
        );
        Ok(())
    }
}
