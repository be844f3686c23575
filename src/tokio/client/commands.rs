//! Operations that need no data connection: login, FEAT, directory and file commands,
//! SITE, NOOP, raw commands, TYPE and QUIT. Each queues the session's operation and
//! runs the loop until its outcome.

use std::time::{Duration, Instant, SystemTime};

use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::Client;
use super::error::{ClientError, Result};
use crate::client::{self, Features, Outcome};
use crate::reply::Reply;
use crate::text::{Pathname, Text};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Logs in with `USER`/`PASS` (use `anonymous` and any password for anonymous
    /// access). Returns the server's 230 reply.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.login(user, password, Instant::now())?;
        match self.wait(id).await? {
            Outcome::LoggedIn(reply) => Ok(reply),
            _ => Err(ClientError::UnexpectedOutput("login")),
        }
    }

    /// `FEAT` (then `OPTS UTF8 ON` when offered); the session keeps the answer and
    /// refuses operations the server does not advertise.
    pub async fn features(&mut self) -> Result<Features> {
        self.prepare().await?;
        let id = self.session.features(Instant::now())?;
        match self.wait(id).await? {
            Outcome::Features(features) => Ok(features),
            _ => Err(ClientError::UnexpectedOutput("FEAT")),
        }
    }

    /// `CWD path`.
    pub async fn cwd<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.change_directory(path, Instant::now())?;
        self.wait_done(id, "CWD").await
    }

    /// `CDUP`.
    pub async fn cdup(&mut self) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.change_to_parent(Instant::now())?;
        self.wait_done(id, "CDUP").await
    }

    /// `PWD`: the current directory.
    pub async fn pwd(&mut self) -> Result<Pathname<'static>> {
        self.prepare().await?;
        let id = self.session.print_directory(Instant::now())?;
        match self.wait(id).await? {
            Outcome::Directory(path) => Ok(path),
            _ => Err(ClientError::UnexpectedOutput("PWD")),
        }
    }

    /// `MKD path`: the new directory's path when the server names it.
    pub async fn mkdir<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
    ) -> Result<Option<Pathname<'static>>> {
        self.prepare().await?;
        let id = self.session.make_directory(path, Instant::now())?;
        match self.wait(id).await? {
            Outcome::Directory(path) => Ok(Some(path)),
            Outcome::Done(_) => Ok(None),
            _ => Err(ClientError::UnexpectedOutput("MKD")),
        }
    }

    /// `RMD path`.
    pub async fn rmdir<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.remove_directory(path, Instant::now())?;
        self.wait_done(id, "RMD").await
    }

    /// `DELE path`.
    pub async fn delete<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.delete(path, Instant::now())?;
        self.wait_done(id, "DELE").await
    }

    /// `RNFR from`, `RNTO to`.
    pub async fn rename<'p>(
        &mut self,
        from: impl Into<Pathname<'p>>,
        to: impl Into<Pathname<'p>>,
    ) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.rename(from, to, Instant::now())?;
        self.wait_done(id, "rename").await
    }

    /// `SIZE path`, in bytes.
    pub async fn size<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<u64> {
        self.prepare().await?;
        let id = self.session.size(path, Instant::now())?;
        match self.wait(id).await? {
            Outcome::Size(size) => Ok(size),
            _ => Err(ClientError::UnexpectedOutput("SIZE")),
        }
    }

    /// `MDTM path`: the modification time.
    pub async fn mdtm<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<SystemTime> {
        self.prepare().await?;
        let id = self.session.modification_time(path, Instant::now())?;
        match self.wait(id).await? {
            Outcome::ModificationTime(time) => Ok(time),
            _ => Err(ClientError::UnexpectedOutput("MDTM")),
        }
    }

    /// `MFMT time path`: sets the modification time.
    pub async fn mfmt<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        modified: SystemTime,
    ) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self
            .session
            .set_modification_time(path, modified, Instant::now())?;
        self.wait_done(id, "MFMT").await
    }

    /// `SITE command`.
    pub async fn site<'p>(&mut self, command: impl Into<Text<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.site(command, Instant::now())?;
        self.wait_done(id, "SITE").await
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.noop(Instant::now())?;
        self.wait_done(id, "NOOP").await
    }

    /// Sends one command line (`SYST`, `HELP`, `STAT file`...) and returns the server's
    /// reply when it is positive (`2yz` or `3yz`). For control-only commands: one that
    /// changes state the session tracks (`TYPE`, `MODE`, `STRU`, `AUTH`, `PBSZ`, `PROT`,
    /// `CCC`, `REIN`, `USER`, `PASS`, `ACCT`, `PASV`, `EPSV`, `PORT`, `EPRT`, `REST`,
    /// the transfers and listings, `QUIT`) is refused with
    /// [`client::Error::RawRefused`], which names the typed method to use (for `TYPE`:
    /// [`set_type`](Self::set_type), [`get_as`](Self::get_as), [`put_as`](Self::put_as)).
    /// A line holding CR, LF or NUL is refused.
    pub async fn raw(&mut self, line: &str) -> Result<Reply<'static>> {
        let command = crate::parse_command(line.as_bytes())?.into_owned();
        self.prepare().await?;
        let id = self.session.raw(command, Instant::now())?;
        self.wait_done(id, "raw command").await
    }

    /// `TYPE`: the representation type of later file transfers
    /// ([`RepresentationType::Image`](crate::RepresentationType::Image), bytes as they
    /// are, the default; or `RepresentationType::Ascii(FormatControl::NonPrint)`, text
    /// with CRLF line ends on the wire). Listings always travel as `TYPE A`.
    pub async fn set_type(
        &mut self,
        representation: crate::RepresentationType,
    ) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.set_type(representation, Instant::now())?;
        self.wait_done(id, "TYPE").await
    }

    /// `QUIT`, then closes the control connection.
    pub async fn quit(mut self) -> Result<()> {
        self.prepare().await?;
        let id = self.session.quit(Instant::now())?;
        let result = self.wait(id).await;
        let _ = ::tokio::time::timeout(Duration::from_secs(1), self.control.shutdown()).await;
        match result {
            Ok(_) | Err(ClientError::Protocol(client::Error::Closed)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
