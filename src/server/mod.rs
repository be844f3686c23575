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
//! [`Action::StartTransfer`], the adapter copies between the data connection and the
//! storage, and reports [`DataEvent::Finished`] or [`DataEvent::Failed`].
//!
//! ## Driving a session
//!
//! An adapter holds no protocol state of its own: it reports facts and carries out
//! what the session emits. In order:
//!
//! 1. Make a [`Session`] for each control connection (its greeting is the first output).
//! 2. After every input, call [`Session::poll_output`] until it returns `None`, and
//!    carry out each [`Output`] before taking the next: [`Output::Transmit`] is written
//!    to the control connection (when a write cannot complete at once, call
//!    [`Session::handle_send_blocked`], and [`Session::handle_send_progress`] when it
//!    moves); [`Output::Request`] goes to the application, whose answer comes back with
//!    [`Session::handle_response`] (keep reading the control connection meanwhile: the
//!    session answers QUIT, STAT and ABOR while it waits, and enforces the answer's
//!    deadline; stop reading while [`Session::wants_control_input`] says no);
//!    [`Output::Action`] is carried out as its variant says; an
//!    [`Output::Event`] is for logs and may be ignored.
//! 3. Then ask [`Session::poll_timeout`], and call [`Session::handle_timeout`] when that
//!    time comes. Every deadline (login, idle, failed-login delay, storage answer, data
//!    connect, data TLS handshake, data stall, control TLS handshake, blocked send)
//!    lives in the session: the adapter needs one timer.
//! 4. Data connections, each step named by the session and reported with its id:
//!    - [`Action::ListenPassive`]: open a listener, report [`DataEvent::Listening`] (or
//!      [`DataEvent::ListenFailed`]); accept ONE connection on it, report
//!      [`DataEvent::Accepted`] with its peer, and close the listener. Do not touch the
//!      connection: the session checks the peer (port stealing) and says what follows.
//!    - [`Action::ConnectActive`]: connect now, report [`DataEvent::Connected`] or
//!      [`DataEvent::ConnectFailed`] with the transfer's id.
//!    - [`Action::SecureData`]: run the TLS handshake (server side) on that transfer's
//!      data connection, report [`DataEvent::TlsEstablished`] (with whether it resumed
//!      the control connection's session) or [`DataEvent::TlsFailed`].
//!    - [`Action::StartTransfer`]: the data connection is up, checked and secured: copy.
//!      Keep a byte counter and, whenever it grew, report [`DataEvent::Progress`] right
//!      before handing the session any other input (the stall deadline and STAT use
//!      it); at the end report [`DataEvent::Finished`] or [`DataEvent::Failed`]. An
//!      upload first reports [`DataEvent::Received`] (saying whether the connection
//!      ended cleanly) and commits only on [`Action::CommitUpload`].
//!    - [`Action::AbortTransfer`]: drop everything held for that transfer (opened file,
//!      connect or handshake in flight, data connection, copy).
//!      [`Action::CloseData`]: drop the listener and any data connection not handed to a
//!      transfer. A report about something dropped is ignored by the session.
//! 5. [`Action::StartControlTls`]: send what was transmitted before it, handshake on the
//!    control connection, report [`Session::handle_control_tls_established`] or
//!    [`Session::handle_control_tls_failed`]; meanwhile only deadlines may fire.
//! 6. [`Action::CancelRequest`]: stop the application's work on that request if you can.
//! 7. End of the control stream: [`Session::handle_control_closed`]; server shutdown:
//!    [`Session::handle_shutdown`]. [`Action::Close`] (after [`Event::Closed`], which
//!    says why): close everything; nothing follows.
//!
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
    Action, AddressFamily, ChannelId, CloseReason, DataEvent, DataFailure, Direction, Event,
    FileKind, ListingFormat, Metadata, MoreEntries, Output, Request, RequestId, Response,
    StorageError, Transfer, TransferContent, WriteMode,
};
pub use format::{SUPPORTED_FACTS, format_entry};
pub use path::{PathError, VirtualPath};
pub use session::Session;

// Behind a feature, not `cfg(fuzzing)`: the fuzz crate and the property tests both ask
// for it by name (the crate's `fuzzing` module says why).
#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
pub use fuzz::fuzz_server;
