//! Feature `log`: with no `tracing` subscriber installed, the adapters' events reach a
//! program's `log` logger. A test binary of its own, because the logger is global and any
//! `tracing` subscriber (another test's) would take the events instead.
#![cfg(all(feature = "log", feature = "local-fs", unix))]

use std::sync::Mutex;
use std::time::Duration;

use ftp_proto::tokio::{LocalFs, Server, ServerConfig, StaticUsers};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Keeps every record whose target is in this crate, as "target: message" lines, and
/// wakes the test on each.
struct Recorder {
    lines: Mutex<Vec<String>>,
    arrived: Notify,
}

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("ftp_proto") {
            let line = format!("{}: {}", record.target(), record.args());
            self.lines.lock().unwrap().push(line);
            // A stored permit if the test is not waiting yet: no record is missed.
            self.arrived.notify_one();
        }
    }

    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder {
    lines: Mutex::new(Vec::new()),
    arrived: Notify::const_new(),
};

#[tokio::test]
async fn server_events_reach_a_log_logger() {
    log::set_logger(&RECORDER).expect("no other logger in this test binary");
    log::set_max_level(log::LevelFilter::Trace);

    let users = StaticUsers::new().anonymous(LocalFs::new(std::env::temp_dir()).unwrap());
    let server = Server::new(ServerConfig::default(), users).expect("a valid configuration");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = std::sync::Arc::new(Notify::new());
    let stopped = {
        let stop = stop.clone();
        tokio::spawn(server.serve(listener, async move { stop.notified().await }))
    };

    let stream = TcpStream::connect(address).await.unwrap();
    let me = stream.local_addr().unwrap().to_string();
    let mut control = BufReader::new(stream);
    let mut greeting = String::new();
    control.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("220"), "greeting: {greeting:?}");
    control.get_mut().write_all(b"QUIT\r\n").await.unwrap();
    let mut rest = String::new();
    control.read_to_string(&mut rest).await.unwrap();
    assert!(rest.starts_with("221"), "after QUIT: {rest:?}");

    // The session logs its peer (this connection's address) as it starts and ends.
    let named_us = || {
        let lines = RECORDER.lines.lock().unwrap();
        lines.iter().any(|line| line.contains(&me))
    };
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !named_us() {
            RECORDER.arrived.notified().await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "no log record names the session's peer {me}; records: {:#?}",
        RECORDER.lines.lock().unwrap()
    );

    stop.notify_one();
    stopped.await.unwrap().unwrap();
}
