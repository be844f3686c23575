//! TLS on the control and data connections: AUTH, PBSZ and PROT.

use super::{ControlTls, Pending, Session};
use crate::command::{AuthMechanism, ProtectionLevel};
use crate::reply::ReplyCode;
use crate::server::events::{Action, Output};

impl Session {
    pub(super) fn auth(&mut self, mechanism: AuthMechanism<'static>) {
        if !self.config.enable_tls {
            return self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "TLS is not configured.");
        }
        if !matches!(mechanism, AuthMechanism::Tls | AuthMechanism::Ssl) {
            return self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only AUTH TLS is supported.",
            );
        }
        if self.control_tls == ControlTls::Secure {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "TLS is already active.",
            );
        }
        self.reply(
            ReplyCode::SECURITY_DATA_EXCHANGE_COMPLETE,
            "Proceed with negotiation.",
        );
        // Anything the client pipelined after AUTH in plain text could have been injected
        // by a man in the middle: it is dropped, never run under TLS (the STARTTLS
        // command injection class). `process_input` drops it once this command is done.
        self.drop_pipelined_input = true;
        self.pending = Some(Pending::ControlTlsHandshake {
            until: self.now + self.config.control_tls_timeout,
        });
        self.push(Output::Action(Action::StartControlTls));
    }

    pub(super) fn protection(&mut self, level: ProtectionLevel) {
        if !self.protection_buffer_set {
            return self.reply(ReplyCode::BAD_SEQUENCE_OF_COMMANDS, "PBSZ required first.");
        }
        match level {
            ProtectionLevel::Clear => {
                self.protect_data = false;
                self.reply(ReplyCode::COMMAND_OKAY, "PROT now Clear.");
            }
            ProtectionLevel::Private => {
                self.protect_data = true;
                self.reply(ReplyCode::COMMAND_OKAY, "PROT now Private.");
            }
            ProtectionLevel::Safe | ProtectionLevel::Confidential => self.reply(
                ReplyCode::PROTECTION_LEVEL_NOT_SUPPORTED,
                "Only PROT C and P are supported.",
            ),
        }
    }
}
