//! The application's answers: each [`Request`] of the session carried out on the
//! authenticator or the storage, off the connection's loop, as an [`Answer`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::{Opened, Shared};
use crate::server;
use crate::server::{MoreEntries, Request, RequestId, Response, StorageError};
use crate::storage::{Account, Authenticator, Lister, Storage};
use crate::tokio::log::Escaped;

/// The application's answer to a request in flight, polled by the connection's loop
/// (never awaited inline), so that a slow or hung back end cannot freeze the session:
/// control input is read and answered meanwhile, and the session's deadline drops it.
pub(super) type Answering<S> = Pin<Box<dyn std::future::Future<Output = Answer<S>> + Send>>;

/// What an answer brings besides the response: what it opened or logged in.
pub(super) struct Answer<S: Storage> {
    pub(super) id: RequestId,
    pub(super) response: Response,
    pub(super) opened: Option<Opened<S>>,
    pub(super) account: Option<Account<S>>,
}

/// Answers one request of the session: the authenticator for a login, the storage for
/// the rest. Owns everything it needs, so that the connection can poll it while it goes
/// on reading the control connection.
pub(super) async fn answer<A: Authenticator>(
    shared: Arc<Shared<A>>,
    peer: SocketAddr,
    storage: Option<Arc<A::Storage>>,
    id: RequestId,
    request: Request,
) -> Answer<A::Storage> {
    let mut answer = Answer {
        id,
        response: Response::Done,
        opened: None,
        account: None,
    };
    if let Request::Authenticate { user, password } = &request {
        let ip = peer.ip();
        if let Some(response) = shared.lockouts().screen_login(ip, Instant::now()) {
            tracing::info!(%peer, user = %Escaped(user.as_bytes()), "login refused: address locked out");
            answer.response = response;
            return answer;
        }
        answer.response = match shared.authenticator.authenticate(user, password).await {
            Some(account) => {
                let writable = account.writable;
                answer.account = Some(account);
                Response::LoggedIn { writable }
            }
            None => {
                tracing::info!(%peer, user = %Escaped(user.as_bytes()), "login refused");
                Response::LoginDenied
            }
        };
        if shared
            .lockouts()
            .record_login(ip, &answer.response, Instant::now())
        {
            tracing::warn!(
                %peer,
                seconds = shared.config.limits.lockout_duration.as_secs_f64(),
                "too many failed logins: address locked out"
            );
        }
        return answer;
    }
    // SITE reaches here only with `enable_site`, and the storage has no SITE commands:
    // it falls to `Unsupported` below, which the session answers 502.
    if let Request::SelectHost { .. } = request {
        return answer;
    }
    let Some(storage) = storage else {
        answer.response = Response::Failed(StorageError::PermissionDenied);
        return answer;
    };
    let result = match request {
        Request::Metadata { path } => storage.metadata(&path).await.map(Response::Metadata),
        Request::ListEntries { path, limit } => {
            list_all(&*storage, &path, limit)
                .await
                .map(|(entries, more)| Response::Entries {
                    entries,
                    now: SystemTime::now(),
                    more,
                })
        }
        Request::OpenListing { path, .. } => storage.list(&path).await.map(|lister| {
            answer.opened = Some(Opened::Listing(lister));
            Response::Opened {
                size: None,
                unique_name: None,
            }
        }),
        Request::OpenRead { path, offset } => {
            storage
                .open_read(&path, offset)
                .await
                .map(|(reader, size)| {
                    tracing::info!(%peer, path = %Escaped(path.as_bytes()), offset, "download");
                    answer.opened = Some(Opened::Reader(reader));
                    Response::Opened {
                        size,
                        unique_name: None,
                    }
                })
        }
        Request::OpenWrite { path, mode } => {
            storage
                .open_write(&path, mode)
                .await
                .map(|(upload, final_path)| {
                    tracing::info!(%peer, path = %Escaped(final_path.as_bytes()), ?mode, "upload");
                    answer.opened = Some(Opened::Upload(upload));
                    Response::Opened {
                        size: None,
                        unique_name: Some(final_path),
                    }
                })
        }
        Request::Delete { path } => storage.delete(&path).await.map(|()| Response::Done),
        Request::MakeDirectory { path } => {
            storage.make_directory(&path).await.map(|()| Response::Done)
        }
        Request::RemoveDirectory { path } => storage
            .remove_directory(&path)
            .await
            .map(|()| Response::Done),
        Request::Rename { from, to } => storage.rename(&from, &to).await.map(|()| Response::Done),
        Request::SetModified { path, modified } => storage
            .set_modified(&path, modified)
            .await
            .map(|()| Response::Done),
        _ => Err(StorageError::Unsupported),
    };
    answer.response = result.unwrap_or_else(Response::Failed);
    answer
}

/// Reads up to `limit` entries of a directory for a listing over the control
/// connection, and one more to know whether there are others. It does not count them:
/// past the limit, an object store would take a request per thousand keys.
pub(super) async fn list_all<S: Storage>(
    storage: &S,
    path: &server::VirtualPath,
    limit: usize,
) -> Result<(Vec<(crate::Text<'static>, server::Metadata)>, MoreEntries), StorageError> {
    let mut lister = storage.list(path).await?;
    let mut entries = Vec::new();
    while let Some(entry) = lister.next_entry().await? {
        if entries.len() >= limit {
            return Ok((entries, MoreEntries::Unknown));
        }
        entries.push(entry);
    }
    Ok((entries, MoreEntries::None))
}
