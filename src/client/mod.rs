//! The client side of FTP as a sans-IO state machine: [`Session`] turns the operations
//! an application asks for into commands, reads the server's replies, and tells the
//! adapter which data connections and TLS handshakes to set up.
//!
//! It owns the protocol decisions (command order, EPSV/PASV fallback, which reply means
//! what, timeouts, the defences against hostile servers) and nothing else: no socket,
//! no clock, no file. File bytes move between the data connection and the application
//! without passing through the session; listings are collected and handed over as raw
//! bytes (parse them with [`crate::listing`]).
//!
//! # The run loop
//!
//! After every input (bytes, a data connection event, a TLS handshake, a timeout) and
//! every operation call, drain [`Session::poll_output`] until it returns `None`: bytes
//! to send, actions to carry out, events for the application, in the order they
//! happened. Then wait for the next input or for [`Session::poll_timeout`]. Here a
//! scripted server stands in for the network:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Instant, SystemTime};
//! use ftp_proto::client::{Action, Config, Event, Outcome, Output, Session};
//!
//! // What the fake server answers to each command line.
//! fn answer(line: &[u8]) -> &'static [u8] {
//!     match line {
//!         b"USER anonymous\r\n" => b"331 Please specify the password.\r\n",
//!         b"PASS guest\r\n" => b"230 Login successful.\r\n",
//!         b"FEAT\r\n" => b"211-Features:\r\n EPSV\r\n211 End\r\n",
//!         b"TYPE A\r\n" => b"200 Switching to ASCII mode.\r\n",
//!         b"EPSV\r\n" => b"229 Entering Extended Passive Mode (|||40000|)\r\n",
//!         b"LIST\r\n" => b"150 Here comes the directory listing.\r\n226 Directory send OK.\r\n",
//!         b"QUIT\r\n" => b"221 Goodbye.\r\n",
//!         _ => b"502 Command not implemented.\r\n",
//!     }
//! }
//!
//! let server: SocketAddr = "192.0.2.7:21".parse()?;
//! let now = Instant::now();
//! let mut session = Session::new(Config::default(), server, now);
//! session.login("anonymous", "guest", now)?;
//! // MLSD or LIST, as the server's FEAT answer allows: the session chooses.
//! let list = session.list_entries(None, SystemTime::now(), now)?;
//! session.quit(now)?;
//!
//! let mut from_server = b"220 (vsFTPd 3.0.3)\r\n".to_vec();
//! let mut entries = None;
//! 'run: loop {
//!     // Input: what the server sent since the last turn.
//!     session.handle_control_input(&std::mem::take(&mut from_server), now);
//!     while let Some(output) = session.poll_output() {
//!         match output {
//!             // A real adapter writes these to the control connection.
//!             Output::Transmit(bytes) => {
//!                 for line in bytes.split_inclusive(|&byte| byte == b'\n') {
//!                     from_server.extend_from_slice(answer(line));
//!                 }
//!             }
//!             // A real adapter connects a socket here and reports what happens.
//!             Output::Action(Action::ConnectData { id, address, .. }) => {
//!                 assert_eq!(address, "192.0.2.7:40000".parse()?);
//!                 session.handle_data_connected(id, now);
//!                 session.handle_data_input(id, b"-rw-r--r-- 1 0 0 5 Jan 01 2024 a.txt\r\n", now);
//!                 session.handle_data_end(id, now);
//!             }
//!             Output::Action(_) => {}
//!             Output::Event(Event::Completed { id, result: Ok(Outcome::Entries(list_of)) })
//!                 if id == list =>
//!             {
//!                 entries = Some(list_of);
//!             }
//!             Output::Event(Event::Completed { result: Err(error), .. }) => panic!("{error}"),
//!             Output::Event(Event::Closed { .. }) => break 'run,
//!             Output::Event(_) => {}
//!         }
//!     }
//!     // A real adapter now waits for input, or until `session.poll_timeout()`.
//! }
//! assert_eq!(entries.unwrap()[0].name, "a.txt");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The adapter contract
//!
//! What a driver (tokio, std threads, an event loop) does, and nothing more: every
//! protocol decision (which command, which reply means what, every deadline, who may
//! connect, when data may move, what a TLS close without `close_notify` means) is the
//! session's.
//!
//! 1. **Open the control connection** and create the session with
//!    [`Session::new`] and the server's address (passive data connections go to its
//!    IP). With [`Config::implicit_tls`], run the TLS handshake first. Enable TCP
//!    keepalive on long-lived control connections.
//! 2. **After every input and every operation call, drain [`Session::poll_output`]
//!    until `None`**, and carry out each output in order before taking the next:
//!    - [`Output::Transmit`]: write the bytes to the control connection, in order.
//!      If [`Session::urgent_offset`] is `Some(offset)` right after taking them, write
//!      the bytes before `offset`, flush, send the byte at `offset` as TCP urgent data
//!      (`MSG_OOB`), then the rest; a driver that cannot may write them all in order.
//!    - [`Output::Event`]: hand it to the application. An operation ends with exactly
//!      one [`Event::Completed`]; [`Event::Closed`] comes once, last. Ignore events you
//!      do not know (the enum can grow; none asks the driver to act).
//!    - [`Output::Action`]: do what it says (the enum is exhaustive):
//!      - [`Action::StartControlTls`]: run the TLS handshake on the control connection
//!        before writing anything else; report
//!        [`handle_control_tls_established`](Session::handle_control_tls_established),
//!        or [`handle_control_closed`](Session::handle_control_closed) if it failed.
//!      - [`Action::ConnectData`]: connect to `address`; report
//!        [`handle_data_connected`](Session::handle_data_connected) or
//!        [`handle_data_failed`](Session::handle_data_failed). No timer of your own:
//!        the session keeps the deadline.
//!      - [`Action::ListenForData`]: bind a listener on the control connection's
//!        local IP, any port; report
//!        [`handle_data_listening`](Session::handle_data_listening) with its address
//!        (or `handle_data_failed`). Accept connections without blocking and report
//!        each with [`handle_data_accepted`](Session::handle_data_accepted) and its
//!        peer address; the session judges the peer.
//!      - [`Action::RefuseDataPeer`]: close the connection just accepted and accept
//!        again on the same listener.
//!      - [`Action::StartDataTls`]: run the client side of a TLS handshake on the data
//!        connection, resuming the control connection's TLS session; report
//!        [`handle_data_tls_established`](Session::handle_data_tls_established) or
//!        `handle_data_failed`.
//!      - [`Action::SendData`]: an upload may write now (never before). Write the
//!        application's bytes, report [`handle_data_progress`](Session::handle_data_progress)
//!        as they go, then close the sending side (with TLS, `close_notify` first)
//!        and report [`handle_data_end`](Session::handle_data_end).
//!      - [`Action::CloseData`]: close that transfer's data connection or listener
//!        at once, dropping unsent data; report nothing more for it.
//!      - [`Action::CloseControl`]: close the control connection; the session is over.
//! 3. **Move data as the [`TransferKind`] says**, from the moment the connection is
//!    open (TLS done if asked): a [`TransferKind::Listing`]'s bytes go to
//!    [`handle_data_input`](Session::handle_data_input); a
//!    [`TransferKind::Download`]'s bytes go to the application, with
//!    [`handle_data_progress`](Session::handle_data_progress) for each read; an
//!    [`TransferKind::Upload`] waits for [`Action::SendData`]. The session sees no file
//!    byte: it needs only the progress reports, for its stall deadline.
//! 4. **Report how each data connection ended**: the peer closed it cleanly
//!    ([`handle_data_end`](Session::handle_data_end)); a protected one ended without
//!    TLS `close_notify`
//!    ([`handle_data_end_without_close_notify`](Session::handle_data_end_without_close_notify),
//!    and the session decides whether that completes the transfer); reading or
//!    writing failed ([`handle_data_failed`](Session::handle_data_failed) with the
//!    error's kind). Every data input carries the [`OperationId`] of the action it
//!    answers; inputs for a transfer that is over are ignored.
//! 5. **Feed the control connection**: every byte read goes to
//!    [`handle_control_input`](Session::handle_control_input) in any chunking; its
//!    end (or a read error) to [`handle_control_closed`](Session::handle_control_closed).
//! 6. **Keep time**: wait at most until [`Session::poll_timeout`], then call
//!    [`handle_timeout`](Session::handle_timeout) with the current time (early or
//!    extra calls are harmless). Every `handle_*` takes `now`; the session reads no
//!    clock. There are no other timers: connect, TLS handshake, stall and reply
//!    deadlines are all the session's.
//! 7. **Start operations** (`login`, `retrieve`, `list_entries`, [`raw`](Session::raw),
//!    [`raw_transfer`](Session::raw_transfer)...) whenever you like; each returns an
//!    [`OperationId`] at once and ends with its [`Event::Completed`]. To stop a
//!    transfer, call [`abort`](Session::abort) and keep draining: the session sends
//!    `ABOR` and then asks for the data connection to be closed, in that order.

mod config;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
mod fuzz;
mod id;
mod operation;
mod session;
mod state;

pub use config::{Config, DataConnectionMode};
pub use error::{Error, Waiting};
pub use event::{Action, Event, Features, Outcome, Output, TransferKind};
// Behind a feature, not `cfg(fuzzing)`: the fuzz crate and the property tests both ask
// for it by name (the crate's `fuzzing` module says why).
#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
pub use fuzz::fuzz_client;
pub use id::{OperationId, OperationKind};
pub use session::{ListingPath, Session};
