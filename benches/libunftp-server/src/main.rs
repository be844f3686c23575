//! `libunftp-server --listen ADDR --root DIR --pasv-ports LO-HI [--nodelay yes]`: serves
//! DIR with libunftp and its file-system back-end, readable and writable by anyone
//! (libunftp's anonymous authenticator accepts every name and password). Configured for
//! speed: no logging, no metrics, long idle timeout. With `--nodelay yes` it accepts
//! control connections itself and sets TCP_NODELAY on them (`Server::service`, one
//! `Server` per connection), which libunftp's own listener does not do.

use std::path::PathBuf;

use libunftp::ServerBuilder;
use unftp_sbe_fs::Filesystem;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut listen, mut root, mut ports) = (
        "127.0.0.1:2121".to_owned(),
        PathBuf::from("."),
        49152..=65535,
    );
    let mut nodelay = false;
    let mut args = std::env::args().skip(1);
    while let (Some(flag), Some(value)) = (args.next(), args.next()) {
        match flag.as_str() {
            "--listen" => listen = value,
            "--root" => root = value.into(),
            "--pasv-ports" => {
                let (low, high) = value.split_once('-').ok_or("--pasv-ports takes LO-HI")?;
                ports = low.parse()?..=high.parse()?;
            }
            "--nodelay" => nodelay = value == "yes",
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    let root = std::fs::canonicalize(root)?;
    let server = move || {
        let root = root.clone();
        ServerBuilder::new(Box::new(move || {
            Filesystem::new(root.clone()).expect("root directory")
        }))
        .logger(slog::Logger::root(slog::Discard, slog::o!()))
        .passive_ports(ports.clone())
        .idle_session_timeout(3600)
        .build()
    };
    println!("listening on {listen}");
    if !nodelay {
        return Ok(server()?.listen(listen).await?);
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(server()?.service(stream));
    }
}
