//! The client session's settings, each with the default a cautious client wants.

use std::time::Duration;

use crate::command::RepresentationType;

/// How a [`Session`](super::Session) behaves. Start from [`Config::default`] and change
/// the fields you need:
///
/// ```
/// use ftp_proto::client::{Config, DataConnectionMode};
/// let mut config = Config::default();
/// config.tls = true;
/// config.data_connection_mode = DataConnectionMode::Active;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How long to wait for a reply before the control connection is given up (default
    /// 30 s). A missing reply leaves no way to tell later replies apart, so this timeout
    /// is fatal. It does not run while a file transfer moves data (a large file takes as
    /// long as it takes; [`data_timeout`](Self::data_timeout) catches a stalled data
    /// connection); it starts
    /// again when the data connection ends or the session closes it. A listing, whose
    /// bytes pass through the session, fails (not fatally) when no byte comes for this
    /// long.
    pub reply_timeout: Duration,
    /// How to send byte 0xFF (Telnet IAC) in names. [`IacEscaping::Raw`](crate::IacEscaping::Raw) (the default)
    /// is what curl, lftp and ftplib do and what vsftpd and pyftpdlib expect; servers
    /// that decode Telnet (ProFTPD, this crate's) need [`IacEscaping::Double`](crate::IacEscaping::Double) for
    /// single-byte names containing 0xFF. UTF-8 names never contain 0xFF.
    pub iac_escaping: crate::IacEscaping,
    /// How long a data connection may take to open, in either mode (default 30 s).
    pub data_connect_timeout: Duration,
    /// How long a data connection's TLS handshake may take (default 30 s). Past it the
    /// session closes the data connection and fails the transfer.
    pub data_tls_timeout: Duration,
    /// How long an open data connection may go without moving a byte (default 60 s).
    /// The adapter reports file bytes with
    /// [`handle_data_progress`](super::Session::handle_data_progress); past this the
    /// session aborts the transfer (`ABOR`, then closes the data connection) and fails
    /// it with [`Error::Timeout`](super::Error::Timeout).
    pub data_timeout: Duration,
    /// Connect to the address a 227 reply names instead of the control connection's peer
    /// (default `false`). Off, only the port is used: servers behind NAT announce private
    /// addresses, and a hostile server could otherwise aim the client at a third host.
    pub trust_passive_address: bool,
    /// Ask for `EPSV` before `PASV` (default `true`). After a 500 or 502 to `EPSV` the
    /// session uses `PASV` for the rest of the connection.
    pub prefer_extended_passive: bool,
    /// Passive (the client connects) or active (the server connects) data connections
    /// (default passive, which crosses NAT and firewalls).
    pub data_connection_mode: DataConnectionMode,
    /// Secure the control connection with `AUTH TLS` before logging in, then protect data
    /// connections with `PBSZ 0` and `PROT P` (default `false`). With it, credentials
    /// are never sent in clear: a server that refuses `AUTH TLS` fails the login.
    pub tls: bool,
    /// The control connection is protected from its first byte (implicit FTPS, `ftps://`,
    /// usually port 990): the adapter ran the TLS handshake before the greeting
    /// (default `false`). The session then sends no `AUTH TLS`, reports
    /// [`is_control_secure`](super::Session::is_control_secure) from the start, and
    /// protects data connections with `PBSZ 0` and `PROT P` after login, as with
    /// [`tls`](Self::tls).
    pub implicit_tls: bool,
    /// Send `OPTS UTF8 ON` after `FEAT` when the server advertises `UTF8` (default `true`).
    pub utf8: bool,
    /// The representation type for file transfers (default `TYPE I`, bytes as they are).
    /// Listings always travel as `TYPE A`; the session sends `TYPE` only when it changes.
    pub file_type: RepresentationType,
    /// The longest reply line accepted, in bytes (default 4096). Longer is fatal.
    pub max_reply_line_length: usize,
    /// The most lines one reply may have (default 1024). More is fatal. With the line
    /// bound this caps the memory a hostile server can make the session hold.
    pub max_reply_lines: usize,
    /// The most command bytes waiting to be taken with
    /// [`poll_output`](super::Session::poll_output) (default 64 KiB). Operations wait in the queue rather than grow this buffer; an
    /// operation whose commands alone exceed it is refused.
    pub max_pending_output: usize,
    /// The most operations waiting to start (default 1024); more are refused.
    pub max_queued_operations: usize,
    /// The largest listing collected from a data connection, in bytes (default 16 MiB).
    /// Past it the session closes the data connection, fails the listing with
    /// [`Error::ListingTooLarge`](super::Error::ListingTooLarge), and waits for the
    /// server's final reply within [`reply_timeout`](Self::reply_timeout).
    pub max_listing_size: usize,
    /// Refuse `SIZE`, `MDTM` and resumed transfers (`REST`) locally, sending nothing,
    /// when the server's `FEAT` answer does not list them (default `false`). These
    /// commands are older than `FEAT`, and many servers implement them without listing
    /// them; by default they are always sent, and a 500 or 502 answer becomes
    /// [`Error::NotSupported`](super::Error::NotSupported). `MLSD`, `MLST` and `MFMT`,
    /// which came after `FEAT`, are always refused when it does not list them.
    pub strict_features: bool,
    /// Send `ABOR` as RFC 959 §4.1.3 describes: Telnet IP (`IAC IP`), the Telnet Synch
    /// (`IAC DM`, the DM byte as TCP urgent data, see
    /// [`Session::urgent_offset`](super::Session::urgent_offset)), then `ABOR CRLF`.
    /// Default `false`: a plain `ABOR CRLF`, sent before the data connection is closed.
    ///
    /// Off by default because the urgent signal hurts more servers than it helps.
    /// vsftpd acts on it only with `async_abor_enable=YES` (by default it ignores it and
    /// answers a plain `ABOR` as soon as the closed data connection ends the transfer);
    /// servers on edge-triggered readiness, such as those built on tokio's `AsyncRead`
    /// (libunftp, or a server over this crate's codec), stop their read at the urgent
    /// mark, clear the socket's readiness and never read the `ABOR` behind it; and
    /// servers without Telnet handling take `IAC IP IAC DM` for part of the verb.
    pub telnet_synch_abort: bool,
    /// How long to wait for the reply to `ABOR` after the transfer's own final reply
    /// (default 2 s). Some servers send a single `226` for both.
    pub abort_reply_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            reply_timeout: Duration::from_secs(30),
            iac_escaping: crate::IacEscaping::Raw,
            data_connect_timeout: Duration::from_secs(30),
            data_tls_timeout: Duration::from_secs(30),
            data_timeout: Duration::from_secs(60),
            trust_passive_address: false,
            prefer_extended_passive: true,
            data_connection_mode: DataConnectionMode::Passive,
            tls: false,
            implicit_tls: false,
            utf8: true,
            file_type: RepresentationType::Image,
            max_reply_line_length: crate::parse::DEFAULT_MAX_LINE_LENGTH,
            max_reply_lines: crate::DEFAULT_MAX_REPLY_LINES,
            max_pending_output: 64 * 1024,
            max_queued_operations: 1024,
            max_listing_size: 16 * 1024 * 1024,
            abort_reply_grace: Duration::from_secs(2),
            strict_features: false,
            telnet_synch_abort: false,
        }
    }
}

/// Who opens the data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DataConnectionMode {
    /// `EPSV`/`PASV`: the server listens, the client connects.
    #[default]
    Passive,
    /// `PORT`/`EPRT`: the client listens, the server connects.
    Active,
}
