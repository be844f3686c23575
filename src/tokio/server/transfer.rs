//! The copy loops of a transfer: file downloads (with `sendfile` where it can),
//! listings, uploads and ASCII conversion, counting the bytes moved for the session's
//! progress and stall checks.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use ::tokio::sync::mpsc;

use super::Opened;
use crate::ascii::{FromNetwork, ToNetwork};
use crate::server::{
    DataEvent, DataFailure, Direction, ListingFormat, RequestId, StorageError, Transfer,
    TransferContent, format_entry,
};
use crate::storage::{Lister, Storage, Upload};
use crate::tokio::stream::MaybeTls;

/// How an upload asks the session whether it is complete before committing it.
pub(super) struct UploadEnd<'a> {
    pub(super) events: &'a mpsc::Sender<DataEvent>,
    pub(super) commit: ::tokio::sync::oneshot::Receiver<()>,
}

/// Runs one transfer to its end and says how it ended.
pub(super) async fn run_transfer<S: Storage>(
    transfer: Transfer,
    opened: Opened<S>,
    mut stream: MaybeTls,
    buffer_size: usize,
    moved: &AtomicU64,
    upload_end: UploadEnd<'_>,
) -> DataEvent {
    let id = transfer.id;
    let started = Instant::now();
    let outcome = match (transfer.direction, opened, &transfer.content) {
        (Direction::Send, Opened::Reader(reader), TransferContent::File) => {
            let sendfile = S::sendfile_source(&reader).filter(|_| !transfer.ascii);
            match (sendfile, stream.as_plain_mut()) {
                (Some(source), Some(tcp)) => send_with_sendfile(source, tcp, moved).await,
                _ => send_file(reader, &mut stream, transfer.ascii, buffer_size, moved).await,
            }
        }
        (Direction::Send, Opened::Listing(lister), TransferContent::Listing(format)) => {
            send_listing(lister, &mut stream, format, moved).await
        }
        (Direction::Receive, Opened::Upload(upload), TransferContent::File) => {
            let receive = Receive {
                id,
                ascii: transfer.ascii,
                buffer_size,
                moved,
            };
            receive_file(upload, &mut stream, receive, upload_end).await
        }
        _ => Err(DataFailure::Storage(StorageError::Other(
            "transfer mismatch".into(),
        ))),
    };
    match outcome {
        Ok(bytes) => {
            tracing::info!(
                bytes,
                seconds = started.elapsed().as_secs_f64(),
                "transfer complete"
            );
            DataEvent::Finished { id, bytes }
        }
        Err(reason) => {
            tracing::info!(?reason, "transfer failed");
            DataEvent::Failed { id, reason }
        }
    }
}

pub(super) fn connection_lost(error: io::Error) -> DataFailure {
    tracing::debug!(%error, "data connection lost");
    DataFailure::ConnectionLost
}

/// Counts bytes moved, for the session's stall deadline and STAT: a relaxed add, read by
/// the connection's loop only when it wakes up for something else.
pub(super) fn count(moved: &AtomicU64, bytes: usize) {
    moved.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// A read or write of the storage failed mid-transfer: the core's mapping says how.
pub(super) fn storage_failed(error: io::Error) -> DataFailure {
    DataFailure::Storage(StorageError::from_io(&error))
}

pub(super) async fn send_file(
    mut reader: impl AsyncRead + Unpin,
    stream: &mut MaybeTls,
    ascii: bool,
    buffer_size: usize,
    moved: &AtomicU64,
) -> Result<u64, DataFailure> {
    let mut buffer = vec![0u8; buffer_size];
    let mut converted = Vec::new();
    let mut converter = ToNetwork::new();
    let mut total = 0u64;
    loop {
        let read = reader.read(&mut buffer).await.map_err(storage_failed)?;
        if read == 0 {
            break;
        }
        let chunk = if ascii {
            converted.clear();
            converter.convert(&buffer[..read], &mut converted);
            &converted[..]
        } else {
            &buffer[..read]
        };
        write_counted(stream, chunk, moved)
            .await
            .map_err(connection_lost)?;
        total += chunk.len() as u64;
    }
    stream.shutdown().await.map_err(connection_lost)?;
    Ok(total)
}

/// Writes all of `bytes`, counting each write: a slow reader that keeps reading shows
/// progress, one that stops does not (and the session aborts the transfer).
pub(super) async fn write_counted(
    stream: &mut (impl AsyncWrite + Unpin),
    mut bytes: &[u8],
    moved: &AtomicU64,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = stream.write(bytes).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        count(moved, written);
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Sends a file with `sendfile(2)`: the kernel copies from the page cache to the
/// socket, as vsftpd and pyftpdlib do. The file's own position says where to start.
pub(super) async fn send_with_sendfile(
    source: std::os::fd::BorrowedFd<'_>,
    stream: &mut TcpStream,
    moved: &AtomicU64,
) -> Result<u64, DataFailure> {
    // Small chunks keep the receiver reading while the kernel refills the socket:
    // measured on loopback, 32 KiB beat 64 KiB, 128 KiB and 1 MiB (BENCHMARKS.md).
    const CHUNK: usize = 32 * 1024;
    let mut total = 0u64;
    loop {
        let socket: &TcpStream = stream;
        let sent = socket
            .async_io(::tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(socket, source, None, CHUNK).map_err(io::Error::from)
            })
            .await;
        match sent {
            Ok(0) => break,
            Ok(sent) => {
                count(moved, sent);
                total += sent as u64
            }
            // A read error is the storage's; anything else is the connection's.
            Err(error)
                if rustix::io::Errno::from_io_error(&error) == Some(rustix::io::Errno::IO) =>
            {
                return Err(storage_failed(error));
            }
            Err(error) => return Err(connection_lost(error)),
        }
    }
    stream.shutdown().await.map_err(connection_lost)?;
    Ok(total)
}

pub(super) async fn send_listing(
    mut lister: impl Lister,
    stream: &mut MaybeTls,
    format: &ListingFormat,
    moved: &AtomicU64,
) -> Result<u64, DataFailure> {
    let now = SystemTime::now();
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut total = 0u64;
    while let Some((name, metadata)) = lister.next_entry().await.map_err(DataFailure::Storage)? {
        format_entry(format, name.as_bytes(), &metadata, now, &mut buffer);
        if buffer.len() >= 60 * 1024 {
            write_counted(stream, &buffer, moved)
                .await
                .map_err(connection_lost)?;
            total += buffer.len() as u64;
            buffer.clear();
        }
    }
    write_counted(stream, &buffer, moved)
        .await
        .map_err(connection_lost)?;
    total += buffer.len() as u64;
    stream.shutdown().await.map_err(connection_lost)?;
    Ok(total)
}

/// What an upload's copy needs to know.
pub(super) struct Receive<'a> {
    pub(super) id: RequestId,
    pub(super) ascii: bool,
    pub(super) buffer_size: usize,
    pub(super) moved: &'a AtomicU64,
}

pub(super) async fn receive_file(
    mut upload: impl Upload,
    stream: &mut MaybeTls,
    receive: Receive<'_>,
    end: UploadEnd<'_>,
) -> Result<u64, DataFailure> {
    let copied = copy_upload(
        &mut upload,
        stream,
        receive.ascii,
        receive.buffer_size,
        receive.moved,
    )
    .await;
    let (total, clean) = match copied {
        Ok(copied) => copied,
        Err(failure) => {
            upload.abort().await;
            return Err(failure);
        }
    };
    // Whether an upload that ended this way is complete is the session's decision.
    let received = DataEvent::Received {
        id: receive.id,
        bytes: total,
        clean,
    };
    if end.events.send(received).await.is_err() || end.commit.await.is_err() {
        upload.abort().await;
        return Err(DataFailure::ConnectionLost);
    }
    upload.commit().await.map_err(DataFailure::Storage)?;
    // Our close_notify (with TLS) and FIN: clients that wait for them see a clean end.
    // Bounded: the upload is stored and its reply due; a client that does not read
    // the close cannot hold it back.
    let _ = ::tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
    Ok(total)
}

/// Copies the data connection into the upload, up to the client's end of data; says
/// how many bytes, and whether the end was clean (false: TLS without close_notify).
pub(super) async fn copy_upload(
    upload: &mut impl Upload,
    stream: &mut MaybeTls,
    ascii: bool,
    buffer_size: usize,
    moved: &AtomicU64,
) -> Result<(u64, bool), DataFailure> {
    // The buffer starts small and doubles while reads fill it: a small file never pays
    // for zeroing (and faulting in) the whole `buffer_size`, a big one soon reads in
    // `buffer_size` steps.
    let mut buffer = vec![0u8; buffer_size.clamp(1, 64 * 1024)];
    let mut converted = Vec::new();
    let mut converter = FromNetwork::new();
    let mut total = 0u64;
    let mut clean = true;
    loop {
        let read = match stream.read(&mut buffer).await {
            Ok(0) => break,
            Ok(read) => {
                count(moved, read);
                if read == buffer.len() && buffer.len() < buffer_size {
                    buffer.resize((buffer.len() * 2).min(buffer_size), 0);
                }
                read
            }
            // A TLS client that closes without close_notify: the end of the data, not
            // clean; the session decides whether that completes the upload.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                clean = false;
                break;
            }
            Err(error) => return Err(connection_lost(error)),
        };
        total += read as u64;
        if ascii {
            converted.clear();
            converter.convert(&buffer[..read], &mut converted);
            upload.write_all(&converted).await.map_err(storage_failed)?;
        } else {
            upload
                .write_all(&buffer[..read])
                .await
                .map_err(storage_failed)?;
        }
    }
    if ascii {
        converted.clear();
        converter.finish(&mut converted);
        upload.write_all(&converted).await.map_err(storage_failed)?;
    }
    Ok((total, clean))
}
