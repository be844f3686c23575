//! Streaming parsers for the control connection: command lines (server side) and replies
//! (client side).
//!
//! Framing, Telnet decoding and the line bound live here, once, for both directions;
//! the grammars of arguments and reply payloads live in the submodules, written with
//! `nom`, whose types never leave this module tree. A parser owns no buffer: the caller
//! keeps the bytes, calls `parse` with everything not yet consumed, and advances by
//! the `consumed` count it gets back. Incomplete input is never an error.

mod command;
mod reply;

use std::borrow::Cow;

pub use command::{CommandError, CommandParser, parse_command};
pub use reply::{DEFAULT_MAX_REPLY_LINES, ReplyError, ReplyParser, parse_reply};

/// The default bound on one line, in bytes without its line end (a common server limit).
pub const DEFAULT_MAX_LINE_LENGTH: usize = 4096;

/// The outcome of one call to a streaming parser.
///
/// `consumed` bytes at the front of the input are done with and must be dropped before
/// the next call, whether or not an item came out: a parser that is skipping an
/// over-long line consumes it as it arrives. `item` is `None` when more input is needed.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the consumed bytes must be dropped from the input before the next call"]
pub struct Parsed<T> {
    /// How many bytes at the front of the input are finished with.
    pub consumed: usize,
    /// The next item, or `None` when the input holds no complete item yet.
    pub item: Option<T>,
}

/// Where one line ends, found by [`LineFramer`].
enum Frame {
    /// A line whose content (line end stripped) is `start..end`, its LF at `consumed - 1`;
    /// `clean` when it needs no Telnet decoding.
    Line {
        start: usize,
        end: usize,
        consumed: usize,
        clean: bool,
    },
    /// A line longer than the bound, starting at `start`; everything up to `consumed`
    /// has been skipped.
    TooLong { start: usize, consumed: usize },
    /// No line end yet, `consumed` bytes skipped (non-zero only while skipping).
    Partial { consumed: usize },
}

/// Splits a byte stream into lines ending in LF (with or without CR), bounded in length.
///
/// An over-long line is reported once, as soon as it passes the bound, and its remaining
/// bytes are then consumed as they arrive, up to and including its LF: memory stays flat
/// whatever the peer sends (tokio's `LinesCodec` documents the same attack).
#[derive(Clone, Debug)]
struct LineFramer {
    max_line_length: usize,
    /// Bytes of the current partial line already searched for LF.
    scanned: usize,
    /// Whether we are skipping the rest of an over-long line.
    skipping: bool,
    /// Whether the current line's bytes scanned so far hold 0xFF or a CR that is not
    /// its line end: only such lines need Telnet decoding.
    dirty: bool,
}

impl LineFramer {
    fn new(max_line_length: usize) -> Self {
        LineFramer {
            max_line_length,
            scanned: 0,
            skipping: false,
            dirty: false,
        }
    }

    #[inline]
    fn next_frame(&mut self, input: &[u8]) -> Frame {
        let mut skipped = 0;
        if self.skipping {
            match memchr::memchr(b'\n', input) {
                Some(end) => {
                    self.skipping = false;
                    skipped = end + 1;
                }
                None => {
                    return Frame::Partial {
                        consumed: input.len(),
                    };
                }
            }
        }
        let rest = &input[skipped..];
        // Content, CR and LF: the LF of a line at the bound is at index `max + 1`.
        let window = rest.len().min(self.max_line_length.saturating_add(2));
        let from = self.scanned.min(window);
        match self.find_line_end(&rest[..window], from) {
            Some(end) => {
                self.scanned = 0;
                let clean = !std::mem::take(&mut self.dirty);
                let content = if end > 0 && rest[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                let consumed = skipped + end + 1;
                if content > self.max_line_length {
                    Frame::TooLong {
                        start: skipped,
                        consumed,
                    }
                } else {
                    Frame::Line {
                        start: skipped,
                        end: skipped + content,
                        consumed,
                        clean,
                    }
                }
            }
            // No LF yet, and the bytes so far (less a CR that may start the line end)
            // already exceed the bound: the line is too long whatever follows.
            None if rest.len() - usize::from(rest.last() == Some(&b'\r'))
                > self.max_line_length =>
            {
                self.scanned = 0;
                self.dirty = false;
                match memchr::memchr(b'\n', &rest[window..]) {
                    Some(offset) => Frame::TooLong {
                        start: skipped,
                        consumed: skipped + window + offset + 1,
                    },
                    None => {
                        self.skipping = true;
                        Frame::TooLong {
                            start: skipped,
                            consumed: input.len(),
                        }
                    }
                }
            }
            None => {
                self.scanned = window;
                Frame::Partial { consumed: skipped }
            }
        }
    }

    /// Finds the LF that ends the line in `window`, searching from `from`, and notes
    /// whether the line needs Telnet decoding, in the same pass over its bytes.
    #[inline]
    fn find_line_end(&mut self, window: &[u8], from: usize) -> Option<usize> {
        let mut position = from;
        while let Some(offset) = memchr::memchr3(b'\n', b'\r', 0xFF, &window[position..]) {
            let hit = position + offset;
            match window[hit] {
                b'\n' => return Some(hit),
                // A CR right before the LF is the line end; any other (or one whose
                // follower has not arrived yet) may be a CR NUL to decode.
                b'\r' if window.get(hit + 1) == Some(&b'\n') => return Some(hit + 1),
                _ => self.dirty = true,
            }
            position = hit + 1;
        }
        None
    }

    /// Frames `input` and slices the content of a complete line out of it.
    #[inline]
    fn next_line<'b>(&mut self, input: &'b [u8]) -> LineFrame<'b> {
        match self.next_frame(input) {
            Frame::Line {
                start,
                end,
                consumed,
                clean,
            } => LineFrame::Line {
                start,
                line: &input[start..end],
                consumed,
                clean,
            },
            Frame::TooLong { start, consumed } => LineFrame::TooLong {
                head: &input[start..consumed],
                consumed,
            },
            Frame::Partial { consumed } => LineFrame::Partial { consumed },
        }
    }
}

/// A framed line, borrowed from the input.
enum LineFrame<'b> {
    /// A complete line starting at `start`; `line` is its content without the line end;
    /// `clean` when it holds no 0xFF and no CR, so that Telnet decoding has nothing to do.
    Line {
        start: usize,
        line: &'b [u8],
        consumed: usize,
        clean: bool,
    },
    /// An over-long line: `head` is its start (at least the bound's worth of bytes).
    TooLong {
        head: &'b [u8],
        consumed: usize,
    },
    Partial {
        consumed: usize,
    },
}

/// Undoes Telnet framing inside one line: IAC IAC is a 0xFF byte, other IAC commands
/// (IP, DM, option negotiation) are dropped, and CR NUL is a CR (RFC 2640).
///
/// Borrows when there is nothing to undo, which is every line from a modern client.
#[inline]
fn telnet_decode(line: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(0xFF, b'\r', line).is_none() {
        return Cow::Borrowed(line);
    }
    let mut decoded = Vec::with_capacity(line.len());
    let mut index = 0;
    while index < line.len() {
        let byte = line[index];
        match byte {
            0xFF => match line.get(index + 1) {
                Some(0xFF) => {
                    decoded.push(0xFF);
                    index += 2;
                }
                // WILL, WONT, DO, DONT carry an option byte: drop all three.
                Some(251..=254) => index += 3,
                // IP, DM, NOP and the other Telnet commands.
                Some(240..=250) => index += 2,
                // Not a Telnet command: a client that sends 0xFF raw (a Latin-1 name)
                // loses nothing.
                Some(_) | None => {
                    decoded.push(0xFF);
                    index += 1;
                }
            },
            b'\r' if line.get(index + 1) == Some(&0) => {
                decoded.push(b'\r');
                index += 2;
            }
            _ => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    Cow::Owned(decoded)
}

/// Undoes RFC 2640's CR NUL escaping in reply text (replies carry no Telnet commands).
fn unescape_cr_nul(line: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memmem::find(line, b"\r\0").is_none() {
        return Cow::Borrowed(line);
    }
    let mut decoded = Vec::with_capacity(line.len());
    let mut index = 0;
    while index < line.len() {
        decoded.push(line[index]);
        index += if line[index] == b'\r' && line.get(index + 1) == Some(&0) {
            2
        } else {
            1
        };
    }
    Cow::Owned(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnet_commands_are_dropped_and_iac_iac_kept() {
        assert_eq!(&*telnet_decode(b"\xff\xf4\xff\xf2ABOR"), b"ABOR");
        assert_eq!(&*telnet_decode(b"RETR a\xff\xffb"), b"RETR a\xffb");
        assert_eq!(&*telnet_decode(b"NO\xff\xfb\x01OP"), b"NOOP");
        assert_eq!(&*telnet_decode(b"NOOP\xff"), b"NOOP\xff");
        assert_eq!(&*telnet_decode(b"caf\xff1"), b"caf\xff1");
        assert_eq!(&*telnet_decode(b"RETR a\r\0b"), b"RETR a\rb");
        assert!(matches!(telnet_decode(b"RETR plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn framer_bounds_lines() {
        let mut framer = LineFramer::new(4);
        assert!(matches!(
            framer.next_line(b"abcd\r\nrest"),
            LineFrame::Line {
                start: 0,
                line: b"abcd",
                consumed: 6,
                clean: true
            }
        ));
        assert!(matches!(
            framer.next_line(b"abcde"),
            LineFrame::TooLong { consumed: 5, .. }
        ));
        assert!(matches!(
            framer.next_line(b"xyz"),
            LineFrame::Partial { consumed: 3 }
        ));
        assert!(matches!(
            framer.next_line(b"z\nok\n"),
            LineFrame::Line {
                start: 2,
                line: b"ok",
                consumed: 5,
                clean: true
            }
        ));
    }

    #[test]
    fn cr_nul_unescaping() {
        assert_eq!(&*unescape_cr_nul(b"a\r\0b"), b"a\rb");
        assert!(matches!(unescape_cr_nul(b"plain"), Cow::Borrowed(_)));
    }
}
