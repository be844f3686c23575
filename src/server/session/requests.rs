//! Requests to the application (storage and authentication): numbering, the storage
//! deadline, and turning each [`Response`] into replies; the path and write-permission
//! checks commands run before asking.

use super::{Login, Pending, Purpose, Session};
use crate::reply::{Reply, ReplyCode};
use crate::server::events::{
    Action, Event, FileKind, MoreEntries, Output, Request, RequestId, Response,
};
use crate::server::format;
use crate::server::path::{PathError, VirtualPath};
use crate::text::{Pathname, Text};

impl Session {
    pub(super) fn next_number(&mut self) -> u64 {
        let number = self.next_id;
        self.next_id += 1;
        number
    }

    pub(super) fn request(&mut self, request: Request, purpose: Purpose) {
        let id = RequestId::new(self.next_number());
        self.pending = Some(Pending::Request {
            id,
            purpose,
            deadline: self.now + self.config.storage_timeout,
        });
        self.push(Output::Request { id, request });
    }

    /// Drops the request being waited for, telling the adapter.
    pub(super) fn cancel_request(&mut self) {
        if let Some(Pending::Request { id, .. }) = self.pending.take() {
            self.push(Output::Action(Action::CancelRequest { id }));
        }
    }

    /// The application did not answer in time: the command fails (a login as a failed
    /// login), and a late answer is ignored.
    pub(super) fn storage_timed_out(&mut self) {
        let Some(Pending::Request { id, purpose, .. }) = self.pending.take() else {
            return;
        };
        self.push(Output::Action(Action::CancelRequest { id }));
        self.restart_idle_timer();
        match purpose {
            Purpose::Login { user } => self.login_failed(user),
            _ => self.reply(
                ReplyCode::LOCAL_ERROR,
                "The storage did not answer in time.",
            ),
        }
    }

    pub(super) fn answer(&mut self, id: RequestId, purpose: Purpose, response: Response) {
        if let Response::Failed(error) = &response {
            if let Purpose::Login { user } = purpose {
                return self.login_failed(user);
            }
            let code = error.reply_code();
            let text = format!("{error}.");
            return self.reply(code, text);
        }
        match (purpose, response) {
            (Purpose::Login { user }, Response::LoggedIn { writable }) => {
                self.login = Login::LoggedIn { writable };
                self.login_deadline = None;
                self.push(Output::Event(Event::LoggedIn { user }));
                self.reply(ReplyCode::LOGGED_IN, "Login successful.");
            }
            (Purpose::Login { user }, _) => self.login_failed(user),
            (Purpose::Host, Response::Done) => {
                self.reply(ReplyCode::SERVICE_READY, "Host accepted.")
            }
            (Purpose::ChangeDirectory { path }, Response::Metadata(metadata)) => {
                if metadata.kind == FileKind::Directory {
                    self.cwd = path;
                    self.reply(
                        ReplyCode::FILE_ACTION_OKAY,
                        "Directory successfully changed.",
                    );
                } else {
                    self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a directory.");
                }
            }
            (Purpose::Size, Response::Metadata(metadata)) => match metadata.kind {
                FileKind::File => self.reply(ReplyCode::FILE_STATUS, metadata.size.to_string()),
                _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a regular file."),
            },
            (Purpose::ModificationTime, Response::Metadata(metadata)) => {
                let mut time = Vec::new();
                match metadata.modified {
                    Some(modified) if crate::time::write_timestamp(modified, &mut time) => {
                        self.reply(ReplyCode::FILE_STATUS, Text::from(time))
                    }
                    _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Modification time unknown."),
                }
            }
            (Purpose::MachineListing { path }, Response::Metadata(metadata)) => {
                let entry = format::mlst_reply_line(
                    path.as_bytes(),
                    &metadata,
                    self.mlst_facts,
                    self.is_writable(),
                    self.config.capabilities,
                );
                let mut text = format!("Listing {path}").into_bytes();
                text.push(b'\n');
                text.extend_from_slice(&entry);
                text.extend_from_slice(b"\nEnd");
                self.reply(ReplyCode::FILE_ACTION_OKAY, Text::from(text));
            }
            (Purpose::ControlListing { path }, Response::Entries { entries, now, more }) => {
                let limit = self.config.max_control_listing_entries;
                // The reply waits in the output for a client that may not read it: a
                // bound in bytes as well as in entries keeps a session within about
                // `max_pending_output` however long its names are.
                let byte_limit = self.config.max_pending_output / 4;
                let mut text = format!("Status of {path}:").into_bytes();
                let mut shown = 0;
                for (name, metadata) in entries.iter().take(limit) {
                    if text.len() >= byte_limit {
                        break;
                    }
                    text.push(b'\n');
                    text.extend_from_slice(&format::unix_reply_line(
                        name.as_bytes(),
                        metadata,
                        now,
                    ));
                    shown += 1;
                }
                // Entries left out: those received and not shown (over a bound), and
                // those the back end did not send. A number only when it is known.
                let cut = (entries.len() - shown) as u64;
                let left_out = match more {
                    MoreEntries::None => (cut > 0).then_some(Some(cut)),
                    MoreEntries::Count(count) => {
                        let count = cut.saturating_add(count);
                        (count > 0).then_some(Some(count))
                    }
                    MoreEntries::Unknown => Some(None),
                };
                match left_out {
                    Some(Some(1)) => {
                        text.extend_from_slice(b"\n(1 more entry not shown; use MLSD or LIST)")
                    }
                    Some(Some(count)) => text.extend_from_slice(
                        format!("\n({count} more entries not shown; use MLSD or LIST)").as_bytes(),
                    ),
                    Some(None) => {
                        text.extend_from_slice(b"\n(more entries not shown; use MLSD or LIST)")
                    }
                    None => {}
                }
                text.extend_from_slice(b"\nEnd of status");
                self.reply(ReplyCode::FILE_STATUS, Text::from(text));
            }
            (Purpose::RenameFrom { .. }, Response::Metadata(metadata))
                if metadata.kind == FileKind::Directory
                    && !self.config.capabilities.rename_directories =>
            {
                // Refused at RNFR, not RNTO: the client learns it before it names a target.
                self.reply(
                    ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                    "Renaming directories is not supported by this server.",
                );
            }
            (Purpose::RenameFrom { path }, Response::Metadata(_)) => {
                self.rename_from = Some(path);
                self.reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO.");
            }
            (Purpose::Done { code, text }, Response::Done) => self.reply(code, text),
            (Purpose::MakeDirectory { path }, Response::Done) => {
                let reply =
                    Reply::with_path(ReplyCode::PATHNAME_CREATED, &path.to_pathname(), "created");
                self.send(&reply);
            }
            (Purpose::SetModified { text }, Response::Done) => {
                self.reply(ReplyCode::FILE_STATUS, text)
            }
            (Purpose::Site, Response::Reply(reply)) => self.send(&reply),
            (
                Purpose::OpenTransfer { direction, content },
                Response::Opened { size, unique_name },
            ) => self.start_transfer(id, direction, content, size, unique_name),
            (_, response) => self.reply(
                ReplyCode::LOCAL_ERROR,
                format!(
                    "Internal error: unexpected answer {}.",
                    response_name(&response)
                ),
            ),
        }
    }

    pub(super) fn with_path(
        &mut self,
        path: &Pathname<'_>,
        then: impl FnOnce(&mut Self, VirtualPath),
    ) {
        match self.cwd.join(path) {
            Ok(path) => then(self, path),
            Err(PathError::Nul) => {
                self.reply(ReplyCode::FILE_NAME_NOT_ALLOWED, "File name not allowed.")
            }
        }
    }

    pub(super) fn is_writable(&self) -> bool {
        self.config.capabilities.write && matches!(self.login, Login::LoggedIn { writable: true })
    }

    pub(super) fn may_write(&mut self) -> bool {
        let writable = matches!(self.login, Login::LoggedIn { writable: true });
        if !self.config.capabilities.write || !writable {
            self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
            return false;
        }
        true
    }

    pub(super) fn write_op(
        &mut self,
        path: &Pathname<'_>,
        then: impl FnOnce(&mut Self, VirtualPath),
    ) {
        if self.may_write() {
            self.with_path(path, then);
        }
    }

    pub(super) fn not_supported(&mut self, what: &str) {
        self.reply(
            ReplyCode::COMMAND_NOT_IMPLEMENTED,
            format!("{what} is not supported by this server."),
        );
    }
}

pub(super) fn response_name(response: &Response) -> &'static str {
    match response {
        Response::LoggedIn { .. } => "LoggedIn",
        Response::LoginDenied => "LoginDenied",
        Response::Done => "Done",
        Response::Metadata(_) => "Metadata",
        Response::Entries { .. } => "Entries",
        Response::Opened { .. } => "Opened",
        Response::Reply(_) => "Reply",
        Response::Failed(_) => "Failed",
    }
}
