//! `Escaped`: peer-supplied text made safe for a log line. A user name or a path comes
//! from the network; written raw, a CR rewrites what an operator sees on a terminal, an
//! ANSI escape recolours or hides it, and U+202E (right-to-left override) reorders it.

use std::fmt::{self, Write};

/// Displays bytes from a peer with every control character (C0, DEL, C1), every bidi
/// override or isolate, the backslash and every byte that is not UTF-8 escaped, so that
/// a log line says exactly what arrived and nothing more.
pub(crate) struct Escaped<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                    c => f.write_char(c)?,
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    fn escaped(bytes: &[u8]) -> String {
        Escaped(bytes).to_string()
    }

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(escaped(b"alice"), "alice");
        assert_eq!(
            escaped("/d\u{e9}j\u{e0} vu/r\u{e9}sum\u{e9}.txt".as_bytes()),
            "/d\u{e9}j\u{e0} vu/r\u{e9}sum\u{e9}.txt"
        );
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(escaped(b"bob\rroot"), "bob\\u{d}root");
        assert_eq!(escaped(b"x\x1b[2Jy"), "x\\u{1b}[2Jy");
        assert_eq!(escaped(b"a\x7fb"), "a\\u{7f}b");
        assert_eq!(escaped("c\u{85}d".as_bytes()), "c\\u{85}d");
        assert_eq!(
            escaped("evil\u{202e}txt.exe".as_bytes()),
            "evil\\u{202e}txt.exe"
        );
        assert_eq!(
            escaped("\u{2066}x\u{2069}".as_bytes()),
            "\\u{2066}x\\u{2069}"
        );
    }

    #[test]
    fn backslashes_and_invalid_utf8_cannot_forge_an_escape() {
        assert_eq!(escaped(b"a\\u{d}b"), "a\\\\u{d}b");
        assert_eq!(escaped(b"\xff\xfe"), "\\xff\\xfe");
    }
}
