//! The operations a client session runs: each one a small state machine that sends its
//! commands through the session's [`Core`] and reads the replies routed back to it.
//!
//! An operation never sees another operation's replies, never reads a clock and never
//! touches a socket: the session routes replies in order, passes `now` in, and turns the
//! operation's requests into actions.

use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use super::config::DataConnectionMode;
use super::error::{Error, Waiting};
use super::event::{Action, Event, Features, Outcome, TransferKind};
use super::id::{OperationId, OperationKind};
use super::state::Core;
use crate::command::{
    AuthMechanism, Command, CommandOptions, ExtendedPassive, FormatControl, ProtectionLevel,
    RepresentationType,
};
use crate::listing::{self, Entry, EntryKind, ListLine};
use crate::reply::{Reply, ReplyCode};
use crate::text::{Pathname, Text};
use crate::verb::Verb;

/// What an operation says after each input.
pub(super) enum Step {
    /// Not finished; more replies or events are needed.
    Pending,
    /// Finished with this result.
    Done(Result<Outcome, Error>),
}

/// An input from the data connection, routed to the transfer it belongs to.
pub(super) enum DataInput<'b> {
    Listening(SocketAddr),
    Connected,
    TlsEstablished,
    Bytes(&'b [u8]),
    End,
    Failed(io::ErrorKind),
}

/// One operation the user asked for.
#[derive(Debug)]
pub(super) struct Operation {
    pub(super) id: OperationId,
    pub(super) kind: OperationKind,
    plan: Plan,
    /// A deadline the operation itself keeps (reply deadlines are kept per command).
    deadline: Option<(Instant, Wait)>,
    /// The verb whose 500 or 502 means the server lacks a feature, and that feature.
    feature: Option<(Verb, &'static str)>,
}

/// What an operation-level deadline waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    ControlTls,
    DataConnection,
    EndOfData,
    /// The reply to `ABOR` after the transfer's own final reply; may never come.
    AbortReply,
    /// The next listing bytes on an open data connection.
    ListingData,
    /// The data connection's TLS handshake.
    DataTls,
    /// The next file bytes on an open data connection, as the adapter reports them:
    /// past it the transfer is aborted.
    DataStall,
}

#[derive(Debug)]
enum Plan {
    Greeting,
    Single {
        command: Command<'static>,
        expect: Expect,
    },
    Login(Login),
    Features {
        features: Option<Features>,
    },
    Rename {
        from: Command<'static>,
        to: Command<'static>,
    },
    Transfer(Box<Transfer>),
    /// A listing whose command is chosen from `FEAT`, asked first if not known yet;
    /// it becomes a `Transfer` once the choice is made.
    Entries(Box<Entries>),
}

#[derive(Debug)]
struct Entries {
    path: Option<Pathname<'static>>,
    wall_clock: SystemTime,
    /// `LIST path`, kept to validate the path before anything is sent.
    probe: Command<'static>,
    features: Option<Features>,
}

/// How a single-command operation reads its final reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// Any 2yz.
    Done,
    /// 2yz; also records the new representation type.
    Type(RepresentationType),
    /// 257 with a path (`PWD`).
    Directory,
    /// 2yz, with a path when it is a readable 257 (`MKD`; some servers answer 250).
    MaybeDirectory,
    /// 213 size.
    Size,
    /// 213 time.
    Time,
    /// 250 with an MLST entry line.
    Entry,
    /// Any reply: `QUIT` ends the session whatever the server says.
    Quit,
    /// 2yz or 3yz: the caller reads the reply itself.
    Raw,
}

#[derive(Debug)]
struct Login {
    user: Command<'static>,
    password: Command<'static>,
    account: Option<Command<'static>>,
    stage: LoginStage,
    logged_in: Option<Reply<'static>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoginStage {
    Auth,
    ControlTls,
    User,
    Password,
    Account,
    ProtectionBufferSize,
    Protection,
}

#[derive(Debug)]
struct Transfer {
    command: Command<'static>,
    kind: TransferKind,
    offset: Option<u64>,
    /// The representation type for this transfer only, else the session's.
    file_type: Option<RepresentationType>,
    stage: TransferStage,
    data: Data,
    final_reply: Option<Reply<'static>>,
    /// The first thing that went wrong on our side; reported once the server's final
    /// reply is in, so that the control connection stays in step.
    local_error: Option<Error>,
    aborting: bool,
    listing: Vec<u8>,
    unique_name: Option<Pathname<'static>>,
    /// The server accepted the command (its `1yz`).
    started: bool,
    /// [`Action::SendData`] went out.
    send_announced: bool,
    /// Parse the listing into entries (with today's date, for `LIST` lines without a
    /// year), for [`Session::list_entries`](super::Session::list_entries).
    parse: Option<SystemTime>,
    /// What an abort ends with: [`Error::Aborted`] when the user asked for it, the
    /// timeout when the session stopped a stalled transfer.
    abort_error: Option<Error>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransferStage {
    Type,
    ExtendedPassive,
    Passive,
    Connecting,
    Listening,
    Port,
    Restart,
    Command,
}

/// The data connection, as far as the session knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    /// Not asked for yet.
    None,
    /// Connecting, or listening for the server.
    Opening,
    /// Connected; the TLS handshake runs.
    Securing,
    Open,
    /// The peer closed it after the last byte (or we did, after an upload).
    Ended,
    /// Failed, or closed by us.
    Closed,
}

impl Operation {
    pub(super) fn greeting() -> Operation {
        Operation::new(OperationKind::Greeting, Plan::Greeting)
    }

    pub(super) fn single(kind: OperationKind, command: Command<'_>, expect: Expect) -> Operation {
        let command = command.into_owned();
        Operation::new(kind, Plan::Single { command, expect })
    }

    pub(super) fn login(
        user: Text<'_>,
        password: Text<'_>,
        account: Option<Text<'_>>,
    ) -> Operation {
        Operation::new(
            OperationKind::Login,
            Plan::Login(Login {
                user: Command::User(user.into_owned()),
                password: Command::Pass(password.into_owned().into()),
                account: account.map(|account| Command::Acct(account.into_owned())),
                stage: LoginStage::User,
                logged_in: None,
            }),
        )
    }

    pub(super) fn features() -> Operation {
        Operation::new(OperationKind::Features, Plan::Features { features: None })
    }

    pub(super) fn rename(from: Pathname<'_>, to: Pathname<'_>) -> Operation {
        Operation::new(
            OperationKind::Rename,
            Plan::Rename {
                from: Command::Rnfr(from.into_owned()),
                to: Command::Rnto(to.into_owned()),
            },
        )
    }

    /// A transfer; `kind` must be one of the transfer kinds and `command` its command.
    pub(super) fn transfer(
        kind: OperationKind,
        command: Command<'_>,
        offset: Option<u64>,
        file_type: Option<RepresentationType>,
    ) -> Operation {
        let data_kind = match kind {
            OperationKind::Retrieve => TransferKind::Download,
            OperationKind::List | OperationKind::NameList | OperationKind::MachineList => {
                TransferKind::Listing
            }
            _ => TransferKind::Upload,
        };
        let transfer = Transfer::new(command, data_kind, offset, file_type);
        Operation::new(kind, Plan::Transfer(Box::new(transfer)))
    }

    /// Any command that needs a data connection, moving data as `kind` says.
    pub(super) fn raw_transfer(command: Command<'_>, kind: TransferKind) -> Operation {
        let transfer = Transfer::new(command, kind, None, None);
        Operation::new(
            OperationKind::RawTransfer,
            Plan::Transfer(Box::new(transfer)),
        )
    }

    /// A listing parsed into entries, `MLSD` or `LIST` as `FEAT` says.
    pub(super) fn entries(path: Option<Pathname<'_>>, wall_clock: SystemTime) -> Operation {
        let path = path.map(Pathname::into_owned);
        let probe = Command::List(path.clone());
        Operation::new(
            OperationKind::List,
            Plan::Entries(Box::new(Entries {
                path,
                wall_clock,
                probe,
                features: None,
            })),
        )
    }

    /// Makes the choice between `MLSD` and `LIST` from the features known now, and
    /// starts the transfer.
    fn choose_listing(&mut self, core: &mut Core, now: Instant) -> Step {
        let Plan::Entries(entries) = &mut self.plan else {
            return Step::Pending;
        };
        let machine = core
            .features
            .as_ref()
            .is_some_and(Features::machine_listing);
        let path = entries.path.take();
        let wall_clock = entries.wall_clock;
        let (kind, command) = if machine {
            self.feature = Some((Verb::Mlsd, "MLST"));
            (OperationKind::MachineList, Command::Mlsd(path))
        } else {
            (OperationKind::List, Command::List(path))
        };
        let mut transfer = Transfer::new(command, TransferKind::Listing, None, None);
        transfer.parse = Some(wall_clock);
        self.kind = kind;
        self.plan = Plan::Transfer(Box::new(transfer));
        self.start(core, now)
    }

    fn new(kind: OperationKind, plan: Plan) -> Operation {
        Operation {
            id: OperationId(0),
            kind,
            plan,
            deadline: None,
            feature: None,
        }
    }

    /// Marks the operation as needing `feature`: a 500 or 502 to `verb` is
    /// [`Error::NotSupported`].
    pub(super) fn needs(mut self, verb: Verb, feature: &'static str) -> Operation {
        self.feature = Some((verb, feature));
        self
    }

    /// The error for a 500 or 502 to the verb that needs the operation's feature.
    fn not_supported(&self, sent: Option<Verb>, reply: &Reply<'static>) -> Option<Error> {
        let (verb, feature) = self.feature?;
        let code = reply.code();
        let not_implemented =
            code == ReplyCode::SYNTAX_ERROR || code == ReplyCode::COMMAND_NOT_IMPLEMENTED;
        (sent == Some(verb) && not_implemented).then(|| Error::NotSupported {
            operation: self.kind,
            feature,
            reply: Some(reply.clone()),
        })
    }

    /// The commands known before the operation starts, for validation up front: an
    /// argument that cannot be sent fails the operation before any byte goes out.
    pub(super) fn fixed_commands(&self) -> Vec<&Command<'static>> {
        match &self.plan {
            Plan::Greeting | Plan::Features { .. } => Vec::new(),
            Plan::Single { command, .. } => vec![command],
            Plan::Login(login) => {
                let mut commands = vec![&login.user, &login.password];
                commands.extend(&login.account);
                commands
            }
            Plan::Rename { from, to } => vec![from, to],
            Plan::Transfer(transfer) => vec![&transfer.command],
            Plan::Entries(entries) => vec![&entries.probe],
        }
    }

    /// Whether the operation may be sent while earlier ones still wait for replies: one
    /// command whose reply decides nothing about what is sent next.
    pub(super) fn is_pipelinable(&self) -> bool {
        matches!(&self.plan, Plan::Single { expect, .. } if !matches!(expect, Expect::Quit | Expect::Raw))
    }

    /// Whether a transfer's data connection is open or opening: its data may take as
    /// long as it takes.
    pub(super) fn is_moving_data(&self) -> bool {
        matches!(&self.plan, Plan::Transfer(transfer)
            if matches!(transfer.data, Data::None | Data::Opening | Data::Securing | Data::Open))
    }

    /// The operation-level deadline, if any.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(deadline, _)| deadline)
    }

    /// Sends the first command.
    pub(super) fn start(&mut self, core: &mut Core, now: Instant) -> Step {
        let id = self.id;
        match &mut self.plan {
            Plan::Greeting => {
                core.expect_reply(id, self.kind, None, now);
                Step::Pending
            }
            Plan::Single { command, .. } => {
                core.send(id, self.kind, command, now);
                Step::Pending
            }
            Plan::Login(login) => {
                if core.config.tls && !core.control_tls {
                    login.stage = LoginStage::Auth;
                    core.send(id, self.kind, &Command::Auth(AuthMechanism::Tls), now);
                } else {
                    login.stage = LoginStage::User;
                    core.send(id, self.kind, &login.user, now);
                }
                Step::Pending
            }
            Plan::Features { .. } => {
                core.send(id, self.kind, &Command::Feat, now);
                Step::Pending
            }
            Plan::Rename { from, .. } => {
                core.send(id, self.kind, from, now);
                Step::Pending
            }
            Plan::Entries(_) => {
                if core.features.is_some() {
                    return self.choose_listing(core, now);
                }
                core.send(id, self.kind, &Command::Feat, now);
                Step::Pending
            }
            Plan::Transfer(transfer) => {
                let wanted = transfer.wanted_type(core);
                if core.current_type == Some(wanted) {
                    self.set_up_data_connection(core, now)
                } else {
                    self.transfer_mut().stage = TransferStage::Type;
                    core.send(id, self.kind, &Command::Type(wanted), now);
                    Step::Pending
                }
            }
        }
    }

    /// A `1yz` reply: the command was accepted and another reply follows.
    pub(super) fn on_preliminary_reply(
        &mut self,
        core: &mut Core,
        reply: &Reply<'_>,
        now: Instant,
    ) {
        let id = self.id;
        if let Plan::Transfer(transfer) = &mut self.plan {
            if transfer.stage == TransferStage::Command {
                if let Command::Stou(_) = transfer.command {
                    transfer.unique_name = unique_name(reply);
                }
                transfer.started = true;
                core.push_event(Event::TransferStarted {
                    id,
                    size_hint: reply.transfer_size_hint(),
                });
                if let Some(deadline) = transfer.data_ready(core, id, now) {
                    self.deadline = Some(deadline);
                }
            }
        }
    }

    /// A final reply to the command `sent` (`None` for the greeting).
    pub(super) fn on_reply(
        &mut self,
        core: &mut Core,
        sent: Option<Verb>,
        reply: Reply<'static>,
        now: Instant,
    ) -> Step {
        let id = self.id;
        let kind = self.kind;
        let code = reply.code();
        match &mut self.plan {
            Plan::Greeting => {
                if code == ReplyCode::SERVICE_READY {
                    Step::Done(Ok(Outcome::Greeting(reply)))
                } else {
                    Step::Done(Err(Error::UnexpectedGreeting { reply }))
                }
            }
            Plan::Single { expect, .. } => {
                let expect = *expect;
                if let Some(error) = self.not_supported(sent, &reply) {
                    return Step::Done(Err(error));
                }
                Step::Done(read_single(core, kind, expect, reply))
            }
            Plan::Login(login) => {
                let step = login.on_reply(core, id, reply, now);
                if login.stage == LoginStage::ControlTls {
                    self.deadline = Some((now + core.config.reply_timeout, Wait::ControlTls));
                }
                step
            }
            Plan::Features { features } => match sent {
                Some(Verb::Feat) => {
                    if code != ReplyCode::SYSTEM_STATUS {
                        return Step::Done(Err(negative_or_unexpected(kind, "211", reply)));
                    }
                    let Some(listed) = Features::from_reply(&reply) else {
                        return Step::Done(Err(unexpected(kind, "211", reply)));
                    };
                    core.features = Some(listed.clone());
                    if core.config.utf8 && listed.utf8() {
                        *features = Some(listed);
                        let utf8_on = Command::Opts(CommandOptions {
                            command: Text::borrowed(b"UTF8"),
                            options: Some(Text::borrowed(b"ON")),
                        });
                        core.send(id, kind, &utf8_on, now);
                        Step::Pending
                    } else {
                        Step::Done(Ok(Outcome::Features(listed)))
                    }
                }
                // The answer to OPTS UTF8 ON: a refusal is harmless (names stay bytes).
                _ => Step::Done(Ok(Outcome::Features(features.take().unwrap_or_default()))),
            },
            Plan::Rename { to, .. } => match sent {
                Some(Verb::Rnfr) if code == ReplyCode::FILE_ACTION_PENDING => {
                    core.send(id, kind, to, now);
                    Step::Pending
                }
                Some(Verb::Rnfr) => Step::Done(Err(negative_or_unexpected(kind, "350", reply))),
                _ if code.is_positive_completion() => Step::Done(Ok(Outcome::Done(reply))),
                _ => Step::Done(Err(negative_or_unexpected(kind, "2yz", reply))),
            },
            Plan::Transfer(_) => self.on_transfer_reply(core, sent, reply, now),
            Plan::Entries(entries) => match sent {
                Some(Verb::Feat) if code == ReplyCode::SYSTEM_STATUS => {
                    let Some(listed) = Features::from_reply(&reply) else {
                        return Step::Done(Err(unexpected(kind, "211", reply)));
                    };
                    core.features = Some(listed.clone());
                    if core.config.utf8 && listed.utf8() {
                        entries.features = Some(listed);
                        let utf8_on = Command::Opts(CommandOptions {
                            command: Text::borrowed(b"UTF8"),
                            options: Some(Text::borrowed(b"ON")),
                        });
                        core.send(id, kind, &utf8_on, now);
                        return Step::Pending;
                    }
                    self.choose_listing(core, now)
                }
                // A server without FEAT simply gets LIST.
                Some(Verb::Feat) if code.is_negative() => self.choose_listing(core, now),
                Some(Verb::Feat) => Step::Done(Err(unexpected(kind, "211", reply))),
                // The answer to OPTS UTF8 ON: a refusal is harmless (names stay bytes).
                _ => self.choose_listing(core, now),
            },
        }
    }

    /// The control connection's TLS handshake finished.
    pub(super) fn on_control_tls(&mut self, core: &mut Core, now: Instant) -> Step {
        let id = self.id;
        if let Plan::Login(login) = &mut self.plan {
            if login.stage == LoginStage::ControlTls {
                self.deadline = None;
                login.stage = LoginStage::User;
                core.send(id, self.kind, &login.user, now);
            }
        }
        Step::Pending
    }

    /// The operation's own deadline passed.
    pub(super) fn on_timeout(&mut self, core: &mut Core, now: Instant) -> Step {
        let Some((deadline, wait)) = self.deadline else {
            return Step::Pending;
        };
        if deadline > now {
            return Step::Pending;
        }
        self.deadline = None;
        let operation = self.kind;
        match wait {
            Wait::ControlTls => Step::Done(Err(Error::Timeout {
                operation,
                waiting_for: Waiting::ControlTls,
            })),
            Wait::AbortReply => {
                // One 226 answered both the transfer and ABOR: stop waiting for a second.
                core.forget_in_flight(self.id, Verb::Abor);
                Step::Done(Err(self.transfer_mut().aborted(operation)))
            }
            Wait::DataStall => {
                // No file byte moved for `data_timeout`: stop the transfer as the user
                // would, and say why.
                self.transfer_mut().abort_error = Some(Error::Timeout {
                    operation,
                    waiting_for: Waiting::Data,
                });
                self.abort(core, now)
            }
            Wait::DataConnection if self.final_reply_without_data() => {
                // The server said the transfer was complete and never connected: some
                // send nothing at all for an empty listing. An empty result.
                let id = self.id;
                let transfer = self.transfer_mut();
                transfer.close_data(core, id, now);
                let reply = transfer
                    .final_reply
                    .take()
                    .unwrap_or_else(|| unreachable!());
                Step::Done(Ok(transfer.output(reply)))
            }
            Wait::DataConnection | Wait::EndOfData | Wait::ListingData | Wait::DataTls => {
                let waiting_for = match wait {
                    Wait::EndOfData => Waiting::EndOfData,
                    Wait::ListingData => Waiting::Data,
                    Wait::DataTls => Waiting::DataTls,
                    _ => Waiting::DataConnection,
                };
                let id = self.id;
                let transfer = self.transfer_mut();
                transfer.close_data(core, id, now);
                transfer.local_error.get_or_insert(Error::Timeout {
                    operation,
                    waiting_for,
                });
                self.finish_if_possible(core, now)
            }
        }
    }

    /// File bytes moved: the stall deadline starts again.
    pub(super) fn on_progress(&mut self, core: &Core, now: Instant) {
        if let Some((deadline, Wait::DataStall)) = &mut self.deadline {
            *deadline = now + core.config.data_timeout;
        }
    }

    /// An event from this operation's data connection.
    pub(super) fn on_data(&mut self, core: &mut Core, input: DataInput<'_>, now: Instant) -> Step {
        let id = self.id;
        let operation = self.kind;
        let Plan::Transfer(transfer) = &mut self.plan else {
            return Step::Pending;
        };
        match input {
            DataInput::Listening(address) => {
                if transfer.stage != TransferStage::Listening || transfer.aborting {
                    return Step::Pending;
                }
                if address.port() == 0 {
                    transfer.close_data(core, id, now);
                    return Step::Done(Err(Error::DataConnectionFailed {
                        operation,
                        kind: io::ErrorKind::InvalidInput,
                    }));
                }
                transfer.stage = TransferStage::Port;
                let command = match address {
                    SocketAddr::V4(v4) => Command::Port(v4),
                    SocketAddr::V6(_) => Command::Eprt(address),
                };
                // The server connects only after the transfer command; the deadline
                // starts then.
                self.deadline = None;
                core.send(id, operation, &command, now);
                Step::Pending
            }
            DataInput::Connected => {
                if transfer.data != Data::Opening {
                    return Step::Pending;
                }
                transfer.data = if core.data_protected {
                    core.push_action(Action::StartDataTls { id });
                    Data::Securing
                } else {
                    Data::Open
                };
                // Every state has a deadline: the handshake's, then the wait for the
                // next bytes (a listing's, which the session sees, or a file's, which
                // the adapter reports as progress once data may move).
                self.deadline = if transfer.data == Data::Securing {
                    Some((now + core.config.data_tls_timeout, Wait::DataTls))
                } else {
                    transfer.data_ready(core, id, now)
                };
                if transfer.stage == TransferStage::Connecting {
                    self.send_restart_or_command(core, now);
                }
                Step::Pending
            }
            DataInput::TlsEstablished => {
                if transfer.data == Data::Securing {
                    transfer.data = Data::Open;
                    let ready = transfer.data_ready(core, id, now);
                    if self.deadline.is_some_and(|(_, wait)| wait == Wait::DataTls) {
                        self.deadline = ready;
                    }
                }
                Step::Pending
            }
            DataInput::Bytes(bytes) => {
                if transfer.kind != TransferKind::Listing
                    || !matches!(transfer.data, Data::Open | Data::Securing)
                {
                    return Step::Pending;
                }
                let limit = core.config.max_listing_size;
                if transfer.listing.len().saturating_add(bytes.len()) > limit {
                    transfer.close_data(core, id, now);
                    transfer
                        .local_error
                        .get_or_insert(Error::ListingTooLarge { operation, limit });
                    self.deadline = None;
                    return self.finish_if_possible(core, now);
                }
                transfer.listing.extend_from_slice(bytes);
                if self
                    .deadline
                    .is_some_and(|(_, wait)| wait == Wait::ListingData)
                {
                    self.deadline = Some((now + core.config.reply_timeout, Wait::ListingData));
                }
                Step::Pending
            }
            DataInput::End => {
                if !matches!(transfer.data, Data::Opening | Data::Securing | Data::Open) {
                    return Step::Pending;
                }
                transfer.data = Data::Ended;
                self.deadline = None;
                // The server's final reply follows the end of data: its deadline runs again.
                core.restart_reply_deadline(id, now);
                self.finish_if_possible(core, now)
            }
            DataInput::Failed(kind) => {
                if matches!(transfer.data, Data::Ended | Data::Closed) {
                    return Step::Pending;
                }
                transfer.data = Data::Closed;
                transfer
                    .local_error
                    .get_or_insert(Error::DataConnectionFailed { operation, kind });
                self.deadline = None;
                core.restart_reply_deadline(id, now);
                self.finish_if_possible(core, now)
            }
        }
    }

    /// The user asked to stop the operation. Only transfers can be stopped once started.
    pub(super) fn abort(&mut self, core: &mut Core, now: Instant) -> Step {
        let id = self.id;
        let operation = self.kind;
        let Plan::Transfer(transfer) = &mut self.plan else {
            return Step::Pending;
        };
        if transfer.aborting {
            return Step::Pending;
        }
        transfer.aborting = true;
        self.deadline = None;
        // RFC 959's order: the Telnet IP and Synch and `ABOR` go out first, then the
        // data connection closes. A server that learns of the abort only from its
        // failing data connection has ended the transfer before the urgent signal
        // comes, and answers `ABOR` as "no transfer" (vsftpd's 225).
        let in_flight = core.has_in_flight(id);
        if in_flight && transfer.stage == TransferStage::Command {
            core.send_abort(id, operation, now);
        }
        transfer.close_data(core, id, now);
        if !in_flight {
            return Step::Done(Err(transfer.aborted(operation)));
        }
        // Otherwise the transfer's replies (or a set-up command's) end the operation.
        Step::Pending
    }

    fn transfer_mut(&mut self) -> &mut Transfer {
        match &mut self.plan {
            Plan::Transfer(transfer) => transfer,
            _ => unreachable!("transfer steps run only for transfers"),
        }
    }

    fn on_transfer_reply(
        &mut self,
        core: &mut Core,
        sent: Option<Verb>,
        reply: Reply<'static>,
        now: Instant,
    ) -> Step {
        let id = self.id;
        let operation = self.kind;
        let code = reply.code();
        let unsupported = self.not_supported(sent, &reply);
        let transfer = self.transfer_mut();
        if transfer.aborting {
            if sent == Some(Verb::Abor) || !core.has_in_flight(id) {
                return Step::Done(Err(transfer.aborted(operation)));
            }
            // The transfer's own final reply (426, or 226 if it had finished); the reply
            // to ABOR should follow, but some servers send only the one.
            self.deadline = Some((now + core.config.abort_reply_grace, Wait::AbortReply));
            return Step::Pending;
        }
        match transfer.stage {
            TransferStage::Type => {
                if !code.is_positive_completion() {
                    return Step::Done(Err(negative_or_unexpected(operation, "200", reply)));
                }
                core.current_type = Some(transfer.wanted_type(core));
                self.set_up_data_connection(core, now)
            }
            TransferStage::ExtendedPassive => {
                if code == ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE {
                    return match reply.extended_passive_port() {
                        Ok(port) => {
                            let address = SocketAddr::new(core.peer.ip(), port);
                            self.connect(core, address, now)
                        }
                        Err(_) => Step::Done(Err(unexpected(operation, "229 (|||port|)", reply))),
                    };
                }
                let not_implemented =
                    code == ReplyCode::SYNTAX_ERROR || code == ReplyCode::COMMAND_NOT_IMPLEMENTED;
                if not_implemented && core.peer.is_ipv4() {
                    core.extended_passive_refused = true;
                    transfer.stage = TransferStage::Passive;
                    core.send(id, operation, &Command::Pasv, now);
                    return Step::Pending;
                }
                Step::Done(Err(negative_or_unexpected(operation, "229", reply)))
            }
            TransferStage::Passive => {
                if code != ReplyCode::ENTERING_PASSIVE_MODE {
                    return Step::Done(Err(negative_or_unexpected(operation, "227", reply)));
                }
                match reply.passive_address() {
                    Ok(announced) => {
                        let address = if core.config.trust_passive_address {
                            SocketAddr::V4(announced)
                        } else {
                            SocketAddr::new(core.peer.ip(), announced.port())
                        };
                        self.connect(core, address, now)
                    }
                    Err(_) => Step::Done(Err(unexpected(
                        operation,
                        "227 (h1,h2,h3,h4,p1,p2) with a non-zero port",
                        reply,
                    ))),
                }
            }
            TransferStage::Port => {
                if !code.is_positive_completion() {
                    transfer.close_data(core, id, now);
                    return Step::Done(Err(negative_or_unexpected(operation, "200", reply)));
                }
                self.send_restart_or_command(core, now);
                Step::Pending
            }
            TransferStage::Restart => {
                if let Some(error) = unsupported {
                    transfer.close_data(core, id, now);
                    return Step::Done(Err(error));
                }
                if code != ReplyCode::FILE_ACTION_PENDING {
                    transfer.close_data(core, id, now);
                    return Step::Done(Err(negative_or_unexpected(operation, "350", reply)));
                }
                transfer.stage = TransferStage::Command;
                let command = transfer.command.clone();
                self.send_transfer_command(core, &command, now);
                Step::Pending
            }
            TransferStage::Command => {
                if code.is_positive_completion() {
                    transfer.final_reply = Some(reply);
                    return self.finish_if_possible(core, now);
                }
                transfer.close_data(core, id, now);
                if let Some(error) = transfer.local_error.take() {
                    // A 426 or 451 after the client's own bound or deadline closed the
                    // data connection is the server reporting what the client did: the
                    // client's reason is the true one.
                    let own_limit =
                        matches!(error, Error::ListingTooLarge { .. } | Error::Timeout { .. });
                    let consequence = matches!(code.as_u16(), 426 | 451);
                    if !code.is_negative() || (own_limit && consequence) {
                        return Step::Done(Err(error));
                    }
                }
                if let Some(error) = unsupported {
                    return Step::Done(Err(error));
                }
                Step::Done(Err(negative_or_unexpected(operation, "226", reply)))
            }
            // Nothing is in flight while connecting or listening.
            TransferStage::Connecting | TransferStage::Listening => Step::Pending,
        }
    }

    /// Asks for a data connection: `EPSV`/`PASV`, or a listener for `PORT`/`EPRT`.
    fn set_up_data_connection(&mut self, core: &mut Core, now: Instant) -> Step {
        let id = self.id;
        let operation = self.kind;
        let transfer = self.transfer_mut();
        if core.config.data_connection_mode == DataConnectionMode::Active {
            transfer.stage = TransferStage::Listening;
            transfer.data = Data::Opening;
            let kind = transfer.kind;
            core.push_action(Action::ListenForData { id, kind });
            self.deadline = Some((now + core.config.data_connect_timeout, Wait::DataConnection));
            return Step::Pending;
        }
        // PASV cannot name an IPv6 port; there EPSV is the only way. FEAT is not asked:
        // ProFTPD and others support EPSV without listing it.
        let extended = core.peer.is_ipv6()
            || (core.config.prefer_extended_passive && !core.extended_passive_refused);
        if extended {
            transfer.stage = TransferStage::ExtendedPassive;
            core.send(id, operation, &Command::Epsv(ExtendedPassive::Any), now);
        } else {
            transfer.stage = TransferStage::Passive;
            core.send(id, operation, &Command::Pasv, now);
        }
        Step::Pending
    }

    fn connect(&mut self, core: &mut Core, address: SocketAddr, now: Instant) -> Step {
        let id = self.id;
        let transfer = self.transfer_mut();
        transfer.stage = TransferStage::Connecting;
        transfer.data = Data::Opening;
        let kind = transfer.kind;
        core.push_action(Action::ConnectData { id, address, kind });
        self.deadline = Some((now + core.config.data_connect_timeout, Wait::DataConnection));
        Step::Pending
    }

    /// `REST` when resuming (it must come right before the transfer command), else the
    /// transfer command itself.
    fn send_restart_or_command(&mut self, core: &mut Core, now: Instant) {
        let id = self.id;
        let operation = self.kind;
        let transfer = self.transfer_mut();
        match transfer.offset {
            Some(offset) => {
                transfer.stage = TransferStage::Restart;
                core.send(id, operation, &Command::Rest(offset), now);
            }
            None => {
                transfer.stage = TransferStage::Command;
                let command = transfer.command.clone();
                self.send_transfer_command(core, &command, now);
            }
        }
    }

    fn send_transfer_command(&mut self, core: &mut Core, command: &Command<'_>, now: Instant) {
        core.send(self.id, self.kind, command, now);
        let transfer = self.transfer_mut();
        if transfer.data == Data::Opening {
            // Active mode: the server connects once it has the command.
            self.deadline = Some((now + core.config.data_connect_timeout, Wait::DataConnection));
        }
    }

    /// A transfer is done when the final reply and the end of data have both arrived,
    /// in either order.
    fn finish_if_possible(&mut self, core: &mut Core, now: Instant) -> Step {
        let id = self.id;
        let transfer = self.transfer_mut();
        let Some(reply) = transfer.final_reply.take() else {
            // No final reply yet. Before the transfer command went out, a local failure
            // ends the operation at once: nothing is in flight to wait for.
            if !core.has_in_flight(id) {
                if let Some(error) = transfer.local_error.take() {
                    return Step::Done(Err(error));
                }
            }
            return Step::Pending;
        };
        if let Some(error) = transfer.local_error.take() {
            transfer.close_data(core, id, now);
            return Step::Done(Err(error));
        }
        match transfer.data {
            Data::Securing | Data::Open => {
                // The server's 226 came before the data connection's EOF.
                transfer.final_reply = Some(reply);
                self.deadline = Some((now + core.config.reply_timeout, Wait::EndOfData));
                Step::Pending
            }
            Data::Opening => {
                // The 226 overtook the data connection: in active mode the server's
                // connection can still wait in our listener's queue with all its data.
                // Wait for it (and its end) as for any data connection.
                transfer.final_reply = Some(reply);
                self.deadline =
                    Some((now + core.config.data_connect_timeout, Wait::DataConnection));
                Step::Pending
            }
            Data::None | Data::Ended | Data::Closed => {
                // Ended already, or never asked for: the transfer is complete.
                transfer.close_data(core, id, now);
                let output = transfer.output(reply);
                self.deadline = None;
                Step::Done(Ok(output))
            }
        }
    }

    /// Whether a transfer has its final reply but its data connection never opened.
    fn final_reply_without_data(&self) -> bool {
        match &self.plan {
            Plan::Transfer(transfer) => {
                transfer.final_reply.is_some() && transfer.data == Data::Opening
            }
            _ => false,
        }
    }
}

impl Transfer {
    fn new(
        command: Command<'_>,
        kind: TransferKind,
        offset: Option<u64>,
        file_type: Option<RepresentationType>,
    ) -> Transfer {
        Transfer {
            command: command.into_owned(),
            kind,
            offset,
            file_type,
            stage: TransferStage::Type,
            data: Data::None,
            final_reply: None,
            local_error: None,
            aborting: false,
            listing: Vec::new(),
            unique_name: None,
            started: false,
            send_announced: false,
            parse: None,
            abort_error: None,
        }
    }

    /// The error an abort ends with.
    fn aborted(&mut self, operation: OperationKind) -> Error {
        self.abort_error
            .take()
            .unwrap_or(Error::Aborted { operation })
    }

    /// Called when the data connection may have become ready for data: open (TLS done
    /// if asked) and, for files, the server's `1yz` in. Tells an upload to start
    /// writing, once, and returns the deadline that then runs: the next listing bytes,
    /// or the stall deadline for file bytes; `None` while not ready.
    fn data_ready(
        &mut self,
        core: &mut Core,
        id: OperationId,
        now: Instant,
    ) -> Option<(Instant, Wait)> {
        if self.data != Data::Open || self.aborting {
            return None;
        }
        match self.kind {
            TransferKind::Listing => Some((now + core.config.reply_timeout, Wait::ListingData)),
            // The server reads (or sends) only once it has accepted the command; bytes
            // written before its 1yz could reach a server that then refuses it.
            _ if !self.started => None,
            TransferKind::Upload if !self.send_announced => {
                self.send_announced = true;
                core.push_action(Action::SendData { id });
                Some((now + core.config.data_timeout, Wait::DataStall))
            }
            _ => Some((now + core.config.data_timeout, Wait::DataStall)),
        }
    }

    /// The operation's result, given its final reply.
    fn output(&mut self, reply: Reply<'static>) -> Outcome {
        match self.kind {
            TransferKind::Listing => match self.parse {
                Some(wall_clock) => Outcome::Entries(parse_entries(
                    &self.listing,
                    matches!(self.command, Command::Mlsd(_)),
                    wall_clock,
                )),
                None => Outcome::Listing(std::mem::take(&mut self.listing)),
            },
            _ => Outcome::Transferred {
                reply,
                unique_name: self.unique_name.take(),
            },
        }
    }

    fn wanted_type(&self, core: &Core) -> RepresentationType {
        match self.kind {
            TransferKind::Listing => RepresentationType::Ascii(FormatControl::NonPrint),
            TransferKind::Download | TransferKind::Upload => {
                self.file_type.unwrap_or(core.config.file_type)
            }
        }
    }

    /// Closes the data connection or listener if one is open or opening. The server's
    /// final reply is then due: its deadline runs again (a transfer's reply has none
    /// while data moves), so that a server that stays silent cannot hold the session.
    fn close_data(&mut self, core: &mut Core, id: OperationId, now: Instant) {
        if matches!(self.data, Data::Opening | Data::Securing | Data::Open) {
            core.push_action(Action::CloseData { id });
            self.data = Data::Closed;
        }
        core.restart_reply_deadline(id, now);
    }
}

impl Login {
    fn on_reply(
        &mut self,
        core: &mut Core,
        id: OperationId,
        reply: Reply<'static>,
        now: Instant,
    ) -> Step {
        const KIND: OperationKind = OperationKind::Login;
        let code = reply.code();
        match self.stage {
            LoginStage::Auth => {
                if code != ReplyCode::SECURITY_DATA_EXCHANGE_COMPLETE {
                    return Step::Done(Err(negative_or_unexpected(KIND, "234", reply)));
                }
                self.stage = LoginStage::ControlTls;
                core.awaiting_control_tls = true;
                core.push_action(Action::StartControlTls);
                Step::Pending
            }
            LoginStage::ControlTls => Step::Pending,
            LoginStage::User | LoginStage::Password | LoginStage::Account => {
                if code == ReplyCode::LOGGED_IN
                    || (self.stage != LoginStage::User && code == ReplyCode::COMMAND_SUPERFLUOUS)
                {
                    return self.logged_in(core, id, reply, now);
                }
                if code == ReplyCode::USER_NAME_OKAY_NEED_PASSWORD && self.stage == LoginStage::User
                {
                    self.stage = LoginStage::Password;
                    core.send(id, KIND, &self.password, now);
                    return Step::Pending;
                }
                if code == ReplyCode::NEED_ACCOUNT_FOR_LOGIN && self.stage != LoginStage::Account {
                    if let Some(account) = &self.account {
                        self.stage = LoginStage::Account;
                        core.send(id, KIND, account, now);
                        return Step::Pending;
                    }
                    return Step::Done(Err(unexpected(KIND, "230 (an account is needed)", reply)));
                }
                Step::Done(Err(negative_or_unexpected(KIND, "230", reply)))
            }
            LoginStage::ProtectionBufferSize => {
                if !code.is_positive_completion() {
                    return Step::Done(Err(negative_or_unexpected(KIND, "200", reply)));
                }
                self.stage = LoginStage::Protection;
                core.send(id, KIND, &Command::Prot(ProtectionLevel::Private), now);
                Step::Pending
            }
            LoginStage::Protection => {
                if !code.is_positive_completion() {
                    return Step::Done(Err(negative_or_unexpected(KIND, "200", reply)));
                }
                core.data_protected = true;
                let logged_in = self.logged_in.take().unwrap_or(reply);
                Step::Done(Ok(Outcome::LoggedIn(logged_in)))
            }
        }
    }

    /// After 230: with TLS on the control connection, protect data connections too
    /// (RFC 4217: `PBSZ 0` then `PROT P`).
    fn logged_in(
        &mut self,
        core: &mut Core,
        id: OperationId,
        reply: Reply<'static>,
        now: Instant,
    ) -> Step {
        core.logged_in = true;
        if core.control_tls && !core.data_protected {
            self.logged_in = Some(reply);
            self.stage = LoginStage::ProtectionBufferSize;
            core.send(id, OperationKind::Login, &Command::Pbsz(0), now);
            return Step::Pending;
        }
        Step::Done(Ok(Outcome::LoggedIn(reply)))
    }
}

/// Reads the final reply of a single-command operation.
fn read_single(
    core: &mut Core,
    operation: OperationKind,
    expect: Expect,
    reply: Reply<'static>,
) -> Result<Outcome, Error> {
    let code = reply.code();
    match expect {
        Expect::Quit => return Ok(Outcome::Closed { reply: Some(reply) }),
        Expect::Raw if code.is_positive_completion() || code.is_positive_intermediate() => {
            return Ok(Outcome::Done(reply));
        }
        _ if !code.is_positive_completion() => {
            return Err(negative_or_unexpected(operation, "2yz", reply));
        }
        _ => {}
    }
    match expect {
        Expect::Done | Expect::Raw | Expect::Quit => Ok(Outcome::Done(reply)),
        Expect::Type(representation) => {
            core.current_type = Some(representation);
            core.config.file_type = representation;
            Ok(Outcome::Done(reply))
        }
        Expect::Directory => match reply.quoted_path() {
            Ok(path) => Ok(Outcome::Directory(path.into_owned())),
            Err(_) => Err(unexpected(operation, "257 \"path\"", reply)),
        },
        Expect::MaybeDirectory => match reply.quoted_path() {
            Ok(path) => Ok(Outcome::Directory(path.into_owned())),
            Err(_) => Ok(Outcome::Done(reply)),
        },
        Expect::Size => reply
            .size()
            .map(Outcome::Size)
            .map_err(|_| unexpected(operation, "213 size", reply.clone())),
        Expect::Time => reply
            .modification_time()
            .map(Outcome::ModificationTime)
            .map_err(|_| unexpected(operation, "213 YYYYMMDDHHMMSS", reply.clone())),
        Expect::Entry => {
            // 250-Listing /path / " type=file;size=1; name" / 250 End
            let lines: Vec<&[u8]> = reply.lines().collect();
            match lines.get(1) {
                Some(line) if lines.len() >= 3 => {
                    let entry = line.strip_prefix(b" ").unwrap_or(line);
                    Ok(Outcome::Entry(Text::from(entry.to_vec())))
                }
                _ => Err(unexpected(operation, "250 with an entry line", reply)),
            }
        }
    }
}

/// A listing's entries, without the directory itself, its parent, and lines no parser
/// understands.
fn parse_entries(bytes: &[u8], machine: bool, wall_clock: SystemTime) -> Vec<Entry> {
    if machine {
        return listing::mlsx_lines(bytes)
            .filter_map(Result::ok)
            .filter(|entry| {
                !matches!(
                    entry.kind,
                    EntryKind::CurrentDirectory | EntryKind::ParentDirectory
                )
            })
            .collect();
    }
    listing::list_lines(bytes, wall_clock)
        .filter_map(|line| match line {
            ListLine::Entry(entry) => Some(entry),
            _ => None,
        })
        .filter(|entry| {
            let self_or_parent =
                entry.kind == EntryKind::Directory && (entry.name == *"." || entry.name == *"..");
            !self_or_parent
        })
        .collect()
}

/// `FILE: name` in a `STOU` preliminary reply (RFC 1123 §4.1.2.9).
fn unique_name(reply: &Reply<'_>) -> Option<Pathname<'static>> {
    let text = reply.text().as_bytes();
    let start = memchr::memmem::find(text, b"FILE:")? + 5;
    let name = text[start..]
        .split(|&byte| byte == b'\n')
        .next()?
        .trim_ascii();
    (!name.is_empty()).then(|| Pathname::from(name.to_vec()))
}

fn unexpected(operation: OperationKind, expected: &'static str, reply: Reply<'static>) -> Error {
    Error::UnexpectedReply {
        operation,
        expected,
        reply,
    }
}

/// A refusal for `4yz`/`5yz`, otherwise an unexpected reply.
fn negative_or_unexpected(
    operation: OperationKind,
    expected: &'static str,
    reply: Reply<'static>,
) -> Error {
    if reply.code().is_negative() {
        Error::from_negative_reply(operation, reply)
    } else {
        unexpected(operation, expected, reply)
    }
}
