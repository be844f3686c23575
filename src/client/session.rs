//! `Session`: the client side of one FTP control connection, as a sans-IO state machine.
//!
//! It owns the order of commands and replies (a queue of commands in flight), the
//! lifecycle of operations, the deadlines, and the session-wide facts that later
//! commands depend on (features, TLS state, representation type, EPSV refusal). It
//! never reads a clock, touches a socket or moves file bytes.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use super::config::Config;
use super::error::{Error, Waiting};
use super::event::{Action, Event, Features, Outcome, Output, TransferKind};
use super::id::{OperationId, OperationKind};
use super::operation::{DataInput, Expect, Operation, Step};
use super::state::Core;
use crate::command::{Command, RepresentationType};
use crate::reply::{Reply, ReplyCode};
use crate::text::{Pathname, Text};
use crate::verb::Verb;

/// The client side of an FTP control connection.
///
/// **Inputs** (`handle_*`, each taking `now`): control bytes in any chunking, the
/// control connection's end, TLS handshakes finished, data connection facts (each with
/// its transfer's [`OperationId`]), and the passing of time. **Outputs**: one ordered
/// queue, [`poll_output`](Self::poll_output) (bytes to send, actions for the adapter,
/// events for the application), and the next deadline,
/// [`poll_timeout`](Self::poll_timeout). **Operations** (`login`, `retrieve`, ...)
/// return an [`OperationId`] at once; the operation ends with exactly one
/// [`Event::Completed`] carrying that id.
///
/// After every input and every operation call, drain `poll_output` until it returns
/// `None`, carrying out each output in order, then wait for the next input or until
/// `poll_timeout`. The [module docs](super) show the whole loop and list the adapter's
/// duties.
///
/// Operations run in the order they were asked for. Single commands whose replies decide
/// nothing (`CWD`, `DELE`, `SIZE`, `NOOP`...) are pipelined; the others wait until every
/// earlier reply is in. Replies are matched to commands strictly in order.
#[derive(Debug)]
pub struct Session {
    core: Core,
    /// Started operations, oldest first.
    active: Vec<Operation>,
    /// Operations waiting to start, oldest first.
    queued: VecDeque<Operation>,
}

impl Session {
    /// A session for a control connection to `peer`, just opened at `now`.
    ///
    /// The session starts by waiting for the greeting, operation
    /// [`OperationId::GREETING`], which completes with [`Outcome::Greeting`]. Operations
    /// may be asked for at once; they are sent after the greeting.
    pub fn new(config: Config, peer: SocketAddr, now: Instant) -> Session {
        let mut session = Session {
            core: Core::new(config, peer),
            active: Vec::new(),
            queued: VecDeque::new(),
        };
        let mut greeting = Operation::greeting();
        greeting.id = OperationId::GREETING;
        let step = greeting.start(&mut session.core, now);
        session.active.push(greeting);
        session.settle(OperationId::GREETING, step);
        session
    }

    // ----- Inputs -----

    /// Bytes read from the control connection (after TLS, if any), in any chunking.
    pub fn handle_control_input(&mut self, bytes: &[u8], now: Instant) {
        if self.core.ended.is_some() || bytes.is_empty() {
            return;
        }
        if self.core.awaiting_control_tls {
            // Bytes in clear between 234 and the handshake would be read as if they were
            // protected: the STARTTLS injection bug class.
            self.fail(Error::ProtocolViolation {
                reason: "the server sent bytes in clear before the TLS handshake",
            });
            return;
        }
        self.core.input.extend_from_slice(bytes);
        let mut offset = 0;
        loop {
            let parsed = self.core.parser.parse(&self.core.input[offset..]);
            offset += parsed.consumed;
            let item = parsed.item.map(|item| item.map(Reply::into_owned));
            match item {
                None => break,
                Some(Err(source)) => {
                    self.fail(Error::MalformedReply { source });
                    return;
                }
                Some(Ok(reply)) => {
                    self.on_reply(reply, now);
                    // Start what the reply unblocked before reading on: the next reply in
                    // this read may be the answer to its first command.
                    self.start_queued(now);
                    if self.core.ended.is_some() {
                        return;
                    }
                    if self.core.awaiting_control_tls && offset < self.core.input.len() {
                        self.fail(Error::ProtocolViolation {
                            reason: "the server sent bytes in clear after accepting AUTH TLS",
                        });
                        return;
                    }
                }
            }
        }
        self.core.input.drain(..offset);
        self.start_queued(now);
    }

    /// The control connection reached its end (the server closed it, or reading failed).
    ///
    /// After `QUIT` this completes the `QUIT` operation; otherwise it is fatal.
    pub fn handle_control_closed(&mut self, _now: Instant) {
        if self.core.ended.is_some() {
            return;
        }
        if let Some(index) = self
            .active
            .iter()
            .position(|operation| operation.kind == OperationKind::Quit)
        {
            let quit = self.active.remove(index);
            self.core.push_event(Event::Completed {
                id: quit.id,
                result: Ok(Outcome::Closed { reply: None }),
            });
            self.end(None);
            return;
        }
        self.fail(Error::ControlClosed);
    }

    /// The TLS handshake asked for by [`Action::StartControlTls`] finished.
    pub fn handle_control_tls_established(&mut self, now: Instant) {
        if self.core.ended.is_some() || !self.core.awaiting_control_tls {
            return;
        }
        self.core.awaiting_control_tls = false;
        self.core.control_tls = true;
        for id in self.active_ids() {
            self.with_operation(id, |operation, core| operation.on_control_tls(core, now));
        }
        self.start_queued(now);
    }

    /// The listener asked for by [`Action::ListenForData`] is bound to `local`; the
    /// session tells the server with `PORT` (IPv4) or `EPRT` (IPv6).
    pub fn handle_data_listening(&mut self, id: OperationId, local: SocketAddr, now: Instant) {
        self.data_input(id, DataInput::Listening(local), now);
    }

    /// The data connection asked for by [`Action::ConnectData`] is open.
    pub fn handle_data_connected(&mut self, id: OperationId, now: Instant) {
        self.data_input(id, DataInput::Connected, now);
    }

    /// The listener asked for by [`Action::ListenForData`] accepted a connection from
    /// `from`. The session keeps it if it comes from the server (the control
    /// connection's peer), as if [`handle_data_connected`](Self::handle_data_connected)
    /// had been called; from anyone else (port stealing) it answers
    /// [`Action::RefuseDataPeer`] and waits on.
    pub fn handle_data_accepted(&mut self, id: OperationId, from: SocketAddr, now: Instant) {
        let server = self.core.peer.ip().to_canonical();
        if from.ip().to_canonical() == server {
            self.data_input(id, DataInput::Connected, now);
        } else if self.core.ended.is_none()
            && self.active.iter().any(|operation| operation.id == id)
        {
            self.core.push_action(Action::RefuseDataPeer { id, from });
        }
    }

    /// File bytes moved on the data connection of transfer `id` (a download's read or
    /// an upload's write): the stall deadline ([`Config::data_timeout`]) starts again.
    /// Cheap; calling it once per read or write is fine.
    pub fn handle_data_progress(&mut self, id: OperationId, now: Instant) {
        if self.core.ended.is_some() {
            return;
        }
        if let Some(operation) = self.active.iter_mut().find(|operation| operation.id == id) {
            operation.on_progress(&self.core, now);
        }
    }

    /// The TLS handshake asked for by [`Action::StartDataTls`] finished.
    pub fn handle_data_tls_established(&mut self, id: OperationId, now: Instant) {
        self.data_input(id, DataInput::TlsEstablished, now);
    }

    /// Listing bytes read from the data connection of transfer `id` (only for
    /// [`TransferKind::Listing`](super::TransferKind::Listing); file bytes go straight
    /// to the application and are ignored here).
    pub fn handle_data_input(&mut self, id: OperationId, bytes: &[u8], now: Instant) {
        self.data_input(id, DataInput::Bytes(bytes), now);
    }

    /// The data connection of transfer `id` ended cleanly: the server closed it after
    /// the last byte (downloads, listings), or the adapter closed it after sending the
    /// last byte (uploads).
    pub fn handle_data_end(&mut self, id: OperationId, now: Instant) {
        self.data_input(id, DataInput::End, now);
    }

    /// The protected data connection of transfer `id` ended without a TLS
    /// `close_notify`: the TCP connection closed, or the TLS library reported an
    /// unexpected end of file.
    ///
    /// The session decides what that means, once for every driver: it is taken as
    /// the end of data, because many servers (vsftpd among them) close protected data
    /// connections that way, and a truncated transfer is still caught, by the server's
    /// final reply on the protected control connection (a 426 or 451 fails the
    /// transfer). An upload that ends this way is the driver's own close and is
    /// reported with [`handle_data_end`](Self::handle_data_end).
    pub fn handle_data_end_without_close_notify(&mut self, id: OperationId, now: Instant) {
        self.data_input(id, DataInput::End, now);
    }

    /// The data connection of transfer `id` could not be opened, or broke.
    pub fn handle_data_failed(&mut self, id: OperationId, kind: io::ErrorKind, now: Instant) {
        self.data_input(id, DataInput::Failed(kind), now);
    }

    /// Time passed: call it when [`poll_timeout`](Self::poll_timeout)'s instant is
    /// reached (calling it early or often is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.core.ended.is_some() {
            return;
        }
        if let Some(late) = self
            .core
            .in_flight
            .iter()
            .find(|entry| entry.deadline.is_some_and(|deadline| deadline <= now))
        {
            // A reply that never came leaves later replies unmatchable.
            let operation = late.operation;
            self.fail(Error::Timeout {
                operation,
                waiting_for: Waiting::Reply,
            });
            return;
        }
        for id in self.active_ids() {
            self.with_operation(id, |operation, core| operation.on_timeout(core, now));
        }
        self.start_queued(now);
    }

    // ----- Outputs -----

    /// The next output, oldest first, or `None` when there is nothing more to do until
    /// the next input: bytes for the control connection, an action for the adapter,
    /// or an event for the application. Call it until it returns `None` after every
    /// input and every operation call.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.core.poll_output()
    }

    /// Where, in the bytes of the [`Output::Transmit`] that
    /// [`poll_output`](Self::poll_output) returned last, the byte is that must be sent
    /// as TCP urgent data (`MSG_OOB`), if one must.
    ///
    /// Only an `ABOR` with [`Config::telnet_synch_abort`], on a control connection
    /// without TLS, sets it: the
    /// bytes are `IAC IP IAC DM ABOR CRLF` (`FF F4 FF F2 41 42 4F 52 0D 0A`) and the
    /// urgent byte is the DM (RFC 959 §4.1.3, RFC 854's Synch). A driver writes the
    /// bytes before it, flushes them, sends the DM with `MSG_OOB`, then writes the
    /// rest. A driver that cannot send urgent data may send all the bytes in order:
    /// servers that read the control connection during a transfer still see `ABOR`.
    pub fn urgent_offset(&self) -> Option<usize> {
        self.core.urgent_offset()
    }

    /// The earliest deadline; call [`handle_timeout`](Self::handle_timeout) when it
    /// passes. `None` when nothing is waited for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.core.ended.is_some() {
            return None;
        }
        let replies = self
            .core
            .in_flight
            .iter()
            .filter_map(|entry| entry.deadline);
        let operations = self.active.iter().filter_map(Operation::deadline);
        replies.chain(operations).min()
    }

    // ----- State -----

    /// The control connection's peer, given at construction.
    pub fn peer(&self) -> SocketAddr {
        self.core.peer
    }

    /// The features from the last successful [`features`](Self::features) operation.
    pub fn server_features(&self) -> Option<&Features> {
        self.core.features.as_ref()
    }

    /// Whether a login succeeded.
    pub fn is_logged_in(&self) -> bool {
        self.core.logged_in
    }

    /// Whether the control connection runs over TLS.
    pub fn is_control_secure(&self) -> bool {
        self.core.control_tls
    }

    /// Whether data connections are protected with TLS (`PROT P` accepted).
    pub fn is_data_protected(&self) -> bool {
        self.core.data_protected
    }

    /// The error that ended the session ([`Error::Closed`] after `QUIT`), if it ended.
    pub fn error(&self) -> Option<&Error> {
        self.core.ended.as_ref()
    }

    // ----- Operations -----

    /// `HOST name` (RFC 7151), before login, to pick a virtual host. Yields
    /// [`Outcome::Done`].
    pub fn host<'a>(
        &mut self,
        name: impl Into<Text<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Host(name.into());
        self.single(OperationKind::Host, command, Expect::Done, now)
    }

    /// Logs in: `USER`, then `PASS` if asked (331). Yields [`Outcome::LoggedIn`].
    ///
    /// With [`Config::tls`], `AUTH TLS` comes first (and the login fails rather than
    /// send the password in clear), and `PBSZ 0`, `PROT P` follow. With
    /// [`Config::implicit_tls`], only `PBSZ 0` and `PROT P` follow.
    pub fn login<'a>(
        &mut self,
        user: impl Into<Text<'a>>,
        password: impl Into<Text<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        self.submit(Operation::login(user.into(), password.into(), None), now)
    }

    /// Like [`login`](Self::login), answering a 332 with `ACCT account`.
    pub fn login_with_account<'a>(
        &mut self,
        user: impl Into<Text<'a>>,
        password: impl Into<Text<'a>>,
        account: impl Into<Text<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let operation = Operation::login(user.into(), password.into(), Some(account.into()));
        self.submit(operation, now)
    }

    /// `FEAT`, then `OPTS UTF8 ON` if `UTF8` is listed and [`Config::utf8`] is set.
    /// Yields [`Outcome::Features`] and keeps them: later operations refuse `MLSD`,
    /// `MLST` and `MFMT` with [`Error::NotSupported`] when the matching feature is
    /// missing, sending nothing. `SIZE`, `MDTM` and resumed transfers are sent anyway
    /// (older servers implement them without listing them) unless
    /// [`Config::strict_features`] is set; a 500 or 502 answer to them is
    /// [`Error::NotSupported`] too.
    pub fn features(&mut self, now: Instant) -> Result<OperationId, Error> {
        self.submit(Operation::features(), now)
    }

    /// `CWD path`. Yields [`Outcome::Done`].
    pub fn change_directory<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Cwd(path.into());
        self.single(OperationKind::ChangeDirectory, command, Expect::Done, now)
    }

    /// `CDUP`. Yields [`Outcome::Done`].
    pub fn change_to_parent(&mut self, now: Instant) -> Result<OperationId, Error> {
        self.single(
            OperationKind::ChangeToParent,
            Command::Cdup,
            Expect::Done,
            now,
        )
    }

    /// `PWD`. Yields [`Outcome::Directory`].
    pub fn print_directory(&mut self, now: Instant) -> Result<OperationId, Error> {
        self.single(
            OperationKind::PrintDirectory,
            Command::Pwd,
            Expect::Directory,
            now,
        )
    }

    /// `TYPE`, which also becomes the type of later file transfers
    /// ([`Config::file_type`]): [`RepresentationType::Image`] for bytes as they are,
    /// `RepresentationType::Ascii(FormatControl::NonPrint)` for text. The only way to
    /// change the type ([`raw`](Self::raw) refuses `TYPE`). Yields [`Outcome::Done`].
    pub fn set_type(
        &mut self,
        representation: RepresentationType,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Type(representation);
        self.single(
            OperationKind::SetType,
            command,
            Expect::Type(representation),
            now,
        )
    }

    /// `MKD path`. Yields [`Outcome::Directory`] when the server names the new
    /// directory (257), else [`Outcome::Done`].
    pub fn make_directory<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Mkd(path.into());
        self.single(
            OperationKind::MakeDirectory,
            command,
            Expect::MaybeDirectory,
            now,
        )
    }

    /// `RMD path`. Yields [`Outcome::Done`].
    pub fn remove_directory<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Rmd(path.into());
        self.single(OperationKind::RemoveDirectory, command, Expect::Done, now)
    }

    /// `DELE path`. Yields [`Outcome::Done`].
    pub fn delete<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Dele(path.into());
        self.single(OperationKind::Delete, command, Expect::Done, now)
    }

    /// `RNFR from`, then `RNTO to` after 350. Yields [`Outcome::Done`].
    pub fn rename<'a>(
        &mut self,
        from: impl Into<Pathname<'a>>,
        to: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        self.submit(Operation::rename(from.into(), to.into()), now)
    }

    /// `SIZE path`. Yields [`Outcome::Size`].
    pub fn size<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        self.require_legacy(OperationKind::Size, "SIZE", Features::size)?;
        let command = Command::Size(path.into());
        let operation =
            Operation::single(OperationKind::Size, command, Expect::Size).needs(Verb::Size, "SIZE");
        self.submit(operation, now)
    }

    /// `MDTM path`. Yields [`Outcome::ModificationTime`].
    pub fn modification_time<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let kind = OperationKind::ModificationTime;
        self.require_legacy(kind, "MDTM", Features::modification_time)?;
        let command = Command::Mdtm(path.into());
        let operation = Operation::single(kind, command, Expect::Time).needs(Verb::Mdtm, "MDTM");
        self.submit(operation, now)
    }

    /// `MFMT time path`. Yields [`Outcome::Done`].
    pub fn set_modification_time<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        modified: SystemTime,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let kind = OperationKind::SetModificationTime;
        self.require(kind, "MFMT", Features::set_modification_time)?;
        let command = Command::Mfmt {
            modified,
            path: path.into(),
        };
        let operation = Operation::single(kind, command, Expect::Done).needs(Verb::Mfmt, "MFMT");
        self.submit(operation, now)
    }

    /// `SITE command`. Yields [`Outcome::Done`].
    pub fn site<'a>(
        &mut self,
        command: impl Into<Text<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Site(command.into());
        self.single(OperationKind::Site, command, Expect::Done, now)
    }

    /// `NOOP`. Yields [`Outcome::Done`].
    pub fn noop(&mut self, now: Instant) -> Result<OperationId, Error> {
        self.single(OperationKind::Noop, Command::Noop, Expect::Done, now)
    }

    /// `QUIT`, after every earlier operation. Yields [`Outcome::Closed`]; the session then
    /// asks to close the control connection and ends with [`Event::Closed`].
    pub fn quit(&mut self, now: Instant) -> Result<OperationId, Error> {
        self.single(OperationKind::Quit, Command::Quit, Expect::Quit, now)
    }

    /// Any command over the control connection, such as `SYST` or `HELP`. Yields
    /// [`Outcome::Done`] for a `2yz` or `3yz` reply.
    ///
    /// For control-only commands. A command that changes state the session tracks is
    /// refused with [`Error::RawRefused`], naming the typed operation to use, and
    /// nothing is sent: `TYPE`, `MODE`, `STRU` (the transfer type and format), `AUTH`,
    /// `PBSZ`, `PROT`, `CCC` (TLS), `REIN`, `USER`, `PASS`, `ACCT` (the login), `PASV`,
    /// `EPSV`, `PORT`, `EPRT`, `REST` (the data connection), the transfers and
    /// listings (`RETR`, `STOR`, `STOU`, `APPE`, `LIST`, `NLST`, `MLSD`) and `QUIT`.
    /// A raw `TYPE A`, say, would leave the session sure that `TYPE I` is in force, and
    /// a later binary download would arrive converted. Never pipelined.
    pub fn raw(&mut self, command: Command<'_>, now: Instant) -> Result<OperationId, Error> {
        if let Some(error) = &self.core.ended {
            return Err(error.clone());
        }
        if let Some(verb) = command.verb() {
            if let Some(instead) = raw_refusal(verb) {
                return Err(Error::RawRefused { verb, instead });
            }
        }
        self.single(OperationKind::Raw, command, Expect::Raw, now)
    }

    /// `STAT [path]` over the control connection. Yields [`Outcome::Done`]; the
    /// listing, if any, is in the reply's lines.
    pub fn status<'a>(
        &mut self,
        path: impl ListingPath<'a>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let path = path.into_listing_path();
        self.single(
            OperationKind::Status,
            Command::Stat(path),
            Expect::Done,
            now,
        )
    }

    /// `MLST [path]` over the control connection. Yields [`Outcome::Entry`].
    pub fn machine_entry<'a>(
        &mut self,
        path: impl ListingPath<'a>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let path = path.into_listing_path();
        let kind = OperationKind::MachineEntry;
        self.require(kind, "MLST", Features::machine_listing)?;
        let operation =
            Operation::single(kind, Command::Mlst(path), Expect::Entry).needs(Verb::Mlst, "MLST");
        self.submit(operation, now)
    }

    /// `RETR path`: download a file. Yields [`Outcome::Transferred`]; the file's bytes
    /// go from the data connection to the application, not through the session.
    pub fn retrieve<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Retr(path.into());
        self.transfer(OperationKind::Retrieve, command, None, now)
    }

    /// `REST offset` then `RETR path`: resume a download at byte `offset`.
    pub fn retrieve_from<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        offset: u64,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let kind = OperationKind::Retrieve;
        self.require_legacy(kind, "REST STREAM", Features::restart_stream)?;
        let command = Command::Retr(path.into());
        let operation =
            Operation::transfer(kind, command, Some(offset), None).needs(Verb::Rest, "REST STREAM");
        self.submit(operation, now)
    }

    /// [`retrieve`](Self::retrieve) in `representation` for this transfer only
    /// (`TYPE A` for text, converted from the server's line ends to CRLF on the
    /// wire); later transfers keep [`Config::file_type`].
    pub fn retrieve_as<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        representation: RepresentationType,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Retr(path.into());
        let operation =
            Operation::transfer(OperationKind::Retrieve, command, None, Some(representation));
        self.submit(operation, now)
    }

    /// [`store`](Self::store) in `representation` for this transfer only.
    pub fn store_as<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        representation: RepresentationType,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Stor(path.into());
        let operation =
            Operation::transfer(OperationKind::Store, command, None, Some(representation));
        self.submit(operation, now)
    }

    /// `STOR path`: upload a file, replacing any existing one. Yields
    /// [`Outcome::Transferred`].
    pub fn store<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Stor(path.into());
        self.transfer(OperationKind::Store, command, None, now)
    }

    /// `REST offset` then `STOR path`: resume an upload at byte `offset`.
    pub fn store_from<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        offset: u64,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let kind = OperationKind::Store;
        self.require_legacy(kind, "REST STREAM", Features::restart_stream)?;
        let command = Command::Stor(path.into());
        let operation =
            Operation::transfer(kind, command, Some(offset), None).needs(Verb::Rest, "REST STREAM");
        self.submit(operation, now)
    }

    /// `APPE path`: upload, appending to the file. Yields [`Outcome::Transferred`].
    pub fn append<'a>(
        &mut self,
        path: impl Into<Pathname<'a>>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let command = Command::Appe(path.into());
        self.transfer(OperationKind::Append, command, None, now)
    }

    /// `STOU`: upload under a name the server picks. Yields [`Outcome::Transferred`]
    /// with the name when the server gave it.
    pub fn store_unique(&mut self, now: Instant) -> Result<OperationId, Error> {
        self.transfer(OperationKind::StoreUnique, Command::Stou(None), None, now)
    }

    /// `LIST [path]` (`None` for the current directory, see [`ListingPath`]). Yields [`Outcome::Listing`] with the raw bytes.
    pub fn list<'a>(
        &mut self,
        path: impl ListingPath<'a>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let path = path.into_listing_path();
        self.transfer(OperationKind::List, Command::List(path), None, now)
    }

    /// `NLST [path]`. Yields [`Outcome::Listing`] with the raw bytes (one name a line).
    pub fn name_list<'a>(
        &mut self,
        path: impl ListingPath<'a>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let path = path.into_listing_path();
        self.transfer(OperationKind::NameList, Command::Nlst(path), None, now)
    }

    /// `MLSD [path]`. Yields [`Outcome::Listing`] with the raw bytes (RFC 3659 entries).
    pub fn machine_list<'a>(
        &mut self,
        path: impl ListingPath<'a>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let path = path.into_listing_path();
        let kind = OperationKind::MachineList;
        self.require(kind, "MLST", Features::machine_listing)?;
        let operation =
            Operation::transfer(kind, Command::Mlsd(path), None, None).needs(Verb::Mlsd, "MLST");
        self.submit(operation, now)
    }

    /// Lists a directory as entries, choosing the command itself: `MLSD` when the
    /// server's `FEAT` answer lists `MLST`, else `LIST`. Without a `FEAT` answer yet, it
    /// asks `FEAT` first (and `OPTS UTF8 ON`, as [`features`](Self::features) does); a
    /// server that refuses `FEAT` gets `LIST`. Yields [`Outcome::Entries`]: the
    /// directory itself and its parent (`cdir`/`pdir` facts, or `.` and `..`
    /// directories) are left out, and so are lines no parser understands.
    ///
    /// `wall_clock` is today's date (`SystemTime::now()`), which `LIST` lines without a
    /// year need; the session reads no clock itself. `path` `None` lists the current
    /// directory.
    pub fn list_entries<'a>(
        &mut self,
        path: impl ListingPath<'a>,
        wall_clock: SystemTime,
        now: Instant,
    ) -> Result<OperationId, Error> {
        let path = path.into_listing_path();
        self.submit(Operation::entries(path, wall_clock), now)
    }

    /// Runs any command that needs a data connection (a `SITE` command that lists, a
    /// vendor verb), without a dedicated method: the session sets the type (`TYPE A`
    /// for a [`TransferKind::Listing`], else [`Config::file_type`]), opens the data
    /// connection as for any transfer, sends `command` and reads its replies. Yields
    /// [`Outcome::Listing`] for a listing, [`Outcome::Transferred`] otherwise; the
    /// adapter moves the bytes as the [`TransferKind`] says.
    ///
    /// Commands that change what the session tracks, other than the transfer itself,
    /// are refused with [`Error::RawRefused`] as by [`raw`](Self::raw): `TYPE`,
    /// `MODE`, `STRU`, the TLS and login commands, `PASV`/`EPSV`/`PORT`/`EPRT`, `REST`
    /// and `QUIT`.
    pub fn raw_transfer(
        &mut self,
        command: Command<'_>,
        kind: TransferKind,
        now: Instant,
    ) -> Result<OperationId, Error> {
        if let Some(error) = &self.core.ended {
            return Err(error.clone());
        }
        if let Some(verb) = command.verb() {
            let transfer_verb = matches!(
                verb,
                Verb::Retr
                    | Verb::Stor
                    | Verb::Stou
                    | Verb::Appe
                    | Verb::List
                    | Verb::Nlst
                    | Verb::Mlsd
            );
            if let Some(instead) = raw_refusal(verb).filter(|_| !transfer_verb) {
                return Err(Error::RawRefused { verb, instead });
            }
        }
        let operation = Operation::raw_transfer(command, kind);
        self.submit(operation, now)
    }

    /// Stops operation `id`. A queued operation is dropped; a running transfer is
    /// stopped (`ABOR` once its command is out, coping with 426 then 226, a lone 226,
    /// or 225) and its data connection closed. Either completes with
    /// [`Error::Aborted`]. Other running operations cannot be stopped and go on.
    pub fn abort(&mut self, id: OperationId, now: Instant) {
        if self.core.ended.is_some() {
            return;
        }
        if let Some(index) = self.queued.iter().position(|operation| operation.id == id) {
            if let Some(operation) = self.queued.remove(index) {
                self.core.push_event(Event::Completed {
                    id,
                    result: Err(Error::Aborted {
                        operation: operation.kind,
                    }),
                });
            }
            return;
        }
        self.with_operation(id, |operation, core| operation.abort(core, now));
        self.start_queued(now);
    }

    // ----- Internals -----

    fn single(
        &mut self,
        kind: OperationKind,
        command: Command<'_>,
        expect: Expect,
        now: Instant,
    ) -> Result<OperationId, Error> {
        self.submit(Operation::single(kind, command, expect), now)
    }

    fn transfer(
        &mut self,
        kind: OperationKind,
        command: Command<'_>,
        offset: Option<u64>,
        now: Instant,
    ) -> Result<OperationId, Error> {
        self.submit(Operation::transfer(kind, command, offset, None), now)
    }

    /// Refuses an operation the server's FEAT answer says it cannot do. Without a FEAT
    /// answer the operation is tried.
    fn require(
        &self,
        operation: OperationKind,
        feature: &'static str,
        supported: fn(&Features) -> bool,
    ) -> Result<(), Error> {
        // A session that has ended says so first, whatever the operation.
        if let Some(error) = &self.core.ended {
            return Err(error.clone());
        }
        match &self.core.features {
            Some(features) if !supported(features) => Err(Error::NotSupported {
                operation,
                feature,
                reply: None,
            }),
            _ => Ok(()),
        }
    }

    /// [`require`](Self::require) for commands older than FEAT, which servers implement
    /// without listing: refused only with [`Config::strict_features`].
    fn require_legacy(
        &self,
        operation: OperationKind,
        feature: &'static str,
        supported: fn(&Features) -> bool,
    ) -> Result<(), Error> {
        if self.core.config.strict_features {
            self.require(operation, feature, supported)
        } else {
            Ok(())
        }
    }

    /// Checks an operation and queues it: nothing is sent for an operation refused here.
    fn submit(&mut self, mut operation: Operation, now: Instant) -> Result<OperationId, Error> {
        if let Some(error) = &self.core.ended {
            return Err(error.clone());
        }
        let kind = operation.kind;
        let limit = self.core.config.max_queued_operations;
        if self.queued.len() >= limit {
            return Err(Error::QueueFull {
                operation: kind,
                limit,
            });
        }
        let mut wire = Vec::new();
        for command in operation.fixed_commands() {
            command
                .encode(&mut wire)
                .map_err(|source| Error::InvalidArgument {
                    operation: kind,
                    source,
                })?;
        }
        let limit = self.core.config.max_pending_output;
        if wire.len() > limit {
            return Err(Error::CommandTooLong {
                operation: kind,
                limit,
            });
        }
        let id = OperationId(self.core.next_id);
        self.core.next_id += 1;
        operation.id = id;
        self.queued.push_back(operation);
        self.start_queued(now);
        Ok(id)
    }

    /// Starts queued operations: one at a time, or several pipelined single commands
    /// while the pending output stays under its bound.
    fn start_queued(&mut self, now: Instant) {
        while self.core.ended.is_none() {
            let Some(next) = self.queued.front() else {
                return;
            };
            let idle = self.active.is_empty()
                && self.core.in_flight.is_empty()
                && !self.core.awaiting_control_tls;
            let pipelined = next.is_pipelinable()
                && !self.active.is_empty()
                && self.active.iter().all(Operation::is_pipelinable)
                && self.core.pending_output() < self.core.config.max_pending_output;
            if !idle && !pipelined {
                return;
            }
            let Some(mut operation) = self.queued.pop_front() else {
                return;
            };
            let id = operation.id;
            let step = operation.start(&mut self.core, now);
            self.active.push(operation);
            self.settle(id, step);
        }
    }

    fn on_reply(&mut self, reply: Reply<'static>, now: Instant) {
        if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE {
            self.fail(Error::ServiceClosing { reply });
            return;
        }
        let Some(front) = self.core.in_flight.front_mut() else {
            // Nothing was asked: an unsolicited reply, dropped rather than taken for the
            // answer to a command not yet sent.
            return;
        };
        let id = front.id;
        if reply.code().is_positive_preliminary() {
            // No deadline while data moves; but once the data connection is closed (the
            // client's own bound fired before the 1yz came) the final reply is due.
            let transfer = self
                .active
                .iter()
                .any(|operation| operation.id == id && operation.is_moving_data());
            front.deadline = if transfer {
                None
            } else {
                Some(now + self.core.config.reply_timeout)
            };
            self.with_operation(id, |operation, core| {
                operation.on_preliminary_reply(core, &reply, now);
                Step::Pending
            });
            return;
        }
        let Some(entry) = self.core.in_flight.pop_front() else {
            return;
        };
        self.with_operation(id, |operation, core| {
            operation.on_reply(core, entry.verb, reply, now)
        });
    }

    fn data_input(&mut self, id: OperationId, input: DataInput<'_>, now: Instant) {
        if self.core.ended.is_some() {
            return;
        }
        self.with_operation(id, |operation, core| operation.on_data(core, input, now));
        self.start_queued(now);
    }

    fn active_ids(&self) -> Vec<OperationId> {
        self.active.iter().map(|operation| operation.id).collect()
    }

    /// Runs `step` on the active operation `id`, if it is still active, and settles it.
    fn with_operation(
        &mut self,
        id: OperationId,
        step: impl FnOnce(&mut Operation, &mut Core) -> Step,
    ) {
        if self.core.ended.is_some() {
            return;
        }
        let Some(operation) = self.active.iter_mut().find(|operation| operation.id == id) else {
            return;
        };
        let step = step(operation, &mut self.core);
        self.settle(id, step);
    }

    /// Completes operation `id` if `step` says it is done; a fatal error ends the session.
    fn settle(&mut self, id: OperationId, step: Step) {
        let Step::Done(result) = step else {
            return;
        };
        let Some(index) = self.active.iter().position(|operation| operation.id == id) else {
            return;
        };
        self.active.remove(index);
        let ends_session = match &result {
            Err(error) if error.is_fatal() => Some(Some(error.clone())),
            Ok(Outcome::Closed { .. }) => Some(None),
            _ => None,
        };
        self.core.push_event(Event::Completed { id, result });
        if let Some(error) = ends_session {
            self.end(error);
        }
    }

    fn fail(&mut self, error: Error) {
        self.end(Some(error));
    }

    /// Ends the session: every pending operation completes with the error, the control
    /// connection is to be closed, and the error sticks.
    fn end(&mut self, error: Option<Error>) {
        if self.core.ended.is_some() {
            return;
        }
        let sticky = error.clone().unwrap_or(Error::Closed);
        for operation in self.active.drain(..).chain(self.queued.drain(..)) {
            self.core.push_event(Event::Completed {
                id: operation.id,
                result: Err(sticky.clone()),
            });
        }
        self.core.in_flight.clear();
        self.core.input = Vec::new();
        self.core.drop_pending_output();
        self.core.ended = Some(sticky);
        self.core.push_action(Action::CloseControl);
        self.core.push_event(Event::Closed { error });
    }
}

/// The optional path of a listing or status operation (`LIST`, `NLST`, `MLSD`, `STAT`,
/// `MLST`, [`Session::list_entries`]): a path as the other operations take it (`"dir"`,
/// a `String`, a [`Pathname`]), or an `Option<Pathname>`, `None` for the current
/// directory.
pub trait ListingPath<'a> {
    /// The path, or `None` for the current directory.
    fn into_listing_path(self) -> Option<Pathname<'a>>;
}

impl<'a, P: Into<Pathname<'a>>> ListingPath<'a> for P {
    fn into_listing_path(self) -> Option<Pathname<'a>> {
        Some(self.into())
    }
}

impl<'a> ListingPath<'a> for Option<Pathname<'a>> {
    fn into_listing_path(self) -> Option<Pathname<'a>> {
        self
    }
}

/// The typed way to do what a raw `verb` would do behind the session's back, or `None`
/// when the verb changes nothing the session tracks.
fn raw_refusal(verb: Verb) -> Option<&'static str> {
    Some(match verb {
        Verb::Type => "Session::set_type, or a transfer's own type (retrieve_as, store_as)",
        Verb::Mode | Verb::Stru => "nothing: the session transfers in stream mode, file structure",
        Verb::Auth | Verb::Pbsz | Verb::Prot | Verb::Ccc => "Config::tls or Config::implicit_tls",
        Verb::Rein | Verb::User | Verb::Pass | Verb::Acct => "login or login_with_account",
        Verb::Pasv | Verb::Epsv | Verb::Port | Verb::Eprt => {
            "Config::data_connection_mode: transfers open their own data connections"
        }
        Verb::Rest => "retrieve_from or store_from",
        Verb::Retr => "retrieve",
        Verb::Stor => "store",
        Verb::Stou => "store_unique",
        Verb::Appe => "append",
        Verb::List => "list",
        Verb::Nlst => "name_list",
        Verb::Mlsd => "machine_list",
        Verb::Quit => "quit",
        _ => return None,
    })
}
