//! A minimal FTP server: serves a directory, or a bucket of an S3-compatible object
//! store, over ftp-proto's tokio adapter.
//!
//! With no arguments it serves the current directory read-only to anonymous users on
//! 127.0.0.1:2121. Run `cargo run --example server --features tokio -- --help` for the
//! flags; `--s3-endpoint` and `--s3-bucket` need `--features object-store`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ftp_proto::tokio::{Authenticator, LocalFs, Server, ServerConfig, StaticUsers, Storage};

const HELP: &str = "\
Serve a directory, or a bucket of an S3-compatible object store, over FTP.

Usage: server [OPTIONS]

Options:
  --root DIR             directory to serve (default: the current directory)
  --listen ADDR          address to listen on (default: 127.0.0.1:2121)
  --user NAME:PASS       a user who may read and write; repeatable. When any user is
                         given, anonymous access is off unless --anonymous is given too
  --anonymous            allow anonymous read-only access (the default with no --user)
  --pasv-ports LO-HI     port range for passive data connections (default: 49152-65534)
  --public-addr IP       address to advertise in PASV replies (behind NAT)
  --idle-timeout SECS    close sessions without a complete command this long
                         (default: 300)
  --login-timeout SECS   close sessions not logged in this long after connecting
                         (default: 60)
  --send-timeout SECS    close a session whose client leaves our replies unread this
                         long (default: 60)
  --data-timeout SECS    abort a transfer whose data connection moves no byte this
                         long (default: 300)
  --failed-login-delay SECS
                         delay before answering a failed login, doubled at each
                         further failure of the session (default: 1)
  --max-failed-logins N  failed logins after which a session is closed (default: 3)
  --lockout-after N      failed logins from one address (across its sessions) after
                         which it is locked out; 0 turns lockouts off (default: 10)
  --lockout-seconds SECS how long a lockout lasts: every login from the address is
                         refused, the right password too (default: 600)
  --max-sessions N       sessions at most in total (default: 512); when all are taken,
                         the oldest one not logged in makes room for a new one
  --max-per-ip N         sessions at most from one address (default: 128)
  --tls-cert PEM         certificate chain for FTPS (needs --features tls)
  --tls-key PEM          its private key
  --implicit-tls         TLS from the first byte (implicit FTPS) instead of AUTH TLS
  --require-tls          refuse login and data connections without TLS
  --require-tls-reuse    refuse (522) a protected data connection that does not resume
                         the control connection's TLS session, as vsftpd's
                         require_ssl_reuse does (Python's ftplib does not resume)
  --s3-endpoint URL      serve a bucket of this S3-compatible store instead of --root
                         (needs --features object-store); plain http:// only on loopback
  --s3-bucket NAME       the bucket to serve
  --s3-prefix PREFIX     serve only the keys below PREFIX/ (several roots, one bucket)
  --abort-uploads-older-than SECS
                         at start-up, abort the multipart uploads that servers killed
                         mid-upload left open in the bucket, if older than this; keep it
                         above the longest upload a server sharing the bucket may be
                         running (default: 86400, a day)
  -h, --help             print this help
Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (both required), the
region from AWS_REGION (default us-east-1; Garage's is usually \"garage\").

SECS may have a fraction (0.5). With --listen 127.0.0.1:0 a free port is picked; the
first line printed says which.
Logging goes to stderr; set RUST_LOG=debug for more.";

/// Where an object-store root lives.
struct S3Options {
    endpoint: String,
    bucket: String,
    prefix: Option<String>,
    // Read only by the object-store back end.
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    abort_uploads_older_than: Duration,
}

struct Options {
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    implicit_tls: bool,
    require_tls: bool,
    require_tls_reuse: bool,
    root: PathBuf,
    s3_endpoint: Option<String>,
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    abort_uploads_older_than: Option<Duration>,
    listen: SocketAddr,
    users: Vec<(String, String)>,
    anonymous: bool,
    config: ServerConfig,
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        tls_cert: None,
        tls_key: None,
        implicit_tls: false,
        require_tls: false,
        require_tls_reuse: false,
        root: PathBuf::from("."),
        s3_endpoint: None,
        s3_bucket: None,
        s3_prefix: None,
        abort_uploads_older_than: None,
        listen: "127.0.0.1:2121".parse().expect("a valid default address"),
        users: Vec::new(),
        anonymous: false,
        config: ServerConfig::default(),
    };
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--root" => options.root = PathBuf::from(value("--root")?),
            "--listen" => {
                options.listen = value("--listen")?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?
            }
            "--user" => {
                let user = value("--user")?;
                let (name, password) = user.split_once(':').ok_or("--user takes NAME:PASS")?;
                options.users.push((name.to_owned(), password.to_owned()));
            }
            "--anonymous" => options.anonymous = true,
            "--pasv-ports" => {
                let range = value("--pasv-ports")?;
                let (low, high) = range.split_once('-').ok_or("--pasv-ports takes LO-HI")?;
                let low: u16 = low.parse().map_err(|e| format!("--pasv-ports: {e}"))?;
                let high: u16 = high.parse().map_err(|e| format!("--pasv-ports: {e}"))?;
                if low == 0 || low > high {
                    return Err("--pasv-ports needs 1 <= LO <= HI".into());
                }
                options.config.passive_ports = low..=high;
            }
            "--public-addr" => {
                let ip: IpAddr = value("--public-addr")?
                    .parse()
                    .map_err(|e| format!("--public-addr: {e}"))?;
                options.config.public_address = Some(ip);
            }
            "--idle-timeout" => {
                options.config.session.idle_timeout =
                    seconds("--idle-timeout", &value("--idle-timeout")?)?
            }
            "--login-timeout" => {
                options.config.session.login_timeout =
                    seconds("--login-timeout", &value("--login-timeout")?)?
            }
            "--send-timeout" => {
                options.config.session.send_timeout =
                    seconds("--send-timeout", &value("--send-timeout")?)?
            }
            "--data-timeout" => {
                options.config.session.data_timeout =
                    seconds("--data-timeout", &value("--data-timeout")?)?
            }
            "--failed-login-delay" => {
                options.config.session.failed_login_delay =
                    seconds("--failed-login-delay", &value("--failed-login-delay")?)?
            }
            "--max-failed-logins" => {
                options.config.session.max_failed_logins = value("--max-failed-logins")?
                    .parse()
                    .map_err(|e| format!("--max-failed-logins: {e}"))?
            }
            "--lockout-after" => {
                options.config.limits.max_failed_logins_per_ip =
                    value("--lockout-after")?
                        .parse()
                        .map_err(|e| format!("--lockout-after: {e}"))?
            }
            "--lockout-seconds" => {
                options.config.limits.lockout_duration =
                    seconds("--lockout-seconds", &value("--lockout-seconds")?)?
            }
            "--max-sessions" => {
                options.config.limits.max_sessions = value("--max-sessions")?
                    .parse()
                    .map_err(|e| format!("--max-sessions: {e}"))?
            }
            "--max-per-ip" => {
                options.config.limits.max_sessions_per_ip = value("--max-per-ip")?
                    .parse()
                    .map_err(|e| format!("--max-per-ip: {e}"))?
            }
            "--tls-cert" => options.tls_cert = Some(PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => options.tls_key = Some(PathBuf::from(value("--tls-key")?)),
            "--implicit-tls" => options.implicit_tls = true,
            "--require-tls" => options.require_tls = true,
            "--require-tls-reuse" => options.require_tls_reuse = true,
            "--s3-endpoint" => options.s3_endpoint = Some(value("--s3-endpoint")?),
            "--s3-bucket" => options.s3_bucket = Some(value("--s3-bucket")?),
            "--s3-prefix" => options.s3_prefix = Some(value("--s3-prefix")?),
            "--abort-uploads-older-than" => {
                options.abort_uploads_older_than = Some(seconds(
                    "--abort-uploads-older-than",
                    &value("--abort-uploads-older-than")?,
                )?)
            }
            other => return Err(format!("unknown option {other}; see --help")),
        }
    }
    if options.users.is_empty() {
        options.anonymous = true;
    }
    let wants_tls = options.implicit_tls || options.require_tls || options.require_tls_reuse;
    if options.tls_cert.is_some() != options.tls_key.is_some()
        || (wants_tls && options.tls_cert.is_none())
    {
        return Err("TLS needs both --tls-cert and --tls-key".into());
    }
    if options.s3_endpoint.is_some() != options.s3_bucket.is_some() {
        return Err("--s3-endpoint and --s3-bucket go together".into());
    }
    if options.s3_prefix.is_some() && options.s3_endpoint.is_none() {
        return Err("--s3-prefix needs --s3-endpoint and --s3-bucket".into());
    }
    if options.abort_uploads_older_than.is_some() && options.s3_endpoint.is_none() {
        return Err("--abort-uploads-older-than needs --s3-endpoint and --s3-bucket".into());
    }
    if let Some(endpoint) = &options.s3_endpoint {
        check_endpoint(endpoint)?;
    }
    Ok(Some(options))
}

impl Options {
    fn s3(&self) -> Option<S3Options> {
        Some(S3Options {
            endpoint: self.s3_endpoint.clone()?,
            bucket: self.s3_bucket.clone()?,
            prefix: self.s3_prefix.clone(),
            abort_uploads_older_than: self
                .abort_uploads_older_than
                .unwrap_or(Duration::from_secs(86_400)),
        })
    }
}

/// An endpoint must be https, or plain http to a loopback address: credentials and
/// files never cross a network in clear.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return Err(format!(
            "--s3-endpoint {endpoint}: needs http:// or https://"
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "--s3-endpoint {endpoint}: plain http is allowed only on loopback; use https"
        ));
    }
    Ok(())
}

/// A duration in seconds, fractions allowed.
fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{flag}: {e}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{flag}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "tls")]
fn configure_tls(options: &mut Options) -> std::io::Result<()> {
    if let (Some(cert), Some(key)) = (&options.tls_cert, &options.tls_key) {
        let tls = ftp_proto::tokio::tls::server_config_from_pem(cert, key)?;
        options.config = std::mem::take(&mut options.config).with_tls(tls);
        options.config.session.implicit_tls = options.implicit_tls;
        options.config.session.require_tls_for_login = options.require_tls;
        options.config.session.require_tls_for_data = options.require_tls;
        options.config.session.require_tls_session_reuse = options.require_tls_reuse;
    }
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn configure_tls(options: &mut Options) -> std::io::Result<()> {
    if options.tls_cert.is_some() {
        return Err(std::io::Error::other(
            "this build has no TLS: rebuild with --features tls",
        ));
    }
    Ok(())
}

#[cfg(feature = "object-store")]
async fn object_storage(s3: &S3Options) -> std::io::Result<ftp_proto::tokio::ObjectStorage> {
    use ftp_proto::tokio::ObjectStorage;
    use ftp_proto::tokio::object_store::aws::AmazonS3Builder;

    // Without keys in the environment the S3 client would ask a cloud metadata service
    // for some: refuse instead.
    for variable in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        if std::env::var_os(variable).is_none() {
            return Err(std::io::Error::other(format!(
                "{variable} must be set to serve an S3 bucket"
            )));
        }
    }
    let store = AmazonS3Builder::from_env()
        .with_endpoint(&s3.endpoint)
        .with_bucket_name(&s3.bucket)
        .with_allow_http(s3.endpoint.starts_with("http://"))
        .build()
        .map_err(std::io::Error::other)?;
    let mut storage =
        ObjectStorage::paginated(store.clone()).with_upload_records(std::sync::Arc::new(store));
    if let Some(prefix) = &s3.prefix {
        storage = storage.with_prefix(prefix).map_err(std::io::Error::other)?;
    }
    // Uploads a killed server left open cost storage until aborted; a fleet sharing
    // the bucket only aborts those older than any upload still running.
    match storage
        .abort_abandoned_uploads(s3.abort_uploads_older_than)
        .await
    {
        Ok(0) => {}
        Ok(count) => eprintln!("Aborted {count} abandoned multipart upload(s)."),
        Err(error) => eprintln!("warning: could not abort abandoned uploads: {error}"),
    }
    Ok(storage)
}

#[cfg(not(feature = "object-store"))]
async fn object_storage(_: &S3Options) -> std::io::Result<LocalFs> {
    Err(std::io::Error::other(
        "this build has no object storage: rebuild with --features object-store",
    ))
}

/// The users the options ask for, each over a clone of `root`.
fn users<S: Storage + Clone>(options: &Options, root: S) -> StaticUsers<S> {
    let mut users = StaticUsers::new();
    if options.anonymous {
        users = users.anonymous(root.clone());
    }
    for (name, password) in &options.users {
        users = users.user(name, password, root.clone(), true);
    }
    users
}

async fn run(mut options: Options) -> std::io::Result<()> {
    configure_tls(&mut options)?;
    match options.s3() {
        Some(s3) => {
            let root = object_storage(&s3).await?;
            let users = users(&options, root);
            let what = match &s3.prefix {
                Some(prefix) => {
                    format!("bucket {} (below {prefix}/) at {}", s3.bucket, s3.endpoint)
                }
                None => format!("bucket {} at {}", s3.bucket, s3.endpoint),
            };
            serve(options, users, what).await
        }
        None => {
            let root = std::fs::canonicalize(&options.root)?;
            let users = users(&options, LocalFs::new(&root)?);
            serve(options, users, root.display().to_string()).await
        }
    }
}

async fn serve<A: Authenticator>(options: Options, users: A, what: String) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let address = listener.local_addr()?;
    let scheme = if options.implicit_tls { "ftps" } else { "ftp" };
    println!("Serving {what} on {scheme}://{address}/");
    if options.anonymous {
        println!("Anonymous users may read. Try:");
        println!("  curl ftp://{address}/");
        println!("  lftp -p {} {}", address.port(), address.ip());
    }
    for (name, _) in &options.users {
        println!("User {name} may read and write: curl -u {name}:PASSWORD ftp://{address}/");
    }
    println!("Press Ctrl-C to stop.");
    // The session offers what the storage can do: all of it for a local directory,
    // no appends or directory renames on an object store.
    let mut config = options.config;
    config.session.capabilities = users.capabilities();
    Server::new(config, users)
        .map_err(std::io::Error::other)?
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
