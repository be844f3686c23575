//! Command processing: reading buffered control input into commands, the rules on which
//! commands may run before login or overtake a waiting one, and the dispatch of each
//! verb to the concern that handles it.

use std::net::SocketAddr;

use super::{ControlTls, Pending, Purpose, Session, TransferContentKind};
use crate::command::{Command, ExtendedPassive, FileStructure, TransferMode};
use crate::parse::CommandError;
use crate::reply::{Reply, ReplyCode};
use crate::server::events::{CloseReason, Direction, ListingFormat, Request};
use crate::text::Pathname;

impl Session {
    pub(super) fn idle_timer_runs(&self) -> bool {
        self.transfer.is_none() && self.pending.is_none()
    }

    /// Processes buffered commands until one has to wait (for the application, the
    /// adapter, a timer, or the client to read its replies).
    pub(super) fn process_input(&mut self) {
        let mut offset = 0;
        while !self.closed && self.pending_output() < self.config.max_pending_output {
            if self.pending.is_some() {
                // A slow back end must not freeze the session: while it answers, the
                // next command is run at once if it is one that may overtake (QUIT,
                // STAT, ABOR of the transfer being opened); any other waits in order.
                if !matches!(self.pending, Some(Pending::Request { .. })) {
                    break;
                }
                let parsed = self.parser.parse(&self.input[offset..]);
                match parsed.item {
                    Some(Ok(Command::Quit)) => {
                        offset += parsed.consumed;
                        self.cancel_request();
                        self.close_with(
                            ReplyCode::CLOSING_CONTROL_CONNECTION,
                            "Goodbye.",
                            CloseReason::Quit,
                        );
                    }
                    Some(Ok(Command::Stat(None))) => {
                        offset += parsed.consumed;
                        self.status();
                    }
                    Some(Ok(Command::Abor))
                        if matches!(
                            self.pending,
                            Some(Pending::Request {
                                purpose: Purpose::OpenTransfer { .. },
                                ..
                            })
                        ) =>
                    {
                        offset += parsed.consumed;
                        self.cancel_request();
                        self.reply(
                            ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                            "Transfer aborted.",
                        );
                        self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "ABOR successful.");
                        self.restart_idle_timer();
                    }
                    _ => break,
                }
                continue;
            }
            let parsed = self.parser.parse(&self.input[offset..]);
            let Some(item) = parsed.item else {
                offset += parsed.consumed;
                break;
            };
            if self.transfer.is_some()
                && !matches!(
                    item,
                    Ok(Command::Abor | Command::Stat(None) | Command::Quit | Command::Noop)
                        | Err(CommandError::LineTooLong { .. })
                )
            {
                // Other commands wait for the transfer's final reply.
                break;
            }
            let command = item.map(Command::into_owned);
            offset += parsed.consumed;
            self.idle_deadline = self.now + self.config.idle_timeout;
            match command {
                Ok(command) => self.dispatch(command),
                Err(error) => self.reply(error.reply_code(), format!("{error}.")),
            }
        }
        if std::mem::take(&mut self.drop_pipelined_input) {
            self.input.clear();
            self.parser.reset();
        } else {
            self.input.drain(..offset);
        }
        if self.input.is_empty() {
            // An idle session holds no input buffer (10,000 idle sessions would hold
            // their last command lines).
            self.input = Vec::new();
        }
    }

    pub(super) fn dispatch(&mut self, command: Command<'static>) {
        if !self.is_logged_in() && !allowed_before_login(&command) {
            self.reply(ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS.");
            return;
        }
        match command {
            Command::User(user) => self.user(user),
            Command::Pass(password) => self.pass(password),
            Command::Acct(_) => self.reply(ReplyCode::COMMAND_SUPERFLUOUS, "ACCT not needed."),
            Command::Host(host) => self.host(host),
            Command::Rein => self.reinitialise(),
            Command::Quit => {
                if self.transfer.is_some() {
                    self.close_after_transfer = Some((
                        ReplyCode::CLOSING_CONTROL_CONNECTION,
                        "Goodbye.",
                        CloseReason::Quit,
                    ));
                } else {
                    self.close_with(
                        ReplyCode::CLOSING_CONTROL_CONNECTION,
                        "Goodbye.",
                        CloseReason::Quit,
                    );
                }
            }
            Command::Noop => self.reply(ReplyCode::COMMAND_OKAY, "NOOP ok."),
            Command::Syst => self.reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            Command::Feat => self.feat(),
            Command::Help(_) => self.help(),
            Command::Opts(options) => self.opts(options),
            Command::Clnt(_) => self.reply(ReplyCode::COMMAND_OKAY, "Noted."),
            Command::Stat(None) => self.status(),
            Command::Stat(Some(path)) => self.with_path(&path, |session, path| {
                session.request(
                    Request::ListEntries {
                        path: path.clone(),
                        limit: session.config.max_control_listing_entries,
                    },
                    Purpose::ControlListing { path },
                )
            }),
            Command::Type(kind) => self.representation_type(kind),
            Command::Mode(TransferMode::Stream) => {
                self.reply(ReplyCode::COMMAND_OKAY, "Mode set to S.")
            }
            Command::Mode(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only stream mode is supported.",
            ),
            Command::Stru(FileStructure::File) => {
                self.reply(ReplyCode::COMMAND_OKAY, "Structure set to F.")
            }
            Command::Stru(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only file structure is supported.",
            ),
            Command::Allo(_) => self.reply(ReplyCode::COMMAND_SUPERFLUOUS, "ALLO not needed."),
            Command::Pwd | Command::Xpwd => {
                let reply = Reply::with_path(
                    ReplyCode::PATHNAME_CREATED,
                    &self.cwd.to_pathname(),
                    "is the current directory",
                );
                self.send(&reply);
            }
            Command::Cwd(path) | Command::Xcwd(path) => self.with_path(&path, |session, path| {
                session.request(
                    Request::Metadata { path: path.clone() },
                    Purpose::ChangeDirectory { path },
                )
            }),
            Command::Cdup | Command::Xcup => {
                self.cwd = self.cwd.parent();
                self.reply(
                    ReplyCode::FILE_ACTION_OKAY,
                    "Directory successfully changed.",
                );
            }
            Command::Size(path) => self.with_path(&path, |session, path| {
                session.request(Request::Metadata { path }, Purpose::Size)
            }),
            Command::Mdtm(path) => self.with_path(&path, |session, path| {
                session.request(Request::Metadata { path }, Purpose::ModificationTime)
            }),
            Command::Mlst(path) => {
                let path = path.unwrap_or_else(|| Pathname::from("."));
                self.with_path(&path, |session, path| {
                    session.request(
                        Request::Metadata { path: path.clone() },
                        Purpose::MachineListing { path },
                    )
                })
            }
            Command::Mkd(path) | Command::Xmkd(path) => self.write_op(&path, |session, path| {
                session.request(
                    Request::MakeDirectory { path: path.clone() },
                    Purpose::MakeDirectory { path },
                )
            }),
            Command::Rmd(path) | Command::Xrmd(path) => self.write_op(&path, |session, path| {
                session.request(
                    Request::RemoveDirectory { path },
                    Purpose::Done {
                        code: ReplyCode::FILE_ACTION_OKAY,
                        text: "Directory removed.".to_owned(),
                    },
                )
            }),
            Command::Dele(path) => self.write_op(&path, |session, path| {
                session.request(
                    Request::Delete { path },
                    Purpose::Done {
                        code: ReplyCode::FILE_ACTION_OKAY,
                        text: "File deleted.".to_owned(),
                    },
                )
            }),
            Command::Rnfr(path) => {
                if !self.config.capabilities.rename {
                    return self.not_supported("RNFR");
                }
                self.write_op(&path, |session, path| {
                    session.request(
                        Request::Metadata { path: path.clone() },
                        Purpose::RenameFrom { path },
                    )
                })
            }
            Command::Rnto(path) => match self.rename_from.take() {
                None => self.reply(ReplyCode::BAD_SEQUENCE_OF_COMMANDS, "RNFR required first."),
                Some(from) => self.write_op(&path, |session, to| {
                    session.request(
                        Request::Rename { from, to },
                        Purpose::Done {
                            code: ReplyCode::FILE_ACTION_OKAY,
                            text: "Rename successful.".to_owned(),
                        },
                    )
                }),
            },
            Command::Mfmt { modified, path } => {
                if !self.config.capabilities.set_modified {
                    return self.not_supported("MFMT");
                }
                let mut time = Vec::new();
                crate::time::write_timestamp(modified, &mut time);
                let text = format!(
                    "Modify={}; {}",
                    String::from_utf8_lossy(&time),
                    path.to_string_lossy()
                );
                self.write_op(&path, |session, path| {
                    session.request(
                        Request::SetModified { path, modified },
                        Purpose::SetModified { text },
                    )
                })
            }
            Command::Site(command) if self.config.enable_site => {
                self.request(Request::Site { command }, Purpose::Site)
            }
            Command::Site(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "No SITE commands are supported.",
            ),
            Command::Rest(offset) => self.restart(offset),
            Command::Pasv => self.passive(false, None),
            Command::Epsv(ExtendedPassive::All) => {
                self.epsv_all = true;
                self.reply(ReplyCode::COMMAND_OKAY, "EPSV ALL ok.");
            }
            Command::Epsv(ExtendedPassive::Any) => self.passive(true, None),
            Command::Epsv(ExtendedPassive::Protocol(protocol)) => {
                self.passive(true, Some(protocol))
            }
            Command::Port(address) => self.active(SocketAddr::V4(address)),
            Command::Eprt(address) => self.active(address),
            Command::Retr(path) => self.open_transfer(
                &path,
                Direction::Send,
                TransferContentKind::File {
                    unique: false,
                    append: false,
                },
            ),
            Command::Stor(path) => self.open_transfer(
                &path,
                Direction::Receive,
                TransferContentKind::File {
                    unique: false,
                    append: false,
                },
            ),
            Command::Appe(path) => {
                if !self.config.capabilities.append {
                    return self.not_supported("APPE");
                }
                self.restart_offset = 0;
                self.open_transfer(
                    &path,
                    Direction::Receive,
                    TransferContentKind::File {
                        unique: false,
                        append: true,
                    },
                )
            }
            Command::Stou(name) => {
                let name = name.unwrap_or_else(|| Pathname::from("upload"));
                self.open_transfer(
                    &name,
                    Direction::Receive,
                    TransferContentKind::File {
                        unique: true,
                        append: false,
                    },
                )
            }
            Command::List(argument) => self.listing(argument, ListingFormat::Unix),
            Command::Nlst(argument) => self.listing(argument, ListingFormat::Names),
            Command::Mlsd(argument) => {
                let format = ListingFormat::Machine {
                    facts: self.mlst_facts,
                    writable: self.is_writable(),
                    capabilities: self.config.capabilities,
                };
                self.listing(argument, format)
            }
            Command::Abor => self.abort(),
            Command::Auth(mechanism) => self.auth(mechanism),
            Command::Pbsz(_) => {
                if self.control_tls != ControlTls::Secure {
                    self.reply(
                        ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                        "PBSZ needs AUTH first.",
                    );
                } else {
                    self.protection_buffer_set = true;
                    self.reply(ReplyCode::COMMAND_OKAY, "PBSZ=0");
                }
            }
            Command::Prot(level) => self.protection(level),
            Command::Ccc => self.reply(
                ReplyCode::REQUEST_DENIED_FOR_POLICY,
                "CCC refused: the control connection stays protected.",
            ),
            Command::Adat(_) | Command::Mic(_) | Command::Conf(_) | Command::Enc(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "Only AUTH TLS is supported.",
            ),
            Command::Smnt(_) => self.not_supported("SMNT"),
            Command::Lang(_) => self.not_supported("LANG"),
            Command::Hash(_) => self.not_supported("HASH"),
            Command::Unknown { verb, .. } => self.reply(
                ReplyCode::SYNTAX_ERROR,
                format!("Unknown command {}.", printable(verb.as_bytes())),
            ),
        }
    }
}

/// Which commands a client may send before logging in.
pub(super) fn allowed_before_login(command: &Command<'_>) -> bool {
    matches!(
        command,
        Command::User(_)
            | Command::Pass(_)
            | Command::Acct(_)
            | Command::Host(_)
            | Command::Auth(_)
            | Command::Adat(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Ccc
            | Command::Feat
            | Command::Opts(_)
            | Command::Help(_)
            | Command::Syst
            | Command::Noop
            | Command::Quit
            | Command::Rein
            | Command::Clnt(_)
            | Command::Lang(_)
            | Command::Stat(None)
            | Command::Unknown { .. }
    )
}

/// At most 32 bytes of peer input, escaped, for echoing in a reply.
pub(super) fn printable(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(32)];
    shown.escape_ascii().to_string()
}
