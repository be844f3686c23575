//! A minimal FTP server: serves a directory over ftp-proto's tokio adapter.
//!
//! With no arguments it serves the current directory read-only to anonymous users on
//! 127.0.0.1:2121. Run `cargo run --example server --features tokio -- --help` for the
//! flags.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ftp_proto::tokio::{LocalFs, Server, ServerConfig, StaticUsers};

const HELP: &str = "\
Serve a directory over FTP.

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
  --max-sessions N       sessions at most in total (default: 512)
  --max-per-ip N         sessions at most from one address (default: 16)
  --tls-cert PEM         certificate chain for FTPS (needs --features tls)
  --tls-key PEM          its private key
  --implicit-tls         TLS from the first byte (implicit FTPS) instead of AUTH TLS
  --require-tls          refuse login and data connections without TLS
  -h, --help             print this help
SECS may have a fraction (0.5). With --listen 127.0.0.1:0 a free port is picked; the
first line printed says which.
Logging goes to stderr; set RUST_LOG=debug for more.";

struct Options {
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    implicit_tls: bool,
    require_tls: bool,
    root: PathBuf,
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
        root: PathBuf::from("."),
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
            "--data-timeout" => {
                options.config.data_timeout = seconds("--data-timeout", &value("--data-timeout")?)?
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
                options.config.max_failed_logins_per_ip = value("--lockout-after")?
                    .parse()
                    .map_err(|e| format!("--lockout-after: {e}"))?
            }
            "--lockout-seconds" => {
                options.config.lockout_duration =
                    seconds("--lockout-seconds", &value("--lockout-seconds")?)?
            }
            "--max-sessions" => {
                options.config.max_sessions = value("--max-sessions")?
                    .parse()
                    .map_err(|e| format!("--max-sessions: {e}"))?
            }
            "--max-per-ip" => {
                options.config.max_sessions_per_ip = value("--max-per-ip")?
                    .parse()
                    .map_err(|e| format!("--max-per-ip: {e}"))?
            }
            "--tls-cert" => options.tls_cert = Some(PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => options.tls_key = Some(PathBuf::from(value("--tls-key")?)),
            "--implicit-tls" => options.implicit_tls = true,
            "--require-tls" => options.require_tls = true,
            other => return Err(format!("unknown option {other}; see --help")),
        }
    }
    if options.users.is_empty() {
        options.anonymous = true;
    }
    let wants_tls = options.implicit_tls || options.require_tls;
    if options.tls_cert.is_some() != options.tls_key.is_some()
        || (wants_tls && options.tls_cert.is_none())
    {
        return Err("TLS needs both --tls-cert and --tls-key".into());
    }
    Ok(Some(options))
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
        options.config.tls = Some(ftp_proto::tokio::tls::server_config_from_pem(cert, key)?);
        options.config.implicit_tls = options.implicit_tls;
        options.config.session.require_tls_for_login = options.require_tls;
        options.config.session.require_tls_for_data = options.require_tls;
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

async fn run(mut options: Options) -> std::io::Result<()> {
    configure_tls(&mut options)?;
    let root = std::fs::canonicalize(&options.root)?;
    let mut users = StaticUsers::new();
    if options.anonymous {
        users = users.anonymous(LocalFs::new(&root)?);
    }
    for (name, password) in &options.users {
        users = users.user(name, password, LocalFs::new(&root)?, true);
    }
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let address = listener.local_addr()?;
    let scheme = if options.implicit_tls { "ftps" } else { "ftp" };
    println!("Serving {} on {scheme}://{address}/", root.display());
    if options.anonymous {
        println!("Anonymous users may read. Try:");
        println!("  curl ftp://{address}/");
        println!("  lftp -p {} {}", address.port(), address.ip());
    }
    for (name, _) in &options.users {
        println!("User {name} may read and write: curl -u {name}:PASSWORD ftp://{address}/");
    }
    println!("Press Ctrl-C to stop.");
    Server::new(options.config, users)
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
