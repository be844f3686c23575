//! The ordered output queue: replies, transmits and closing, with the pending-output
//! bound that pauses command processing while the client does not read.

use bytes::BytesMut;

use super::Session;
use crate::reply::{Reply, ReplyCode};
use crate::server::events::{Action, CloseReason, Event, Output};
use crate::text::Text;

impl Session {
    pub(super) fn close_with(&mut self, code: ReplyCode, text: &str, reason: CloseReason) {
        self.reply(code, text);
        self.close_silently(reason);
    }

    /// Ends the session without a last reply: lets go of a transfer and a request,
    /// says why, and closes.
    pub(super) fn close_silently(&mut self, reason: CloseReason) {
        if let Some(transfer) = self.transfer.take() {
            self.push(Output::Action(Action::AbortTransfer { id: transfer.id }));
        }
        self.cancel_request();
        self.closed = true;
        self.push(Output::Event(Event::Closed { reason }));
        self.push(Output::Action(Action::Close));
    }

    /// Queues an output after the replies written so far.
    pub(super) fn push(&mut self, output: Output) {
        if !self.output.is_empty() {
            let bytes = self.cut_output();
            self.queued_bytes += bytes.len();
            self.outputs.push_back(Output::Transmit(bytes));
        }
        self.outputs.push_back(output);
    }

    /// The reply bytes written so far, as one transmit.
    pub(super) fn cut_output(&mut self) -> bytes::Bytes {
        let bytes = self.output.split().freeze();
        // The rest of the buffer would keep the whole allocation alive (it is shared
        // with `bytes`) for as long as the session idles: start afresh instead.
        self.output = BytesMut::new();
        bytes
    }

    /// Output that piled up may have held commands back: run them now that some left.
    pub(super) fn resume_after_output(&mut self) {
        if !self.closed && !self.input.is_empty() {
            self.process_input();
        }
    }

    /// Reply bytes not yet taken by the adapter.
    pub(super) fn pending_output(&self) -> usize {
        self.output.len() + self.queued_bytes
    }

    pub(super) fn reply<'t>(&mut self, code: ReplyCode, text: impl Into<Text<'t>>) {
        Reply::new(code, text).encode(&mut self.output);
    }

    pub(super) fn send(&mut self, reply: &Reply<'_>) {
        reply.encode(&mut self.output);
    }
}
