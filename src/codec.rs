//! `tokio_util` codecs over the sans-IO parsers and serializers (feature `codec`, part of `tokio`).
//!
//! The codecs add nothing to the protocol: they hand the parsers a `BytesMut`, advance
//! it by what was consumed, and turn borrowed values into owned ones. A malformed or
//! over-long line comes out as an `Err` item, not as a stream error, so one bad line
//! never ends the stream (tokio's `LinesCodec` ends it; a server must answer it and go on).

use std::io;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::command::Command;
use crate::parse::{CommandError, CommandParser, ReplyError, ReplyParser};
use crate::reply::Reply;

/// The server side of a control connection: decodes commands, encodes replies.
///
/// ```
/// use bytes::BytesMut;
/// use ftp_proto::codec::ServerCodec;
/// use ftp_proto::{Command, CommandError, Reply, ReplyCode};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ServerCodec::new();
/// let mut input = BytesMut::from(&b"NOOP\r\nBOGUS\r\nRETR\r\n"[..]);
/// assert_eq!(codec.decode(&mut input)?, Some(Ok(Command::Noop)));
/// assert!(matches!(codec.decode(&mut input)?, Some(Ok(Command::Unknown { .. }))));
/// let error = codec.decode(&mut input)?.unwrap().unwrap_err();
/// assert!(matches!(error, CommandError::MissingArgument { .. }));
///
/// let mut output = BytesMut::new();
/// codec.encode(&Reply::new(error.reply_code(), error.to_string()), &mut output)?;
/// assert_eq!(&output[..], b"501 RETR needs an argument\r\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServerCodec {
    parser: CommandParser,
}

impl ServerCodec {
    /// A codec with the default line bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec that refuses command lines longer than `max_line_length` bytes.
    pub fn with_max_line_length(max_line_length: usize) -> Self {
        ServerCodec {
            parser: CommandParser::with_max_line_length(max_line_length),
        }
    }
}

impl Decoder for ServerCodec {
    type Item = Result<Command<'static>, CommandError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let parsed = self.parser.parse(src);
        let item = parsed.item.map(|item| item.map(Command::into_owned));
        src.advance(parsed.consumed);
        Ok(item)
    }

    /// At the end of the stream, a last line without its line end is dropped: a command
    /// counts only once its line is complete.
    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let item = self.decode(src)?;
        if item.is_none() {
            src.clear();
            self.parser.reset();
        }
        Ok(item)
    }
}

impl Encoder<&Reply<'_>> for ServerCodec {
    type Error = io::Error;

    fn encode(&mut self, reply: &Reply<'_>, dst: &mut BytesMut) -> io::Result<()> {
        reply.encode(dst);
        Ok(())
    }
}

impl Encoder<Reply<'_>> for ServerCodec {
    type Error = io::Error;

    fn encode(&mut self, reply: Reply<'_>, dst: &mut BytesMut) -> io::Result<()> {
        reply.encode(dst);
        Ok(())
    }
}

/// The client side of a control connection: decodes replies, encodes commands.
///
/// Encoding a command whose argument holds CR, LF or NUL fails with an
/// [`io::ErrorKind::InvalidInput`] error wrapping the [`EncodeError`](crate::EncodeError),
/// and nothing is written.
#[derive(Clone, Debug, Default)]
pub struct ClientCodec {
    parser: ReplyParser,
}

impl ClientCodec {
    /// A codec with the default bounds on reply lines and line counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec with these bounds on reply line length and lines per reply.
    pub fn with_limits(max_line_length: usize, max_lines: usize) -> Self {
        ClientCodec {
            parser: ReplyParser::with_limits(max_line_length, max_lines),
        }
    }
}

impl Decoder for ClientCodec {
    type Item = Result<Reply<'static>, ReplyError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let parsed = self.parser.parse(src);
        let item = parsed.item.map(|item| item.map(Reply::into_owned));
        src.advance(parsed.consumed);
        Ok(item)
    }

    /// At the end of the stream, an incomplete reply is an error: the server hung up
    /// in the middle of answering.
    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        match self.decode(src)? {
            Some(item) => Ok(Some(item)),
            None if src.is_empty() => Ok(None),
            None => {
                src.clear();
                self.parser.reset();
                Ok(Some(Err(ReplyError::Incomplete)))
            }
        }
    }
}

impl Encoder<&Command<'_>> for ClientCodec {
    type Error = io::Error;

    fn encode(&mut self, command: &Command<'_>, dst: &mut BytesMut) -> io::Result<()> {
        command
            .encode(dst)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
    }
}

impl Encoder<Command<'_>> for ClientCodec {
    type Error = io::Error;

    fn encode(&mut self, command: Command<'_>, dst: &mut BytesMut) -> io::Result<()> {
        self.encode(&command, dst)
    }
}
