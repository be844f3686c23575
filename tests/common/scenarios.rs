//! Client scenarios that every storage back end of the tokio server must pass, written
//! once: `interop_server.rs` runs them over the local file system and
//! `interop_object_store.rs` over an object store, each against its own server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use super::peers::{TempDir, TestServer, pattern, run_ok};

/// What a scenario needs of the server under test.
pub trait Served {
    /// The port it listens on, on 127.0.0.1.
    fn port(&self) -> u16;
    /// What it holds under `name`, relative to the served root; panics when nothing.
    fn read(&self, name: &str) -> Vec<u8>;
    /// Whether it holds a file under `name`.
    fn exists(&self, name: &str) -> bool;
    /// Stores `data` under `name` behind the server's back, as another tool would.
    fn put(&self, name: &str, data: &[u8]);

    /// The anonymous `ftp://` URL of `path`.
    fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{path}", self.port())
    }
}

impl Served for TestServer {
    fn port(&self) -> u16 {
        self.address.port()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        TestServer::read(self, name)
    }

    fn exists(&self, name: &str) -> bool {
        TestServer::exists(self, name)
    }

    fn put(&self, name: &str, data: &[u8]) {
        self.write(name, data)
    }
}

/// A control connection driven by hand, for what no client program sends: a reply at a
/// time, multi-line replies joined.
pub struct RawClient {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl RawClient {
    /// Connects to 127.0.0.1:`port` and reads the 220 greeting.
    pub fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut client = RawClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert!(client.reply().starts_with("220"));
        client
    }

    /// One reply, multi-line replies joined.
    pub fn reply(&mut self) -> String {
        let mut first = String::new();
        self.reader.read_line(&mut first).unwrap();
        let mut reply = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            let closing = format!("{} ", &first[..3]);
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                reply.push_str(&line);
                if line.starts_with(&closing) {
                    break;
                }
            }
        }
        reply
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends one command line; its reply.
    pub fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends EPSV and returns the port of the 229 reply.
    pub fn extended_passive_port(&mut self) -> u16 {
        let reply = self.command("EPSV");
        ftp_proto::parse_reply(reply.as_bytes())
            .ok()
            .and_then(|reply| reply.extended_passive_port().ok())
            .unwrap_or_else(|| panic!("no port in {reply}"))
    }

    /// Logs in as alice, the writing user of every test server.
    pub fn login(&mut self) {
        assert!(self.command("USER alice").starts_with("331"));
        assert!(self.command("PASS secret").starts_with("230"));
    }
}

/// curl, quiet but for errors, given two minutes at most.
pub fn curl() -> Command {
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--max-time", "120"]);
    command
}

/// Twenty curl processes fetch one 64 KiB file at once; each must get all of it, with
/// the server's default limits (twenty sessions from 127.0.0.1).
pub fn curl_fetches_twenty_at_once(server: &impl Served) {
    let small = pattern(64 << 10, 4);
    server.put("small.bin", &small);
    let children: Vec<_> = (0..20)
        .map(|_| {
            curl()
                .arg(server.url("small.bin"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert!(output.stdout == small);
    }
}

/// Runs lftp as `user` (`NAME,PASSWORD`) with `script` against `server`; its output.
/// Any failing command fails the run.
pub fn lftp(server: &impl Served, user: &str, script: &str) -> Vec<u8> {
    run_ok(Command::new("lftp").args([
        "-u",
        user,
        "-p",
        &server.port().to_string(),
        "-e",
        &format!(
            "set cmd:fail-exit true; set net:max-retries 1; set net:timeout 20; {script}; bye"
        ),
        "127.0.0.1",
    ]))
}

/// Runs a Python script; what it printed.
pub fn python(script: &str) -> String {
    String::from_utf8(run_ok(Command::new("python3").args(["-c", script]))).unwrap()
}

/// lftp mirrors a tree (a name with a space, a non-ASCII one, three levels) up to a
/// fresh server from `start` and back down, in passive and then active mode; both
/// copies must equal the tree.
pub fn lftp_mirrors_both_ways<S: Served>(start: impl Fn() -> S) {
    for passive in ["on", "off"] {
        let server = start();
        let local = TempDir::new("lftp-local");
        let tree = [
            ("up/a.txt", pattern(10, 5)),
            ("up/sub dir/b.bin", pattern(150_000, 6)),
            ("up/sub dir/deeper/ü.txt", pattern(1, 7)),
        ];
        for (name, data) in &tree {
            let path = local.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        lftp(
            &server,
            "alice,secret",
            &format!(
                "set ftp:passive-mode {passive}; lcd {}; mirror -R up up; mirror up down",
                local.path().display()
            ),
        );
        for (name, data) in &tree {
            assert!(
                &server.read(name) == data,
                "{name} uploaded with passive {passive}"
            );
            let downloaded = std::fs::read(local.join(&name.replacen("up/", "down/", 1))).unwrap();
            assert!(
                &downloaded == data,
                "{name} downloaded with passive {passive}"
            );
        }
    }
}

/// The SHA-256 of `bytes` in hex, as Python's hashlib prints it.
pub fn sha256(bytes: &[u8]) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys,hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Python's ftplib through the common operations, in passive and then active mode:
/// MKD, CWD, PWD, RETR whole and resumed (REST), STOR, SIZE, MDTM, NLST, MLSD, MLST,
/// renaming a file and a directory, DELE and QUIT, checked line by line and against what
/// the server holds. A back end that cannot rename directories must refuse with 504.
pub fn ftplib_does_everything(server: &impl Served, renames_directories: bool) {
    let data = pattern(123_457, 8);
    server.put("data.bin", &data);
    let script = format!(
        r#"
import ftplib, io, hashlib
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", {port}, timeout=30)
ftp.login("alice", "secret")
print("pwd", ftp.pwd())
ftp.mkd("new dir")
ftp.cwd("new dir")
print("pwd", ftp.pwd())
ftp.cwd("..")
for passive in (True, False):
    ftp.set_pasv(passive)
    buf = io.BytesIO()
    ftp.retrbinary("RETR data.bin", buf.write)
    print("sha", passive, hashlib.sha256(buf.getvalue()).hexdigest())
    part = io.BytesIO()
    ftp.retrbinary("RETR data.bin", part.write, rest=1000)
    print("rest", passive, hashlib.sha256(part.getvalue()).hexdigest())
    ftp.storbinary("STOR new dir/up %s.bin" % passive, io.BytesIO(buf.getvalue()))
print("size", ftp.size("data.bin"))
print("mdtm", ftp.voidcmd("MDTM data.bin")[:4])
print("nlst", sorted(ftp.nlst()))
facts = dict(ftp.mlsd(facts=["type", "size"]))
print("mlsd", facts["data.bin"]["type"], facts["data.bin"]["size"], facts["new dir"]["type"])
print("mlst", ftp.voidcmd("MLST data.bin").splitlines()[1].strip().split(";")[0])
ftp.rename("data.bin", "renamed.bin")
ftp.delete("renamed.bin")
try:
    ftp.rename("new dir", "other dir")
    print("rename dir ok")
except ftplib.error_perm as e:
    print("rename dir", str(e)[:3])
print("quit", ftp.quit()[:3])
"#,
        port = server.port()
    );
    let output = python(&script);
    let whole = sha256(&data);
    let rest = sha256(&data[1000..]);
    let (renamed, directory) = if renames_directories {
        ("ok", "other dir")
    } else {
        ("504", "new dir")
    };
    let expected = format!(
        "pwd /\npwd /new dir\nsha True {whole}\nrest True {rest}\nsha False {whole}\nrest False {rest}\n\
         size 123457\nmdtm 213 \nnlst ['data.bin', 'new dir']\nmlsd file 123457 dir\nmlst type=file\n\
         rename dir {renamed}\nquit 221\n"
    );
    assert_eq!(output, expected);
    assert!(server.read(&format!("{directory}/up True.bin")) == data);
    assert!(server.read(&format!("{directory}/up False.bin")) == data);
    assert!(!server.exists("data.bin") && !server.exists("renamed.bin"));
}

/// Python's ftplib aborts a large download with `FTP.abort()`, which sends `ABOR\r\n`
/// as TCP urgent data (`MSG_OOB`), in passive and then active mode: the server must
/// answer (426 then 226, as the transfer was running), and the same session must go on
/// to download a small file whole.
pub fn ftplib_aborts_a_download_and_goes_on(server: &impl Served) {
    // Larger than every socket buffer on the way: the transfer is still running when
    // the abort comes.
    server.put("big.bin", &pattern(32 << 20, 9));
    let small = pattern(10_000, 10);
    server.put("small.bin", &small);
    let script = format!(
        r#"
import ftplib, io, hashlib
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", {port}, timeout=20)
ftp.login("alice", "secret")
for passive in (True, False):
    ftp.set_pasv(passive)
    conn = ftp.transfercmd("RETR big.bin")
    print("got", len(conn.recv(65536)) > 0)
    resp = ftp.abort()
    print("abort", resp[:3])
    if resp[:3] == "426":
        print("then", ftp.voidresp()[:3])
    conn.close()
    buf = io.BytesIO()
    ftp.retrbinary("RETR small.bin", buf.write)
    print("small", hashlib.sha256(buf.getvalue()).hexdigest())
print("quit", ftp.quit()[:3])
"#,
        port = server.port()
    );
    let output = python(&script);
    let round = format!("got True\nabort 426\nthen 226\nsmall {}\n", sha256(&small));
    assert_eq!(output, format!("{round}{round}quit 221\n"));
}

/// Forty ftplib sessions from one address, all open at once, each logged in and
/// downloading: parallel clients and offices behind one NAT address do this, and the
/// server's default limits must let them.
pub fn ftplib_holds_forty_sessions_at_once(server: &impl Served) {
    let small = pattern(5_000, 11);
    server.put("small.bin", &small);
    let script = format!(
        r#"
import ftplib, io, hashlib
sessions = []
for _ in range(40):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", {port}, timeout=20)
    ftp.login("alice", "secret")
    sessions.append(ftp)
digests = set()
for ftp in sessions:
    buf = io.BytesIO()
    ftp.retrbinary("RETR small.bin", buf.write)
    digests.add(hashlib.sha256(buf.getvalue()).hexdigest())
print(len(sessions), sorted(digests))
for ftp in sessions:
    ftp.quit()
"#,
        port = server.port()
    );
    assert_eq!(python(&script), format!("40 ['{}']\n", sha256(&small)));
}
