//! Directory listings: parsed (`MLSD` or `LIST`, as the session chose), raw, names
//! only (`NLST`), read whole over the data connection the session asked for.

use std::time::{Instant, SystemTime};

use ::tokio::io::{AsyncRead, AsyncWrite};

use super::Client;
use super::error::{ClientError, Result};
use crate::client::{self, OperationId, Outcome, Session, TransferKind};
use crate::listing::Entry;
use crate::text::Pathname;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Lists a directory as parsed entries: `MLSD` when the server offers `MLST`, else
    /// `LIST` read with [`crate::listing`]. The directory's own entry and its parent
    /// (`cdir`/`pdir`, or `.` and `..` directories in a `LIST`) are left out, and so are
    /// `LIST` lines no parser understands.
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<Entry>> {
        self.list_path(path.map(Pathname::from)).await
    }

    /// [`list`](Self::list) for a path that may not be UTF-8.
    pub async fn list_path(&mut self, path: Option<Pathname<'_>>) -> Result<Vec<Entry>> {
        self.prepare().await?;
        let id = self
            .session
            .list_entries(path, SystemTime::now(), Instant::now())?;
        match self.wait(id).await? {
            Outcome::Entries(entries) => Ok(entries),
            _ => Err(ClientError::UnexpectedOutput("listing")),
        }
    }

    /// `LIST [path]`: the raw bytes, for listings the parsers do not know.
    pub async fn list_raw(&mut self, path: Option<&str>) -> Result<Vec<u8>> {
        self.prepare().await?;
        let path = path.map(Pathname::from);
        self.listing_of(|session, now| session.list(path, now))
            .await
    }

    /// Sends one command line that answers over a data connection (a `SITE` command
    /// that lists, a vendor verb) and returns the bytes it carried, once the server's
    /// final reply confirmed them. The session opens the data connection as for
    /// `LIST` ([`client::Session::raw_transfer`]); commands that change what the
    /// session tracks are refused as by [`raw`](Self::raw).
    pub async fn raw_listing(&mut self, line: &str) -> Result<Vec<u8>> {
        let command = crate::parse_command(line.as_bytes())?.into_owned();
        self.prepare().await?;
        self.listing_of(|session, now| session.raw_transfer(command, TransferKind::Listing, now))
            .await
    }

    /// `NLST [path]`: the names, one per line of the server's answer.
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<Pathname<'static>>> {
        self.prepare().await?;
        let path = path.map(Pathname::from);
        let bytes = self
            .listing_of(|session, now| session.name_list(path, now))
            .await?;
        Ok(bytes
            .split(|&byte| byte == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .map(|line| Pathname::from(line.to_vec()))
            .collect())
    }

    /// Runs a listing operation and returns its bytes.
    pub(super) async fn listing_of(
        &mut self,
        start: impl FnOnce(&mut Session, Instant) -> Result<OperationId, client::Error>,
    ) -> Result<Vec<u8>> {
        let id = start(&mut self.session, Instant::now())?;
        match self.wait(id).await? {
            Outcome::Listing(bytes) => Ok(bytes),
            _ => Err(ClientError::UnexpectedOutput("listing")),
        }
    }
}
