//! The handles of running file transfers: [`DownloadStream`] (an `AsyncRead`) and [`UploadStream`]
//! (an `AsyncWrite`), and the [`Progress`] counter both share with whoever draws a
//! progress bar.
//!
//! A handle owns the data connection and borrows the [`Client`] until the transfer is
//! over. It reports the end of data (or its failure) to the session, then drives the
//! control connection until the server's final reply. A handle dropped before that
//! leaves a note on the client, which settles the transfer (with `ABOR` when data was
//! still flowing) before its next operation.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::time::Sleep;

use super::{Client, ClientError, Orphan, Result};
use crate::client::{OperationId, Outcome};
use crate::reply::Reply;
use crate::tokio::stream::{MaybeTls, set_receive_low_water};

/// Bytes moved so far by one transfer; cheap to clone and to read from another task
/// (a progress bar), with no callback.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    bytes: Arc<AtomicU64>,
    offset: u64,
    total: Option<u64>,
}

impl Progress {
    /// Bytes moved over the data connection so far (not counting a resume offset).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Where the transfer started in the file (the `REST` offset, else 0).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file's size when known: what the server announced in its `150` reply
    /// (`(1234 bytes)`), or what the caller set with [`DownloadStream::set_total`].
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// How the data connection of a transfer ended, as reported to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataEnd {
    /// The peer closed it after the last byte, or we did after an upload.
    Clean,
    /// A protected connection ended without TLS close_notify: the session decides.
    WithoutCloseNotify,
    /// Reading or writing failed.
    Failed(io::ErrorKind),
}

type Finishing<'a, S> =
    Pin<Box<dyn Future<Output = (&'a mut Client<S>, Result<Outcome>)> + Send + 'a>>;

/// Where a transfer handle is in its life.
enum State<'a, S> {
    /// The data connection is open.
    Moving {
        client: &'a mut Client<S>,
        stream: MaybeTls,
    },
    /// The data connection is over; the server's final reply is awaited.
    Finishing(Finishing<'a, S>),
    /// The transfer is over.
    Done {
        // Held so that the client stays borrowed until the handle goes away.
        _client: &'a mut Client<S>,
        result: Option<Result<Reply<'static>>>,
        /// The error's message, kept for reads after the result was taken.
        failed: Option<String>,
    },
    /// Between two states, only while a method runs.
    Moved,
}

/// What a plain download's data connection waits for before it wakes the reader (see
/// `set_receive_low_water`).
const DOWNLOAD_LOW_WATER: usize = 256 * 1024;

/// How long a download waits for its low-water mark before it takes what trickles in:
/// a sender slower than 256 KiB in this time (2.5 MB/s) is read byte by byte again, so
/// that its progress shows and the session's stall deadline sees what it sends.
const LOW_WATER_PATIENCE: Duration = Duration::from_millis(100);

/// The part shared by both directions.
struct Transfer<'a, S> {
    id: OperationId,
    state: State<'a, S>,
    progress: Progress,
    last_progress: Instant,
    idle: Pin<Box<Sleep>>,
    /// The data connection's low-water mark is raised (a plain download).
    low_water: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin + Send> Transfer<'a, S> {
    fn new(
        client: &'a mut Client<S>,
        id: OperationId,
        stream: MaybeTls,
        offset: u64,
        total: Option<u64>,
    ) -> Self {
        Transfer {
            id,
            state: State::Moving { client, stream },
            progress: Progress {
                bytes: Arc::default(),
                offset,
                total,
            },
            last_progress: Instant::now(),
            idle: Box::pin(::tokio::time::sleep(LOW_WATER_PATIENCE)),
            low_water: false,
        }
    }

    /// Raises a plain download's low-water mark, and wakes up sooner to check on it.
    fn raise_low_water(&mut self) {
        let State::Moving { stream, .. } = &mut self.state else {
            return;
        };
        let Some(tcp) = stream.as_plain_mut() else {
            return;
        };
        if set_receive_low_water(tcp, DOWNLOAD_LOW_WATER).is_ok() {
            self.low_water = true;
            let patience = self.last_progress + LOW_WATER_PATIENCE;
            self.idle.as_mut().reset(patience.into());
        }
    }

    /// Lowers the low-water mark again: every byte wakes the reader.
    fn lower_low_water(&mut self) {
        tracing::debug!(
            bytes = self.progress.bytes(),
            "download slower than its low-water mark: reading every byte"
        );
        self.low_water = false;
        if let State::Moving { stream, .. } = &mut self.state {
            if let Some(tcp) = stream.as_plain_mut() {
                let _ = set_receive_low_water(tcp, 1);
            }
        }
    }

    fn moved(&mut self, bytes: usize) {
        self.progress.add(bytes);
        let now = Instant::now();
        self.last_progress = now;
        if let State::Moving { client, .. } = &mut self.state {
            // The session keeps the stall deadline.
            client.session.handle_data_progress(self.id, now);
        }
    }

    /// The data stream is not ready. `Ready`: look at the state again (the session
    /// settled the transfer or asked to close its data connection, or the low-water
    /// mark was lowered); `Pending`: wait, a wake-up is registered (control bytes, the
    /// session's next deadline, the low-water patience).
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.settled_by_session(cx) {
                return Poll::Ready(());
            }
            let State::Moving { client, .. } = &mut self.state else {
                return Poll::Ready(());
            };
            let patience = self
                .low_water
                .then_some(self.last_progress + LOW_WATER_PATIENCE);
            let deadline = match (client.session.poll_timeout(), patience) {
                (Some(session), Some(patience)) => session.min(patience),
                (session, patience) => match session.or(patience) {
                    Some(deadline) => deadline,
                    None => return Poll::Pending,
                },
            };
            self.idle.as_mut().reset(deadline.into());
            if self.idle.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if patience.is_some_and(|patience| patience <= now) {
                self.lower_low_water();
                return Poll::Ready(());
            }
            // A deadline of the session passed (a stalled data connection, say): it
            // decides, and the loop sees what it asked for.
            if let State::Moving { client, .. } = &mut self.state {
                client.session.handle_timeout(now);
            }
        }
    }

    /// Whether the session settled the transfer (a final reply read while data was
    /// pending) or asked to close its data connection (a stall, a failed transfer); if
    /// so, stops moving data: the bytes the session queued (an `ABOR`) go out first,
    /// then the data connection closes, then the final result is awaited.
    fn settled_by_session(&mut self, cx: &mut Context<'_>) -> bool {
        let State::Moving { client, .. } = &mut self.state else {
            return false;
        };
        let settled = client.poll_control(cx, self.id);
        if !settled && !client.closing.remove(&self.id) {
            return false;
        }
        let State::Moving { client, stream } = std::mem::replace(&mut self.state, State::Moved)
        else {
            return false;
        };
        let id = self.id;
        client.orphan = Some(Orphan { id, abort: false });
        self.state = State::Finishing(Box::pin(async move {
            let _ = client.run_until(|_| true).await;
            drop(stream);
            let result = client.wait(id).await;
            (client, result)
        }));
        true
    }

    /// Reports the end of data or its failure to the session and starts waiting for
    /// the final reply. `shut` says the upload's sending side is closed: a TLS stream
    /// is then read until the server closes it (see [`wait_draining`]).
    fn finish_data(&mut self, end: DataEnd, abort: bool, shut: bool) {
        let State::Moving { client, stream } = std::mem::replace(&mut self.state, State::Moved)
        else {
            return;
        };
        // The session queues an abort's bytes before its `CloseData`: the stream
        // closes once they are out.
        let (linger, abort_stream) = if abort {
            (None, Some(stream))
        } else {
            let linger = shut && end == DataEnd::Clean && stream.is_tls();
            (linger.then_some(stream), None)
        };
        let id = self.id;
        let now = Instant::now();
        if abort {
            client.session.abort(id, now);
        } else {
            match end {
                DataEnd::Clean => client.session.handle_data_end(id, now),
                DataEnd::WithoutCloseNotify => {
                    client.session.handle_data_end_without_close_notify(id, now)
                }
                DataEnd::Failed(kind) => client.session.handle_data_failed(id, kind, now),
            }
        }
        // If this handle goes away before the final reply, the client waits for it.
        client.orphan = Some(Orphan { id, abort: false });
        self.state = State::Finishing(Box::pin(async move {
            if let Some(stream) = abort_stream {
                // Sends what the session queued (the abort), then closes.
                let _ = client.run_until(|_| true).await;
                drop(stream);
            }
            let result = match linger {
                Some(stream) => wait_draining(client, id, stream).await,
                None => client.wait(id).await,
            };
            (client, result)
        }));
    }

    fn poll_finishing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let State::Finishing(future) = &mut self.state {
            let (client, result) = ready!(future.as_mut().poll(cx));
            let result = result.and_then(|output| match output {
                Outcome::Transferred { reply, .. } => Ok(reply),
                _ => Err(ClientError::UnexpectedOutput("transfer")),
            });
            let failed = result.as_ref().err().map(ToString::to_string);
            self.state = State::Done {
                _client: client,
                result: Some(result),
                failed,
            };
        }
        Poll::Ready(())
    }

    /// The final result, once; later calls report a plain error.
    fn take_result(&mut self) -> Result<Reply<'static>> {
        match &mut self.state {
            State::Done { result, failed, .. } => result.take().unwrap_or_else(|| {
                Err(ClientError::Io {
                    context: "transfer",
                    source: io::Error::other(
                        failed
                            .clone()
                            .unwrap_or_else(|| "result already taken".into()),
                    ),
                })
            }),
            _ => Err(ClientError::UnexpectedOutput("transfer not finished")),
        }
    }

    /// What a read or write after the end reports: nothing for success, else the error.
    fn done_error(&self) -> Option<io::Error> {
        match &self.state {
            State::Done {
                result: Some(Err(error)),
                ..
            } => Some(error.to_io()),
            State::Done {
                failed: Some(message),
                ..
            } => Some(io::Error::other(message.clone())),
            _ => None,
        }
    }

    async fn finish(&mut self) -> Result<Reply<'static>> {
        std::future::poll_fn(|cx| self.poll_finishing(cx)).await;
        self.take_result()
    }

    async fn abort(&mut self) -> Result<()> {
        self.finish_data(DataEnd::Clean, true, false);
        std::future::poll_fn(|cx| self.poll_finishing(cx)).await;
        match self.take_result() {
            Ok(_) => Ok(()),
            Err(ClientError::Protocol(error)) if !error.is_fatal() => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// A running download (`RETR`): read the file's bytes from it, then call
/// [`finish`](Self::finish) for the server's verdict.
///
/// Reading returns end-of-file only after the server's final reply confirmed the
/// transfer; a failed transfer (the server's 426, a broken or idle data connection)
/// makes the read fail instead, and the client stays usable. Dropping the download
/// before the end aborts the transfer (`ABOR`) at the client's next operation.
pub struct DownloadStream<'a, S> {
    inner: Transfer<'a, S>,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin + Send> DownloadStream<'a, S> {
    pub(super) fn new(
        client: &'a mut Client<S>,
        id: OperationId,
        stream: MaybeTls,
        offset: u64,
        total: Option<u64>,
    ) -> Self {
        let mut inner = Transfer::new(client, id, stream, offset, total);
        inner.raise_low_water();
        DownloadStream { inner }
    }

    /// A handle on the bytes read so far, to watch from elsewhere.
    pub fn progress(&self) -> Progress {
        self.inner.progress.clone()
    }

    /// Bytes read from the data connection so far.
    pub fn bytes_transferred(&self) -> u64 {
        self.inner.progress.bytes()
    }

    /// Sets the size shown by [`Progress::total`] (from [`Client::size`], say) for
    /// progress handles taken after this call.
    pub fn set_total(&mut self, total: u64) {
        self.inner.progress.total = Some(total);
    }

    /// Reads (and discards) whatever is left, then waits for the server's final reply
    /// and returns it.
    pub async fn finish(mut self) -> Result<Reply<'static>> {
        if matches!(self.inner.state, State::Moving { .. }) {
            let mut sink = vec![0; 64 * 1024];
            loop {
                match self.read(&mut sink).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        self.inner.finish().await
    }

    /// Stops the download: closes the data connection, sends `ABOR` and reads the
    /// server's replies (426 then 226, a lone 226, or 225).
    pub async fn abort(mut self) -> Result<()> {
        self.inner.abort().await
    }

    /// The error that ended the transfer, for a caller whose read failed with `error`:
    /// the transfer's own result once the server's final reply is in.
    pub(super) async fn failure(&mut self, error: io::Error) -> ClientError {
        std::future::poll_fn(|cx| self.inner.poll_finishing(cx)).await;
        match self.inner.take_result() {
            Err(ClientError::UnexpectedOutput(_)) | Ok(_) => ClientError::Io {
                context: "reading the data connection",
                source: error,
            },
            Err(failure) => failure,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> AsyncRead for DownloadStream<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let transfer = &mut self.get_mut().inner;
        loop {
            match &mut transfer.state {
                State::Moving { stream, .. } => {
                    let before = buf.filled().len();
                    match Pin::new(stream).poll_read(cx, buf) {
                        Poll::Ready(Ok(())) => {
                            let read = buf.filled().len() - before;
                            if read > 0 {
                                transfer.moved(read);
                                return Poll::Ready(Ok(()));
                            }
                            if buf.remaining() == 0 {
                                return Poll::Ready(Ok(()));
                            }
                            transfer.finish_data(DataEnd::Clean, false, false);
                        }
                        // The server closed without TLS close_notify: the session
                        // decides what that means.
                        Poll::Ready(Err(error))
                            if error.kind() == io::ErrorKind::UnexpectedEof
                                && matches!(&transfer.state, State::Moving { stream, .. } if stream.is_tls()) =>
                        {
                            tracing::debug!("protected download ended without close_notify");
                            transfer.finish_data(DataEnd::WithoutCloseNotify, false, false);
                        }
                        Poll::Ready(Err(error)) => {
                            transfer.finish_data(DataEnd::Failed(error.kind()), false, false);
                        }
                        Poll::Pending => ready!(transfer.poll_stalled(cx)),
                    }
                }
                State::Finishing(_) => ready!(transfer.poll_finishing(cx)),
                State::Done { .. } => {
                    return Poll::Ready(match transfer.done_error() {
                        Some(error) => Err(error),
                        None => Ok(()),
                    });
                }
                State::Moved => return Poll::Ready(Err(io::ErrorKind::Other.into())),
            }
        }
    }
}

/// A running upload (`STOR`, `APPE`): write the file's bytes to it, then call
/// [`finish`](Self::finish), which closes the data connection and returns the server's
/// final reply. Shutting it down (`AsyncWriteExt::shutdown`) does the same without
/// returning the reply.
///
/// Dropping the upload before `finish` aborts the transfer (`ABOR`) at the client's
/// next operation; the server may keep the partial file.
pub struct UploadStream<'a, S> {
    inner: Transfer<'a, S>,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin + Send> UploadStream<'a, S> {
    pub(super) fn new(
        client: &'a mut Client<S>,
        id: OperationId,
        stream: MaybeTls,
        offset: u64,
    ) -> Self {
        UploadStream {
            inner: Transfer::new(client, id, stream, offset, None),
        }
    }

    /// A handle on the bytes written so far, to watch from elsewhere.
    pub fn progress(&self) -> Progress {
        self.inner.progress.clone()
    }

    /// Bytes written to the data connection so far.
    pub fn bytes_transferred(&self) -> u64 {
        self.inner.progress.bytes()
    }

    /// Sets the size shown by [`Progress::total`] for progress handles taken after
    /// this call.
    pub fn set_total(&mut self, total: u64) {
        self.inner.progress.total = Some(total);
    }

    /// Closes the data connection after the last byte (with TLS, sending close_notify
    /// first) and waits for the server's final reply.
    pub async fn finish(mut self) -> Result<Reply<'static>> {
        if let State::Moving { stream, .. } = &mut self.inner.state {
            match stream.shutdown().await {
                Ok(()) => self.inner.finish_data(DataEnd::Clean, false, true),
                Err(error) => self
                    .inner
                    .finish_data(DataEnd::Failed(error.kind()), false, true),
            }
        }
        self.inner.finish().await
    }

    /// Stops the upload: closes the data connection, sends `ABOR` and reads the
    /// server's replies.
    pub async fn abort(mut self) -> Result<()> {
        self.inner.abort().await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> AsyncWrite for UploadStream<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let transfer = &mut self.get_mut().inner;
        loop {
            match &mut transfer.state {
                State::Moving { stream, .. } => match Pin::new(stream).poll_write(cx, data) {
                    Poll::Ready(Ok(written)) => {
                        transfer.moved(written);
                        return Poll::Ready(Ok(written));
                    }
                    Poll::Ready(Err(error)) => {
                        // The server closed the data connection: its reply says why.
                        transfer.finish_data(DataEnd::Failed(error.kind()), false, false);
                    }
                    Poll::Pending => ready!(transfer.poll_stalled(cx)),
                },
                State::Finishing(_) => ready!(transfer.poll_finishing(cx)),
                State::Done { .. } => {
                    return Poll::Ready(Err(transfer
                        .done_error()
                        .unwrap_or_else(|| io::ErrorKind::BrokenPipe.into())));
                }
                State::Moved => return Poll::Ready(Err(io::ErrorKind::Other.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner.state {
            State::Moving { stream, .. } => Pin::new(stream).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let transfer = &mut self.get_mut().inner;
        loop {
            match &mut transfer.state {
                State::Moving { stream, .. } => {
                    let shut = ready!(Pin::new(stream).poll_shutdown(cx));
                    let end = match shut {
                        Ok(()) => DataEnd::Clean,
                        Err(error) => DataEnd::Failed(error.kind()),
                    };
                    transfer.finish_data(end, false, true);
                }
                State::Finishing(_) => ready!(transfer.poll_finishing(cx)),
                State::Done { .. } => {
                    return Poll::Ready(match transfer.done_error() {
                        Some(error) => Err(error),
                        None => Ok(()),
                    });
                }
                State::Moved => return Poll::Ready(Err(io::ErrorKind::Other.into())),
            }
        }
    }
}

/// Waits for transfer `id`'s final reply while reading whatever the server still sends
/// on the upload's TLS data connection: TLS 1.3 session tickets (which later data
/// connections need to resume the session) and its close_notify. Dropping a socket with
/// unread bytes makes the kernel send a reset, which can destroy the end of the upload
/// before the server has read it. The stream is dropped when the server closes it or
/// when the final reply arrives, whichever comes first.
async fn wait_draining<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut Client<S>,
    id: OperationId,
    mut stream: MaybeTls,
) -> Result<Outcome> {
    let drain = async move {
        let mut sink = [0u8; 4096];
        while let Ok(read) = stream.read(&mut sink).await {
            if read == 0 {
                break;
            }
        }
    };
    let wait = client.wait(id);
    ::tokio::pin!(drain, wait);
    ::tokio::select! {
        biased;
        () = &mut drain => wait.await,
        result = &mut wait => result,
    }
}

/// Copies `reader` into `upload` with the client's buffer size, then finishes it.
pub(super) async fn copy_into<S, R>(mut upload: UploadStream<'_, S>, reader: &mut R) -> Result<u64>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    R: AsyncRead + Unpin,
{
    let size = match &upload.inner.state {
        State::Moving { client, .. } => client.config.buffer_size.max(1),
        _ => 64 * 1024,
    };
    let mut buffer = vec![0; size];
    loop {
        let read = match reader.read(&mut buffer).await {
            Ok(read) => read,
            Err(source) => {
                upload.abort().await?;
                return Err(ClientError::Io {
                    context: "reading the upload's source",
                    source,
                });
            }
        };
        if read == 0 {
            break;
        }
        if upload.write_all(&buffer[..read]).await.is_err() {
            // The transfer failed: its result says why.
            std::future::poll_fn(|cx| upload.inner.poll_finishing(cx)).await;
            return match upload.inner.take_result() {
                Err(error) => Err(error),
                Ok(_) => Err(ClientError::Io {
                    context: "writing the data connection",
                    source: io::ErrorKind::BrokenPipe.into(),
                }),
            };
        }
    }
    let bytes = upload.bytes_transferred();
    upload.finish().await?;
    Ok(bytes)
}

impl<S> std::fmt::Debug for DownloadStream<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadStream")
            .field("id", &self.inner.id)
            .field("progress", &self.inner.progress)
            .finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for UploadStream<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadStream")
            .field("id", &self.inner.id)
            .field("progress", &self.inner.progress)
            .finish_non_exhaustive()
    }
}
