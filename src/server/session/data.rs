//! The data plane's connections: PASV/EPSV listeners, PORT/EPRT connects, which peer
//! may connect (the port-stealing defence) and closing a data channel.

use std::net::{IpAddr, SocketAddr};

use super::{DataChannel, Pending, Session, Stage};
use crate::command::NetworkProtocol;
use crate::reply::ReplyCode;
use crate::server::events::{Action, AddressFamily, ChannelId, Output};

impl Session {
    pub(super) fn passive(&mut self, extended: bool, protocol: Option<NetworkProtocol>) {
        if self.epsv_all && !extended {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "Only EPSV after EPSV ALL.",
            );
        }
        let control_family = family_of(self.control_local.ip());
        let family = match protocol {
            None => control_family,
            Some(NetworkProtocol::IPV4) => AddressFamily::V4,
            Some(NetworkProtocol::IPV6) => AddressFamily::V6,
            Some(_) => AddressFamily::V6.other_than(control_family),
        };
        let usable = family == control_family && (extended || family == AddressFamily::V4);
        if !usable {
            let hint = if control_family == AddressFamily::V4 {
                1
            } else {
                2
            };
            return self.reply(
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                format!("Network protocol not supported, use ({hint})."),
            );
        }
        self.close_data();
        let channel = ChannelId::new(self.next_number());
        self.pending = Some(Pending::PassiveListener { channel, extended });
        self.data = DataChannel::Passive {
            channel,
            connected: false,
        };
        self.push(Output::Action(Action::ListenPassive { channel, family }));
    }

    pub(super) fn passive_listening(&mut self, channel: ChannelId, address: SocketAddr) {
        let Some(Pending::PassiveListener {
            channel: awaited,
            extended,
        }) = self.pending
        else {
            return;
        };
        if awaited != channel {
            return;
        }
        self.pending = None;
        if extended {
            self.reply(
                ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE,
                format!("Entering Extended Passive Mode (|||{}|).", address.port()),
            );
            return;
        }
        match address {
            SocketAddr::V4(address) => {
                let [h1, h2, h3, h4] = address.ip().octets();
                let [p1, p2] = address.port().to_be_bytes();
                self.reply(
                    ReplyCode::ENTERING_PASSIVE_MODE,
                    format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2})."),
                );
            }
            SocketAddr::V6(_) => {
                self.close_data();
                self.reply(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "PASV needs an IPv4 listener; use EPSV.",
                );
            }
        }
    }

    pub(super) fn active(&mut self, address: SocketAddr) {
        if !self.config.enable_active_mode {
            return self.not_supported("Active mode");
        }
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "Only EPSV after EPSV ALL.",
            );
        }
        if !self.config.allow_foreign_active_address
            && canonical_ip(address.ip()) != canonical_ip(self.control_peer.ip())
        {
            return self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Active mode only to the address of the control connection.",
            );
        }
        if !self.config.allow_privileged_active_port && address.port() < 1024 {
            return self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Active mode only to ports 1024 and above.",
            );
        }
        self.close_data();
        self.data = DataChannel::Active { address };
        self.reply(ReplyCode::COMMAND_OKAY, "PORT command successful.");
    }

    pub(super) fn data_accepted(&mut self, channel: ChannelId, peer: SocketAddr) {
        let DataChannel::Passive {
            channel: open,
            connected: false,
        } = self.data
        else {
            return;
        };
        if open != channel || matches!(self.pending, Some(Pending::PassiveListener { .. })) {
            return;
        }
        if !self.config.allow_foreign_passive_peer
            && canonical_ip(peer.ip()) != canonical_ip(self.control_peer.ip())
        {
            // Data-port stealing: someone else raced the client to our port.
            self.close_data();
            if self.transfer.is_some() {
                self.fail_transfer(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "Data connection from a foreign address refused.",
                );
            }
            return;
        }
        self.data = DataChannel::Passive {
            channel,
            connected: true,
        };
        if self
            .transfer
            .as_ref()
            .is_some_and(|t| t.stage == Stage::Connecting)
        {
            self.data_ready();
        }
    }

    pub(super) fn close_data(&mut self) {
        if self.data != DataChannel::None {
            self.data = DataChannel::None;
            self.push(Output::Action(Action::CloseData));
        }
    }
}

impl AddressFamily {
    /// The family that is not `other`; used to refuse an unknown EPSV protocol.
    pub(super) fn other_than(self, other: AddressFamily) -> AddressFamily {
        if other == AddressFamily::V4 {
            AddressFamily::V6
        } else {
            AddressFamily::V4
        }
    }
}

pub(super) fn family_of(ip: IpAddr) -> AddressFamily {
    match canonical_ip(ip) {
        IpAddr::V4(_) => AddressFamily::V4,
        IpAddr::V6(_) => AddressFamily::V6,
    }
}

/// An IPv4-mapped IPv6 address compares equal to its IPv4 form.
pub(super) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}
