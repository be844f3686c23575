//! `LocalFs`: a [`Storage`] over a directory of the local file system, confined to it.
//!
//! Every path is resolved with `cap-std`, which opens each component relative to the
//! root directory's handle and refuses `..`, absolute paths and symbolic links that
//! lead outside (with `openat2(RESOLVE_BENEATH)` where the kernel has it): there is no
//! check-then-open race to win. Blocking calls run on tokio's blocking pool.
//!
//! Uploads with [`WriteMode::Create`] go to a hidden temporary file in the same
//! directory and are renamed over the target only on commit, so a client that goes
//! away mid-upload never leaves a half-written file in place of the old one.

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
use cap_std::fs::{Dir, MetadataExt, OpenOptions};

use super::storage::{Lister, Storage, Upload};
use crate::server::{Capabilities, FileKind, Metadata, StorageError, VirtualPath, WriteMode};
use crate::text::Text;

/// Entries read from a directory per trip to the blocking pool.
const LIST_BATCH: usize = 256;

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
    if bytes.contains(&b'\\') {
        return Err(StorageError::InvalidName);
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

fn storage_error(error: io::Error) -> StorageError {
    // ENOSPC and EDQUOT on Linux; the error kinds for them are too new for our MSRV.
    match error.raw_os_error() {
        Some(28) => return StorageError::InsufficientStorage,
        Some(122) => return StorageError::QuotaExceeded,
        Some(20) => return StorageError::NotADirectory,
        Some(21) => return StorageError::IsADirectory,
        Some(39) => return StorageError::DirectoryNotEmpty,
        Some(36) => return StorageError::InvalidName,
        _ => {}
    }
    match error.kind() {
        io::ErrorKind::NotFound => StorageError::NotFound,
        io::ErrorKind::PermissionDenied => StorageError::PermissionDenied,
        io::ErrorKind::AlreadyExists => StorageError::AlreadyExists,
        io::ErrorKind::InvalidInput => StorageError::InvalidName,
        _ => StorageError::Other(error.to_string()),
    }
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

/// Counter for temporary upload names, unique within the process.
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
            let file = root.open(&relative)?.into_std();
            let metadata = file.metadata()?;
            if metadata.is_dir() {
                return Err(io::Error::from_raw_os_error(21));
            }
            let mut file = file;
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
        let root = Arc::clone(&self.root);
        let virtual_path = path.clone();
        self.blocking(move |dir| {
            if dir.metadata(&relative).is_ok_and(|m| m.is_dir()) {
                return Err(io::Error::from_raw_os_error(21));
            }
            let mut options = OpenOptions::new();
            let (file, pending_rename, final_path) = match mode {
                WriteMode::Create => {
                    let temporary = temporary_name(&relative);
                    options.write(true).create_new(true);
                    let file = dir.open_with(&temporary, &options)?;
                    (file, Some((temporary, relative)), virtual_path)
                }
                WriteMode::At(offset) => {
                    options.write(true);
                    let file = dir.open_with(&relative, &options)?;
                    let mut file = file.into_std();
                    file.seek(SeekFrom::Start(offset))?;
                    (cap_std::fs::File::from_std(file), None, virtual_path)
                }
                WriteMode::Append => {
                    options.append(true).create(true);
                    (dir.open_with(&relative, &options)?, None, virtual_path)
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
                            Ok(file) => break (file, None, candidate_path),
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
            let upload = LocalUpload::new(file.into_std(), root, pending_rename);
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
        self.blocking(move |root| root.open(&relative)?.into_std().set_modified(modified))
            .await
    }
}

/// A hidden sibling name for an upload in progress.
fn temporary_name(target: &Path) -> PathBuf {
    let counter = UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|name| name.as_bytes())
        .unwrap_or(b"upload");
    let mut temporary = b".".to_vec();
    temporary.extend_from_slice(name);
    temporary
        .extend_from_slice(format!(".{}-{counter}.ftp-proto-part", std::process::id()).as_bytes());
    let temporary = PathBuf::from(std::ffi::OsStr::from_bytes(&temporary));
    match target.parent() {
        Some(parent) => parent.join(temporary),
        None => temporary,
    }
}

/// Bytes an upload gathers in memory before they go to the file in one trip to the
/// blocking pool. Each trip costs two thread wake-ups; a file smaller than this makes
/// one trip for its bytes and its rename together, at commit.
const UPLOAD_BATCH: usize = 1024 * 1024;

/// A write on the blocking pool; it hands the file and the (spent) buffer back.
type Writing = ::tokio::task::JoinHandle<(std::fs::File, Vec<u8>, io::Result<()>)>;

/// A file being uploaded to a [`LocalFs`].
///
/// A new file's bytes are gathered into batches of up to 1 MiB, each written on the
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
    root: Arc<Dir>,
    /// For [`WriteMode::Create`]: the temporary file and the name it takes on commit.
    pending_rename: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for LocalUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUpload")
            .field("batched", &self.batch.len())
            .field("writing", &self.writing.is_some())
            .field("pending_rename", &self.pending_rename)
            .finish()
    }
}

impl LocalUpload {
    fn new(
        file: std::fs::File,
        root: Arc<Dir>,
        pending_rename: Option<(PathBuf, PathBuf)>,
    ) -> Self {
        LocalUpload {
            file: Some(file),
            batch: Vec::new(),
            spare: Vec::new(),
            writing: None,
            root,
            pending_rename,
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
        let write_through = this.pending_rename.is_none();
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
        let rename = self.pending_rename.clone();
        let root = Arc::clone(&self.root);
        // The last bytes and the rename in one trip.
        ::tokio::task::spawn_blocking(move || {
            (&file).write_all(&batch)?;
            drop(file);
            match rename {
                Some((temporary, target)) => root.rename(&temporary, &root, &target),
                None => Ok(()),
            }
        })
        .await
        .map_err(|_| StorageError::Other("storage task failed".into()))?
        .map_err(storage_error)?;
        // Renamed: nothing left for Drop to clean up.
        self.pending_rename = None;
        Ok(())
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        // Not committed: the temporary file goes, the old file (if any) stays.
        if let Some((temporary, _)) = self.pending_rename.take() {
            let _ = self.root.remove_file(temporary);
        }
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
        if self.buffered.is_empty() {
            let (Some(dir), Some(mut entries)) = (self.dir.clone(), self.entries.take()) else {
                return Ok(None);
            };
            let (entries, batch) = ::tokio::task::spawn_blocking(move || {
                let mut batch = Vec::with_capacity(LIST_BATCH);
                for entry in entries.by_ref().take(LIST_BATCH) {
                    let Ok(entry) = entry else { continue };
                    let name = entry.file_name();
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
                (entries, batch)
            })
            .await
            .map_err(|_| StorageError::Other("storage task failed".into()))?;
            if batch.is_empty() {
                return Ok(None);
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
