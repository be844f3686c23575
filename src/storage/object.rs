//! `ObjectStorage`: a [`Storage`] over an [`ObjectStore`] (feature `object-store`):
//! S3 and S3-compatible stores (Garage, MinIO, Ceph), or `object_store`'s in-memory
//! store for tests. Several servers may serve one bucket at once.
//!
//! How a file tree maps onto keys. A path `/a/b.txt` is the key `PREFIX/a/b.txt`;
//! directories are key prefixes. MKD leaves a marker object
//! ([`DIRECTORY_MARKER`]) so that an empty directory exists; a directory also exists
//! when any key lies below it (written by another tool, say; such a directory goes away
//! with its last file, as it does in the store). Listings are delimiter
//! listings, streamed a page at a time where the store can page
//! ([`ObjectStorage::paginated`]). The marker never shows, and a name equal to it is
//! refused.
//!
//! Confinement: every key is built from a [`VirtualPath`]'s components, which are never
//! empty, `.` or `..`, below the configured prefix; components must be UTF-8 (object
//! keys are) without control characters or backslashes. There are no links to follow.
//!
//! What an object store cannot do is refused, left out of FEAT and of the MLSx `perm`
//! fact (see [`Capabilities`]): APPE and REST before STOR (objects are written whole),
//! MFMT (the store sets the time), renaming directories (every key below would have to
//! be copied). Renaming a file copies it then deletes the original, so it is not atomic:
//! a failure between the two leaves both. STOU picks a name with a random suffix that it
//! checks is free; two servers cannot both pick the same one by chance, but the check is
//! not a lock.
//!
//! Uploads stream: bytes gather in a part buffer ([`ObjectStorage::with_part_size`]);
//! a file that fits in one part is stored with one PUT on commit, a larger one as a
//! multipart upload with a bounded number of parts in flight
//! ([`ObjectStorage::with_upload_concurrency`]), so memory per upload is at most
//! `part size x (concurrency + 1)`. The object appears only when the upload completes;
//! an upload that fails or is dropped is aborted and any older object of that name
//! stays as it was.
//!
//! A server killed mid-upload aborts nothing, and S3 keeps the parts of an open
//! multipart upload (and bills them) until someone aborts it; `object_store` cannot
//! list open uploads. So a storage [`with_upload_records`](ObjectStorage::with_upload_records) records
//! each multipart upload it starts in a small object below [`UPLOAD_RECORDS`] (the
//! upload's key and id), deleted when the upload completes or is aborted, and
//! [`ObjectStorage::abort_abandoned_uploads`] aborts the uploads whose records are
//! older than a bound: older than any upload still running, as several servers may
//! share the bucket. Files that fit in one part are one PUT and leave no record.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::task::JoinSet;
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::{Path, PathPart};
use object_store::{
    GetOptions, GetRange, ListResult, MultipartId, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutPayload, PutResult, UploadPart,
};

use super::{Lister, Storage, Upload};
use crate::server::{Capabilities, Metadata, StorageError, VirtualPath, WriteMode};
use crate::text::Text;

/// The name of the object that marks a directory made with MKD (an empty object inside
/// it). Hidden from listings; a file or directory of this name is refused.
pub const DIRECTORY_MARKER: &str = ".ftp-proto-dir";

/// The name of the directory, below a storage's prefix, that holds the records of its
/// multipart uploads in progress (see [`ObjectStorage::with_upload_records`]). Hidden from
/// listings; a file or directory of this name is refused.
pub const UPLOAD_RECORDS: &str = ".ftp-proto-uploads";

/// The default size of an upload part: 8 MiB (S3 wants at least 5 MiB for every part
/// but the last). Part sizes double every 1000 parts, so that S3's limit of 10,000 parts
/// is never the limit on a file's size.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

/// The default number of parts of one upload in flight at once.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;

/// The default number of keys asked for per listing page.
pub const DEFAULT_LIST_PAGE_SIZE: usize = 1000;

/// Unix modes shown for objects and directories (a store has none of its own).
const FILE_MODE: u32 = 0o644;
const DIRECTORY_MODE: u32 = 0o755;

/// What an object store can do, as the session should advertise and enforce it.
const OBJECT_CAPABILITIES: Capabilities = {
    let mut capabilities = Capabilities::ALL;
    capabilities.append = false;
    capabilities.write_at_offset = false;
    capabilities.set_modified = false;
    capabilities.rename_directories = false;
    capabilities
};

/// A file tree in an object store, served as the root `/`.
///
/// ```
/// use std::sync::Arc;
/// use ftp_proto::tokio::{ObjectStorage, StaticUsers};
/// use ftp_proto::tokio::object_store::memory::InMemory;
///
/// let bucket = Arc::new(InMemory::new());
/// // Two roots in one bucket, kept apart by their key prefixes.
/// let alice = ObjectStorage::new(Arc::clone(&bucket)).with_prefix("home/alice").unwrap();
/// let bob = ObjectStorage::new(bucket).with_prefix("home/bob").unwrap();
/// let users = StaticUsers::new()
///     .user("alice", "secret", alice, true)
///     .user("bob", "hunter2", bob, true);
/// ```
///
/// For S3, build the store with `object_store`'s `AmazonS3Builder` (re-exported as
/// [`object_store`](crate::tokio::object_store)) and pass it to [`paginated`](Self::paginated),
/// so that listings stream a page at a time.
#[derive(Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// The same store, when it can list a page at a time.
    pages: Option<Arc<dyn PaginatedListStore>>,
    /// The same store, when multipart uploads are recorded so that abandoned ones can
    /// be aborted ([`ObjectStorage::with_upload_records`]).
    multipart: Option<Arc<dyn MultipartStore>>,
    prefix: Path,
    part_size: usize,
    upload_concurrency: usize,
    list_page_size: usize,
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("store", &format_args!("{}", self.store))
            .field("paginated", &self.pages.is_some())
            .field("upload_records", &self.multipart.is_some())
            .field("prefix", &self.prefix.as_ref())
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .finish()
    }
}

impl ObjectStorage {
    /// Serves `store` from its root. Each listing reads the whole directory level
    /// (`list_with_delimiter`) before sending it; use [`paginated`](Self::paginated) for
    /// stores that can page, such as S3.
    pub fn new(store: impl ObjectStore) -> ObjectStorage {
        ObjectStorage {
            store: Arc::new(store),
            pages: None,
            multipart: None,
            prefix: Path::ROOT,
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            list_page_size: DEFAULT_LIST_PAGE_SIZE,
        }
    }

    /// Serves `store` from its root, listing directories a page at a time so that a
    /// directory of any size streams in bounded memory.
    pub fn paginated<S: ObjectStore + PaginatedListStore>(store: S) -> ObjectStorage {
        let store = Arc::new(store);
        ObjectStorage {
            pages: Some(Arc::clone(&store) as Arc<dyn PaginatedListStore>),
            multipart: None,
            store,
            prefix: Path::ROOT,
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            list_page_size: DEFAULT_LIST_PAGE_SIZE,
        }
    }

    /// Records every multipart upload this storage starts (below [`UPLOAD_RECORDS`])
    /// until it completes or is aborted, so that
    /// [`abort_abandoned_uploads`](Self::abort_abandoned_uploads) can abort those a
    /// killed server left open. `store` must be the store served, seen through its
    /// [`MultipartStore`](object_store::multipart::MultipartStore) side (S3's
    /// `AmazonS3` is one; it is cheap to clone):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ftp_proto::tokio::ObjectStorage;
    /// use ftp_proto::tokio::object_store::memory::InMemory;
    ///
    /// let bucket = Arc::new(InMemory::new());
    /// let storage = ObjectStorage::new(Arc::clone(&bucket)).with_upload_records(bucket);
    /// ```
    pub fn with_upload_records(mut self, store: Arc<dyn MultipartStore>) -> ObjectStorage {
        self.multipart = Some(store);
        self
    }

    /// The directory of this storage's upload records.
    fn records(&self) -> Path {
        self.prefix.clone().join(UPLOAD_RECORDS)
    }

    /// Aborts the multipart uploads recorded below this storage's prefix whose records
    /// are older than `older_than`: uploads left open by a server that was killed (a
    /// server that stops cleanly, or a client that goes away, aborts its own). Returns
    /// how many were aborted. Call it at start-up, and from time to time in a long-lived
    /// server; `older_than` must exceed the longest upload any server sharing the
    /// bucket may still be running (a day, say), since their records look the same.
    /// Does nothing for a storage without
    /// [`with_upload_records`](Self::with_upload_records).
    pub async fn abort_abandoned_uploads(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, StorageError> {
        let Some(multipart) = &self.multipart else {
            return Ok(0);
        };
        let records = self.records();
        let mut listing = self.store.list(Some(&records));
        let now = SystemTime::now();
        let mut aborted = 0;
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(storage_error)?;
            let age = now
                .duration_since(SystemTime::from(meta.last_modified))
                .unwrap_or_default();
            if age < older_than {
                continue;
            }
            let record = self
                .store
                .get(&meta.location)
                .await
                .map_err(storage_error)?
                .bytes()
                .await
                .map_err(storage_error)?;
            match UploadRecord::parse(&record) {
                Some(record) => {
                    match multipart
                        .abort_multipart(&record.location, &record.id)
                        .await
                    {
                        // Already gone (completed, or aborted by another server).
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(error) => return Err(storage_error(error)),
                    }
                    tracing::info!(key = %record.location, "aborted an abandoned upload");
                    aborted += 1;
                }
                None => tracing::warn!(record = %meta.location, "unreadable upload record"),
            }
            self.store
                .delete(&meta.location)
                .await
                .map_err(storage_error)?;
        }
        Ok(aborted)
    }

    /// Serves only the keys below `prefix` (`a/b` serves `a/b/...`), so that several
    /// roots share a bucket; nothing above or beside it can be named.
    pub fn with_prefix(mut self, prefix: &str) -> Result<ObjectStorage, object_store::path::Error> {
        self.prefix = Path::parse(prefix)?;
        Ok(self)
    }

    /// The size of an upload part, in bytes (default [`DEFAULT_PART_SIZE`]). S3 refuses
    /// parts under 5 MiB but for the last; smaller sizes suit tests with the in-memory
    /// store. At least 1.
    pub fn with_part_size(mut self, bytes: usize) -> ObjectStorage {
        self.part_size = bytes.max(1);
        self
    }

    /// How many parts of one upload may be in flight at once (default
    /// [`DEFAULT_UPLOAD_CONCURRENCY`]). At least 1.
    pub fn with_upload_concurrency(mut self, parts: usize) -> ObjectStorage {
        self.upload_concurrency = parts.max(1);
        self
    }

    /// How many keys to ask for per listing page (default [`DEFAULT_LIST_PAGE_SIZE`]),
    /// for [`paginated`](Self::paginated) stores. At least 1.
    pub fn with_list_page_size(mut self, keys: usize) -> ObjectStorage {
        self.list_page_size = keys.max(1);
        self
    }

    /// The key of a virtual path: the prefix, then one part per component.
    fn key(&self, path: &VirtualPath) -> Result<Path, StorageError> {
        let mut key = self.prefix.clone();
        for component in path.components() {
            let name = std::str::from_utf8(component).map_err(|_| StorageError::InvalidName)?;
            if name == DIRECTORY_MARKER || name == UPLOAD_RECORDS || name.contains('\\') {
                return Err(StorageError::InvalidName);
            }
            // Refuses control characters (and `/`, `.`, `..`, which a component never is).
            let part = PathPart::parse(name).map_err(|_| StorageError::InvalidName)?;
            key = key.join(part);
        }
        Ok(key)
    }

    async fn head(&self, key: &Path) -> Result<Option<ObjectMeta>, StorageError> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(storage_error(error)),
        }
    }

    /// Up to `count` keys anywhere below the directory `key` (not `key` itself).
    async fn keys_below(&self, key: &Path, count: usize) -> Result<Vec<Path>, StorageError> {
        if let Some(pages) = &self.pages {
            let options = PaginatedListOptions {
                max_keys: Some(count),
                ..PaginatedListOptions::default()
            };
            let prefix = (!key.is_root()).then(|| directory_prefix(key));
            let page = pages
                .list_paginated(prefix.as_deref(), options)
                .await
                .map_err(storage_error)?;
            return Ok(page
                .result
                .objects
                .into_iter()
                .map(|meta| meta.location)
                .filter(|location| location != key)
                .take(count)
                .collect());
        }
        let mut stream = self.store.list((!key.is_root()).then_some(key));
        let mut found = Vec::with_capacity(count);
        while found.len() < count {
            match stream.next().await {
                Some(Ok(meta)) if meta.location != *key => found.push(meta.location),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(storage_error(error)),
                None => break,
            }
        }
        Ok(found)
    }

    /// Whether the directory `key` exists: the root always, others when a key lies
    /// below (the marker or anything else).
    async fn is_directory(&self, key: &Path) -> Result<bool, StorageError> {
        if key == &self.prefix {
            return Ok(true);
        }
        Ok(!self.keys_below(key, 1).await?.is_empty())
    }

    /// Checks that `path`'s parent directory exists, as a file system would before
    /// creating an entry in it.
    async fn parent_exists(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let parent = self.key(&path.parent())?;
        if self.is_directory(&parent).await? {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    /// The error for a key that is not an object: a directory, or nothing at all.
    async fn not_a_file(&self, key: &Path) -> StorageError {
        match self.is_directory(key).await {
            Ok(true) => StorageError::IsADirectory,
            Ok(false) => StorageError::NotFound,
            Err(error) => error,
        }
    }

    /// One page of the directory `key`'s entries; the token for the next, if any.
    async fn list_page(
        &self,
        key: &Path,
        token: Option<String>,
    ) -> Result<(Vec<(Text<'static>, Metadata)>, Option<String>), StorageError> {
        let (result, next) = match &self.pages {
            Some(pages) => {
                let options = PaginatedListOptions {
                    delimiter: Some("/".into()),
                    max_keys: Some(self.list_page_size),
                    page_token: token,
                    ..PaginatedListOptions::default()
                };
                let prefix = (!key.is_root()).then(|| directory_prefix(key));
                let page = pages
                    .list_paginated(prefix.as_deref(), options)
                    .await
                    .map_err(storage_error)?;
                (page.result, page.page_token)
            }
            None => {
                let result = self
                    .store
                    .list_with_delimiter((!key.is_root()).then_some(key))
                    .await
                    .map_err(storage_error)?;
                (result, None)
            }
        };
        Ok((entries_of(key, result), next))
    }
}

/// `key/`, the S3 prefix of everything below the directory `key`.
fn directory_prefix(key: &Path) -> String {
    format!("{key}/")
}

/// The entries of one delimiter-listing page of the directory `key`, by name, without
/// the marker and without a "directory object" named like the directory itself (which
/// S3 consoles create as `dir/`).
fn entries_of(key: &Path, result: ListResult) -> Vec<(Text<'static>, Metadata)> {
    let mut entries: Vec<(Text<'static>, Metadata)> = result
        .common_prefixes
        .iter()
        .filter_map(|prefix| prefix.filename())
        .filter(|name| *name != UPLOAD_RECORDS)
        .map(|name| {
            let metadata = Metadata::directory(None).with_mode(DIRECTORY_MODE);
            (Text::from(name.as_bytes().to_vec()), metadata)
        })
        .chain(
            result
                .objects
                .iter()
                .filter(|meta| meta.location != *key)
                .filter_map(|meta| Some((meta.location.filename()?, meta)))
                .filter(|(name, _)| *name != DIRECTORY_MARKER)
                .map(|(name, meta)| (Text::from(name.as_bytes().to_vec()), file_metadata(meta))),
        )
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

fn file_metadata(meta: &ObjectMeta) -> Metadata {
    Metadata::file(meta.size, Some(SystemTime::from(meta.last_modified))).with_mode(FILE_MODE)
}

/// Maps a store's error to the reply it deserves. Details (URLs, bucket names, the
/// store's own messages) go to the log, never to the client.
fn storage_error(error: object_store::Error) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        object_store::Error::AlreadyExists { .. } => StorageError::AlreadyExists,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            tracing::warn!(%error, "object store refused a request");
            StorageError::PermissionDenied
        }
        object_store::Error::InvalidPath { .. } => StorageError::InvalidName,
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            StorageError::Unsupported
        }
        error => {
            tracing::warn!(%error, "object store request failed");
            StorageError::Other("Object store request failed".into())
        }
    }
}

/// A store error as an I/O error for the data copy loops (which answer 451), with the
/// details in the log only.
fn io_error(what: &'static str, error: object_store::Error) -> io::Error {
    tracing::warn!(%error, "{what}");
    io::Error::other(what)
}

/// A name suffix no other upload is likely to have picked: this process's random hash
/// keys over its id, a counter and the time.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    format!("{:016x}", hasher.finish())
}

impl Storage for ObjectStorage {
    type Reader = ObjectReader;
    type Upload = ObjectUpload;
    type Lister = ObjectLister;

    fn capabilities(&self) -> Capabilities {
        OBJECT_CAPABILITIES
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let key = self.key(path)?;
        if key == self.prefix {
            return Ok(Metadata::directory(None).with_mode(DIRECTORY_MODE));
        }
        if let Some(meta) = self.head(&key).await? {
            return Ok(file_metadata(&meta));
        }
        // The marker's time is the directory's; a directory without one (made by
        // another tool) has no time.
        if let Some(marker) = self.head(&key.clone().join(DIRECTORY_MARKER)).await? {
            let modified = SystemTime::from(marker.last_modified);
            return Ok(Metadata::directory(Some(modified)).with_mode(DIRECTORY_MODE));
        }
        if self.is_directory(&key).await? {
            return Ok(Metadata::directory(None).with_mode(DIRECTORY_MODE));
        }
        Err(StorageError::NotFound)
    }

    async fn list(&self, path: &VirtualPath) -> Result<ObjectLister, StorageError> {
        let key = self.key(path)?;
        let (entries, token) = self.list_page(&key, None).await?;
        // An existing directory has at least its marker; an empty page means a file or
        // nothing (the root may be empty).
        if entries.is_empty() && token.is_none() && key != self.prefix {
            let name = path.file_name().unwrap_or(b".").to_vec();
            return match self.head(&key).await? {
                Some(meta) => Ok(ObjectLister::single(Text::from(name), file_metadata(&meta))),
                None if self.is_directory(&key).await? => Ok(ObjectLister::single_page(Vec::new())),
                None => Err(StorageError::NotFound),
            };
        }
        Ok(ObjectLister {
            entries: entries.into_iter(),
            next_page: token.map(|token| NextPage {
                storage: self.clone(),
                key,
                token,
            }),
        })
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(ObjectReader, Option<u64>), StorageError> {
        let key = self.key(path)?;
        let mut options = GetOptions::default();
        if offset > 0 {
            // A ranged read from past the end is an error in S3; as with a file, it
            // reads nothing instead. The ETag keeps the range on the object measured.
            let Some(meta) = self.head(&key).await? else {
                return Err(self.not_a_file(&key).await);
            };
            if offset >= meta.size {
                return Ok((ObjectReader::empty(), Some(0)));
            }
            options.range = Some(GetRange::Offset(offset));
            options.if_match = meta.e_tag;
        }
        match self.store.get_opts(&key, options).await {
            Ok(result) => {
                let left = result.meta.size.saturating_sub(offset);
                Ok((ObjectReader::new(result.into_stream()), Some(left)))
            }
            Err(object_store::Error::NotFound { .. }) => Err(self.not_a_file(&key).await),
            Err(error) => Err(storage_error(error)),
        }
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(ObjectUpload, VirtualPath), StorageError> {
        let (key, final_path) = match mode {
            WriteMode::Create => {
                let key = self.key(path)?;
                if key == self.prefix || self.is_directory(&key).await? {
                    return Err(StorageError::IsADirectory);
                }
                (key, path.clone())
            }
            WriteMode::Unique => {
                let base = path.file_name().unwrap_or(b"upload").to_vec();
                let mut chosen = None;
                for _ in 0..8 {
                    let mut name = base.clone();
                    name.push(b'.');
                    name.extend_from_slice(unique_suffix().as_bytes());
                    let candidate = path
                        .parent()
                        .join(&crate::Pathname::from(name))
                        .map_err(|_| StorageError::InvalidName)?;
                    let key = self.key(&candidate)?;
                    if self.head(&key).await?.is_none() && !self.is_directory(&key).await? {
                        chosen = Some((key, candidate));
                        break;
                    }
                }
                chosen.ok_or(StorageError::AlreadyExists)?
            }
            // Objects are written whole: there is nothing to append to or write into.
            _ => return Err(StorageError::Unsupported),
        };
        self.parent_exists(&final_path).await?;
        let upload = ObjectUpload {
            store: Arc::clone(&self.store),
            location: key,
            buffer: Vec::new(),
            part_size: self.part_size,
            max_in_flight: self.upload_concurrency,
            parts_sent: 0,
            recording: self.multipart.as_ref().map(|multipart| Recording {
                multipart: Arc::clone(multipart),
                records: self.records(),
            }),
            multipart: Multipart::NotStarted,
            in_flight: JoinSet::new(),
        };
        Ok((upload, final_path))
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let key = self.key(path)?;
        if key == self.prefix {
            return Err(StorageError::PermissionDenied);
        }
        // S3 answers a delete of nothing with success: look first.
        if self.head(&key).await?.is_none() {
            return Err(self.not_a_file(&key).await);
        }
        self.store.delete(&key).await.map_err(storage_error)
    }

    async fn make_directory(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let key = self.key(path)?;
        if key == self.prefix || self.head(&key).await?.is_some() || self.is_directory(&key).await?
        {
            return Err(StorageError::AlreadyExists);
        }
        self.parent_exists(path).await?;
        self.store
            .put(&key.join(DIRECTORY_MARKER), PutPayload::new())
            .await
            .map(drop)
            .map_err(storage_error)
    }

    async fn remove_directory(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let key = self.key(path)?;
        if key == self.prefix {
            return Err(StorageError::PermissionDenied);
        }
        let marker = key.clone().join(DIRECTORY_MARKER);
        let below = self.keys_below(&key, 2).await?;
        if below.is_empty() {
            return Err(match self.head(&key).await? {
                Some(_) => StorageError::NotADirectory,
                None => StorageError::NotFound,
            });
        }
        if below.iter().any(|location| *location != marker) {
            return Err(StorageError::DirectoryNotEmpty);
        }
        self.store.delete(&marker).await.map_err(storage_error)
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let (from_key, to_key) = (self.key(from)?, self.key(to)?);
        if from_key == self.prefix || to_key == self.prefix {
            return Err(StorageError::PermissionDenied);
        }
        if self.head(&from_key).await?.is_none() {
            return Err(match self.is_directory(&from_key).await? {
                true => StorageError::Unsupported,
                false => StorageError::NotFound,
            });
        }
        if from_key == to_key {
            return Ok(());
        }
        if self.is_directory(&to_key).await? {
            return Err(StorageError::IsADirectory);
        }
        self.parent_exists(to).await?;
        self.store
            .copy(&from_key, &to_key)
            .await
            .map_err(storage_error)?;
        self.store.delete(&from_key).await.map_err(storage_error)
    }

    async fn set_modified(
        &self,
        _path: &VirtualPath,
        _modified: SystemTime,
    ) -> Result<(), StorageError> {
        Err(StorageError::Unsupported)
    }
}

/// An object being read, as its bytes arrive from the store.
pub struct ObjectReader {
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("finished", &self.stream.is_none())
            .field("buffered", &self.chunk.len())
            .finish()
    }
}

impl ObjectReader {
    fn new(stream: BoxStream<'static, object_store::Result<Bytes>>) -> ObjectReader {
        ObjectReader {
            stream: Some(stream),
            chunk: Bytes::new(),
        }
    }

    fn empty() -> ObjectReader {
        ObjectReader {
            stream: None,
            chunk: Bytes::new(),
        }
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.chunk.is_empty() {
                let count = this.chunk.len().min(buf.remaining());
                buf.put_slice(&this.chunk.split_to(count));
                return Poll::Ready(Ok(()));
            }
            let Some(stream) = this.stream.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match ready!(stream.poll_next_unpin(cx)) {
                Some(Ok(bytes)) => this.chunk = bytes,
                Some(Err(error)) => {
                    this.stream = None;
                    return Poll::Ready(Err(io_error("object store read failed", error)));
                }
                None => this.stream = None,
            }
        }
    }
}

/// Where a multipart upload stands.
enum Multipart {
    /// Everything written so far fits in the buffer: commit will PUT it whole.
    NotStarted,
    /// The store is creating the multipart upload.
    Starting(BoxFuture<'static, object_store::Result<Box<dyn MultipartUpload>>>),
    /// Parts are going up.
    Started(Box<dyn MultipartUpload>),
    /// Completed or aborted: nothing is left to clean up.
    Finished,
}

/// A file being uploaded to an [`ObjectStorage`]: one PUT on commit for a file that
/// fits in a part, a multipart upload otherwise. Dropped or aborted before commit, it
/// aborts the multipart upload; the key keeps its old object, if any.
pub struct ObjectUpload {
    store: Arc<dyn ObjectStore>,
    location: Path,
    buffer: Vec<u8>,
    part_size: usize,
    max_in_flight: usize,
    parts_sent: u64,
    /// Where a multipart upload is recorded, for a storage with upload records.
    recording: Option<Recording>,
    multipart: Multipart,
    in_flight: JoinSet<object_store::Result<()>>,
}

impl std::fmt::Debug for ObjectUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectUpload")
            .field("location", &self.location.as_ref())
            .field("buffered", &self.buffer.len())
            .field("parts_sent", &self.parts_sent)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl ObjectUpload {
    /// Drives the creation of the multipart upload to its end.
    fn poll_started(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.multipart {
                Multipart::NotStarted => {
                    let store = Arc::clone(&self.store);
                    let location = self.location.clone();
                    self.multipart = Multipart::Starting(match self.recording.clone() {
                        Some(recording) => Box::pin(recording.start(store, location)),
                        None => Box::pin(async move {
                            store
                                .put_multipart_opts(&location, PutMultipartOptions::default())
                                .await
                        }),
                    });
                }
                Multipart::Starting(starting) => {
                    let started = ready!(starting.as_mut().poll(cx));
                    match started {
                        Ok(upload) => self.multipart = Multipart::Started(upload),
                        Err(error) => {
                            self.multipart = Multipart::Finished;
                            return Poll::Ready(Err(io_error(
                                "object store refused the upload",
                                error,
                            )));
                        }
                    }
                }
                Multipart::Started(_) => return Poll::Ready(Ok(())),
                Multipart::Finished => {
                    return Poll::Ready(Err(io::Error::other("the upload has ended")));
                }
            }
        }
    }

    /// Sends the buffer as the next part, once the upload exists and fewer than
    /// `max_in_flight` parts are on their way.
    fn poll_send_part(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_started(cx))?;
        while self.in_flight.len() >= self.max_in_flight {
            match ready!(self.in_flight.poll_join_next(cx)) {
                Some(done) => part_result(done)?,
                None => break,
            }
        }
        let Multipart::Started(upload) = &mut self.multipart else {
            return Poll::Ready(Err(io::Error::other("the upload has ended")));
        };
        let part = PutPayload::from(std::mem::take(&mut self.buffer));
        self.in_flight.spawn(upload.put_part(part));
        self.parts_sent += 1;
        if self.parts_sent % 1000 == 0 {
            self.part_size = self.part_size.saturating_mul(2);
        }
        Poll::Ready(Ok(()))
    }

    /// Sends what is left and completes the multipart upload.
    async fn finish_multipart(&mut self) -> io::Result<()> {
        futures_util::future::poll_fn(|cx| self.poll_started(cx)).await?;
        if !self.buffer.is_empty() {
            futures_util::future::poll_fn(|cx| self.poll_send_part(cx)).await?;
        }
        while let Some(done) = self.in_flight.join_next().await {
            part_result(done)?;
        }
        let Multipart::Started(upload) = &mut self.multipart else {
            return Err(io::Error::other("the upload has ended"));
        };
        upload
            .complete()
            .await
            .map_err(|error| io_error("object store refused to complete the upload", error))?;
        self.multipart = Multipart::Finished;
        Ok(())
    }

    /// Takes what a clean-up must abort, if anything: the multipart upload and the
    /// parts still on their way.
    fn take_for_abort(&mut self) -> Option<Abandoned> {
        let in_flight = std::mem::take(&mut self.in_flight);
        match std::mem::replace(&mut self.multipart, Multipart::Finished) {
            Multipart::NotStarted | Multipart::Finished => None,
            multipart => Some(Abandoned {
                multipart,
                in_flight,
            }),
        }
    }
}

/// A multipart upload given up before completion, and its parts still in flight.
struct Abandoned {
    multipart: Multipart,
    in_flight: JoinSet<object_store::Result<()>>,
}

/// Aborts a multipart upload that was started (or is being started), on a task of its
/// own: the transfer that waits for it may be cancelled meanwhile (its session ended),
/// and the abort must go out all the same.
async fn abort_multipart(abandoned: Abandoned) {
    let _ = ::tokio::spawn(abort_multipart_now(abandoned)).await;
}

async fn abort_multipart_now(abandoned: Abandoned) {
    let Abandoned {
        multipart,
        mut in_flight,
    } = abandoned;
    // The parts on their way finish (or fail) first. Cut off mid-request, a part could
    // still be stored after the abort and leave an unfinished upload behind: seen with
    // Garage, once in a few dozen runs of the abandoned-upload test.
    while in_flight.join_next().await.is_some() {}
    let upload = match multipart {
        Multipart::Starting(starting) => starting.await.ok(),
        Multipart::Started(upload) => Some(upload),
        Multipart::NotStarted | Multipart::Finished => None,
    };
    if let Some(mut upload) = upload {
        if let Err(error) = upload.abort().await {
            tracing::warn!(%error, "could not abort a multipart upload");
        }
    }
}

fn part_result(done: Result<object_store::Result<()>, ::tokio::task::JoinError>) -> io::Result<()> {
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(io_error("object store refused an upload part", error)),
        Err(_) => Err(io::Error::other("an upload part was cancelled")),
    }
}

impl AsyncWrite for ObjectUpload {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // A part that failed fails the upload at once, not only at commit.
        while let Some(done) = this.in_flight.try_join_next() {
            part_result(done)?;
        }
        loop {
            let room = this.part_size.saturating_sub(this.buffer.len());
            if room > 0 {
                let count = room.min(buf.len());
                this.buffer.extend_from_slice(&buf[..count]);
                return Poll::Ready(Ok(count));
            }
            ready!(this.poll_send_part(cx))?;
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Parts go up when full; the rest waits for commit.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Upload for ObjectUpload {
    async fn commit(mut self) -> Result<(), StorageError> {
        if let Multipart::NotStarted = self.multipart {
            self.multipart = Multipart::Finished;
            let payload = PutPayload::from(std::mem::take(&mut self.buffer));
            return self
                .store
                .put(&self.location, payload)
                .await
                .map(drop)
                .map_err(storage_error);
        }
        match self.finish_multipart().await {
            Ok(()) => Ok(()),
            Err(error) => {
                if let Some(abandoned) = self.take_for_abort() {
                    abort_multipart(abandoned).await;
                }
                Err(StorageError::Other(error.to_string()))
            }
        }
    }

    async fn abort(mut self) {
        if let Some(abandoned) = self.take_for_abort() {
            abort_multipart(abandoned).await;
        }
    }
}

impl Drop for ObjectUpload {
    fn drop(&mut self) {
        // Cancelled without commit or abort (ABOR, a lost control connection): the
        // abort request goes out on its own task.
        if let Some(abandoned) = self.take_for_abort() {
            if let Ok(runtime) = ::tokio::runtime::Handle::try_current() {
                runtime.spawn(abort_multipart_now(abandoned));
            }
        }
    }
}

/// What the uploads of a storage with upload records need to record themselves.
#[derive(Clone)]
struct Recording {
    multipart: Arc<dyn MultipartStore>,
    /// The directory of records.
    records: Path,
}

/// A multipart upload's record: its key and id, one per line.
struct UploadRecord {
    location: Path,
    id: MultipartId,
}

impl UploadRecord {
    fn to_bytes(&self) -> Vec<u8> {
        format!("{}\n{}\n", self.location, self.id).into_bytes()
    }

    fn parse(bytes: &[u8]) -> Option<UploadRecord> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let location = Path::parse(lines.next()?).ok()?;
        let id = lines.next().filter(|id| !id.is_empty())?.to_owned();
        Some(UploadRecord { location, id })
    }
}

impl Recording {
    /// Creates the multipart upload, then its record; without a record, no upload.
    async fn start(
        self,
        store: Arc<dyn ObjectStore>,
        location: Path,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let id = self.multipart.create_multipart(&location).await?;
        let record = UploadRecord { location, id };
        let key = self.records.clone().join(unique_suffix().as_str());
        if let Err(error) = store.put(&key, record.to_bytes().into()).await {
            let _ = self
                .multipart
                .abort_multipart(&record.location, &record.id)
                .await;
            return Err(error);
        }
        Ok(Box::new(RecordedUpload {
            multipart: self.multipart,
            store,
            record,
            key,
            parts: Arc::new(std::sync::Mutex::new(Vec::new())),
        }))
    }
}

/// A multipart upload with a record, which goes when the upload completes or is
/// aborted.
struct RecordedUpload {
    multipart: Arc<dyn MultipartStore>,
    store: Arc<dyn ObjectStore>,
    record: UploadRecord,
    /// The record's key.
    key: Path,
    /// The parts' ids by index, as their uploads finish.
    parts: Arc<std::sync::Mutex<Vec<Option<PartId>>>>,
}

impl std::fmt::Debug for RecordedUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedUpload")
            .field("location", &self.record.location.as_ref())
            .field("record", &self.key.as_ref())
            .finish()
    }
}

impl RecordedUpload {
    /// Deletes the record once the upload is over. A record left behind (this request
    /// failed) is harmless: the clean-up finds the upload gone and deletes it.
    async fn forget(&self) {
        if let Err(error) = self.store.delete(&self.key).await {
            tracing::warn!(%error, record = %self.key, "could not delete an upload record");
        }
    }

    async fn complete_now(&mut self) -> object_store::Result<PutResult> {
        let parts: Option<Vec<PartId>> = self
            .parts
            .lock()
            .map_err(|_| object_store::Error::Generic {
                store: "ftp-proto",
                source: "an upload part panicked".into(),
            })?
            .iter()
            .cloned()
            .collect();
        let parts = parts.ok_or_else(|| object_store::Error::Generic {
            store: "ftp-proto",
            source: "an upload part is missing".into(),
        })?;
        let result = self
            .multipart
            .complete_multipart(&self.record.location, &self.record.id, parts)
            .await?;
        self.forget().await;
        Ok(result)
    }

    async fn abort_now(&mut self) -> object_store::Result<()> {
        self.multipart
            .abort_multipart(&self.record.location, &self.record.id)
            .await?;
        self.forget().await;
        Ok(())
    }
}

// By hand rather than with `async_trait`, whose expansion this is.
impl MultipartUpload for RecordedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let index = match self.parts.lock() {
            Ok(mut parts) => {
                parts.push(None);
                parts.len() - 1
            }
            Err(_) => usize::MAX,
        };
        let multipart = Arc::clone(&self.multipart);
        let location = self.record.location.clone();
        let id = self.record.id.clone();
        let parts = Arc::clone(&self.parts);
        Box::pin(async move {
            let part = multipart.put_part(&location, &id, index, data).await?;
            if let Ok(mut parts) = parts.lock() {
                if let Some(slot) = parts.get_mut(index) {
                    *slot = Some(part);
                }
            }
            Ok(())
        })
    }

    fn complete<'life0, 'async_trait>(
        &'life0 mut self,
    ) -> BoxFuture<'async_trait, object_store::Result<PutResult>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.complete_now())
    }

    fn abort<'life0, 'async_trait>(
        &'life0 mut self,
    ) -> BoxFuture<'async_trait, object_store::Result<()>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.abort_now())
    }
}

/// A directory listing of an [`ObjectStorage`], a page at a time.
pub struct ObjectLister {
    entries: std::vec::IntoIter<(Text<'static>, Metadata)>,
    next_page: Option<NextPage>,
}

/// Where the next page of a paginated listing starts.
struct NextPage {
    storage: ObjectStorage,
    key: Path,
    token: String,
}

impl std::fmt::Debug for ObjectLister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectLister")
            .field("buffered", &self.entries.len())
            .field("more_pages", &self.next_page.is_some())
            .finish()
    }
}

impl ObjectLister {
    fn single(name: Text<'static>, metadata: Metadata) -> ObjectLister {
        ObjectLister::single_page(vec![(name, metadata)])
    }

    fn single_page(entries: Vec<(Text<'static>, Metadata)>) -> ObjectLister {
        ObjectLister {
            entries: entries.into_iter(),
            next_page: None,
        }
    }
}

impl Lister for ObjectLister {
    async fn next_entry(&mut self) -> Result<Option<(Text<'static>, Metadata)>, StorageError> {
        loop {
            if let Some(entry) = self.entries.next() {
                return Ok(Some(entry));
            }
            let Some(next) = self.next_page.take() else {
                return Ok(None);
            };
            let (entries, token) = next.storage.list_page(&next.key, Some(next.token)).await?;
            self.entries = entries.into_iter();
            self.next_page = token.map(|token| NextPage { token, ..next });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::tokio::io::AsyncWriteExt as _;
    use object_store::memory::InMemory;

    fn path(name: &str) -> VirtualPath {
        VirtualPath::root()
            .join(&crate::Pathname::from(name.as_bytes().to_vec()))
            .unwrap()
    }

    /// The upload records in `bucket`, below `prefix`.
    async fn records(bucket: &InMemory, prefix: &str) -> Vec<ObjectMeta> {
        let records = Path::parse(prefix).unwrap().join(UPLOAD_RECORDS);
        let listing = bucket.list(Some(&records));
        listing.map(|meta| meta.unwrap()).collect().await
    }

    #[::tokio::test]
    async fn an_upload_abandoned_by_a_killed_server_is_aborted_by_the_clean_up() {
        let bucket = Arc::new(InMemory::new());
        let storage = ObjectStorage::new(Arc::clone(&bucket))
            .with_prefix("root")
            .unwrap()
            .with_part_size(4)
            .with_upload_records(Arc::clone(&bucket) as Arc<dyn MultipartStore>);

        // A small file is one PUT and leaves no record.
        let (mut upload, _) = storage
            .open_write(&path("small"), WriteMode::Create)
            .await
            .unwrap();
        upload.write_all(b"abc").await.unwrap();
        upload.commit().await.unwrap();
        assert!(records(&bucket, "root").await.is_empty());

        // A completed multipart upload leaves none either.
        let (mut upload, _) = storage
            .open_write(&path("done"), WriteMode::Create)
            .await
            .unwrap();
        upload.write_all(b"0123456789").await.unwrap();
        upload.commit().await.unwrap();
        assert_eq!(
            bucket
                .get(&Path::from("root/done"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            &b"0123456789"[..]
        );
        assert!(records(&bucket, "root").await.is_empty());

        // A multipart upload whose server is killed: no Drop, no abort.
        let (mut upload, _) = storage
            .open_write(&path("big"), WriteMode::Create)
            .await
            .unwrap();
        upload.write_all(b"0123456789").await.unwrap();
        std::mem::forget(upload);
        let found = records(&bucket, "root").await;
        assert_eq!(found.len(), 1);
        let record = bucket
            .get(&found[0].location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let record = UploadRecord::parse(&record).unwrap();
        assert_eq!(record.location.as_ref(), "root/big");

        // The records are the server's own: never listed, never named.
        let mut lister = storage.list(&VirtualPath::root()).await.unwrap();
        let mut names = Vec::new();
        while let Some((name, _)) = lister.next_entry().await.unwrap() {
            names.push(name.as_bytes().to_vec());
        }
        assert_eq!(names, [b"done".to_vec(), b"small".to_vec()]);
        let hidden = path(UPLOAD_RECORDS);
        assert_eq!(
            storage.metadata(&hidden).await,
            Err(StorageError::InvalidName)
        );
        assert_eq!(
            storage.list(&hidden).await.map(drop),
            Err(StorageError::InvalidName)
        );

        // Younger than the bound: left alone (another server may still be writing it).
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(storage.abort_abandoned_uploads(day).await, Ok(0));
        assert_eq!(records(&bucket, "root").await.len(), 1);
        // Older: aborted, and its record deleted.
        let zero = std::time::Duration::ZERO;
        assert_eq!(storage.abort_abandoned_uploads(zero).await, Ok(1));
        assert!(records(&bucket, "root").await.is_empty());
        let part = bucket
            .put_part(
                &record.location,
                &record.id,
                9,
                PutPayload::from_static(b"late"),
            )
            .await;
        assert!(part.is_err(), "the upload is gone");
        assert!(bucket.head(&Path::from("root/big")).await.is_err());
    }
}
