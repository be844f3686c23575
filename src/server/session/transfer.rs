//! Transfers on a data connection: REST, listings, RETR/STOR/APPE/STOU, when a waiting
//! transfer starts, its progress sampling, failures and ABOR.

use super::{DataChannel, Purpose, RunningTransfer, Session, Stage, TransferContentKind};
use crate::reply::ReplyCode;
use crate::server::events::{
    Action, Direction, Event, ListingFormat, Output, Request, RequestId, StorageError, Transfer,
    TransferContent, WriteMode,
};
use crate::server::path::{PathError, VirtualPath};
use crate::text::Pathname;

impl Session {
    pub(super) fn restart(&mut self, offset: u64) {
        if offset > 0 && !self.config.capabilities.read_at_offset {
            return self.not_supported("REST");
        }
        // No file can be longer: a file offset is a signed 64-bit number everywhere.
        if offset > i64::MAX as u64 {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                format!("Restart offset {offset} is beyond any file's end."),
            );
        }
        self.restart_offset = offset;
        self.reply(
            ReplyCode::FILE_ACTION_PENDING,
            format!("Restarting at {offset}. Send STOR or RETR."),
        );
    }

    pub(super) fn listing(&mut self, argument: Option<Pathname<'static>>, format: ListingFormat) {
        // `ls`-style options (`LIST -la dir`) are accepted and ignored, as vsftpd does.
        let mut path = argument.unwrap_or_default();
        if path.as_bytes().first() == Some(&b'-') {
            let mut bytes = path.as_bytes();
            while bytes.first() == Some(&b'-') {
                let end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
                bytes = bytes.get(end + 1..).unwrap_or_default();
            }
            path = Pathname::from(bytes.to_vec());
        }
        self.open_transfer(&path, Direction::Send, TransferContentKind::Listing(format));
    }

    pub(super) fn open_transfer(
        &mut self,
        path: &Pathname<'_>,
        direction: Direction,
        content: TransferContentKind,
    ) {
        let offset = std::mem::take(&mut self.restart_offset);
        if direction == Direction::Receive && !self.may_write() {
            return;
        }
        if self.data == DataChannel::None {
            return self.reply(
                ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                "Use PORT, EPRT, PASV or EPSV first.",
            );
        }
        if self.config.enable_tls && self.config.require_tls_for_data && !self.protect_data {
            return self.reply(
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                "Data connections must be protected: use PBSZ 0 and PROT P.",
            );
        }
        let path = match self.cwd.join(path) {
            Ok(path) => path,
            Err(PathError::Nul) => {
                return self.reply(ReplyCode::FILE_NAME_NOT_ALLOWED, "File name not allowed.");
            }
        };
        let request = match (&content, direction) {
            (TransferContentKind::Listing(format), _) => Request::OpenListing {
                path,
                format: format.clone(),
            },
            (TransferContentKind::File { .. }, Direction::Send) => {
                Request::OpenRead { path, offset }
            }
            (TransferContentKind::File { unique, append }, Direction::Receive) => {
                let mode = if *unique {
                    WriteMode::Unique
                } else if *append {
                    WriteMode::Append
                } else if offset > 0 {
                    if !self.config.capabilities.write_at_offset {
                        return self.not_supported("REST before STOR");
                    }
                    WriteMode::At(offset)
                } else {
                    WriteMode::Create
                };
                Request::OpenWrite { path, mode }
            }
        };
        self.request(request, Purpose::OpenTransfer { direction, content });
    }

    pub(super) fn start_transfer(
        &mut self,
        id: RequestId,
        direction: Direction,
        content: TransferContentKind,
        size: Option<u64>,
        unique_name: Option<VirtualPath>,
    ) {
        let connected = match self.data {
            DataChannel::None => {
                // A file or listing was opened for nothing: the adapter lets it go.
                self.push(Output::Action(Action::AbortTransfer { id }));
                return self.reply(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "Use PORT, EPRT, PASV or EPSV first.",
                );
            }
            DataChannel::Passive { connected, .. } => connected,
            DataChannel::Active { .. } => false,
        };
        let code = if connected {
            ReplyCode::DATA_CONNECTION_ALREADY_OPEN
        } else {
            ReplyCode::FILE_STATUS_OKAY
        };
        let mut text = match (&content, &unique_name) {
            // RFC 1123 §4.1.2.9: the bare name, which clients read to the line's end.
            (
                TransferContentKind::File {
                    unique: true,
                    append: false,
                },
                Some(name),
            ) => {
                self.reply(code, format!("FILE: {name}"));
                return self.begin_transfer(id, direction, content, connected);
            }
            (TransferContentKind::Listing(_), _) => "Here comes the directory listing".to_owned(),
            _ => format!(
                "Opening {} mode data connection",
                if self.ascii { "ASCII" } else { "BINARY" }
            ),
        };
        if let Some(size) = size {
            text.push_str(&format!(" ({size} bytes)"));
        }
        text.push('.');
        self.reply(code, text);
        self.begin_transfer(id, direction, content, connected);
    }

    /// Readies the transfer once its 1yz reply is out: it starts when its data
    /// connection is up (at once for a passive connection made already).
    pub(super) fn begin_transfer(
        &mut self,
        id: RequestId,
        direction: Direction,
        content: TransferContentKind,
        connected: bool,
    ) {
        let (content, ascii) = match content {
            TransferContentKind::File { .. } => (TransferContent::File, self.ascii),
            // Listings are written with CRLF already.
            TransferContentKind::Listing(format) => (TransferContent::Listing(format), false),
        };
        self.transfer = Some(Box::new(RunningTransfer {
            id,
            bytes: 0,
            stage: Stage::Connecting,
            deadline: self.now + self.config.data_connection_timeout,
            sample_at: self.now,
            start: Some(Transfer {
                id,
                direction,
                content,
                ascii,
                tls: self.protect_data,
            }),
        }));
        if connected {
            self.data_ready();
        } else if let DataChannel::Active { address } = self.data {
            // Connected only now that the transfer is ready, so that the connection
            // never waits on the storage.
            self.push(Output::Action(Action::ConnectActive { id, address }));
        }
    }

    /// Whether the transfer `id` is the current one, at this stage.
    pub(super) fn transfer_in(&self, id: RequestId, stage: Stage) -> bool {
        self.transfer
            .as_ref()
            .is_some_and(|t| t.id == id && t.stage == stage)
    }

    /// The data connection of the current transfer is up and checked: secure it under
    /// PROT P, or start the transfer.
    pub(super) fn data_ready(&mut self) {
        let protect = self.protect_data;
        let tls_timeout = self.config.data_tls_timeout;
        let now = self.now;
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        if protect {
            transfer.stage = Stage::Securing;
            transfer.deadline = now + tls_timeout;
            let id = transfer.id;
            self.push(Output::Action(Action::SecureData { id }));
        } else {
            self.launch_transfer();
        }
    }

    /// Hands the current transfer to the adapter: its data connection is ready.
    pub(super) fn launch_transfer(&mut self) {
        let now = self.now;
        let data_timeout = self.config.data_timeout;
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        let Some(start) = transfer.start.take() else {
            return;
        };
        transfer.stage = Stage::Running;
        transfer.deadline = now + data_timeout;
        transfer.sample_at = now + sample_interval(data_timeout);
        self.push(Output::Action(Action::StartTransfer(start)));
    }

    /// Ends the current transfer with this reply, telling the adapter to let go of it.
    pub(super) fn fail_transfer(&mut self, code: ReplyCode, text: &str) {
        let Some(transfer) = self.transfer.take() else {
            return;
        };
        self.push(Output::Action(Action::AbortTransfer { id: transfer.id }));
        self.close_data();
        self.push(Output::Event(Event::TransferEnded {
            id: transfer.id,
            bytes: transfer.bytes,
            completed: false,
        }));
        self.reply(code, text);
        self.after_transfer();
    }

    pub(super) fn abort(&mut self) {
        match self.transfer.take() {
            Some(transfer) => {
                self.push(Output::Action(Action::AbortTransfer { id: transfer.id }));
                self.close_data();
                self.push(Output::Event(Event::TransferEnded {
                    id: transfer.id,
                    bytes: transfer.bytes,
                    completed: false,
                }));
                self.reply(
                    ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                    "Transfer aborted.",
                );
                self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "ABOR successful.");
                self.after_transfer();
            }
            None => {
                self.close_data();
                self.reply(ReplyCode::DATA_CONNECTION_OPEN, "No transfer to abort.");
            }
        }
    }

    /// Forgets the running transfer and its data connection (stream mode closes the data
    /// connection after every transfer; the adapter's copy closed it).
    pub(super) fn end_transfer(&mut self) {
        self.transfer = None;
        self.data = DataChannel::None;
    }

    pub(super) fn restart_idle_timer(&mut self) {
        self.idle_deadline = self.now + self.config.idle_timeout;
    }

    pub(super) fn after_transfer(&mut self) {
        self.restart_idle_timer();
        if let Some((code, text, reason)) = self.close_after_transfer.take() {
            self.close_with(code, text, reason);
        }
    }
}

/// How often a running transfer's progress is sampled: an eighth of the stall
/// deadline, so that a stall is noticed at most that late (and never in a busy loop).
pub(super) fn sample_interval(data_timeout: std::time::Duration) -> std::time::Duration {
    (data_timeout / 8).max(std::time::Duration::from_millis(1))
}

/// A storage error during a transfer: a full disk or quota keeps its code, anything
/// else is a local error (451).
pub(super) fn storage_code_mid_transfer(error: &StorageError) -> ReplyCode {
    match error {
        StorageError::InsufficientStorage | StorageError::QuotaExceeded => error.reply_code(),
        _ => ReplyCode::LOCAL_ERROR,
    }
}
