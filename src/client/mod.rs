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
//! every operation call, drain the outputs: actions, bytes, events. Then wait for the
//! next input or for [`Session::poll_timeout`]. Here a scripted server stands in for the
//! network:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use ftp_proto::client::{Action, Config, Event, Output, Session};
//!
//! // What the fake server answers to each command line.
//! fn answer(line: &[u8]) -> &'static [u8] {
//!     match line {
//!         b"USER anonymous\r\n" => b"331 Please specify the password.\r\n",
//!         b"PASS guest\r\n" => b"230 Login successful.\r\n",
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
//! let list = session.list(None, now)?;
//! session.quit(now)?;
//!
//! let mut from_server = b"220 (vsFTPd 3.0.3)\r\n".to_vec();
//! let mut listing = None;
//! 'run: loop {
//!     // Input: what the server sent since the last turn.
//!     session.handle_control_input(&std::mem::take(&mut from_server), now);
//!     // Actions: a real adapter connects sockets and runs TLS handshakes here.
//!     while let Some(action) = session.poll_action() {
//!         if let Action::ConnectData { id, address, .. } = action {
//!             assert_eq!(address, "192.0.2.7:40000".parse()?);
//!             session.handle_data_connected(id, now);
//!             session.handle_data_input(id, b"-rw-r--r-- 1 0 0 5 Jan 01 2024 a.txt\r\n", now);
//!             session.handle_data_end(id, now);
//!         }
//!     }
//!     // Bytes: a real adapter writes them to the control connection.
//!     while let Some(bytes) = session.poll_transmit() {
//!         for line in bytes.split_inclusive(|&byte| byte == b'\n') {
//!             from_server.extend_from_slice(answer(line));
//!         }
//!     }
//!     // Events: operations complete, in order.
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::Completed { id, result: Ok(Output::Listing(bytes)) } if id == list => {
//!                 listing = Some(bytes);
//!             }
//!             Event::Completed { result: Err(error), .. } => panic!("{error}"),
//!             Event::Closed { .. } => break 'run,
//!             _ => {}
//!         }
//!     }
//!     // A real adapter now waits for input, or until `session.poll_timeout()`.
//! }
//! assert!(listing.unwrap().ends_with(b"a.txt\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
mod fuzz;
mod operation;
mod session;

pub use config::{Config, DataConnectionMode};
pub use error::{Error, Waiting};
pub use event::{Action, Event, Features, OperationId, OperationKind, Output, TransferKind};
// Behind a feature, not `cfg(fuzzing)`: the fuzz crate and the property tests both ask
// for it by name (the crate's `fuzzing` module says why).
#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
pub use fuzz::fuzz_client;
pub use session::Session;
