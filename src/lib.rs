//! ftp-proto: a sans-IO FTP library.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod listing;
mod text;
pub mod time;

pub use text::{Pathname, Text};
