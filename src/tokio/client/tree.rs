//! Directory-tree helpers: download a remote tree into a local directory and upload a
//! local tree to the server.
//!
//! This file owns the one defence a "download everything" helper needs: a name from the
//! server's listing becomes a single local path component or is refused
//! ([`check_listing_name`]), so that a hostile listing cannot write outside the target.
//! Symbolic links are never followed on either side.

use std::path::{Path, PathBuf};

use ::tokio::io::{AsyncRead, AsyncWrite};

use super::{Client, ClientError, Result};
use crate::listing::EntryKind;
use crate::text::Pathname;

/// How deep the tree helpers go before refusing: a server that lists a directory inside
/// itself forever must not recurse without end.
const MAX_DEPTH: usize = 64;

/// What a tree transfer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeSummary {
    /// Files transferred.
    pub files: u64,
    /// Directories created (locally for a download, on the server for an upload).
    pub directories: u64,
    /// File bytes transferred.
    pub bytes: u64,
    /// Entries left alone: symbolic links, devices and other non-files.
    pub skipped: Vec<Pathname<'static>>,
}

/// Refuses a listing name that is not exactly one harmless path component: empty, `.`,
/// `..`, holding `/`, `\` or NUL (an absolute path holds `/`), or, on Windows, a drive
/// prefix or a reserved character.
///
/// ```
/// use ftp_proto::tokio::check_listing_name;
/// assert!(check_listing_name(b"notes.txt").is_ok());
/// assert!(check_listing_name(b"..").is_err());
/// assert!(check_listing_name(b"../etc/passwd").is_err());
/// assert!(check_listing_name(b"/etc/passwd").is_err());
/// ```
pub fn check_listing_name(name: &[u8]) -> Result<()> {
    if !crate::listing::is_safe_file_name(name) {
        return Err(ClientError::UnsafeName {
            name: Pathname::from(name.to_vec()),
        });
    }
    Ok(())
}

/// The local path for a checked listing name.
fn local_name(name: &[u8]) -> Result<PathBuf> {
    check_listing_name(name)?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(name)))
    }
    #[cfg(not(unix))]
    {
        match std::str::from_utf8(name) {
            Ok(name) => Ok(PathBuf::from(name)),
            Err(_) => Err(ClientError::UnsafeName {
                name: Pathname::from(name.to_vec()),
            }),
        }
    }
}

fn remote_join(directory: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = directory.to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

#[cfg(unix)]
fn remote_name(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    path.file_name().map(|name| name.as_bytes().to_vec())
}

#[cfg(not(unix))]
fn remote_name(path: &Path) -> Option<Vec<u8>> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(|name| name.as_bytes().to_vec())
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Downloads the remote directory `remote` and everything under it into the local
    /// directory `local` (created if missing). Links and special files are skipped and
    /// listed in the summary. A listing name that would land outside `local` stops the
    /// download with [`ClientError::UnsafeName`].
    pub async fn download_tree(&mut self, remote: &str, local: &Path) -> Result<TreeSummary> {
        let mut summary = TreeSummary::default();
        let mut pending = vec![(remote.as_bytes().to_vec(), local.to_path_buf(), 0usize)];
        while let Some((directory, target, depth)) = pending.pop() {
            if depth > MAX_DEPTH {
                return Err(ClientError::UnexpectedOutput(
                    "a tree deeper than 64 levels",
                ));
            }
            ::tokio::fs::create_dir_all(&target)
                .await
                .map_err(ClientError::io("creating a local directory"))?;
            summary.directories += 1;
            let entries = self
                .list_path(Some(Pathname::from(directory.as_slice())))
                .await?;
            // Check every name before acting on any: a hostile listing writes nothing.
            for entry in &entries {
                local_name(entry.name.as_bytes())?;
            }
            for entry in entries {
                let name = entry.name.as_bytes();
                let path = target.join(local_name(name)?);
                let remote_path = remote_join(&directory, name);
                match entry.kind {
                    EntryKind::Directory => pending.push((remote_path, path, depth + 1)),
                    EntryKind::File => {
                        summary.bytes += self
                            .download_to_path(Pathname::from(remote_path), &path)
                            .await?;
                        summary.files += 1;
                    }
                    _ => summary.skipped.push(Pathname::from(remote_path)),
                }
            }
        }
        Ok(summary)
    }

    /// Downloads `remote` into the local file `local`; returns the number of bytes.
    ///
    /// The bytes go to a new temporary file in `local`'s directory (named
    /// `.NAME.part-PID-N`), which replaces `local` only once the server confirmed the
    /// transfer. A refused or failed download leaves an existing `local` as it was and
    /// removes the temporary file.
    pub async fn download_to_path<'p>(
        &mut self,
        remote: impl Into<Pathname<'p>>,
        local: &Path,
    ) -> Result<u64> {
        let local = match ::tokio::fs::metadata(local).await {
            // A device, a pipe (`/dev/null`, `/dev/stdout`): written into as it is. A
            // rename over it would replace the device node with a file.
            Ok(metadata) if !metadata.is_file() => {
                let mut sink = ::tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(local)
                    .await
                    .map_err(ClientError::io("opening the local file"))?;
                return self.download_to(remote, &mut sink).await;
            }
            // Through a symbolic link: the file it names is replaced, not the link.
            Ok(_) => ::tokio::fs::canonicalize(local)
                .await
                .map_err(ClientError::io("resolving the local path"))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => local.to_path_buf(),
            Err(source) => {
                return Err(ClientError::Io {
                    context: "reading the local path",
                    source,
                });
            }
        };
        let local = local.as_path();
        let (temporary, mut file) = temporary_beside(local)
            .await
            .map_err(ClientError::io("creating a local file"))?;
        let result = self.download_to(remote, &mut file).await;
        let result = match result {
            Ok(bytes) => match file.sync_all().await {
                Ok(()) => Ok(bytes),
                Err(source) => Err(ClientError::Io {
                    context: "writing the download",
                    source,
                }),
            },
            Err(error) => Err(error),
        };
        drop(file);
        match result {
            Ok(bytes) => match ::tokio::fs::rename(&temporary, local).await {
                Ok(()) => Ok(bytes),
                Err(source) => {
                    let _ = ::tokio::fs::remove_file(&temporary).await;
                    Err(ClientError::Io {
                        context: "renaming the download into place",
                        source,
                    })
                }
            },
            Err(error) => {
                let _ = ::tokio::fs::remove_file(&temporary).await;
                Err(error)
            }
        }
    }

    /// Uploads the local directory `local` and everything under it to the remote
    /// directory `remote`, creating directories as needed (an existing one is reused).
    /// Links and special files are skipped and listed in the summary.
    pub async fn upload_tree(&mut self, local: &Path, remote: &str) -> Result<TreeSummary> {
        let mut summary = TreeSummary::default();
        let mut pending = vec![(local.to_path_buf(), remote.as_bytes().to_vec(), 0usize)];
        while let Some((directory, target, depth)) = pending.pop() {
            if depth > MAX_DEPTH {
                return Err(ClientError::UnexpectedOutput(
                    "a tree deeper than 64 levels",
                ));
            }
            match self.mkdir(Pathname::from(target.clone())).await {
                Ok(_) => summary.directories += 1,
                // Most likely it exists; if not, the first upload into it says so.
                Err(ClientError::Protocol(crate::client::Error::Refused { .. })) => {}
                Err(error) => return Err(error),
            }
            let mut children = ::tokio::fs::read_dir(&directory)
                .await
                .map_err(ClientError::io("reading a local directory"))?;
            while let Some(child) = children
                .next_entry()
                .await
                .map_err(ClientError::io("reading a local directory"))?
            {
                let path = child.path();
                let Some(name) = remote_name(&path) else {
                    continue;
                };
                let remote_path = remote_join(&target, &name);
                let kind = child
                    .file_type()
                    .await
                    .map_err(ClientError::io("reading a local directory"))?;
                if kind.is_dir() {
                    pending.push((path, remote_path, depth + 1));
                } else if kind.is_file() {
                    let mut file = ::tokio::fs::File::open(&path)
                        .await
                        .map_err(ClientError::io("opening a local file"))?;
                    summary.bytes += self
                        .upload_from(Pathname::from(remote_path), &mut file)
                        .await?;
                    summary.files += 1;
                } else {
                    summary.skipped.push(Pathname::from(remote_path));
                }
            }
        }
        Ok(summary)
    }
}

/// Creates a new file beside `path` (same directory, so that a rename replaces `path`
/// atomically), under a name no other download uses.
async fn temporary_beside(path: &Path) -> std::io::Result<(PathBuf, ::tokio::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let directory = path.parent().unwrap_or_else(|| Path::new(""));
    loop {
        let mut temporary = std::ffi::OsString::from(".");
        temporary.push(name);
        temporary.push(format!(
            ".part-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let temporary = directory.join(temporary);
        match ::tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .await
        {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
}
