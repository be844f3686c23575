//! ftp-proto: a sans-IO FTP library.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod codec;
mod command;
pub mod listing;
mod parse;
mod reply;
mod text;
pub mod time;
mod verb;

pub use command::{
    Allocation, AuthMechanism, Command, CommandOptions, EncodeError, ExtendedPassive,
    FileStructure, FormatControl, IacEscaping, NetworkProtocol, Password, ProtectionLevel,
    RepresentationType, TransferMode,
};
pub use parse::{
    CommandError, CommandParser, DEFAULT_MAX_LINE_LENGTH, Parsed, ReplyError, ReplyParser,
    parse_command, parse_reply,
};
pub use reply::{
    Feature, InvalidReplyCode, PayloadError, Reply, ReplyClass, ReplyCode, ReplyGroup,
};
pub use text::{Pathname, Text};
pub use verb::Verb;
