//! Virtual paths: what a user sees, rooted at `/`, with `.` and `..` resolved, never
//! above the root.
//!
//! This is the only place that turns a path argument into a location. Confinement to
//! the user's real root directory (and symlink resolution) is the storage back end's
//! job; this type guarantees that the path it is handed has no `..` and no NUL.

use std::fmt;

use crate::text::Pathname;

/// A normalised absolute virtual path: starts with `/`, has no empty, `.` or `..`
/// components, no trailing `/` (but for the root) and no NUL byte.
///
/// ```
/// use ftp_proto::Pathname;
/// use ftp_proto::server::VirtualPath;
///
/// let cwd = VirtualPath::root().join(&Pathname::from("pub/linux")).unwrap();
/// assert_eq!(cwd.as_bytes(), b"/pub/linux");
/// let escaped = cwd.join(&Pathname::from("../../../../etc/passwd")).unwrap();
/// assert_eq!(escaped.as_bytes(), b"/etc/passwd"); // still inside the user's root
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(Vec<u8>);

/// Why a path argument cannot name anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path holds a NUL byte, which no file system accepts in a name.
    #[error("path contains a NUL byte")]
    Nul,
}

impl VirtualPath {
    /// The root, `/`.
    pub fn root() -> VirtualPath {
        VirtualPath(b"/".to_vec())
    }

    /// Resolves `path` against `self`: absolute when it starts with `/`, relative
    /// otherwise; `.` is dropped, `..` climbs one level but never above the root, and
    /// repeated `/` are folded.
    pub fn join(&self, path: &Pathname<'_>) -> Result<VirtualPath, PathError> {
        let bytes = path.as_bytes();
        if bytes.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut resolved = if bytes.first() == Some(&b'/') {
            VirtualPath::root()
        } else {
            self.clone()
        };
        for component in bytes.split(|&byte| byte == b'/') {
            match component {
                b"" | b"." => {}
                b".." => resolved.pop(),
                name => resolved.push(name),
            }
        }
        Ok(resolved)
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0 == b"/"
    }

    /// The path's bytes, starting with `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as a [`Pathname`] (for replies).
    pub fn to_pathname(&self) -> Pathname<'_> {
        Pathname::borrowed(&self.0)
    }

    /// The components from the root down, none of them empty, `.` or `..`.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0[1..]
            .split(|&byte| byte == b'/')
            .filter(|part| !part.is_empty())
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.components().last()
    }

    /// The parent directory (the root's parent is the root).
    pub fn parent(&self) -> VirtualPath {
        let mut parent = self.clone();
        parent.pop();
        parent
    }

    fn pop(&mut self) {
        if let Some(slash) = self.0.iter().rposition(|&byte| byte == b'/') {
            self.0.truncate(slash.max(1));
        }
    }

    fn push(&mut self, name: &[u8]) {
        if !self.is_root() {
            self.0.push(b'/');
        }
        self.0.extend_from_slice(name);
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualPath(\"{}\")", self.0.escape_ascii())
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(from: &str, path: &str) -> String {
        let base = VirtualPath::root().join(&Pathname::from(from)).unwrap();
        base.join(&Pathname::from(path)).unwrap().to_string()
    }

    #[test]
    fn normalises_and_confines() {
        let cases = [
            ("/", "a", "/a"),
            ("/a", "b/c", "/a/b/c"),
            ("/a/b", "..", "/a"),
            ("/a/b", "../..", "/"),
            ("/a/b", "../../../..", "/"),
            ("/a", "/x/./y//z/", "/x/y/z"),
            ("/a", ".", "/a"),
            ("/a", "", "/a"),
            ("/", "..", "/"),
            ("/a", "/../../etc", "/etc"),
            ("/a", "b/../../c", "/c"),
            ("/", "dir with spaces/ x ", "/dir with spaces/ x "),
            ("/", "...", "/..."),
            ("/", "a\\..\\b", "/a\\..\\b"),
        ];
        for (from, path, expected) in cases {
            assert_eq!(resolve(from, path), expected, "{from} + {path}");
        }
    }

    #[test]
    fn refuses_nul_and_keeps_non_utf8() {
        assert_eq!(
            VirtualPath::root().join(&Pathname::borrowed(b"a\0b")),
            Err(PathError::Nul)
        );
        let latin1 = VirtualPath::root()
            .join(&Pathname::borrowed(b"caf\xe9"))
            .unwrap();
        assert_eq!(latin1.as_bytes(), b"/caf\xe9");
        assert_eq!(latin1.file_name(), Some(&b"caf\xe9"[..]));
        assert_eq!(latin1.parent(), VirtualPath::root());
        assert_eq!(VirtualPath::root().file_name(), None);
    }
}
