//! A raw control connection for tests that must write exactly the bytes they choose
//! (hostile clients, pipelining, urgent data), with helpers for data connections.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

/// How long any single reply may take before the test fails.
pub const REPLY_LIMIT: Duration = Duration::from_secs(20);
pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Another loopback address: "someone else" on the same machine.
pub const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A raw control connection: the test writes exactly the bytes it wants.
pub struct Raw {
    pub replies: Replies,
    pub writer: OwnedWriteHalf,
}

/// The reading half of a control connection.
pub struct Replies(pub BufReader<OwnedReadHalf>);

impl Replies {
    /// The next reply (multi-line replies joined), or `None` at the end of the stream
    /// (or a reset). Panics when nothing comes within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<String> {
        let reader = &mut self.0;
        let read = tokio::time::timeout(limit, async {
            let mut first = Vec::new();
            match reader.read_until(b'\n', &mut first).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let mut reply = String::from_utf8_lossy(&first).into_owned();
            if first.get(3) == Some(&b'-') {
                let closing = format!("{} ", &reply[..3]);
                loop {
                    let mut line = Vec::new();
                    match reader.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let line = String::from_utf8_lossy(&line).into_owned();
                    reply.push_str(&line);
                    if line.starts_with(&closing) {
                        break;
                    }
                }
            }
            Some(reply)
        })
        .await;
        read.unwrap_or_else(|_| panic!("no reply within {limit:?}"))
    }

    /// Every reply until the server closes the connection; panics if it stays open
    /// longer than `limit`.
    pub async fn until_closed(&mut self, limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut replies = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(reply) => replies.push(reply),
                None => return replies,
            }
        }
    }
}

/// A TCP connection from `local` (port chosen by the system) to `address`.
pub async fn connect_from(local: IpAddr, address: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0))?;
    tokio::time::timeout(REPLY_LIMIT, socket.connect(address))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

impl Raw {
    /// Connects from 127.0.0.1 and expects the 220 greeting.
    pub async fn connect(address: SocketAddr) -> Raw {
        Raw::connect_from(LOCALHOST, address).await
    }

    /// Connects from `local` and expects the 220 greeting.
    pub async fn connect_from(local: IpAddr, address: SocketAddr) -> Raw {
        let mut raw = Raw::open_from(local, address).await.expect("connect");
        let greeting = raw.reply().await;
        assert_eq!(code(&greeting), 220, "{greeting}");
        raw
    }

    /// Connects from `local` without reading anything.
    pub async fn open_from(local: IpAddr, address: SocketAddr) -> io::Result<Raw> {
        let (reader, writer) = connect_from(local, address).await?.into_split();
        Ok(Raw {
            replies: Replies(BufReader::new(reader)),
            writer,
        })
    }

    pub async fn next_reply(&mut self, limit: Duration) -> Option<String> {
        self.replies.next(limit).await
    }

    pub async fn reply(&mut self) -> String {
        self.next_reply(REPLY_LIMIT)
            .await
            .expect("a reply, not the end of the connection")
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(REPLY_LIMIT, self.writer.write_all(bytes))
            .await
            .expect("the server stopped reading")
            .expect("send");
    }

    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    pub async fn login(&mut self) {
        assert_eq!(code(&self.command("USER alice").await), 331);
        let reply = self.command("PASS secret").await;
        assert_eq!(code(&reply), 230, "{reply}");
        assert_eq!(code(&self.command("TYPE I").await), 200);
    }

    /// EPSV; the port of the 229 reply.
    pub async fn epsv(&mut self) -> u16 {
        let reply = self.command("EPSV").await;
        ftp_proto::parse_reply(reply.as_bytes())
            .ok()
            .and_then(|reply| reply.extended_passive_port().ok())
            .unwrap_or_else(|| panic!("no port in {reply}"))
    }

    pub async fn replies_until_closed(&mut self, limit: Duration) -> Vec<String> {
        self.replies.until_closed(limit).await
    }

    /// Ends the connection with a reset (SO_LINGER 0, then close), as a killed client
    /// whose kernel discards its unsent data does.
    pub fn reset(self) {
        let stream = self.replies.0.into_inner().reunite(self.writer).unwrap();
        reset(stream);
    }
}

/// Closes `stream` with a reset instead of a FIN.
pub fn reset(stream: TcpStream) {
    stream.set_zero_linger().unwrap();
    drop(stream);
}

/// The three-digit code a reply starts with (0 if none).
pub fn code(reply: &str) -> u16 {
    reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Reads `stream` to its end (or a reset) for at most `limit`.
pub async fn read_all(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => bytes.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    bytes
}

/// Writes all of `bytes` to a data connection, within the reply limit.
pub async fn raw_write(data: &mut TcpStream, bytes: &[u8]) {
    tokio::time::timeout(REPLY_LIMIT, data.write_all(bytes))
        .await
        .expect("the server stopped reading")
        .unwrap();
}

/// A passive data connection from 127.0.0.1 for the next transfer.
pub async fn passive_data(raw: &mut Raw, address: SocketAddr) -> TcpStream {
    let port = raw.epsv().await;
    connect_from(LOCALHOST, SocketAddr::new(address.ip(), port))
        .await
        .expect("data connection")
}
