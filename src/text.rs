//! Octet strings as FTP carries them: paths and free text.
//!
//! FTP moves bytes, not Unicode. A server on a Latin-1 file system sends names that are
//! not valid UTF-8, and a client must be able to name them back byte for byte. So every
//! path and text argument here is an octet string that borrows from the input when it
//! can and owns its bytes when it must. Conversions to `str` are explicit and fallible
//! (or lossy, by name).

use std::borrow::Cow;
use std::fmt;

/// Defines one octet-string newtype; the two public ones differ only in meaning.
macro_rules! octet_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name<'a>(Cow<'a, [u8]>);

        impl<'a> $name<'a> {
            /// Wraps bytes, borrowed or owned, without checking or copying them.
            pub fn new(bytes: impl Into<Cow<'a, [u8]>>) -> Self {
                Self(bytes.into())
            }

            /// Borrows a byte slice (a `const` constructor for statics and tables).
            pub const fn borrowed(bytes: &'a [u8]) -> Self {
                Self(Cow::Borrowed(bytes))
            }

            /// The raw bytes, exactly as they travel on the wire (after Telnet decoding).
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// The bytes as UTF-8, or `None` when they are not valid UTF-8.
            pub fn to_str(&self) -> Option<&str> {
                std::str::from_utf8(&self.0).ok()
            }

            /// The bytes as UTF-8 with invalid sequences replaced by U+FFFD (for display).
            pub fn to_string_lossy(&self) -> Cow<'_, str> {
                String::from_utf8_lossy(&self.0)
            }

            /// The number of bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether there are no bytes at all.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Whether the bytes are borrowed from the input rather than owned.
            pub fn is_borrowed(&self) -> bool {
                matches!(self.0, Cow::Borrowed(_))
            }

            /// An owned copy that no longer borrows from the input.
            pub fn into_owned(self) -> $name<'static> {
                $name(Cow::Owned(self.0.into_owned()))
            }

            /// A borrowed view of this value (cheap: no copy).
            pub fn as_borrowed(&self) -> $name<'_> {
                $name(Cow::Borrowed(&self.0))
            }

            /// The bytes, owned.
            pub fn into_bytes(self) -> Vec<u8> {
                self.0.into_owned()
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Escaped, so that control bytes in hostile input cannot forge log lines.
                write!(f, "\"{}\"", self.0.escape_ascii())
            }
        }

        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_string_lossy())
            }
        }

        impl AsRef<[u8]> for $name<'_> {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl<'a> From<&'a str> for $name<'a> {
            fn from(value: &'a str) -> Self {
                Self(Cow::Borrowed(value.as_bytes()))
            }
        }

        impl<'a> From<&'a [u8]> for $name<'a> {
            fn from(value: &'a [u8]) -> Self {
                Self(Cow::Borrowed(value))
            }
        }

        impl From<String> for $name<'static> {
            fn from(value: String) -> Self {
                Self(Cow::Owned(value.into_bytes()))
            }
        }

        impl From<Vec<u8>> for $name<'static> {
            fn from(value: Vec<u8>) -> Self {
                Self(Cow::Owned(value))
            }
        }

        impl PartialEq<str> for $name<'_> {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other.as_bytes()
            }
        }

        impl PartialEq<&str> for $name<'_> {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == *other.as_bytes()
            }
        }

        impl PartialEq<[u8]> for $name<'_> {
            fn eq(&self, other: &[u8]) -> bool {
                *self.0 == *other
            }
        }
    };
}

octet_string!(
    /// A path name as the peer wrote it: `/pub/file.txt`, `docs`, `..`.
    ///
    /// Kept byte for byte, not necessarily UTF-8, never trimmed (RFC 2640 §3.1: spaces
    /// after the first one belong to the name). Normalising and confining a path to a
    /// user's root is the server session's job, not this type's.
    ///
    /// ```
    /// use ftp_proto::Pathname;
    /// let latin1 = Pathname::borrowed(b"caf\xe9.txt");
    /// assert_eq!(latin1.as_bytes(), b"caf\xe9.txt");
    /// assert_eq!(latin1.to_str(), None);
    /// assert_eq!(latin1.to_string_lossy(), "caf\u{fffd}.txt");
    /// ```
    Pathname
);

octet_string!(
    /// Free text from the protocol: a user name, a password, a `SITE` subcommand, a
    /// reply's text, an unknown verb. Kept byte for byte, not necessarily UTF-8.
    Text
);
