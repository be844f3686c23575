//! The server side of FTP as a sans-IO state machine: [`Session`] takes the client's
//! bytes, the application's answers and data-connection events, and hands out replies,
//! requests and actions. It decides every reply code and every policy (login
//! throttling, PORT bounce and port-stealing defences, path confinement, TLS state);
//! the adapter that drives it only moves bytes and runs what it is told.
//!
//! The limits that need a view across sessions (connections in all and per address, the
//! login lockout of an address) are in [`limits`], pure as well: a server keeps one set
//! for all its sessions.
//!
//! File contents never pass through the session: for a transfer it emits
//! [`Event::StartTransfer`], the adapter copies between the data connection and the
//! storage, and reports [`DataEvent::Finished`] or [`DataEvent::Failed`].
//!
//! ## What an adapter must do at the socket level
//!
//! A few duties sit below the protocol, where the session cannot see them:
//!
//! - Set `SO_OOBINLINE` on every control socket it accepts, plain or TLS. Clients send
//!   ABOR as TCP urgent data (RFC 959 §4.1.3; Python's `ftplib.FTP.abort()` sends the
//!   whole `ABOR\r\n` with `MSG_OOB`): without the option, Linux takes the urgent byte,
//!   the line's final LF, out of the stream, the session waits for the end of a line
//!   that never comes, and the client's abort times out.
//! - Bound every write to the client: a client that stops reading must not hold its
//!   session for ever. Keep calling [`Session::handle_timeout`] while a write waits, and
//!   close the connection when the session closes or the write makes no progress.
//! - Cancel a data connection in the making (a passive listener, an active connect) as
//!   soon as the session closes the data channel or aborts its transfer.

mod config;
mod events;
mod format;
#[cfg(feature = "fuzzing")]
mod fuzz;
pub mod limits;
mod path;
mod session;

pub use config::{Capabilities, Config};
pub use events::{
    AddressFamily, DataEvent, DataFailure, Direction, Event, FileKind, ListingFormat, Metadata,
    MoreEntries, Request, RequestId, Response, StorageError, Transfer, TransferContent, WriteMode,
};
pub use format::{SUPPORTED_FACTS, format_entry};
pub use path::{PathError, VirtualPath};
pub use session::Session;

// Behind a feature, not `cfg(fuzzing)`: the fuzz crate and the property tests both ask
// for it by name (the crate's `fuzzing` module says why).
#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
pub use fuzz::fuzz_server;
