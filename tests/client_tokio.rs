//! The tokio client against the library's own server (every operation, in EPSV, PASV
//! and active mode) and against scripted fake servers that misbehave the way real
//! ones do: a NAT address in 227, 125 for 150, 226 before the end of data, 426 then 226
//! on ABOR, an unsolicited 421, hostile listing names.
#![cfg(feature = "tokio")]

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use common::peers::{TempDir, TestServer, client_config, exercise_client, pattern};
use ftp_proto::client::Error as SessionError;
use ftp_proto::tokio::{Client, ClientConfig, ClientError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

async fn our_server(mode: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let server = TestServer::start();
    std::fs::create_dir_all(server.root.join("work")).unwrap();
    let mut client = Client::connect(server.address, client_config(mode))
        .await
        .unwrap();
    assert_eq!(client.greeting().unwrap().code().as_u16(), 220);
    client.login("alice", "secret").await.expect("login");
    exercise_client(&mut client, "/work", &server.root.join("work"), mode).await;
    client.quit().await.expect("QUIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_every_operation_epsv() {
    our_server("epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_every_operation_pasv() {
    our_server("pasv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_every_operation_active() {
    our_server("active").await;
}

/// A regression test for the tokio server adapter: a data connection accepted for an
/// upload that was aborted before the connection's message reached the session loop was
/// kept and used for the next transfer, which then failed with 426. Data connections
/// now belong to a data set-up generation, and stale ones are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_download_after_aborted_upload() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let server = TestServer::start();
    server.write("big.bin", &pattern(4 << 20, 1));
    let mut client = Client::connect(server.address, client_config("epsv"))
        .await
        .unwrap();
    client.login("alice", "secret").await.unwrap();
    for round in 0..50 {
        let mut upload = client.put("partial.bin").await.unwrap();
        upload.write_all(&[1; 1000]).await.unwrap();
        drop(upload);
        client.noop().await.unwrap();
        let mut sink = Vec::new();
        client
            .download_to("big.bin", &mut sink)
            .await
            .unwrap_or_else(|error| panic!("round {round}: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_anonymous_reads_but_cannot_write() {
    let server = TestServer::start();
    server.write("pub/readme.txt", b"hello\n");
    let mut client = Client::connect(server.address, ClientConfig::default())
        .await
        .unwrap();
    client.login("anonymous", "guest@").await.unwrap();
    let entries = client.list(Some("/pub")).await.unwrap();
    assert_eq!(entries.len(), 1);
    let mut text = Vec::new();
    client
        .download_to("/pub/readme.txt", &mut text)
        .await
        .unwrap();
    assert_eq!(text, b"hello\n");
    let refused = client
        .upload_from("/pub/new.txt", &mut &b"x"[..])
        .await
        .unwrap_err();
    assert!(refused.reply().is_some(), "{refused}");
    assert!(!server.exists("pub/new.txt"));
    client.noop().await.unwrap();
    let wrong = Client::connect(server.address, ClientConfig::default())
        .await
        .unwrap()
        .login("alice", "wrong")
        .await
        .unwrap_err();
    assert!(
        wrong
            .reply()
            .is_some_and(|reply| reply.code().as_u16() == 530)
    );
}

// ----- Scripted fake servers -----

/// One control connection of a fake server, driven by a test's script.
struct Fake {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Fake {
    /// The next command line, without Telnet commands (the IP and Synch the client
    /// sends before `ABOR`).
    async fn line(&mut self) -> String {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).await.unwrap();
        let mut text = Vec::new();
        let mut bytes = line.iter();
        while let Some(&byte) = bytes.next() {
            // IAC and a command byte (IP, DM...). Without SO_OOBINLINE the urgent DM is
            // not in the stream at all, and its IAC stands alone.
            if byte == 0xFF {
                if bytes.clone().next().is_some_and(|&next| next >= 0xF0) {
                    bytes.next();
                }
            } else {
                text.push(byte);
            }
        }
        String::from_utf8(text).unwrap().trim_end().to_owned()
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let line = self.line().await;
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    async fn login(&mut self) {
        self.send("220 fake\r\n").await;
        self.expect("USER").await;
        self.send("331 password\r\n").await;
        self.expect("PASS").await;
        self.send("230 in\r\n").await;
    }

    /// Answers `TYPE`, then `EPSV` with a listener's port; returns the listener.
    async fn passive(&mut self) -> TcpListener {
        self.expect("TYPE").await;
        self.send("200 ok\r\n").await;
        self.expect("EPSV").await;
        let data = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = data.local_addr().unwrap().port();
        self.send(&format!(
            "229 Entering Extended Passive Mode (|||{port}|)\r\n"
        ))
        .await;
        data
    }
}

/// Runs `script` against the first connection to a fresh listener; returns the address
/// and the task (await it to see the script's panics).
async fn fake_server<F, Fut>(script: F) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    F: FnOnce(Fake) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // As real servers do (vsftpd, pyftpdlib, ours): the urgent DM before ABOR stays
        // in the stream.
        socket2::SockRef::from(&stream)
            .set_out_of_band_inline(true)
            .unwrap();
        let (reader, writer) = stream.into_split();
        script(Fake {
            reader: BufReader::new(reader),
            writer,
        })
        .await;
    });
    (address, task)
}

fn quick() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.session.reply_timeout = Duration::from_secs(5);
    config.session.data_connect_timeout = Duration::from_secs(5);
    config.session.abort_reply_grace = Duration::from_millis(300);
    config.session.data_timeout = Duration::from_secs(5);
    config
}

async fn logged_in(address: SocketAddr) -> Client<TcpStream> {
    let mut client = Client::connect(address, quick()).await.unwrap();
    client.login("u", "p").await.unwrap();
    client
}

#[tokio::test]
async fn pasv_address_behind_nat_is_ignored() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        fake.expect("TYPE").await;
        fake.send("200 ok\r\n").await;
        fake.expect("EPSV").await;
        fake.send("500 EPSV not understood\r\n").await;
        fake.expect("PASV").await;
        let data = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = data.local_addr().unwrap().port();
        // A private address the client cannot (and must not) reach.
        fake.send(&format!(
            "227 Entering Passive Mode (10,255,1,2,{},{})\r\n",
            port >> 8,
            port & 0xff
        ))
        .await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("RETR nat.bin").await;
        fake.send("150 here\r\n").await;
        stream.write_all(b"behind the NAT").await.unwrap();
        drop(stream);
        fake.send("226 done\r\n").await;
        fake.expect("QUIT").await;
        fake.send("221 bye\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    let mut bytes = Vec::new();
    client.download_to("nat.bin", &mut bytes).await.unwrap();
    assert_eq!(bytes, b"behind the NAT");
    client.quit().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn reply_125_is_as_good_as_150() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("RETR").await;
        fake.send("125 Data connection already open; transfer starting.\r\n")
            .await;
        stream.write_all(b"from IIS").await.unwrap();
        drop(stream);
        fake.send("226 Transfer complete.\r\n").await;
        fake.expect("NOOP").await;
        fake.send("200 ok\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    let mut download = client.get("iis.txt").await.unwrap();
    let mut bytes = Vec::new();
    download.read_to_end(&mut bytes).await.unwrap();
    download.finish().await.unwrap();
    assert_eq!(bytes, b"from IIS");
    client.noop().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn final_226_before_the_end_of_data() {
    let expected = pattern(1 << 20, 5);
    let sent = expected.clone();
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("RETR").await;
        // Both replies in one write, before a single data byte.
        fake.send("150 here\r\n226 all sent\r\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for chunk in sent.chunks(64 * 1024) {
            stream.write_all(chunk).await.unwrap();
        }
        drop(stream);
        fake.expect("NOOP").await;
        fake.send("200 ok\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    let mut bytes = Vec::new();
    let count = client.download_to("early.bin", &mut bytes).await.unwrap();
    assert_eq!(count, expected.len() as u64);
    assert!(bytes == expected);
    client.noop().await.unwrap();
    server.await.unwrap();
}

/// A server that streams until `ABOR`, then answers 426 and 226.
async fn aborting_server(mut fake: Fake, transfers: usize) {
    fake.login().await;
    for round in 0..transfers {
        let data = if round == 0 {
            fake.passive().await
        } else {
            fake.expect("EPSV").await;
            let data = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = data.local_addr().unwrap().port();
            fake.send(&format!("229 ok (|||{port}|)\r\n")).await;
            data
        };
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("RETR").await;
        fake.send("150 endless\r\n").await;
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 16 * 1024];
            while stream.write_all(&chunk).await.is_ok() {}
        });
        fake.expect("ABOR").await;
        writer.abort();
        fake.send("426 Connection closed; transfer aborted.\r\n226 ABOR successful.\r\n")
            .await;
        fake.expect("NOOP").await;
        fake.send("200 still here\r\n").await;
    }
}

#[tokio::test]
async fn abort_reads_426_then_226() {
    let (address, server) = fake_server(|fake| aborting_server(fake, 2)).await;
    let mut client = logged_in(address).await;
    let mut download = client.get("endless").await.unwrap();
    let mut some = vec![0; 100_000];
    download.read_exact(&mut some).await.unwrap();
    assert!(download.bytes_transferred() >= 100_000);
    download.abort().await.unwrap();
    assert_eq!(client.noop().await.unwrap().code().as_u16(), 200);
    // Dropping the download midway aborts it before the next operation.
    let mut download = client.get("endless").await.unwrap();
    download.read_exact(&mut some).await.unwrap();
    drop(download);
    assert_eq!(client.noop().await.unwrap().code().as_u16(), 200);
    server.await.unwrap();
}

#[tokio::test]
async fn unsolicited_421_closes_the_client_clearly() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        fake.send("421 Service not available, closing control connection.\r\n")
            .await;
        // Hold the connection open a moment: the client must not wait for its end.
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let mut client = logged_in(address).await;
    let error = client.noop().await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Protocol(SessionError::ServiceClosing { .. })
        ),
        "{error}"
    );
    assert!(client.is_closed());
    let again = client.pwd().await.unwrap_err();
    assert!(matches!(
        again,
        ClientError::Protocol(SessionError::ServiceClosing { .. })
    ));
    server.await.unwrap();
}

#[tokio::test]
async fn hostile_listing_names_are_refused() {
    for name in ["../escaped", "/tmp/absolute", "a/b", "..", "back\\slash"] {
        let listing = format!(
            "-rw-r--r-- 1 0 0 3 Jan 01 2024 fine.txt\r\n-rw-r--r-- 1 0 0 3 Jan 01 2024 {name}\r\n"
        );
        let (address, server) = fake_server(move |mut fake| async move {
            fake.login().await;
            fake.expect("FEAT").await;
            fake.send("211-Features:\r\n SIZE\r\n211 End\r\n").await;
            let data = fake.passive().await;
            let (mut stream, _) = data.accept().await.unwrap();
            fake.expect("LIST").await;
            fake.send("150 listing\r\n").await;
            stream.write_all(listing.as_bytes()).await.unwrap();
            drop(stream);
            fake.send("226 done\r\n").await;
            fake.expect("NOOP").await;
            fake.send("200 ok\r\n").await;
        })
        .await;
        let mut client = logged_in(address).await;
        let target = TempDir::new("hostile");
        let error = client
            .download_tree("/", &target.join("into"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::UnsafeName { .. }),
            "{name}: {error}"
        );
        // Nothing was written, not even the harmless file listed first.
        assert!(!target.join("into/fine.txt").exists());
        assert!(!target.join("escaped").exists());
        client.noop().await.unwrap();
        server.await.unwrap();
    }
}

#[tokio::test]
async fn data_connection_that_never_opens_times_out_and_the_client_goes_on() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        fake.expect("TYPE").await;
        fake.send("200 ok\r\n").await;
        fake.expect("EPSV").await;
        // A port nobody listens on.
        let port = common::peers::free_port();
        fake.send(&format!("229 ok (|||{port}|)\r\n")).await;
        fake.expect("NOOP").await;
        fake.send("200 ok\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    let error = client.get("x").await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Protocol(SessionError::DataConnectionFailed { .. })
        ),
        "{error}"
    );
    client.noop().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn silent_server_times_out() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        fake.expect("NOOP").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    })
    .await;
    let mut config = quick();
    config.session.reply_timeout = Duration::from_millis(500);
    let mut client = Client::connect(address, config).await.unwrap();
    client.login("u", "p").await.unwrap();
    let started = std::time::Instant::now();
    let error = client.noop().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(error, ClientError::Protocol(SessionError::Timeout { .. })),
        "{error}"
    );
    assert!(client.is_closed());
    server.await.unwrap();
}

#[tokio::test]
async fn stalled_download_times_out_and_aborts() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("RETR").await;
        fake.send("150 here\r\n").await;
        stream.write_all(b"a little").await.unwrap();
        // ...then nothing, until ABOR.
        fake.expect("ABOR").await;
        drop(stream);
        fake.send("426 aborted\r\n226 ok\r\n").await;
        fake.expect("NOOP").await;
        fake.send("200 ok\r\n").await;
    })
    .await;
    let mut config = quick();
    config.session.data_timeout = Duration::from_millis(300);
    let mut client = Client::connect(address, config).await.unwrap();
    client.login("u", "p").await.unwrap();
    let mut download = client.get("slow").await.unwrap();
    let mut bytes = Vec::new();
    let error = download.read_to_end(&mut bytes).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(bytes, b"a little");
    drop(download);
    client.noop().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_download_that_trickles_is_read_as_it_comes() {
    // A sender far below the download's low-water mark: each piece must reach the
    // reader while the data connection stays open, not wait for 256 KiB or its end.
    let (seen_sender, mut seen) = tokio::sync::mpsc::channel::<usize>(1);
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("RETR").await;
        fake.send("150 trickling\r\n").await;
        for piece in 1..=3 {
            stream.write_all(b"drip").await.unwrap();
            // The next piece goes only once the client has read this one.
            assert_eq!(seen.recv().await, Some(piece * 4));
        }
        drop(stream);
        fake.send("226 done\r\n").await;
        fake.expect("QUIT").await;
        fake.send("221 bye\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    let mut download = client.get("slow.txt").await.unwrap();
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 64];
    loop {
        let read = download.read(&mut buffer).await.unwrap();
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&buffer[..read]);
        seen_sender.send(bytes.len()).await.unwrap();
    }
    download.finish().await.unwrap();
    assert_eq!(bytes, b"dripdripdrip");
    client.quit().await.unwrap();
    server.await.unwrap();
}

// ----- Issue 16 -----

/// SIZE after `list()` (which ran FEAT) against a server whose FEAT omits SIZE but
/// which implements it: sent, and answered. Then a 502 is a typed "not supported".
#[tokio::test]
async fn size_after_list_is_sent_although_feat_omits_it() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        fake.expect("FEAT").await;
        fake.send("211-Features:\r\n PASV\r\n211 End\r\n").await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("LIST").await;
        fake.send("150 here\r\n").await;
        stream
            .write_all(b"-rw-r--r-- 1 0 0 5 Jan 01 2024 a.txt\r\n")
            .await
            .unwrap();
        drop(stream);
        fake.send("226 done\r\n").await;
        fake.expect("SIZE a.txt").await;
        fake.send("213 5\r\n").await;
        fake.expect("MDTM a.txt").await;
        fake.send("502 MDTM not implemented\r\n").await;
        fake.expect("NOOP").await;
        fake.send("200 ok\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    assert_eq!(client.list(None).await.unwrap().len(), 1);
    assert_eq!(client.size("a.txt").await.unwrap(), 5);
    let error = client.mdtm("a.txt").await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Protocol(SessionError::NotSupported {
                feature: "MDTM",
                reply: Some(_),
                ..
            })
        ),
        "{error}"
    );
    client.noop().await.unwrap();
    server.await.unwrap();
}

/// A server that sends more listing than the client's bound, then goes silent: the
/// client stops reading and must still give up within its reply timeout.
#[tokio::test]
async fn listing_past_the_bound_then_silence_times_out() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("LIST").await;
        fake.send("150 here\r\n").await;
        let line = vec![b'x'; 1024];
        // Until the client closes the data connection, then nothing at all.
        while stream.write_all(&line).await.is_ok() {}
        let mut rest = Vec::new();
        let _ = fake.reader.read_to_end(&mut rest).await;
    })
    .await;
    let mut config = quick();
    config.session.max_listing_size = 64 * 1024;
    config.session.reply_timeout = Duration::from_secs(1);
    let mut client = Client::connect(address, config).await.unwrap();
    client.login("u", "p").await.unwrap();
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(10), client.list_raw(None))
        .await
        .expect("the listing gave up")
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, ClientError::Protocol(SessionError::Timeout { .. })),
        "{error}"
    );
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn active_mode_turns_away_a_stranger_and_takes_the_server() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        fake.expect("TYPE").await;
        fake.send("200 ok\r\n").await;
        let port_line = fake.expect("PORT").await;
        let numbers: Vec<u16> = port_line[5..]
            .split(',')
            .map(|number| number.parse().unwrap())
            .collect();
        let client_data = SocketAddr::from(([127, 0, 0, 1], numbers[4] * 256 + numbers[5]));
        // Another host (127.0.0.2) races the server to the client's listener.
        let stranger = tokio::net::TcpSocket::new_v4().unwrap();
        stranger.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut stranger = stranger.connect(client_data).await.unwrap();
        let _ = stranger.write_all(b"stolen").await;
        fake.send("200 PORT ok\r\n").await;
        fake.expect("RETR").await;
        fake.send("150 here\r\n").await;
        let mut stream = TcpStream::connect(client_data).await.unwrap();
        stream.write_all(b"the real data").await.unwrap();
        drop(stream);
        // The client closed the stranger's connection without reading it.
        let mut rest = Vec::new();
        let closed = stranger.read_to_end(&mut rest).await;
        assert!(closed.is_err() || rest.is_empty(), "{closed:?} {rest:?}");
        fake.send("226 done\r\n").await;
    })
    .await;
    let mut config = quick();
    config.session.data_connection_mode = ftp_proto::client::DataConnectionMode::Active;
    let mut client = Client::connect(address, config).await.unwrap();
    client.login("u", "p").await.unwrap();
    let mut bytes = Vec::new();
    client.download_to("f", &mut bytes).await.unwrap();
    assert_eq!(bytes, b"the real data");
    server.await.unwrap();
}

/// A vendor command that answers over a data connection runs without a dedicated
/// method: the session opens the data connection as for `LIST`.
#[tokio::test]
async fn a_site_command_that_lists_runs_over_a_data_connection() {
    let (address, server) = fake_server(|mut fake| async move {
        fake.login().await;
        let data = fake.passive().await;
        let (mut stream, _) = data.accept().await.unwrap();
        fake.expect("SITE LSLIST /quota").await;
        fake.send("150 here\r\n").await;
        stream.write_all(b"used 5\r\nfree 7\r\n").await.unwrap();
        drop(stream);
        fake.send("226 done\r\n").await;
        fake.expect("NOOP").await;
        fake.send("200 ok\r\n").await;
    })
    .await;
    let mut client = logged_in(address).await;
    let bytes = client.raw_listing("SITE LSLIST /quota").await.unwrap();
    assert_eq!(bytes, b"used 5\r\nfree 7\r\n");
    let refused = client.raw_listing("PASV").await.unwrap_err();
    assert!(matches!(
        refused,
        ClientError::Protocol(SessionError::RawRefused { .. })
    ));
    client.noop().await.unwrap();
    server.await.unwrap();
}
