//! Login: USER, PASS, HOST and REIN, the TLS-before-login rule and the failed-login
//! count.

use super::{ControlTls, Login, Pending, Purpose, Session};
use crate::command::Password;
use crate::reply::ReplyCode;
use crate::server::events::{Event, Output, Request};
use crate::server::format::SUPPORTED_FACTS;
use crate::server::path::VirtualPath;
use crate::text::Text;

impl Session {
    pub(super) fn user(&mut self, user: Text<'static>) {
        if self.login_blocked_by_tls() {
            return;
        }
        // Always 331, whether the user exists or not (RFC 2577: no enumeration).
        self.login = Login::NeedPassword { user };
        self.reply(
            ReplyCode::USER_NAME_OKAY_NEED_PASSWORD,
            "Please specify the password.",
        );
    }

    pub(super) fn pass(&mut self, password: Password<'static>) {
        if self.login_blocked_by_tls() {
            return;
        }
        match std::mem::replace(&mut self.login, Login::NeedUser) {
            Login::NeedPassword { user } => self.request(
                Request::Authenticate {
                    user: user.clone(),
                    password,
                },
                Purpose::Login { user },
            ),
            Login::LoggedIn { writable } => {
                self.login = Login::LoggedIn { writable };
                self.reply(ReplyCode::BAD_SEQUENCE_OF_COMMANDS, "Already logged in.");
            }
            Login::NeedUser => self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "Login with USER first.",
            ),
        }
    }

    pub(super) fn login_blocked_by_tls(&mut self) -> bool {
        let blocked = self.config.enable_tls
            && self.config.require_tls_for_login
            && self.control_tls != ControlTls::Secure;
        if blocked {
            self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "TLS required: use AUTH TLS before logging in.",
            );
        }
        blocked
    }

    pub(super) fn host(&mut self, host: Text<'static>) {
        if self.is_logged_in() || matches!(self.login, Login::NeedPassword { .. }) {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "HOST must come before USER.",
            );
        }
        let bytes = host.as_bytes();
        // RFC 7151: a port is not part of the host name.
        let has_port = match bytes.first() {
            Some(b'[') => bytes
                .iter()
                .position(|&b| b == b']')
                .is_some_and(|end| end + 1 < bytes.len()),
            _ => bytes.contains(&b':'),
        };
        if has_port {
            return self.reply(ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS, "HOST takes no port.");
        }
        self.request(Request::SelectHost { host }, Purpose::Host);
    }

    pub(super) fn reinitialise(&mut self) {
        // The login clock restarts only for a session that has logged in; one that never
        // did keeps the deadline it had from the connection, or REIN every few seconds
        // would hold a place for good without a login.
        if self.is_logged_in() {
            self.login_deadline = Some(self.now + self.config.login_timeout);
        }
        self.login = Login::NeedUser;
        self.cwd = VirtualPath::root();
        self.ascii = false;
        self.restart_offset = 0;
        self.rename_from = None;
        self.epsv_all = false;
        self.mlst_facts = SUPPORTED_FACTS;
        self.close_data();
        self.reply(ReplyCode::SERVICE_READY, "Service ready for new user.");
    }

    pub(super) fn login_failed(&mut self, user: Text<'static>) {
        self.push(Output::Event(Event::LoginFailed { user }));
        self.failed_logins += 1;
        // The delay doubles with each failure of this session (capped), so that guessing
        // is slow even on one connection.
        let factor = 1u32 << (self.failed_logins - 1).min(6);
        let until = self.now + self.config.failed_login_delay * factor;
        self.pending = Some(Pending::FailedLoginDelay { until });
    }
}
