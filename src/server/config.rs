//! The server session's configuration: every limit and policy in one documented struct,
//! with secure defaults.

use std::time::Duration;

use crate::parse::DEFAULT_MAX_LINE_LENGTH;

/// How a server session behaves. `Config::default()` is safe to face the internet with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The text of the 220 greeting.
    pub greeting: String,
    /// The longest command line accepted, in bytes; a longer one is answered 500 and
    /// skipped without being buffered. Default 4096.
    pub max_line_length: usize,
    /// Unprocessed input kept while the session waits on the application (pipelined
    /// commands). Past it the session answers 421 and closes. Default 64 KiB.
    pub max_pending_input: usize,
    /// Output not yet taken by `poll_output`; while past it, no further command is
    /// processed. Default 256 KiB.
    pub max_pending_output: usize,
    /// The delay before a failed login is answered, doubled at each further failure of
    /// the session (RFC 2577). Default 1 s.
    pub failed_login_delay: Duration,
    /// Failed logins after which the session answers 421 and closes. Default 3.
    pub max_failed_logins: u32,
    /// Time from connection to successful login. Default 60 s.
    pub login_timeout: Duration,
    /// Time without a complete command line (not counting running transfers) before the
    /// session answers 421 and closes. Default 300 s (RFC 1123 §4.1.3.2).
    pub idle_timeout: Duration,
    /// Time for the data connection to be made once a transfer is ready (the client's
    /// connect to a passive listener, or our active connect): past it, 425. Default 30 s.
    pub data_connection_timeout: Duration,
    /// Time for the TLS handshake on a protected data connection (PROT P): past it, 522.
    /// Default 30 s.
    pub data_tls_timeout: Duration,
    /// Time for the TLS handshake on the control connection (AUTH TLS): past it, the
    /// session closes. Default 30 s.
    pub control_tls_timeout: Duration,
    /// How long a running transfer may go without progress (no growth in the bytes the
    /// adapter reports) before it is aborted with 426. The idle timeout does not run
    /// during a transfer, so without this a client that stops reading a download, or
    /// stops sending an upload without closing, would hold its session and file open
    /// for good. Default 300 s (as vsftpd's `data_connection_timeout`).
    pub data_timeout: Duration,
    /// How long one answer of the application (storage back end, authenticator) may
    /// take. Past it the command fails (451, or 530 for a login), the adapter is told
    /// to drop the request ([`Action::CancelRequest`](super::Action::CancelRequest)),
    /// and a late answer is ignored: a hung back end cannot hold a session (and its
    /// connection slot) for good. Default 120 s.
    pub storage_timeout: Duration,
    /// How long the client may leave our replies unread (the adapter reports a blocked
    /// send with [`Session::handle_send_blocked`](super::Session::handle_send_blocked))
    /// before the session closes. Default 60 s.
    pub send_timeout: Duration,
    /// Refuse (522) a protected data connection whose TLS handshake does not resume the
    /// control connection's session, as vsftpd's `require_ssl_reuse` does. Off by
    /// default: Python's ftplib, among others, does not resume.
    pub require_tls_session_reuse: bool,
    /// Take an upload whose TLS data connection ended without close_notify (the client
    /// closed the socket without ending TLS) as complete. On by default, as vsftpd
    /// (`strict_ssl_read_eof=NO`): many clients do it. Off, such an upload is discarded
    /// and answered 426, since a truncation by a third party looks the same.
    pub accept_upload_without_close_notify: bool,
    /// Allow PORT and EPRT to an address other than the control connection's peer
    /// (server-to-server "FXP" transfers). Off by default: the bounce attack.
    pub allow_foreign_active_address: bool,
    /// Allow PORT and EPRT to ports below 1024. Off by default (RFC 2577).
    pub allow_privileged_active_port: bool,
    /// Accept a passive data connection from another address than the control
    /// connection's peer. Off by default: data-port stealing.
    pub allow_foreign_passive_peer: bool,
    /// Offer active mode (PORT, EPRT) at all. Default on.
    pub enable_active_mode: bool,
    /// Offer AUTH TLS (the adapter must be able to run the handshakes). Default off.
    pub enable_tls: bool,
    /// The control connection is TLS from its first byte (implicit FTPS, port 990 by
    /// tradition): the session starts protected, and AUTH is refused. Takes effect with
    /// `enable_tls`.
    pub implicit_tls: bool,
    /// Refuse USER and PASS before AUTH TLS. Default off; takes effect with `enable_tls`.
    pub require_tls_for_login: bool,
    /// Refuse transfers without PROT P. Default off; takes effect with `enable_tls`.
    pub require_tls_for_data: bool,
    /// The application answers SITE commands: the session passes each one on as
    /// [`Request::Site`](super::Request::Site). Off by default: the session answers
    /// every SITE command 502 itself, so an application without any need not know
    /// the request.
    pub enable_site: bool,
    /// What the storage back end can do; reflected in FEAT and in 502 replies.
    pub capabilities: Capabilities,
    /// Entries at most in a listing sent over the control connection (`STAT path`).
    /// Default 1,000, so that the reply stays within what clients accept of one reply
    /// (1,024 lines in this crate's [`ReplyParser`](crate::ReplyParser)); the reply is
    /// also cut at a quarter of `max_pending_output` in bytes, so that a client that
    /// pipelines STAT and never reads holds little more than `max_pending_output`.
    pub max_control_listing_entries: usize,
}

/// Optional abilities of the storage back end. Each one that is off leaves its feature
/// out of FEAT and makes the commands that need it answer 502.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// APPE: append to an existing file.
    pub append: bool,
    /// REST before STOR: write from an offset into an existing file.
    pub write_at_offset: bool,
    /// REST before RETR: read from an offset.
    pub read_at_offset: bool,
    /// MFMT: set a file's modification time.
    pub set_modified: bool,
    /// RNFR/RNTO on files.
    pub rename: bool,
    /// RNFR/RNTO on directories (needs `rename` too). Object stores have no directories
    /// to rename: their "directories" are key prefixes, and moving one would mean
    /// copying every object below it.
    pub rename_directories: bool,
    /// Writing at all (STOR, STOU, APPE, DELE, MKD, RMD, RNFR, MFMT).
    pub write: bool,
}

impl Capabilities {
    /// A back end that can do everything (a local file system).
    pub const ALL: Capabilities = Capabilities {
        append: true,
        write_at_offset: true,
        read_at_offset: true,
        set_modified: true,
        rename: true,
        rename_directories: true,
        write: true,
    };

    /// A back end that can only be read.
    pub const READ_ONLY: Capabilities = Capabilities {
        append: false,
        write_at_offset: false,
        read_at_offset: true,
        set_modified: false,
        rename: false,
        rename_directories: false,
        write: false,
    };

    /// What both `self` and `other` can do: for a server whose users have different
    /// back ends, FEAT (answered before login) promises only what all of them keep.
    ///
    /// ```
    /// use ftp_proto::server::Capabilities;
    ///
    /// let both = Capabilities::ALL.intersection(Capabilities::READ_ONLY);
    /// assert_eq!(both, Capabilities::READ_ONLY);
    /// ```
    pub const fn intersection(self, other: Capabilities) -> Capabilities {
        Capabilities {
            append: self.append && other.append,
            write_at_offset: self.write_at_offset && other.write_at_offset,
            read_at_offset: self.read_at_offset && other.read_at_offset,
            set_modified: self.set_modified && other.set_modified,
            rename: self.rename && other.rename,
            rename_directories: self.rename_directories && other.rename_directories,
            write: self.write && other.write,
        }
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::ALL
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            greeting: "ftp-proto ready".to_owned(),
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            max_pending_input: 64 * 1024,
            max_pending_output: 256 * 1024,
            failed_login_delay: Duration::from_secs(1),
            max_failed_logins: 3,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            data_connection_timeout: Duration::from_secs(30),
            data_tls_timeout: Duration::from_secs(30),
            control_tls_timeout: Duration::from_secs(30),
            data_timeout: Duration::from_secs(300),
            storage_timeout: Duration::from_secs(120),
            send_timeout: Duration::from_secs(60),
            require_tls_session_reuse: false,
            accept_upload_without_close_notify: true,
            allow_foreign_active_address: false,
            allow_privileged_active_port: false,
            allow_foreign_passive_peer: false,
            enable_active_mode: true,
            enable_tls: false,
            implicit_tls: false,
            require_tls_for_login: false,
            require_tls_for_data: false,
            enable_site: false,
            capabilities: Capabilities::ALL,
            max_control_listing_entries: 1_000,
        }
    }
}
