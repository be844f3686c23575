//! The names that tie a client session's operations to their results and data
//! connections: [`OperationId`] and [`OperationKind`]. Errors, events and actions all
//! refer to them, and they refer to nothing, so that the dependency goes one way.

use std::fmt;

/// Names one operation from the moment it is asked for until its
/// [`Event::Completed`](super::Event::Completed). Ids are never reused within a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationId(pub(crate) u64);

impl OperationId {
    /// The id of the greeting, the operation every session starts with.
    pub const GREETING: OperationId = OperationId(0);

    /// The number behind the id, for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which operation failed or finished; errors carry it so that a log line says what
/// the user asked for, not only which command went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OperationKind {
    /// Waiting for the server's 220.
    Greeting,
    /// `HOST`.
    Host,
    /// `USER`/`PASS`/`ACCT`, with `AUTH TLS`, `PBSZ`, `PROT` when TLS is wanted.
    Login,
    /// `FEAT`, then `OPTS UTF8 ON` when advertised.
    Features,
    /// `CWD`.
    ChangeDirectory,
    /// `CDUP`.
    ChangeToParent,
    /// `PWD`.
    PrintDirectory,
    /// `TYPE`.
    SetType,
    /// `MKD`.
    MakeDirectory,
    /// `RMD`.
    RemoveDirectory,
    /// `DELE`.
    Delete,
    /// `RNFR` then `RNTO`.
    Rename,
    /// `SIZE`.
    Size,
    /// `MDTM`.
    ModificationTime,
    /// `MFMT`.
    SetModificationTime,
    /// `SITE`.
    Site,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// A command the caller built itself.
    Raw,
    /// A command the caller built itself that moves data over a data connection
    /// ([`Session::raw_transfer`](super::Session::raw_transfer)).
    RawTransfer,
    /// `STAT` over the control connection.
    Status,
    /// `MLST` over the control connection.
    MachineEntry,
    /// `RETR`.
    Retrieve,
    /// `STOR`.
    Store,
    /// `APPE`.
    Append,
    /// `STOU`.
    StoreUnique,
    /// `LIST`.
    List,
    /// `NLST`.
    NameList,
    /// `MLSD`.
    MachineList,
}

impl OperationKind {
    /// Whether the operation moves data over a data connection.
    pub fn is_transfer(self) -> bool {
        matches!(
            self,
            OperationKind::Retrieve
                | OperationKind::RawTransfer
                | OperationKind::Store
                | OperationKind::Append
                | OperationKind::StoreUnique
                | OperationKind::List
                | OperationKind::NameList
                | OperationKind::MachineList
        )
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationKind::Greeting => "greeting",
            OperationKind::Host => "HOST",
            OperationKind::Login => "login",
            OperationKind::Features => "FEAT",
            OperationKind::ChangeDirectory => "CWD",
            OperationKind::ChangeToParent => "CDUP",
            OperationKind::PrintDirectory => "PWD",
            OperationKind::SetType => "TYPE",
            OperationKind::MakeDirectory => "MKD",
            OperationKind::RemoveDirectory => "RMD",
            OperationKind::Delete => "DELE",
            OperationKind::Rename => "rename",
            OperationKind::Size => "SIZE",
            OperationKind::ModificationTime => "MDTM",
            OperationKind::SetModificationTime => "MFMT",
            OperationKind::Site => "SITE",
            OperationKind::Noop => "NOOP",
            OperationKind::Quit => "QUIT",
            OperationKind::Raw => "raw command",
            OperationKind::RawTransfer => "raw transfer command",
            OperationKind::Status => "STAT",
            OperationKind::MachineEntry => "MLST",
            OperationKind::Retrieve => "RETR",
            OperationKind::Store => "STOR",
            OperationKind::Append => "APPE",
            OperationKind::StoreUnique => "STOU",
            OperationKind::List => "LIST",
            OperationKind::NameList => "NLST",
            OperationKind::MachineList => "MLSD",
        })
    }
}
