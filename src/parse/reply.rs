//! Reply framing: a single line `123 text`, or a multi-line reply that opens with
//! `123-` and closes only at a line starting `123 ` (RFC 959 §4.2); the lines between
//! are free text.

use super::{DEFAULT_MAX_LINE_LENGTH, LineFrame, LineFramer, Parsed, unescape_cr_nul};
use crate::reply::{Reply, ReplyCode};
use crate::text::Text;

/// The default bound on the lines of one reply (FEAT, HELP and STAT run to dozens).
pub const DEFAULT_MAX_REPLY_LINES: usize = 1024;

/// Why a reply could not be read. The parser stays in step with the stream: after an
/// error it skips the rest of the offending reply and goes on with the next one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line did not start with a three-digit code followed by a space, `-` or its end.
    #[error("reply line does not start with a three-digit code")]
    Malformed,
    /// A line was longer than the bound; the rest of its reply was skipped.
    #[error("reply line longer than {limit} bytes")]
    LineTooLong {
        /// The bound in force.
        limit: usize,
    },
    /// A multi-line reply ran past the bound on lines; the rest of it was skipped.
    #[error("reply longer than {limit} lines")]
    TooManyLines {
        /// The bound in force.
        limit: usize,
    },
    /// [`parse_reply`] was given less than one whole reply.
    #[error("incomplete reply")]
    Incomplete,
    /// [`parse_reply`] was given more than one reply.
    #[error("more bytes follow the reply")]
    TrailingData,
}

/// Parses exactly one complete reply, single or multi-line, with its line ends.
///
/// ```
/// use ftp_proto::{ReplyCode, parse_reply};
/// let reply = parse_reply(b"227 Entering Passive Mode (127,0,0,1,4,1)\r\n")?;
/// assert_eq!(reply.code(), ReplyCode::ENTERING_PASSIVE_MODE);
/// assert_eq!(reply.passive_address()?.port(), 1025);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_reply(input: &[u8]) -> Result<Reply<'_>, ReplyError> {
    let mut parser = ReplyParser::with_limits(usize::MAX - 2, usize::MAX);
    let parsed = parser.parse(input);
    match parsed.item {
        None => Err(ReplyError::Incomplete),
        Some(_) if parsed.consumed < input.len() => Err(ReplyError::TrailingData),
        Some(item) => item,
    }
}

/// A streaming parser of replies, for the client side of a control connection.
///
/// It owns no buffer: pass it every byte not yet consumed, drop the `consumed` bytes it
/// reports, and repeat until it returns no item. Any split of the input gives the same
/// replies. Lines and line counts are bounded ([`DEFAULT_MAX_LINE_LENGTH`],
/// [`DEFAULT_MAX_REPLY_LINES`]) so that a hostile server cannot grow the client's memory.
///
/// ```
/// use ftp_proto::{ReplyCode, ReplyParser};
///
/// let mut parser = ReplyParser::new();
/// let input = b"211-Features:\r\n EPSV\r\n211 End\r\n";
/// let parsed = parser.parse(input);
/// let reply = parsed.item.unwrap()?;
/// assert_eq!(parsed.consumed, input.len());
/// assert_eq!(reply.code(), ReplyCode::SYSTEM_STATUS);
/// assert_eq!(reply.lines().count(), 3);
/// # Ok::<(), ftp_proto::ReplyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReplyParser {
    framer: LineFramer,
    max_lines: usize,
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    /// Expecting the first line of a reply.
    Start,
    /// Inside a multi-line reply: `scanned` bytes of input hold its complete lines so
    /// far, `lines` of them.
    Multi {
        code: ReplyCode,
        scanned: usize,
        lines: usize,
    },
    /// Skipping a refused multi-line reply up to and including its closing line.
    SkipToClose { code: ReplyCode },
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyParser {
    /// A parser with the default bounds.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_LINE_LENGTH, DEFAULT_MAX_REPLY_LINES)
    }

    /// A parser that refuses lines over `max_line_length` bytes and replies over
    /// `max_lines` lines.
    pub fn with_limits(max_line_length: usize, max_lines: usize) -> Self {
        ReplyParser {
            framer: LineFramer::new(max_line_length),
            max_lines: max_lines.max(1),
            state: State::Start,
        }
    }

    /// Forgets any partly read reply, as after the connection was reset; the bounds stay.
    pub fn reset(&mut self) {
        let max_line_length = self.framer.max_line_length;
        self.framer = LineFramer::new(max_line_length);
        self.state = State::Start;
    }

    /// Parses the next reply from `input`, which must start with the first byte not yet
    /// consumed (the same bytes as last time, plus any new ones).
    pub fn parse<'b>(&mut self, input: &'b [u8]) -> Parsed<Result<Reply<'b>, ReplyError>> {
        let mut skipped = 0;
        loop {
            match self.state {
                State::Start => return self.parse_first_line(input, skipped),
                State::Multi { .. } => return self.parse_more_lines(input, skipped),
                State::SkipToClose { code } => match self.framer.next_line(&input[skipped..]) {
                    LineFrame::Line { line, consumed, .. } => {
                        skipped += consumed;
                        if closes(line, code) {
                            self.state = State::Start;
                        }
                    }
                    LineFrame::TooLong { consumed, .. } => skipped += consumed,
                    LineFrame::Partial { consumed } => {
                        return Parsed {
                            consumed: skipped + consumed,
                            item: None,
                        };
                    }
                },
            }
        }
    }

    fn parse_first_line<'b>(
        &mut self,
        input: &'b [u8],
        skipped: usize,
    ) -> Parsed<Result<Reply<'b>, ReplyError>> {
        let rest = &input[skipped..];
        match self.framer.next_line(rest) {
            LineFrame::Partial { consumed } => Parsed {
                consumed: skipped + consumed,
                item: None,
            },
            LineFrame::TooLong { head, consumed } => {
                // A long opening line of a multi-line reply: skip to its closing line.
                if let Some(code) = ReplyCode::from_digits(head.get(..3).unwrap_or_default()) {
                    if head.get(3) == Some(&b'-') {
                        self.state = State::SkipToClose { code };
                    }
                }
                self.error(skipped + consumed, self.line_too_long())
            }
            LineFrame::Line {
                start,
                line,
                consumed,
                ..
            } => {
                let Some(code) = ReplyCode::from_digits(line.get(..3).unwrap_or_default()) else {
                    return self.error(skipped + consumed, ReplyError::Malformed);
                };
                match line.get(3) {
                    None | Some(b' ') => Parsed {
                        consumed: skipped + consumed,
                        item: Some(Ok(Reply::new(
                            code,
                            Text::new(unescape_cr_nul(line.get(4..).unwrap_or_default())),
                        ))),
                    },
                    Some(b'-') => {
                        // Bytes before the opening line (the tail of a skipped line)
                        // are consumed; the reply is kept from its first byte on.
                        self.state = State::Multi {
                            code,
                            scanned: consumed - start,
                            lines: 1,
                        };
                        self.parse_more_lines(input, skipped + start)
                    }
                    Some(_) => self.error(skipped + consumed, ReplyError::Malformed),
                }
            }
        }
    }

    /// Continues a multi-line reply that starts at `input[base..]`; `base` bytes before
    /// it are consumed whatever happens.
    fn parse_more_lines<'b>(
        &mut self,
        input: &'b [u8],
        base: usize,
    ) -> Parsed<Result<Reply<'b>, ReplyError>> {
        let State::Multi {
            code,
            mut scanned,
            mut lines,
        } = self.state
        else {
            return self.parse_first_line(input, base);
        };
        if base + scanned > input.len() {
            // The caller passed fewer bytes than it was told to keep: start afresh rather
            // than index past the end.
            self.reset();
            return self.parse_first_line(input, base.min(input.len()));
        }
        let input = &input[base..];
        loop {
            match self.framer.next_line(&input[scanned..]) {
                LineFrame::Partial { .. } => {
                    self.state = State::Multi {
                        code,
                        scanned,
                        lines,
                    };
                    return Parsed {
                        consumed: base,
                        item: None,
                    };
                }
                LineFrame::TooLong { consumed, .. } => {
                    self.state = State::SkipToClose { code };
                    return self.error(base + scanned + consumed, self.line_too_long());
                }
                LineFrame::Line { line, consumed, .. } => {
                    scanned += consumed;
                    lines += 1;
                    if closes(line, code) {
                        self.state = State::Start;
                        return Parsed {
                            consumed: base + scanned,
                            item: Some(Ok(assemble(code, &input[..scanned]))),
                        };
                    }
                    if lines >= self.max_lines {
                        self.state = State::SkipToClose { code };
                        return self.error(
                            base + scanned,
                            ReplyError::TooManyLines {
                                limit: self.max_lines,
                            },
                        );
                    }
                }
            }
        }
    }

    fn line_too_long(&self) -> ReplyError {
        ReplyError::LineTooLong {
            limit: self.framer.max_line_length,
        }
    }

    fn error<'b>(
        &self,
        consumed: usize,
        error: ReplyError,
    ) -> Parsed<Result<Reply<'b>, ReplyError>> {
        Parsed {
            consumed,
            item: Some(Err(error)),
        }
    }
}

/// Whether `line` is the closing line of a multi-line reply with this code.
fn closes(line: &[u8], code: ReplyCode) -> bool {
    line.get(..3) == Some(&code.digits()[..]) && matches!(line.get(3), None | Some(b' '))
}

/// Builds the text of a complete multi-line reply: the codes of its first and last
/// lines removed, and the `123-` prefix that some servers put on every middle line.
fn assemble(code: ReplyCode, raw: &[u8]) -> Reply<'static> {
    let digits = code.digits();
    let mut text = Vec::with_capacity(raw.len());
    let mut lines = raw
        .strip_suffix(b"\n")
        .unwrap_or(raw)
        .split(|&byte| byte == b'\n')
        .peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let last = lines.peek().is_none();
        let body = if first || last {
            line.get(4..).unwrap_or_default()
        } else {
            match line.strip_prefix(&digits[..]) {
                Some(rest) if rest.first() == Some(&b'-') => &rest[1..],
                _ => line,
            }
        };
        if !first {
            text.push(b'\n');
        }
        text.extend_from_slice(&unescape_cr_nul(body));
        first = false;
    }
    Reply::new(code, Text::from(text))
}
