//! File transfers: whole-file helpers (`download_to`, `upload_from`) and the streaming
//! ones that hand a [`DownloadStream`] or [`UploadStream`] to the caller.

use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{ClientError, Result};
use super::transfer::{self, DownloadStream, UploadStream};
use super::{Client, DataSlot, DataState, Orphan};
use crate::client::{OperationId, TransferKind};
use crate::text::Pathname;
use crate::tokio::stream::MaybeTls;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// `RETR path`: a download whose bytes are read from the returned [`DownloadStream`].
    pub async fn get<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
    ) -> Result<DownloadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.retrieve(path, Instant::now())?;
        self.open_download(id, 0).await
    }

    /// [`get`](Self::get) in `representation` for this download only, such as
    /// `RepresentationType::Ascii(FormatControl::NonPrint)` for text (the server sends
    /// CRLF line ends); later transfers keep the client's type (see
    /// [`set_type`](Self::set_type)).
    pub async fn get_as<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        representation: crate::RepresentationType,
    ) -> Result<DownloadStream<'_, S>> {
        self.prepare().await?;
        let id = self
            .session
            .retrieve_as(path, representation, Instant::now())?;
        self.open_download(id, 0).await
    }

    /// [`put`](Self::put) in `representation` for this upload only.
    pub async fn put_as<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        representation: crate::RepresentationType,
    ) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self
            .session
            .store_as(path, representation, Instant::now())?;
        self.open_upload(id, 0).await
    }

    /// `REST offset`, `RETR path`: resumes a download at byte `offset`.
    pub async fn get_from<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        offset: u64,
    ) -> Result<DownloadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.retrieve_from(path, offset, Instant::now())?;
        self.open_download(id, offset).await
    }

    /// `STOR path`: an upload whose bytes are written to the returned [`UploadStream`]; call
    /// [`UploadStream::finish`] after the last byte.
    pub async fn put<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.store(path, Instant::now())?;
        self.open_upload(id, 0).await
    }

    /// `REST offset`, `STOR path`: resumes an upload at byte `offset` (write the bytes
    /// from `offset` on).
    pub async fn put_from<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        offset: u64,
    ) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.store_from(path, offset, Instant::now())?;
        self.open_upload(id, offset).await
    }

    /// `APPE path`: an upload appended to the file.
    pub async fn append<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
    ) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.append(path, Instant::now())?;
        self.open_upload(id, 0).await
    }

    /// Downloads `path` into `writer`; returns the number of bytes.
    pub async fn download_to<'p, W: AsyncWrite + Unpin>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        writer: &mut W,
    ) -> Result<u64> {
        let size = self.config.buffer_size.max(1);
        let mut download = self.get(path).await?;
        let mut buffer = vec![0; size];
        loop {
            let read = match download.read(&mut buffer).await {
                Ok(read) => read,
                Err(error) => return Err(download.failure(error).await),
            };
            if read == 0 {
                break;
            }
            if let Err(source) = writer.write_all(&buffer[..read]).await {
                download.abort().await?;
                return Err(ClientError::Io {
                    context: "writing the download",
                    source,
                });
            }
        }
        writer
            .flush()
            .await
            .map_err(ClientError::io("writing the download"))?;
        let bytes = download.progress().bytes();
        download.finish().await?;
        Ok(bytes)
    }

    /// Uploads everything `reader` yields to `path` (`STOR`); returns the number of
    /// bytes.
    pub async fn upload_from<'p, R: AsyncRead + Unpin>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        reader: &mut R,
    ) -> Result<u64> {
        let upload = self.put(path).await?;
        transfer::copy_into(upload, reader).await
    }

    pub(super) async fn open_download(
        &mut self,
        id: OperationId,
        offset: u64,
    ) -> Result<DownloadStream<'_, S>> {
        let (stream, size_hint) = self.open_transfer(id).await?;
        Ok(DownloadStream::new(self, id, stream, offset, size_hint))
    }

    pub(super) async fn open_upload(
        &mut self,
        id: OperationId,
        offset: u64,
    ) -> Result<UploadStream<'_, S>> {
        let (stream, _) = self.open_transfer(id).await?;
        Ok(UploadStream::new(self, id, stream, offset))
    }

    /// Drives the session until transfer `id` has its data connection open and the
    /// server's `1yz`, then takes the data connection out of the run loop.
    pub(super) async fn open_transfer(
        &mut self,
        id: OperationId,
    ) -> Result<(MaybeTls, Option<u64>)> {
        self.orphan = Some(Orphan { id, abort: true });
        let opened = self
            .run_until(|client| {
                client.results.contains_key(&id)
                    || client.data.as_ref().is_some_and(|slot| {
                        slot.id == id
                            && matches!(slot.state, DataState::Open(_))
                            && match slot.kind {
                                // The session says when an upload may write.
                                TransferKind::Upload => client.may_send.contains(&id),
                                // A download is handed over once the 1yz is in, for
                                // the size it announces.
                                _ => client.started.contains_key(&id),
                            }
                    })
            })
            .await;
        if let Err(error) = opened {
            self.orphan = None;
            return Err(error);
        }
        if let Some(result) = self.results.remove(&id) {
            self.orphan = None;
            self.data = None;
            self.started.remove(&id);
            result?;
            return Err(ClientError::UnexpectedOutput("transfer without data"));
        }
        let size_hint = self.started.remove(&id).flatten();
        self.may_send.remove(&id);
        match self.data.take() {
            Some(DataSlot {
                state: DataState::Open(stream),
                ..
            }) => Ok((stream, size_hint)),
            _ => unreachable!("run_until stopped on an open data connection"),
        }
    }
}
