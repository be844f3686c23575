//! Informational commands and transfer settings that need no storage: FEAT, HELP,
//! OPTS, STAT without a path, TYPE.

use super::Session;
use crate::command::{CommandOptions, FormatControl, RepresentationType};
use crate::listing::FactSet;
use crate::reply::{Reply, ReplyCode};
use crate::server::format::SUPPORTED_FACTS;
use crate::text::Text;

impl Session {
    pub(super) fn feat(&mut self) {
        let capabilities = self.config.capabilities;
        let mut lines: Vec<String> = vec!["Features:".to_owned()];
        if self.config.enable_tls {
            lines.push(" AUTH TLS".to_owned());
            lines.push(" PBSZ".to_owned());
            lines.push(" PROT".to_owned());
        }
        if self.config.enable_active_mode {
            lines.push(" EPRT".to_owned());
        }
        lines.push(" EPSV".to_owned());
        lines.push(" HOST".to_owned());
        lines.push(" MDTM".to_owned());
        if capabilities.set_modified && capabilities.write {
            lines.push(" MFMT".to_owned());
        }
        let mut mlst = b" MLST ".to_vec();
        SUPPORTED_FACTS.write_feat(self.mlst_facts, &mut mlst);
        lines.push(String::from_utf8_lossy(&mlst).into_owned());
        lines.push(" PASV".to_owned());
        if capabilities.read_at_offset {
            lines.push(" REST STREAM".to_owned());
        }
        lines.push(" SIZE".to_owned());
        lines.push(" TVFS".to_owned());
        lines.push(" UTF8".to_owned());
        lines.push("End".to_owned());
        self.send(&Reply::from_lines(ReplyCode::SYSTEM_STATUS, lines));
    }

    pub(super) fn help(&mut self) {
        let verbs: Vec<&str> = crate::verb::Verb::ALL
            .iter()
            .map(|verb| verb.as_str())
            .collect();
        let mut lines = vec!["The following commands are recognized:".to_owned()];
        for chunk in verbs.chunks(10) {
            lines.push(format!(" {}", chunk.join(" ")));
        }
        lines.push("Help OK.".to_owned());
        self.send(&Reply::from_lines(ReplyCode::HELP_MESSAGE, lines));
    }

    pub(super) fn opts(&mut self, options: CommandOptions<'static>) {
        if options.is_utf8_on() {
            return self.reply(ReplyCode::COMMAND_OKAY, "UTF8 mode is always on.");
        }
        if !options.command.as_bytes().eq_ignore_ascii_case(b"MLST") {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                "Option not understood.",
            );
        }
        let requested = options
            .options
            .as_ref()
            .map(Text::as_bytes)
            .unwrap_or_default();
        self.mlst_facts = FactSet::parse_opts(requested).intersection(SUPPORTED_FACTS);
        let mut text = b"MLST OPTS ".to_vec();
        self.mlst_facts.write_list(&mut text);
        self.reply(ReplyCode::COMMAND_OKAY, Text::from(text));
    }

    pub(super) fn status(&mut self) {
        let mut lines = vec!["ftp-proto status:".to_owned()];
        lines.push(format!(" Connected to {}", self.control_peer.ip()));
        lines.push(format!(
            " TYPE: {}",
            if self.ascii { "ASCII" } else { "BINARY" }
        ));
        if let Some(transfer) = &self.transfer {
            lines.push(format!(
                " Transfer in progress: {} bytes so far",
                transfer.bytes
            ));
        }
        lines.push("End of status".to_owned());
        self.send(&Reply::from_lines(ReplyCode::SYSTEM_STATUS, lines));
    }

    pub(super) fn representation_type(&mut self, kind: RepresentationType) {
        match kind {
            RepresentationType::Ascii(FormatControl::NonPrint) => {
                self.ascii = true;
                self.reply(ReplyCode::COMMAND_OKAY, "Switching to ASCII mode.");
            }
            RepresentationType::Image | RepresentationType::Local(8) => {
                self.ascii = false;
                self.reply(ReplyCode::COMMAND_OKAY, "Switching to Binary mode.");
            }
            _ => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only TYPE A, I and L 8 are supported.",
            ),
        }
    }
}
