//! `Core`, the client session's shared state: configuration, the commands in flight,
//! session-wide facts (features, TLS state) and the one ordered
//! output queue they all write to. Operations and the session both depend on it; it
//! depends on neither.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::config::Config;
use super::error::Error;
use super::event::{Action, Event, Features, Output};
use super::id::{OperationId, OperationKind};
use crate::command::{Command, RepresentationType};
use crate::parse::ReplyParser;
use crate::verb::Verb;

/// The session state operations read and change, apart from the operations themselves
/// (so that an operation can borrow it while the session holds the operation).
#[derive(Debug)]
pub(super) struct Core {
    pub(super) config: Config,
    /// The control connection's peer: where passive data connections go by default.
    pub(super) peer: SocketAddr,
    pub(super) parser: ReplyParser,
    /// Control bytes not yet consumed by the parser: at most one partial reply, which the
    /// parser's line and line-count bounds cap.
    pub(super) input: Vec<u8>,
    /// Command bytes written since the last action or event; they become one
    /// [`Output::Transmit`] before the next action or event is queued, so that the
    /// queue keeps the order in which things happened.
    output: Vec<u8>,
    /// Everything the adapter and the application have still to take, in order.
    outputs: VecDeque<Output>,
    /// How many `Transmit` outputs were made, and how many taken: they name the
    /// transmit the urgent byte belongs to.
    transmits_made: u64,
    transmits_taken: u64,
    /// Commands sent and not yet answered, oldest first. Replies are matched to them in
    /// order; an entry outlives its operation if the operation ended early, so that the
    /// reply it still gets is not taken for another command's.
    pub(super) in_flight: VecDeque<InFlight>,
    pub(super) next_id: u64,
    pub(super) features: Option<Features>,
    pub(super) extended_passive_refused: bool,
    pub(super) control_tls: bool,
    /// 234 arrived; nothing may be read or sent in clear until the handshake is done.
    pub(super) awaiting_control_tls: bool,
    pub(super) data_protected: bool,
    pub(super) logged_in: bool,
    pub(super) current_type: Option<RepresentationType>,
    /// The byte to send as TCP urgent data (the Telnet DM of an `ABOR`), if any: which
    /// transmit it is in (by number) and its offset there.
    urgent: Option<(u64, usize)>,
    /// The urgent offset in the transmit [`Core::poll_output`] returned last.
    last_urgent: Option<usize>,
    /// Set once the session is over; every later call reports it.
    pub(super) ended: Option<Error>,
}

#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) id: OperationId,
    pub(super) operation: OperationKind,
    /// The verb sent; `None` for the greeting, which answers no command.
    pub(super) verb: Option<Verb>,
    /// `None` while a transfer moves data: a large file takes as long as it takes.
    pub(super) deadline: Option<Instant>,
}

impl Core {
    /// A core for a control connection to `peer`, nothing sent yet.
    pub(super) fn new(config: Config, peer: SocketAddr) -> Core {
        let parser = ReplyParser::with_limits(config.max_reply_line_length, config.max_reply_lines);
        let control_tls = config.implicit_tls;
        Core {
            config,
            peer,
            parser,
            input: Vec::new(),
            output: Vec::new(),
            outputs: VecDeque::new(),
            transmits_made: 0,
            transmits_taken: 0,
            in_flight: VecDeque::new(),
            next_id: 1,
            features: None,
            extended_passive_refused: false,
            control_tls,
            awaiting_control_tls: false,
            data_protected: false,
            logged_in: false,
            current_type: None,
            urgent: None,
            last_urgent: None,
            ended: None,
        }
    }

    /// Queues an action after the bytes written before it.
    pub(super) fn push_action(&mut self, action: Action) {
        self.flush_bytes();
        self.outputs.push_back(Output::Action(action));
    }

    /// Queues an event after the bytes written before it.
    pub(super) fn push_event(&mut self, event: Event) {
        self.flush_bytes();
        self.outputs.push_back(Output::Event(event));
    }

    /// Turns the bytes written so far into one transmit.
    fn flush_bytes(&mut self) {
        if !self.output.is_empty() {
            let bytes = Bytes::from(std::mem::take(&mut self.output));
            self.outputs.push_back(Output::Transmit(bytes));
            self.transmits_made += 1;
        }
    }

    /// The next output, oldest first.
    pub(super) fn poll_output(&mut self) -> Option<Output> {
        self.last_urgent = None;
        if self.outputs.is_empty() {
            self.flush_bytes();
        }
        let output = self.outputs.pop_front()?;
        if let Output::Transmit(_) = output {
            let number = self.transmits_taken;
            self.transmits_taken += 1;
            if let Some((_, offset)) = self.urgent.take_if(|(which, _)| *which == number) {
                self.last_urgent = Some(offset);
            }
        }
        Some(output)
    }

    /// The urgent byte's offset in the transmit returned last.
    pub(super) fn urgent_offset(&self) -> Option<usize> {
        self.last_urgent
    }

    /// Command bytes not yet taken, for the pending-output bound.
    pub(super) fn pending_output(&self) -> usize {
        let queued: usize = self
            .outputs
            .iter()
            .map(|output| match output {
                Output::Transmit(bytes) => bytes.len(),
                _ => 0,
            })
            .sum();
        queued + self.output.len()
    }

    /// Drops every byte not yet taken: the session is over and the connection closes.
    pub(super) fn drop_pending_output(&mut self) {
        self.output.clear();
        self.outputs
            .retain(|output| !matches!(output, Output::Transmit(_)));
        self.urgent = None;
    }

    /// Writes a command and records that a reply is owed.
    pub(super) fn send(
        &mut self,
        id: OperationId,
        operation: OperationKind,
        command: &Command<'_>,
        now: Instant,
    ) {
        // Arguments from the user were encoded once when the operation was accepted, and
        // the session's own commands are typed: encoding cannot fail here.
        let encoded = command.encode_with(&mut self.output, self.config.iac_escaping);
        debug_assert!(encoded.is_ok(), "validated command failed to encode");
        if encoded.is_ok() {
            self.expect_reply(id, operation, command.verb(), now);
        }
    }

    /// Sends `ABOR`: plain, or with the Telnet IP and Synch before it as RFC 959 §4.1.3
    /// asks ([`Config::telnet_synch_abort`]), the DM byte marked as urgent data. Over TLS
    /// urgent data cannot be protected, so then every byte travels in the stream.
    pub(super) fn send_abort(&mut self, id: OperationId, operation: OperationKind, now: Instant) {
        const IAC: u8 = 0xFF;
        const IP: u8 = 0xF4;
        const DM: u8 = 0xF2;
        if self.config.telnet_synch_abort {
            self.output.extend_from_slice(&[IAC, IP, IAC]);
            if !self.control_tls {
                self.urgent = Some((self.transmits_made, self.output.len()));
            }
            self.output.push(DM);
        }
        self.send(id, operation, &Command::Abor, now);
    }

    pub(super) fn expect_reply(
        &mut self,
        id: OperationId,
        operation: OperationKind,
        verb: Option<Verb>,
        now: Instant,
    ) {
        self.in_flight.push_back(InFlight {
            id,
            operation,
            verb,
            deadline: Some(now + self.config.reply_timeout),
        });
    }

    pub(super) fn has_in_flight(&self, id: OperationId) -> bool {
        self.in_flight.iter().any(|entry| entry.id == id)
    }

    pub(super) fn forget_in_flight(&mut self, id: OperationId, verb: Verb) {
        if let Some(index) = self
            .in_flight
            .iter()
            .position(|entry| entry.id == id && entry.verb == Some(verb))
        {
            self.in_flight.remove(index);
        }
    }

    /// The data connection ended: the final reply is due, so its deadline runs again.
    pub(super) fn restart_reply_deadline(&mut self, id: OperationId, now: Instant) {
        let deadline = now + self.config.reply_timeout;
        for entry in &mut self.in_flight {
            if entry.id == id && entry.deadline.is_none() {
                entry.deadline = Some(deadline);
            }
        }
    }
}
