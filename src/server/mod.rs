//! The server side of FTP as a sans-IO state machine: [`Session`] takes the client's
//! bytes, the application's answers and data-connection events, and hands out replies,
//! requests and actions. It decides every reply code and every policy (login
//! throttling, PORT bounce and port-stealing defences, path confinement, TLS state);
//! the adapter that drives it only moves bytes and runs what it is told.
//!
//! File contents never pass through the session: for a transfer it emits
//! [`Event::StartTransfer`], the adapter copies between the data connection and the
//! storage, and reports [`DataEvent::Finished`] or [`DataEvent::Failed`].

mod config;
mod events;
mod format;
mod fuzz;
mod path;
mod session;

pub use config::{Capabilities, Config};
pub use events::{
    AddressFamily, DataEvent, DataFailure, Direction, Event, FileKind, ListingFormat, Metadata,
    Request, RequestId, Response, StorageError, Transfer, TransferContent, WriteMode,
};
pub use format::{SUPPORTED_FACTS, format_entry};
pub use path::{PathError, VirtualPath};
pub use session::Session;

#[doc(hidden)]
pub use fuzz::fuzz_server;
