//! # ftp-proto
//!
//! A File Transfer Protocol library built sans-IO: the protocol is pure code that takes
//! bytes in and hands bytes out. It never touches a socket, a thread, a clock or an
//! async runtime, so the same logic serves tokio, other runtimes, blocking code, fuzzers
//! and benchmarks alike.
//!
//! ## Download a file (feature `client`)
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn fetch() -> Result<(), Box<dyn std::error::Error>> {
//! use ftp_proto::tokio::{Client, ClientConfig};
//!
//! let mut client = Client::connect("127.0.0.1:2121", ClientConfig::default()).await?;
//! client.login("anonymous", "guest").await?;
//! client.download_to_path("pub/README", std::path::Path::new("README")).await?;
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Embed a server (feature `tokio`)
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use ftp_proto::tokio::{LocalFs, Server, ServerConfig, StaticUsers};
//!
//! let users = StaticUsers::new()
//!     .anonymous(LocalFs::new("/srv/ftp")?) // read-only
//!     .user("alice", "secret", LocalFs::new("/srv/alice")?, true); // writable
//! let server = Server::new(ServerConfig::default(), users)?;
//! let listener = ::tokio::net::TcpListener::bind("127.0.0.1:2121").await?;
//! let shutdown = async {
//!     let _ = ::tokio::signal::ctrl_c().await;
//! };
//! server.serve(listener, shutdown).await?; // lets running transfers finish
//! # Ok(())
//! # }
//! ```
//!
//! ## The sans-IO layers
//!
//! ```text
//!            your runtime / your sockets / your file system
//!                 |                         ^
//!                 v                         |
//!   +-------------------------------------------------------------+
//!   | drivers: tokio::Server, tokio::Client (features "server",   |
//!   |   "client"), codec (feature "codec"), or your own: they     |
//!   |   move bytes, report facts, carry out actions               |
//!   +-------------------------------------------------------------+
//!   | sessions (sans-IO state machines, one calling contract)     |
//!   |   server::Session           client::Session                 |
//!   |   server::limits (admission, lockout)                       |
//!   +-------------------------------------------------------------+
//!   | wire (no sockets, no threads, no clock, no async)           |
//!   |   parse_command / CommandParser    parse_reply / ReplyParser|
//!   |   Command::encode                  Reply::encode            |
//!   |   Command, Reply, ReplyCode, Verb, Pathname, Text, listing  |
//!   +-------------------------------------------------------------+
//! ```
//!
//! Both sessions take inputs through `handle_*` methods (control bytes, data-connection
//! facts carrying the id of the transfer they belong to, TLS up, the time) and hand out
//! everything through one ordered queue, `poll_output()`, plus `poll_timeout()`. Every
//! protocol decision is theirs, so any driver behaves like the tokio ones; the
//! [`server`] and [`client`] module docs list a driver's duties step by step.
//!
//! The wire layer below them can be used alone. Parsers own no buffer: the caller keeps
//! the bytes, passes everything not yet consumed, and drops what the parser reports as
//! consumed. Incomplete input is never an error, any split of a stream gives the same
//! items, and every line is bounded ([`DEFAULT_MAX_LINE_LENGTH`]):
//!
//! ```
//! use ftp_proto::{Command, CommandParser, Reply, ReplyCode};
//!
//! // A server's read loop, minus the socket: parse what arrived, answer each command.
//! let mut parser = CommandParser::new();
//! let mut received = b"USER anonymous\r\nSYST\r\nBOGUS\r\n".to_vec();
//! let mut to_send = Vec::new();
//! loop {
//!     let parsed = parser.parse(&received);
//!     let reply = match parsed.item {
//!         None => break,
//!         Some(Ok(Command::User(_))) => Reply::new(ReplyCode::USER_NAME_OKAY_NEED_PASSWORD, "Password?"),
//!         Some(Ok(Command::Syst)) => Reply::new(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
//!         Some(Ok(other)) => Reply::new(ReplyCode::SYNTAX_ERROR, format!("{other} not understood")),
//!         Some(Err(error)) => Reply::new(error.reply_code(), error.to_string()),
//!     };
//!     reply.encode(&mut to_send);
//!     let consumed = parsed.consumed;
//!     received.drain(..consumed);
//! }
//! assert_eq!(
//!     to_send,
//!     b"331 Password?\r\n215 UNIX Type: L8\r\n500 BOGUS not understood\r\n"
//! );
//! ```
//!
//! ## Features
//!
//! | feature | adds |
//! |---|---|
//! | (none) | the sans-IO core: [`server::Session`], [`client::Session`], the parsers, serializers and listing formats |
//! | `client` | the tokio client ([`tokio::Client`]): tokio, tracing, socket2 and libc; no file-system or server code |
//! | `server` | the tokio server ([`tokio::Server`]) and the [`tokio::Storage`] and [`tokio::Authenticator`] traits it serves from, with no back end: tokio, tokio-util, tracing and rustix |
//! | `local-fs` | the local file-system back end ([`tokio::LocalFs`], confined by cap-std); implies `server` |
//! | `object-store` | `tokio::ObjectStorage`: serve S3 and S3-compatible stores through the `object_store` crate; implies `server` |
//! | `codec` | [`codec`]: `tokio_util` codecs for both ends of a control connection |
//! | `tokio` | all of `client`, `server`, `local-fs` and `codec` |
//! | `tls` | FTPS with rustls for whichever of the tokio client and server is enabled ([`tokio::tls`]) |
//! | `log` | the tokio adapters' `tracing` events also reach the `log` crate when no `tracing` subscriber is installed |
//! | `fuzzing` | the session fuzz harnesses and `arbitrary::Arbitrary` for [`Command`] and [`Reply`] |
//!
//! The tokio adapters exist on Unix only (they set socket options that need it).
//!
//! ## Wire rules this crate follows
//!
//! - Verbs are case-insensitive on input, upper case on output.
//! - The argument is everything after exactly one space, never trimmed (RFC 2640).
//! - Lines end in CRLF or a bare LF on input, always CRLF on output.
//! - Telnet: IAC IAC is 0xFF; IAC IP, IAC DM and option negotiation are dropped; the
//!   crate never negotiates. CR NUL is a CR inside a name (RFC 2640).
//! - A reply is three digits, then a space or `-`; a multi-line reply ends only at a
//!   line starting with the same code and a space.
// One `unsafe` block in the crate, allowed where it is: `setsockopt(SO_RCVLOWAT)` in
// `tokio::stream`, which no safe wrapper offers and which made a 1 GiB download take
// half the time (BENCHMARKS.md, issue 7).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod ascii;
pub mod client;
#[cfg(feature = "codec")]
#[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
pub mod codec;
mod command;
#[cfg(feature = "fuzzing")]
mod fuzzing;
pub mod listing;
mod parse;
mod reply;
pub mod server;
mod text;
pub mod time;
#[cfg(all(any(feature = "client", feature = "server"), unix))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(any(feature = "client", feature = "server"), unix)))
)]
pub mod tokio;
mod verb;

pub use command::{
    Allocation, AuthMechanism, Command, CommandOptions, EncodeError, ExtendedPassive,
    FileStructure, FormatControl, IacEscaping, NetworkProtocol, ParameterLetter, Password,
    ProtectionLevel, RepresentationType, TransferMode,
};
pub use parse::{
    CommandError, CommandParser, DEFAULT_MAX_LINE_LENGTH, DEFAULT_MAX_REPLY_LINES, Parsed,
    ReplyError, ReplyParser, parse_command, parse_reply,
};
pub use reply::{
    Feature, InvalidReplyCode, PayloadError, Reply, ReplyClass, ReplyCode, ReplyGroup,
};
pub use text::{Pathname, Text};
pub use verb::Verb;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
