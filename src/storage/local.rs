//! `LocalFs`: a [`Storage`] over a directory of the local file system, confined to it.
//!
//! Every path is resolved with `cap-std`, which opens each component relative to the
//! root directory's handle and refuses `..`, absolute paths and symbolic links that
//! lead outside (with `openat2(RESOLVE_BENEATH)` where the kernel has it): there is no
//! check-then-open race to win. Blocking calls run on tokio's blocking pool.
//!
//! Uploads with [`WriteMode::Create`] go to a staging file in the target's directory
//! and are renamed over the target only on commit, so a client that goes away
//! mid-upload never leaves a half-written file in place of the old one. On Linux the
//! staging file is made with `O_TMPFILE`: it has no name until commit, so a server
//! killed mid-upload leaves nothing behind (the kernel frees it). Where `O_TMPFILE` is
//! not supported (some file systems, other systems) it is a named file whose name
//! begins with [`STAGING_PREFIX`]; at commit an anonymous one is given such a name for
//! the instant before the rename. Either way, names with that prefix are the server's
//! own: listings leave them out and no command can name them, so a staging file left
//! by a killed server is never seen, read, replaced or deleted through FTP (only
//! through the file system).
//!
//! Only regular files and directories are served: a named pipe, socket or device is
//! listed, but every transfer, SIZE and MFMT of one is refused
//! ([`StorageError::NotARegularFile`]). Files are opened with `O_NONBLOCK` and checked
//! on the opened descriptor, so a pipe swapped in between a check and the open cannot
//! block a session either.

use std::ffi::OsString;
use std::future::Future as _;
use std::io::{self, Seek, SeekFrom, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::SystemTime;

use ::tokio::io::AsyncWrite;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt as _};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{Lister, Storage, Upload};
use crate::server::{Capabilities, FileKind, Metadata, StorageError, VirtualPath, WriteMode};
use crate::text::Text;

/// Entries read from a directory per trip to the blocking pool.
const LIST_BATCH: usize = 256;

/// The prefix of [`LocalFs`]'s staging files (uploads not yet committed). A name that
/// begins with it is never listed and never reachable through FTP: a path with such a
/// component is refused ([`StorageError::InvalidName`]). Short, and independent of the
/// target's name, so that a name as long as the file system allows can be uploaded.
pub const STAGING_PREFIX: &str = ".ftp-proto-part-";

/// Whether a directory entry's name is one of the server's staging files.
fn is_staging_name(name: &[u8]) -> bool {
    name.starts_with(STAGING_PREFIX.as_bytes())
}

/// A directory of the local file system, served as the root `/`. Unix only.
#[derive(Debug, Clone)]
pub struct LocalFs {
    root: Arc<Dir>,
}

impl LocalFs {
    /// Serves the directory at `root`.
    pub fn new(root: impl AsRef<Path>) -> io::Result<LocalFs> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        Ok(LocalFs {
            root: Arc::new(dir),
        })
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Dir) -> io::Result<T> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        match ::tokio::task::spawn_blocking(move || work(&root)).await {
            Ok(result) => result.map_err(storage_error),
            Err(_) => Err(StorageError::Other("storage task failed".into())),
        }
    }
}

/// The path relative to the root, as cap-std wants it. Backslashes are refused: on
/// Windows-minded clients they are separators, and a name with one is never needed.
fn relative(path: &VirtualPath) -> Result<PathBuf, StorageError> {
    if path.is_root() {
        return Ok(PathBuf::from("."));
    }
    let bytes = &path.as_bytes()[1..];
    if bytes.contains(&b'\\') || path.components().any(is_staging_name) {
        return Err(StorageError::InvalidName);
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

/// The error a check inside a blocking call gives for a file that is not a regular
/// one: the core's mapping ([`StorageError::from_io`]) takes the wrapped error as is.
fn not_regular() -> io::Error {
    io::Error::other(StorageError::NotARegularFile)
}

/// The storage error for an I/O error of the local file system: the core's mapping,
/// after two conditions it cannot name by kind within the crate's MSRV, named here by
/// rustix's portable constants rather than Linux's numbers. ENXIO is what opening a
/// pipe for writing without blocking answers when no one reads it; ENAMETOOLONG's kind
/// (`InvalidFilename`) is stable from Rust 1.87 only.
fn storage_error(error: io::Error) -> StorageError {
    match Errno::from_io_error(&error) {
        Some(Errno::NAMETOOLONG) => StorageError::InvalidName,
        Some(Errno::NXIO) => StorageError::NotARegularFile,
        _ => StorageError::from_io(&error),
    }
}

/// Opens `path` with `options` and `O_NONBLOCK`, so that opening a named pipe returns
/// at once instead of waiting for its other end; then refuses the opened file unless
/// it is a regular file (or, with `directories`, a directory), and clears `O_NONBLOCK`.
/// The check is on the descriptor itself: nothing can be swapped in after it.
fn open_regular(
    root: &Dir,
    path: &Path,
    options: &mut OpenOptions,
    directories: bool,
) -> io::Result<std::fs::File> {
    options.custom_flags(OFlags::NONBLOCK.bits() as i32);
    let file = root.open_with(path, options)?.into_std();
    let kind = file.metadata()?.file_type();
    if kind.is_dir() && !directories {
        return Err(io::ErrorKind::IsADirectory.into());
    }
    if !kind.is_file() && !kind.is_dir() {
        return Err(not_regular());
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
    Ok(file)
}

fn metadata_of(metadata: &cap_std::fs::Metadata, link_target: Option<PathBuf>) -> Metadata {
    let kind = if metadata.is_dir() {
        FileKind::Directory
    } else if metadata.is_file() {
        FileKind::File
    } else if metadata.file_type().is_symlink() {
        FileKind::Symlink(
            link_target.map(|target| Text::from(target.as_os_str().as_bytes().to_vec())),
        )
    } else {
        FileKind::Other
    };
    let modified = metadata.modified().ok().map(|time| time.into_std());
    let mut result = match kind {
        FileKind::Directory => Metadata::directory(modified),
        _ => Metadata::file(metadata.len(), modified),
    };
    result.kind = kind;
    result.with_mode(metadata.mode())
}

/// Counter for staging names, unique within the process.
static UPLOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Storage for LocalFs {
    type Reader = ::tokio::fs::File;
    type Upload = LocalUpload;
    type Lister = LocalLister;

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn sendfile_source(reader: &::tokio::fs::File) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd as _;
        Some(reader.as_fd())
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let relative = relative(path)?;
        self.blocking(move |root| root.metadata(&relative).map(|m| metadata_of(&m, None)))
            .await
    }

    async fn list(&self, path: &VirtualPath) -> Result<LocalLister, StorageError> {
        let relative = relative(path)?;
        let name = path.file_name().unwrap_or(b".").to_vec();
        self.blocking(move |root| {
            let metadata = root.metadata(&relative)?;
            if !metadata.is_dir() {
                return Ok(LocalLister {
                    dir: None,
                    entries: None,
                    buffered: vec![(Text::from(name), metadata_of(&metadata, None))],
                });
            }
            let dir = root.open_dir(&relative)?;
            let entries = dir.entries()?;
            Ok(LocalLister {
                dir: Some(Arc::new(dir)),
                entries: Some(entries),
                buffered: Vec::new(),
            })
        })
        .await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(::tokio::fs::File, Option<u64>), StorageError> {
        let relative = relative(path)?;
        self.blocking(move |root| {
            let mut file = open_regular(root, &relative, OpenOptions::new().read(true), false)?;
            let metadata = file.metadata()?;
            file.seek(SeekFrom::Start(offset))?;
            let left = metadata.len().saturating_sub(offset);
            Ok((::tokio::fs::File::from_std(file), Some(left)))
        })
        .await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(LocalUpload, VirtualPath), StorageError> {
        let relative = relative(path)?;
        let virtual_path = path.clone();
        self.blocking(move |dir| {
            // A friendlier refusal than the open's; the open checks again, on the
            // descriptor, and the rename at commit replaces whatever the name is then.
            // It also refuses a name too long for the file system now, not at commit
            // (an O_TMPFILE has no name to be refused before then).
            match dir.metadata(&relative) {
                Ok(metadata) if metadata.is_dir() => {
                    return Err(io::ErrorKind::IsADirectory.into());
                }
                Ok(metadata) if !metadata.is_file() => return Err(not_regular()),
                Ok(_) => {}
                // Nothing there yet; or a symbolic link that leads outside the root,
                // which the rename at commit replaces without following it.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                    ) => {}
                Err(error) => return Err(error),
            }
            let mut options = OpenOptions::new();
            let (file, staging, final_path) = match mode {
                WriteMode::Create => {
                    let (file, staging) = Staging::create(dir, &relative)?;
                    (file, Some(staging), virtual_path)
                }
                WriteMode::At(offset) => {
                    let mut file = open_regular(dir, &relative, options.write(true), false)?;
                    file.seek(SeekFrom::Start(offset))?;
                    (file, None, virtual_path)
                }
                WriteMode::Append => {
                    options.append(true).create(true);
                    (
                        open_regular(dir, &relative, &mut options, false)?,
                        None,
                        virtual_path,
                    )
                }
                WriteMode::Unique => {
                    options.write(true).create_new(true);
                    let mut attempt = 0u32;
                    loop {
                        let (candidate, candidate_path) = if attempt == 0 {
                            (relative.clone(), virtual_path.clone())
                        } else {
                            let mut name = relative.as_os_str().to_owned();
                            name.push(format!(".{attempt}"));
                            let mut bytes = virtual_path.as_bytes().to_vec();
                            bytes.extend_from_slice(format!(".{attempt}").as_bytes());
                            let vpath = VirtualPath::root()
                                .join(&crate::Pathname::from(bytes))
                                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                            (PathBuf::from(name), vpath)
                        };
                        match dir.open_with(&candidate, &options) {
                            Ok(file) => break (file.into_std(), None, candidate_path),
                            Err(error)
                                if error.kind() == io::ErrorKind::AlreadyExists
                                    && attempt < 1000 =>
                            {
                                attempt += 1;
                            }
                            Err(error) => return Err(error),
                        }
                    }
                }
            };
            let upload = LocalUpload::new(file, staging);
            Ok((upload, final_path))
        })
        .await
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let relative = relative(path)?;
        self.blocking(move |root| root.remove_file(&relative)).await
    }

    async fn make_directory(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let relative = relative(path)?;
        self.blocking(move |root| root.create_dir(&relative)).await
    }

    async fn remove_directory(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        let relative = relative(path)?;
        self.blocking(move |root| root.remove_dir(&relative)).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        let (from, to) = (relative(from)?, relative(to)?);
        self.blocking(move |root| root.rename(&from, root, &to))
            .await
    }

    async fn set_modified(
        &self,
        path: &VirtualPath,
        modified: SystemTime,
    ) -> Result<(), StorageError> {
        let relative = relative(path)?;
        self.blocking(move |root| {
            open_regular(root, &relative, OpenOptions::new().read(true), true)?
                .set_modified(modified)
        })
        .await
    }
}

/// A fresh staging name: [`STAGING_PREFIX`], the process id and a counter. Other
/// processes serving the same tree may pick the same one (pid namespaces): every name
/// is created exclusively, and taken names are skipped.
fn staging_name() -> OsString {
    let counter = UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!("{STAGING_PREFIX}{}-{counter}", std::process::id()))
}

/// Tries `attempt` with fresh staging names until one is free.
fn with_staging_name(mut attempt: impl FnMut(&OsString) -> io::Result<()>) -> io::Result<OsString> {
    for _ in 0..1000 {
        let name = staging_name();
        match attempt(&name) {
            Ok(()) => return Ok(name),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Err(io::ErrorKind::AlreadyExists.into())
}

/// Whether `/proc/self/fd` is there to give an `O_TMPFILE` file a name at commit
/// (`linkat` with `AT_EMPTY_PATH` would need a privilege).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn proc_self_fd() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// Where a new file's bytes wait until commit: in the target's directory (a rename
/// cannot cross file systems), without a name where the system allows it.
#[derive(Debug)]
struct Staging {
    /// The target's directory, held open: the commit renames within it, whatever
    /// happens to the path meanwhile.
    dir: Dir,
    /// The target's name in `dir`.
    target: OsString,
    /// The staging file's name; `None` while it is an `O_TMPFILE` without one.
    name: Option<OsString>,
}

impl Staging {
    /// Creates the staging file for the target `relative`.
    fn create(root: &Dir, relative: &Path) -> io::Result<(std::fs::File, Staging)> {
        let target = relative
            .file_name()
            .ok_or(io::ErrorKind::InvalidInput)?
            .to_owned();
        let dir = match relative.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => root.open_dir(parent)?,
            _ => root.try_clone()?,
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if proc_self_fd() {
            // Mode 0o666 less the umask, as for any new file.
            let mode = Mode::from_raw_mode(0o666);
            let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
            match rustix::fs::openat(&dir, ".", flags, mode) {
                Ok(fd) => {
                    let staging = Staging {
                        dir,
                        target,
                        name: None,
                    };
                    return Ok((std::fs::File::from(fd), staging));
                }
                // No O_TMPFILE here (the file system, or an old kernel that takes the
                // flag for O_DIRECTORY): a named staging file instead.
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::NOENT | Errno::INVAL) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Staging::named(dir, target)
    }

    /// The fallback: a named, hidden staging file in `dir`.
    fn named(dir: Dir, target: OsString) -> io::Result<(std::fs::File, Staging)> {
        let mode = Mode::from_raw_mode(0o666);
        let mut file = None;
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let name = with_staging_name(|name| {
            file = Some(rustix::fs::openat(&dir, name.as_os_str(), flags, mode)?);
            Ok(())
        })?;
        let file = std::fs::File::from(file.ok_or(io::ErrorKind::NotFound)?);
        Ok((
            file,
            Staging {
                dir,
                target,
                name: Some(name),
            },
        ))
    }

    /// Gives the staging file (still open as `file`) the target's name, replacing any
    /// file of that name.
    fn commit(&mut self, file: &std::fs::File) -> io::Result<()> {
        if self.name.is_none() {
            // An O_TMPFILE: it needs a name of its own first (Linux has no "link over
            // an existing name"); a hidden one, for the instant before the rename.
            let source = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(file));
            let name = with_staging_name(|name| {
                rustix::fs::linkat(
                    rustix::fs::CWD,
                    source.as_str(),
                    &self.dir,
                    name.as_os_str(),
                    AtFlags::SYMLINK_FOLLOW,
                )
                .map_err(io::Error::from)
            })?;
            self.name = Some(name);
        }
        let name = self.name.as_ref().ok_or(io::ErrorKind::NotFound)?;
        rustix::fs::renameat(
            &self.dir,
            name.as_os_str(),
            &self.dir,
            self.target.as_os_str(),
        )?;
        self.name = None;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Not committed: a named staging file goes (an anonymous one went with its
        // descriptor); the old file, if any, stays.
        if let Some(name) = self.name.take() {
            let _ = rustix::fs::unlinkat(&self.dir, name.as_os_str(), AtFlags::empty());
        }
    }
}

/// Bytes an upload gathers in memory before they go to the file in one trip to the
/// blocking pool. Each trip costs two thread wake-ups; a file smaller than this makes
/// one trip for its bytes and its rename together, at commit. An upload holds up to two
/// batches (one filling, one being written): at 1 MiB, 32 uploads at once took the
/// server's peak memory to twice pyftpdlib's (benches/memory_under_load.sh).
const UPLOAD_BATCH: usize = 256 * 1024;

/// A write on the blocking pool; it hands the file and the (spent) buffer back.
type Writing = ::tokio::task::JoinHandle<(std::fs::File, Vec<u8>, io::Result<()>)>;

/// A file being uploaded to a [`LocalFs`].
///
/// A new file's bytes are gathered into batches of up to 256 KiB, each written on the
/// blocking pool while the next one fills; the last batch is written, and the file
/// renamed into place, in one trip at commit. Appends and resumed uploads write each
/// chunk through as it comes.
pub struct LocalUpload {
    /// The file, while no write is in flight.
    file: Option<std::fs::File>,
    /// Bytes accepted but not yet handed to a write.
    batch: Vec<u8>,
    /// An empty buffer to take over from `batch` when it goes to a write.
    spare: Vec<u8>,
    writing: Option<Writing>,
    /// For [`WriteMode::Create`]: the staging file's place and the name it takes on
    /// commit. Dropped uncommitted, it removes a named staging file.
    staging: Option<Staging>,
}

impl std::fmt::Debug for LocalUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUpload")
            .field("batched", &self.batch.len())
            .field("writing", &self.writing.is_some())
            .field("staging", &self.staging)
            .finish()
    }
}

impl LocalUpload {
    fn new(file: std::fs::File, staging: Option<Staging>) -> Self {
        LocalUpload {
            file: Some(file),
            batch: Vec::new(),
            spare: Vec::new(),
            writing: None,
            staging,
        }
    }

    /// Waits for the write in flight, if any, and takes the file back.
    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(writing) = &mut self.writing {
            let finished = std::task::ready!(Pin::new(writing).poll(cx));
            self.writing = None;
            let (file, mut spent, result) =
                finished.map_err(|_| io::Error::other("the upload's write task failed"))?;
            self.file = Some(file);
            spent.clear();
            self.spare = spent;
            result?;
        }
        Poll::Ready(Ok(()))
    }

    /// Hands the batch to a write on the blocking pool; the write must be finished.
    fn start_write(&mut self) -> io::Result<()> {
        let file = self.file.take().ok_or_else(lost_file)?;
        let batch = std::mem::replace(&mut self.batch, std::mem::take(&mut self.spare));
        self.writing = Some(::tokio::task::spawn_blocking(move || {
            let result = (&file).write_all(&batch);
            (file, batch, result)
        }));
        Ok(())
    }
}

fn lost_file() -> io::Error {
    io::Error::other("an earlier write of this upload failed")
}

impl AsyncWrite for LocalUpload {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A new file is invisible until commit, so its bytes may wait in memory. An
        // append or a resumed upload writes through: when the client is cut off, every
        // byte that arrived is in the file (a client resuming asks SIZE next).
        let write_through = this.staging.is_none();
        if write_through || this.batch.len() >= UPLOAD_BATCH {
            std::task::ready!(this.poll_written(cx))?;
            if !this.batch.is_empty() {
                this.start_write()?;
            }
        }
        let taken = buf.len().min(UPLOAD_BATCH - this.batch.len());
        this.batch.extend_from_slice(&buf[..taken]);
        if write_through {
            this.start_write()?;
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_written(cx))?;
        if !this.batch.is_empty() {
            this.start_write()?;
            std::task::ready!(this.poll_written(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Upload for LocalUpload {
    async fn commit(mut self) -> Result<(), StorageError> {
        std::future::poll_fn(|cx| self.poll_written(cx))
            .await
            .map_err(storage_error)?;
        let file = self
            .file
            .take()
            .ok_or_else(lost_file)
            .map_err(storage_error)?;
        let batch = std::mem::take(&mut self.batch);
        let staging = self.staging.take();
        // The last bytes and the rename in one trip. A failure drops the staging file
        // (and removes its name, if it has one) there too.
        ::tokio::task::spawn_blocking(move || {
            (&file).write_all(&batch)?;
            match staging {
                Some(mut staging) => staging.commit(&file),
                None => Ok(()),
            }
        })
        .await
        .map_err(|_| StorageError::Other("storage task failed".into()))?
        .map_err(storage_error)
    }
}

/// A directory listing of a [`LocalFs`], read in batches on the blocking pool.
#[derive(Debug)]
pub struct LocalLister {
    dir: Option<Arc<Dir>>,
    entries: Option<cap_std::fs::ReadDir>,
    /// Entries read but not yet handed out, in reverse order.
    buffered: Vec<(Text<'static>, Metadata)>,
}

impl Lister for LocalLister {
    async fn next_entry(&mut self) -> Result<Option<(Text<'static>, Metadata)>, StorageError> {
        // A batch may come back empty with entries still to read (all of them staging
        // files, say): then read on.
        while self.buffered.is_empty() {
            let (Some(dir), Some(mut entries)) = (self.dir.clone(), self.entries.take()) else {
                return Ok(None);
            };
            let (entries, batch, read) = ::tokio::task::spawn_blocking(move || {
                let mut batch = Vec::with_capacity(LIST_BATCH);
                let mut read = 0;
                for entry in entries.by_ref().take(LIST_BATCH) {
                    read += 1;
                    let Ok(entry) = entry else { continue };
                    let name = entry.file_name();
                    if is_staging_name(name.as_bytes()) {
                        continue;
                    }
                    // Describe links themselves, with their targets, as `ls -l` does.
                    let Ok(metadata) = dir.symlink_metadata(&name) else {
                        continue;
                    };
                    let target = metadata
                        .file_type()
                        .is_symlink()
                        .then(|| dir.read_link_contents(&name).ok())
                        .flatten();
                    batch.push((
                        Text::from(name.as_bytes().to_vec()),
                        metadata_of(&metadata, target),
                    ));
                }
                (entries, batch, read)
            })
            .await
            .map_err(|_| StorageError::Other("storage task failed".into()))?;
            if read < LIST_BATCH {
                // The end of the directory: no more trips after this batch.
                self.dir = None;
            }
            self.entries = Some(entries);
            self.buffered = batch;
            self.buffered.reverse();
        }
        Ok(self.buffered.pop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::tokio::io::AsyncWriteExt as _;
    use std::os::unix::fs::FileTypeExt as _;

    /// A fresh directory under the system's temporary one, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "ftp-proto-local-{name}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }

        /// The names in the directory, sorted.
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn path(name: &str) -> VirtualPath {
        VirtualPath::root()
            .join(&crate::Pathname::from(name.as_bytes().to_vec()))
            .unwrap()
    }

    /// 2.5 batches of bytes, no two 4 KiB blocks alike, written in uneven chunks.
    fn content() -> Vec<u8> {
        (0..UPLOAD_BATCH * 5 / 2)
            .map(|i| (i / 4096 + i % 251) as u8)
            .collect()
    }

    async fn write_in_chunks(upload: &mut LocalUpload, data: &[u8]) {
        for chunk in data.chunks(65_521) {
            upload.write_all(chunk).await.unwrap();
        }
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_file_appears_whole_at_commit_and_not_before() {
        let dir = Scratch::new("create");
        std::fs::write(dir.0.join("f"), b"old").unwrap();
        let fs = LocalFs::new(&dir.0).unwrap();
        let data = content();
        let (mut upload, _) = fs.open_write(&path("f"), WriteMode::Create).await.unwrap();
        write_in_chunks(&mut upload, &data).await;
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"old");
        upload.commit().await.unwrap();
        assert!(std::fs::read(dir.0.join("f")).unwrap() == data);
        assert_eq!(dir.names(), ["f"], "no temporary file is left");
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_new_file_is_written_at_commit() {
        let dir = Scratch::new("small");
        let fs = LocalFs::new(&dir.0).unwrap();
        let (mut upload, _) = fs.open_write(&path("f"), WriteMode::Create).await.unwrap();
        upload.write_all(b"small").await.unwrap();
        assert!(
            upload.writing.is_none(),
            "nothing goes to the file before commit"
        );
        upload.commit().await.unwrap();
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"small");
    }

    #[test]
    fn a_new_file_dropped_midway_leaves_the_old_one_and_no_temporary() {
        let dir = Scratch::new("dropped");
        std::fs::write(dir.0.join("f"), b"old").unwrap();
        let runtime = ::tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let fs = LocalFs::new(&dir.0).unwrap();
            let (mut upload, _) = fs.open_write(&path("f"), WriteMode::Create).await.unwrap();
            write_in_chunks(&mut upload, &content()).await;
            assert!(upload.writing.is_some(), "a batch is being written");
        });
        // Dropping the runtime waits for the blocking pool's writes.
        drop(runtime);
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"old");
        assert_eq!(dir.names(), ["f"]);
    }

    #[test]
    fn an_append_cut_short_keeps_every_byte_written() {
        let dir = Scratch::new("append");
        std::fs::write(dir.0.join("f"), b"head:").unwrap();
        let data = content();
        // One blocking thread runs the pool's tasks in order: when a task spawned after
        // the drop has run, so have the upload's writes.
        let runtime = ::tokio::runtime::Builder::new_multi_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            let fs = LocalFs::new(&dir.0).unwrap();
            let (mut upload, _) = fs.open_write(&path("f"), WriteMode::Append).await.unwrap();
            write_in_chunks(&mut upload, &data).await;
            // The client goes away: no commit, no flush.
            drop(upload);
            ::tokio::task::spawn_blocking(|| ()).await.unwrap();
        });
        let written = std::fs::read(dir.0.join("f")).unwrap();
        assert_eq!(&written[..5], b"head:");
        assert!(
            written[5..] == data[..],
            "{} bytes appended",
            written.len() - 5
        );
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_file_has_no_name_in_the_tree_until_commit() {
        let dir = Scratch::new("anonymous");
        std::fs::write(dir.0.join("f"), b"old").unwrap();
        let fs = LocalFs::new(&dir.0).unwrap();
        let data = content();
        let (mut upload, _) = fs.open_write(&path("f"), WriteMode::Create).await.unwrap();
        write_in_chunks(&mut upload, &data).await;
        std::future::poll_fn(|cx| Pin::new(&mut upload).poll_flush(cx))
            .await
            .unwrap();
        // The bytes are in the staging file, which has no name (O_TMPFILE, where the
        // file system has it): a server killed now leaves nothing behind.
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        if rustix::fs::open(&dir.0, flags, Mode::from_raw_mode(0o600)).is_ok() {
            assert_eq!(dir.names(), ["f"], "no staging file has a name");
        } else {
            eprintln!("no O_TMPFILE in {}: a named staging file", dir.0.display());
            assert_eq!(dir.names().len(), 2);
        }
        upload.commit().await.unwrap();
        assert!(std::fs::read(dir.0.join("f")).unwrap() == data);
        assert_eq!(dir.names(), ["f"]);
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_name_as_long_as_the_file_system_allows_uploads() {
        let dir = Scratch::new("long");
        let fs = LocalFs::new(&dir.0).unwrap();
        let name = "n".repeat(255);
        let (mut upload, _) = fs
            .open_write(&path(&name), WriteMode::Create)
            .await
            .unwrap();
        upload.write_all(b"long").await.unwrap();
        upload.commit().await.unwrap();
        assert_eq!(std::fs::read(dir.0.join(&name)).unwrap(), b"long");
        // One byte more is the file system's refusal, as a name refusal (553).
        let longer = "n".repeat(256);
        assert_eq!(
            fs.open_write(&path(&longer), WriteMode::Create)
                .await
                .map(drop),
            Err(StorageError::InvalidName)
        );
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn staging_names_are_never_listed_nor_reachable() {
        let dir = Scratch::new("hidden");
        // Left by a server killed between naming a staging file and renaming it, or by
        // one on a file system without O_TMPFILE; and more of them than one listing
        // batch, so that a batch of nothing but hidden names comes back empty.
        for index in 0..LIST_BATCH + 3 {
            std::fs::write(dir.0.join(format!("{STAGING_PREFIX}1-{index}")), b"part").unwrap();
        }
        std::fs::write(dir.0.join("visible"), b"v").unwrap();
        let fs = LocalFs::new(&dir.0).unwrap();
        let mut lister = fs.list(&VirtualPath::root()).await.unwrap();
        let mut names = Vec::new();
        while let Some((name, _)) = lister.next_entry().await.unwrap() {
            names.push(name.as_bytes().to_vec());
        }
        assert_eq!(names, [b"visible".to_vec()]);
        let staging = path(&format!("{STAGING_PREFIX}1-0"));
        let refused = Err(StorageError::InvalidName);
        assert_eq!(fs.metadata(&staging).await.map(drop), refused);
        assert_eq!(fs.list(&staging).await.map(drop), refused);
        assert_eq!(fs.open_read(&staging, 0).await.map(drop), refused);
        for mode in [
            WriteMode::Create,
            WriteMode::Append,
            WriteMode::At(0),
            WriteMode::Unique,
        ] {
            assert_eq!(fs.open_write(&staging, mode).await.map(drop), refused);
        }
        assert_eq!(fs.delete(&staging).await, refused);
        assert_eq!(fs.rename(&staging, &path("x")).await, refused);
        assert_eq!(fs.rename(&path("visible"), &staging).await, refused);
        assert_eq!(fs.make_directory(&staging).await, refused);
        assert_eq!(fs.set_modified(&staging, SystemTime::now()).await, refused);
        let below = VirtualPath::root()
            .join(&crate::Pathname::from(
                format!("{STAGING_PREFIX}d/f").into_bytes(),
            ))
            .unwrap();
        assert_eq!(fs.metadata(&below).await.map(drop), refused);
        assert_eq!(
            std::fs::read(dir.0.join(format!("{STAGING_PREFIX}1-0"))).unwrap(),
            b"part"
        );
    }

    /// A named pipe in a fresh directory; opening it for reading or writing blocks
    /// until the other end opens, so any blocking open hangs the test.
    fn fifo(dir: &Scratch) -> PathBuf {
        let fifo = dir.0.join("pipe");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o644)).unwrap();
        fifo
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn special_files_are_refused_without_blocking() {
        let dir = Scratch::new("fifo");
        let fifo = fifo(&dir);
        let fs = LocalFs::new(&dir.0).unwrap();
        let pipe = path("pipe");
        let refused = Err(StorageError::NotARegularFile);
        let limit = std::time::Duration::from_secs(10);
        let within = |future| ::tokio::time::timeout(limit, future);
        assert_eq!(
            within(fs.open_read(&pipe, 0)).await.unwrap().map(drop),
            refused
        );
        for mode in [WriteMode::Create, WriteMode::Append, WriteMode::At(0)] {
            let opened = ::tokio::time::timeout(limit, fs.open_write(&pipe, mode)).await;
            assert_eq!(opened.unwrap().map(drop), refused, "{mode:?}");
        }
        let set = ::tokio::time::timeout(limit, fs.set_modified(&pipe, SystemTime::UNIX_EPOCH));
        assert_eq!(set.await.unwrap(), refused);
        // Listed, as `ls` lists it, but not as a file.
        let metadata = fs.metadata(&pipe).await.unwrap();
        assert_eq!(metadata.kind, FileKind::Other);
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_named_staging_file_is_hidden_renamed_at_commit_and_removed_on_drop() {
        let dir = Scratch::new("named");
        std::fs::write(dir.0.join("f"), b"old").unwrap();
        let fs = LocalFs::new(&dir.0).unwrap();
        let open = |target: &str| {
            let (file, staging) =
                Staging::named(fs.root.try_clone().unwrap(), OsString::from(target)).unwrap();
            LocalUpload::new(file, Some(staging))
        };
        let mut upload = open("f");
        upload.write_all(b"new").await.unwrap();
        let names = dir.names();
        assert_eq!(names.len(), 2);
        assert!(names[0].starts_with(STAGING_PREFIX), "{names:?}");
        let mut lister = fs.list(&VirtualPath::root()).await.unwrap();
        assert_eq!(
            lister.next_entry().await.unwrap().unwrap().0.as_bytes(),
            b"f"
        );
        assert!(lister.next_entry().await.unwrap().is_none());
        upload.commit().await.unwrap();
        assert_eq!(dir.names(), ["f"]);
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"new");
        // Dropped uncommitted: the name goes, the file stays as it was.
        let mut upload = open("f");
        upload.write_all(b"newer").await.unwrap();
        drop(upload);
        assert_eq!(dir.names(), ["f"]);
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"new");
    }

    #[test]
    fn io_errors_map_by_kind() {
        let cases = [
            (
                io::ErrorKind::StorageFull,
                StorageError::InsufficientStorage,
            ),
            (io::ErrorKind::QuotaExceeded, StorageError::QuotaExceeded),
            (io::ErrorKind::FileTooLarge, StorageError::QuotaExceeded),
            (io::ErrorKind::NotADirectory, StorageError::NotADirectory),
            (io::ErrorKind::IsADirectory, StorageError::IsADirectory),
            (
                io::ErrorKind::DirectoryNotEmpty,
                StorageError::DirectoryNotEmpty,
            ),
            (
                io::ErrorKind::ReadOnlyFilesystem,
                StorageError::PermissionDenied,
            ),
        ];
        for (kind, expected) in cases {
            assert_eq!(storage_error(io::Error::from(kind)), expected, "{kind:?}");
        }
        let errno = |errno: Errno| storage_error(io::Error::from(errno));
        assert_eq!(errno(Errno::NOSPC), StorageError::InsufficientStorage);
        assert_eq!(errno(Errno::NAMETOOLONG), StorageError::InvalidName);
        assert_eq!(errno(Errno::NXIO), StorageError::NotARegularFile);
        assert_eq!(storage_error(not_regular()), StorageError::NotARegularFile);
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resumed_upload_writes_from_its_offset() {
        let dir = Scratch::new("at");
        std::fs::write(dir.0.join("f"), b"0123456789").unwrap();
        let fs = LocalFs::new(&dir.0).unwrap();
        let (mut upload, _) = fs.open_write(&path("f"), WriteMode::At(4)).await.unwrap();
        upload.write_all(b"abc").await.unwrap();
        upload.commit().await.unwrap();
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"0123abc789");
    }
}
