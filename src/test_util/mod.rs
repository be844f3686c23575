//! Test your embedding without sockets (feature `test-util`): a [`client::Session`]
//! and a [`server::Session`] wired to each other in memory ([`Pair`]), with a manual
//! clock, storage in memory ([`MemoryFs`]) and simulated TLS.
//!
//! The pair plays both adapters, the way the tokio ones do: it moves control bytes,
//! answers the server's requests from the tree, opens and closes the data connections
//! the sessions ask for (passive and active) and moves transfer bytes over them. Every
//! operation runs end to end in microseconds, deterministically; faults are knobs on
//! the pair (held replies, held storage answers, held transfers, broken data
//! connections, refused connections, a proxy that refuses verbs).
//!
//! - **Time** moves only when the test says: [`Pair::advance`] or
//!   [`Pair::advance_to_next_deadline`]; both sessions get `handle_timeout`, so their
//!   deadlines (idle, reply, data stall, storage answer...) fire as they would.
//! - **TLS** is an event: after `AUTH TLS` the pair tells both sessions the control
//!   handshake succeeded (or failed, or lets it hang until a deadline:
//!   [`Pair::control_tls`]); under `PROT P` it tells them each data handshake
//!   succeeded, resuming the control connection's TLS session or not, or failed, or
//!   lets it hang ([`Pair::data_tls`]). No certificate, no cipher: what is tested is
//!   the protocol around the handshakes. [`Pair::tls_handshakes`] records them.
//! - **Storage** is a [`MemoryFs`]: set up files and directories first, read what
//!   uploads left after. An upload reaches the tree when the server session commits it
//!   (`CommitUpload`), so an upload the session refuses (an end without TLS
//!   `close_notify` on a strict server, [`Pair::close_notify`]) leaves the tree as it
//!   was; a data connection broken midway leaves what arrived, as a disk would.
//!
//! Log in, list, download:
//!
//! ```
//! use ftp_proto::client::Outcome;
//! use ftp_proto::test_util::{MemoryFs, Pair};
//!
//! let fs = MemoryFs::new()
//!     .with_dir("/pub")
//!     .with_file("/pub/hello.txt", b"hello\n");
//! let mut pair = Pair::new(fs);
//! let login = pair.login("anonymous", "guest@example.com");
//! assert!(matches!(login, Ok(Outcome::LoggedIn(_))));
//! let names = pair.listing(|client, now| client.name_list("/pub", now));
//! assert_eq!(names.unwrap(), b"hello.txt\r\n");
//! let (result, bytes) = pair.download(|client, now| client.retrieve("/pub/hello.txt", now));
//! assert!(matches!(result, Ok(Outcome::Transferred { .. })));
//! assert_eq!(bytes, b"hello\n");
//! ```
//!
//! With TLS and a clock (a data handshake that does not resume the control
//! connection's TLS session is refused by a server that insists):
//!
//! ```
//! use std::time::Duration;
//! use ftp_proto::{client, server};
//! use ftp_proto::test_util::{DataTls, MemoryFs, Pair, reply_code};
//!
//! let mut client_config = client::Config::default();
//! client_config.tls = true;
//! let mut server_config = server::Config::default();
//! server_config.enable_tls = true;
//! server_config.require_tls_session_reuse = true;
//! let fs = MemoryFs::new().with_file("/a", b"secret bytes");
//! let mut pair = Pair::logged_in_with(client_config, server_config, fs);
//! assert!(pair.client.is_control_secure());
//! pair.data_tls = DataTls::NotResumed;
//! let (result, _) = pair.download(|client, now| client.retrieve("/a", now));
//! assert_eq!(reply_code(&result), Some(522));
//! // Idle for longer than the server allows: it says goodbye with 421.
//! pair.advance(Duration::from_secs(3600));
//! assert!(pair.server_is_closed());
//! ```
//!
//! [`client::Session`]: crate::client::Session
//! [`server::Session`]: crate::server::Session

mod memory;
mod pair;

pub use memory::{MemoryFs, Node, default_modified, wall_clock};
pub use pair::{
    CLIENT_V4, CLIENT_V6, ControlTls, DataTls, FinalOrder, Pair, SERVER_V4, SERVER_V6,
    TlsHandshake, reply_code,
};
