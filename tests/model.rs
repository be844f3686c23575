//! Model-based test: random sequences of client operations run through the in-memory
//! pair (client::Session <-> server::Session <-> MemoryFs) and, side by side, through a
//! plain model of the tree (a BTreeMap). After every operation the result (success and
//! its payload, or the refusal's reply code) and the whole tree must agree.
//!
//! The model encodes what a correct FTP server over `MemoryFs` (with its rename, REST
//! and STOU semantics, see `ftp_proto::test_util::MemoryFs`) must answer;
//! data-connection mode, the order of the final reply and the end of data, and the
//! chunking of listings vary per case and must change nothing. Besides the plain
//! operations, the sequences hold transfers from an offset (REST), uploads under a
//! unique name (STOU), transfers aborted midway (ABOR), transfers that stall until a
//! deadline ends them, and idle waits on the pair's manual clock; every case ends with
//! the server's idle timeout.

#![cfg(feature = "test-util")]

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use ftp_proto::client::{self, DataConnectionMode, Error, Outcome as Output, Waiting};
use ftp_proto::listing::{self, ListLine};
use ftp_proto::server;
use ftp_proto::test_util::{FinalOrder, MemoryFs, Node, Pair, wall_clock};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// Path arguments: relative, absolute, with `..`, with a space, through files.
const PATHS: &[&str] = &[
    "a", "b", "d", "d/a", "d/x y", "d/e", "d/e/a", "/a", "/d/b", "..", "../a", "e", "a/a",
];

#[derive(Clone, Debug)]
enum Op {
    Mkdir(&'static str),
    Rmdir(&'static str),
    Store(&'static str, Vec<u8>),
    Append(&'static str, Vec<u8>),
    Delete(&'static str),
    Rename(&'static str, &'static str),
    Retrieve(&'static str),
    Size(&'static str),
    List(Option<&'static str>),
    Cwd(&'static str),
    /// REST n + RETR.
    RetrieveFrom(&'static str, u64),
    /// REST n + STOR.
    StoreFrom(&'static str, u64, Vec<u8>),
    /// STOU in the current directory.
    StoreUnique(Vec<u8>),
    /// RETR, aborted while the transfer runs.
    AbortRetrieve(&'static str),
    /// STOR, aborted while the transfer runs.
    AbortStore(&'static str, Vec<u8>),
    /// RETR whose data connection moves nothing until a deadline ends it.
    StallRetrieve(&'static str),
    /// Seconds pass with nothing to do (less than the server's idle timeout), then a
    /// NOOP finds the session still there.
    Wait(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Data(Vec<u8>),
    Size(u64),
    Listing(BTreeSet<(Vec<u8>, bool, u64)>),
    Refused(u16),
    /// STOU stored the file under this name.
    Unique(String),
    /// The client aborted the transfer.
    Aborted,
    /// The client gave up on a data connection that moved nothing.
    Stalled,
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MNode {
    Dir,
    File(Vec<u8>),
}

struct Model {
    nodes: BTreeMap<String, MNode>,
    cwd: String,
}

fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(slash) => path[..slash].to_owned(),
    }
}

fn name(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |slash| slash + 1)..]
}

impl Model {
    fn new() -> Model {
        Model {
            nodes: [("/".to_owned(), MNode::Dir)].into(),
            cwd: "/".to_owned(),
        }
    }

    fn join(&self, path: &str) -> String {
        let mut parts: Vec<&str> = if path.starts_with('/') {
            Vec::new()
        } else {
            self.cwd
                .split('/')
                .filter(|part| !part.is_empty())
                .collect()
        };
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                part => parts.push(part),
            }
        }
        format!("/{}", parts.join("/"))
    }

    fn is_dir(&self, path: &str) -> bool {
        self.nodes.get(path) == Some(&MNode::Dir)
    }

    fn children(&self, dir: &str) -> BTreeSet<(Vec<u8>, bool, u64)> {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .iter()
            .filter_map(|(key, node)| {
                let rest = key.strip_prefix(&prefix)?;
                if rest.is_empty() || rest.contains('/') {
                    return None;
                }
                Some(entry(rest, node))
            })
            .collect()
    }

    fn write(&mut self, path: &str, data: &[u8], append: bool) -> Outcome {
        let path = self.join(path);
        if !self.is_dir(&parent(&path)) || self.is_dir(&path) {
            return Outcome::Refused(550);
        }
        let old = match (append, self.nodes.get(&path)) {
            (true, Some(MNode::File(old))) => old.clone(),
            _ => Vec::new(),
        };
        self.nodes
            .insert(path, MNode::File([old.as_slice(), data].concat()));
        Outcome::Ok
    }

    /// Whether an upload to `path` (joined already) would be refused.
    fn unwritable(&self, path: &str) -> bool {
        !self.is_dir(&parent(path)) || self.is_dir(path)
    }

    fn write_at(&mut self, path: &str, offset: u64, data: &[u8]) -> Outcome {
        let path = self.join(path);
        if self.unwritable(&path) {
            return Outcome::Refused(550);
        }
        let mut new = match self.nodes.get(&path) {
            Some(MNode::File(old)) => old.clone(),
            _ => Vec::new(),
        };
        let offset = offset as usize;
        if new.len() < offset + data.len() {
            new.resize(offset + data.len(), 0);
        }
        new[offset..offset + data.len()].copy_from_slice(data);
        self.nodes.insert(path, MNode::File(new));
        Outcome::Ok
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        use Outcome::{Ok, Refused};
        match op {
            Op::Mkdir(path) => {
                let path = self.join(path);
                if self.nodes.contains_key(&path) || !self.is_dir(&parent(&path)) {
                    return Refused(550);
                }
                self.nodes.insert(path, MNode::Dir);
                Ok
            }
            Op::Rmdir(path) => {
                let path = self.join(path);
                if path == "/" || !self.is_dir(&path) || !self.children(&path).is_empty() {
                    return Refused(550);
                }
                self.nodes.remove(&path);
                Ok
            }
            Op::Store(path, data) => self.write(path, data, false),
            Op::Append(path, data) => self.write(path, data, true),
            Op::Delete(path) => {
                let path = self.join(path);
                match self.nodes.get(&path) {
                    Some(MNode::File(_)) => {
                        self.nodes.remove(&path);
                        Ok
                    }
                    _ => Refused(550),
                }
            }
            Op::Rename(from, to) => {
                let (from, to) = (self.join(from), self.join(to));
                let Some(node) = self.nodes.get(&from).cloned() else {
                    return Refused(550);
                };
                if from == "/" {
                    return Refused(550);
                }
                if from == to {
                    return Ok;
                }
                if to.starts_with(&format!("{from}/")) {
                    return Refused(553);
                }
                if !self.is_dir(&parent(&to)) {
                    return Refused(550);
                }
                match (self.nodes.get(&to), &node) {
                    (Some(MNode::Dir), _) | (Some(MNode::File(_)), MNode::Dir) => {
                        return Refused(550);
                    }
                    _ => {}
                }
                let inside = format!("{from}/");
                let moved: Vec<String> = self
                    .nodes
                    .keys()
                    .filter(|key| **key == from || key.starts_with(&inside))
                    .cloned()
                    .collect();
                for key in moved {
                    let node = self.nodes.remove(&key).unwrap();
                    self.nodes
                        .insert(format!("{to}{}", &key[from.len()..]), node);
                }
                Ok
            }
            Op::Retrieve(path) => match self.nodes.get(&self.join(path)) {
                Some(MNode::File(data)) => Outcome::Data(data.clone()),
                _ => Refused(550),
            },
            Op::Size(path) => match self.nodes.get(&self.join(path)) {
                Some(MNode::File(data)) => Outcome::Size(data.len() as u64),
                _ => Refused(550),
            },
            Op::List(path) => {
                let path = path.map_or_else(|| self.cwd.clone(), |path| self.join(path));
                match self.nodes.get(&path) {
                    Some(MNode::Dir) => Outcome::Listing(self.children(&path)),
                    Some(node) => Outcome::Listing([entry(name(&path), node)].into()),
                    None => Refused(550),
                }
            }
            Op::Cwd(path) => {
                let path = self.join(path);
                if !self.is_dir(&path) {
                    return Refused(550);
                }
                self.cwd = path;
                Ok
            }
            Op::RetrieveFrom(path, offset) => match self.nodes.get(&self.join(path)) {
                Some(MNode::File(data)) => {
                    let offset = (*offset as usize).min(data.len());
                    Outcome::Data(data[offset..].to_vec())
                }
                _ => Refused(550),
            },
            // REST 0 is no offset: STOR replaces the file.
            Op::StoreFrom(path, 0, data) => self.write(path, data, false),
            Op::StoreFrom(path, offset, data) => self.write_at(path, *offset, data),
            Op::StoreUnique(data) => {
                let base = self.join("upload");
                let mut name = base.clone();
                let mut counter = 1;
                while self.nodes.contains_key(&name) {
                    name = format!("{base}.{counter}");
                    counter += 1;
                }
                if self.unwritable(&name) {
                    return Refused(550);
                }
                self.nodes.insert(name.clone(), MNode::File(data.clone()));
                Outcome::Unique(name)
            }
            Op::AbortRetrieve(path) => match self.nodes.get(&self.join(path)) {
                Some(MNode::File(_)) => Outcome::Aborted,
                _ => Refused(550),
            },
            // Nothing arrived before the abort: the tree does not change.
            Op::AbortStore(path, _) if self.unwritable(&self.join(path)) => Refused(550),
            Op::AbortStore(..) => Outcome::Aborted,
            Op::StallRetrieve(path) => match self.nodes.get(&self.join(path)) {
                Some(MNode::File(_)) => Outcome::Stalled,
                _ => Refused(550),
            },
            Op::Wait(_) => Ok,
        }
    }

    fn tree(&self) -> BTreeMap<Vec<u8>, MNode> {
        self.nodes
            .iter()
            .map(|(key, node)| (key.as_bytes().to_vec(), node.clone()))
            .collect()
    }
}

fn entry(name: &str, node: &MNode) -> (Vec<u8>, bool, u64) {
    match node {
        MNode::Dir => (name.as_bytes().to_vec(), true, 0),
        MNode::File(data) => (name.as_bytes().to_vec(), false, data.len() as u64),
    }
}

fn tree_of(fs: &MemoryFs) -> BTreeMap<Vec<u8>, MNode> {
    fs.nodes()
        .iter()
        .map(|(key, node)| {
            let node = match node {
                Node::Directory => MNode::Dir,
                Node::File { data, .. } => MNode::File(data.clone()),
            };
            (key.clone(), node)
        })
        .collect()
}

fn parse_list(bytes: &[u8]) -> Outcome {
    let mut entries = BTreeSet::new();
    for line in listing::list_lines(bytes, wall_clock()) {
        match line {
            ListLine::Entry(entry) => {
                entries.insert((
                    entry.name.as_bytes().to_vec(),
                    entry.is_directory(),
                    entry.size.unwrap_or(u64::MAX),
                ));
            }
            other => return Outcome::Other(format!("unreadable LIST line {other:?}")),
        }
    }
    Outcome::Listing(entries)
}

/// Starts a transfer with the data connection held (nothing moves), then either aborts
/// it or lets time pass until a deadline ends it; returns its result.
fn held_transfer(
    pair: &mut Pair,
    upload: Option<&[u8]>,
    abort: bool,
    operation: impl FnOnce(
        &mut client::Session,
        std::time::Instant,
    ) -> Result<client::OperationId, Error>,
) -> Result<Output, Error> {
    pair.hold_transfers = true;
    let id = match upload {
        Some(data) => pair.start_upload(data, operation),
        None => pair.start(operation),
    };
    pair.run_until_quiet();
    if !pair.is_complete(id) {
        assert!(
            pair.transfer_held(),
            "a transfer that neither ran nor ended"
        );
        if abort {
            let now = pair.now();
            pair.client.abort(id, now);
            pair.run_until_quiet();
        } else {
            // The first deadline to pass is the client's stall deadline (its
            // data_timeout, shorter than the server's).
            for _ in 0..10 {
                if pair.is_complete(id) {
                    break;
                }
                pair.advance_to_next_deadline();
            }
        }
    }
    pair.hold_transfers = false;
    pair.uploads.remove(&id);
    pair.take(id).expect("the held transfer never completed")
}

/// Runs one operation through the pair and says what came of it.
fn run(pair: &mut Pair, op: &Op) -> Outcome {
    let result = match op {
        Op::Mkdir(path) => pair.run(|c, now| c.make_directory(*path, now)),
        Op::Rmdir(path) => pair.run(|c, now| c.remove_directory(*path, now)),
        Op::Store(path, data) => pair.upload(data, |c, now| c.store(*path, now)),
        Op::Append(path, data) => pair.upload(data, |c, now| c.append(*path, now)),
        Op::Delete(path) => pair.run(|c, now| c.delete(*path, now)),
        Op::Rename(from, to) => pair.run(|c, now| c.rename(*from, *to, now)),
        Op::Retrieve(path) => {
            let (result, bytes) = pair.download(|c, now| c.retrieve(*path, now));
            result.map(|_| Output::Listing(bytes))
        }
        Op::Size(path) => pair.run(|c, now| c.size(*path, now)),
        Op::List(path) => pair.run(|c, now| c.list(path.map(Into::into), now)),
        Op::Cwd(path) => pair.run(|c, now| c.change_directory(*path, now)),
        Op::RetrieveFrom(path, offset) => {
            let (result, bytes) = pair.download(|c, now| c.retrieve_from(*path, *offset, now));
            result.map(|_| Output::Listing(bytes))
        }
        Op::StoreFrom(path, offset, data) => {
            pair.upload(data, |c, now| c.store_from(*path, *offset, now))
        }
        Op::StoreUnique(data) => pair.upload(data, |c, now| c.store_unique(now)),
        Op::AbortRetrieve(path) => held_transfer(pair, None, true, |c, now| c.retrieve(*path, now)),
        Op::AbortStore(path, data) => {
            held_transfer(pair, Some(data), true, |c, now| c.store(*path, now))
        }
        Op::StallRetrieve(path) => {
            held_transfer(pair, None, false, |c, now| c.retrieve(*path, now))
        }
        Op::Wait(seconds) => {
            pair.advance(Duration::from_secs(*seconds));
            if pair.server_is_closed() || pair.client_closed.is_some() {
                return Outcome::Other(format!("closed after waiting {seconds} s"));
            }
            match pair.run(|c, now| c.noop(now)) {
                Ok(Output::Done(reply)) if reply.code().as_u16() == 200 => return Outcome::Ok,
                other => return Outcome::Other(format!("NOOP after a wait: {other:?}")),
            }
        }
    };
    match (op, result) {
        (Op::Retrieve(_) | Op::RetrieveFrom(..), Ok(Output::Listing(bytes))) => {
            Outcome::Data(bytes)
        }
        (
            Op::StoreUnique(_),
            Ok(Output::Transferred {
                unique_name: Some(name),
                ..
            }),
        ) => Outcome::Unique(name.to_string_lossy().into_owned()),
        (Op::AbortRetrieve(_) | Op::AbortStore(..), Err(Error::Aborted { .. })) => Outcome::Aborted,
        (
            Op::StallRetrieve(_),
            Err(Error::Timeout {
                waiting_for: Waiting::Data,
                ..
            }),
        ) => Outcome::Stalled,
        (Op::List(_), Ok(Output::Listing(bytes))) => parse_list(&bytes),
        (_, Ok(Output::Size(size))) => Outcome::Size(size),
        (
            Op::Mkdir(_)
            | Op::Rmdir(_)
            | Op::Delete(_)
            | Op::Rename(..)
            | Op::Cwd(_)
            | Op::Store(..)
            | Op::StoreFrom(..)
            | Op::Append(..),
            Ok(Output::Done(_) | Output::Directory(_) | Output::Transferred { .. }),
        ) => Outcome::Ok,
        (_, Err(Error::Refused { reply, .. })) => Outcome::Refused(reply.code().as_u16()),
        (_, other) => Outcome::Other(format!("{other:?}")),
    }
}

fn path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PATHS)
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => path().prop_map(Op::Mkdir),
        1 => path().prop_map(Op::Rmdir),
        3 => (path(), content()).prop_map(|(path, data)| Op::Store(path, data)),
        2 => (path(), content()).prop_map(|(path, data)| Op::Append(path, data)),
        1 => path().prop_map(Op::Delete),
        2 => (path(), path()).prop_map(|(from, to)| Op::Rename(from, to)),
        2 => path().prop_map(Op::Retrieve),
        1 => path().prop_map(Op::Size),
        2 => prop::option::of(path()).prop_map(Op::List),
        2 => path().prop_map(Op::Cwd),
        1 => (path(), 0u64..50).prop_map(|(path, offset)| Op::RetrieveFrom(path, offset)),
        1 => (path(), 0u64..50, content())
            .prop_map(|(path, offset, data)| Op::StoreFrom(path, offset, data)),
        1 => content().prop_map(Op::StoreUnique),
        1 => path().prop_map(Op::AbortRetrieve),
        1 => (path(), content()).prop_map(|(path, data)| Op::AbortStore(path, data)),
        1 => path().prop_map(Op::StallRetrieve),
        1 => (1u64..300).prop_map(Op::Wait),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    active: bool,
    reply_first: bool,
    chunk: usize,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        any::<bool>(),
        1usize..64,
        prop::collection::vec(op(), 1..30),
    )
        .prop_map(|(active, reply_first, chunk, ops)| Case {
            active,
            reply_first,
            chunk,
            ops,
        })
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let mut config = client::Config::default();
    if case.active {
        config.data_connection_mode = DataConnectionMode::Active;
    }
    let mut pair = Pair::logged_in_with(config, server::Config::default(), MemoryFs::new());
    pair.order = if case.reply_first {
        FinalOrder::ReplyFirst
    } else {
        FinalOrder::DataEndFirst
    };
    pair.chunk = case.chunk;
    let mut model = Model::new();
    for (index, op) in case.ops.iter().enumerate() {
        let expected = model.apply(op);
        let actual = run(&mut pair, op);
        prop_assert_eq!(&actual, &expected, "op #{} {:?}", index, op);
        prop_assert_eq!(
            tree_of(&pair.fs),
            model.tree(),
            "tree after op #{} {:?}",
            index,
            op
        );
        prop_assert_eq!(
            pair.server.working_directory().as_bytes(),
            model.cwd.as_bytes(),
            "cwd after op #{} {:?}",
            index,
            op
        );
    }
    prop_assert!(pair.client_closed.is_none());
    prop_assert!(
        pair.results.is_empty(),
        "left-over results {:?}",
        pair.results
    );
    // Left alone, the session ends at the server's idle timeout (421), and that is the
    // next deadline of either side.
    let idle = server::Config::default().idle_timeout;
    prop_assert_eq!(pair.advance_to_next_deadline(), Some(idle));
    prop_assert!(pair.server_is_closed());
    let closed = pair.client_closed.clone();
    prop_assert!(
        matches!(
            &closed,
            Some(Some(Error::ServiceClosing { reply })) if reply.code().as_u16() == 421
        ),
        "{:?}",
        closed
    );
    Ok(())
}

#[test]
fn random_operations_match_the_model() {
    let config = Config {
        cases: 200,
        rng_seed: RngSeed::Fixed(0x5eed_f7b0),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&case(), check) {
        panic!("{error}");
    }
}

#[test]
fn the_model_agrees_on_a_known_sequence() {
    // A hand-written sequence touching every kind of operation, as a smoke test that
    // keeps failing loudly if the random one ever stops exploring.
    let ops = vec![
        Op::Mkdir("d"),
        Op::Store("d/a", b"hello".to_vec()),
        Op::Append("d/a", b" world".to_vec()),
        Op::Cwd("d"),
        Op::Retrieve("a"),
        Op::Size("/d/a"),
        Op::Mkdir("e"),
        Op::Rename("a", "e/a"),
        Op::List(None),
        Op::List(Some("e")),
        Op::Rmdir("e"),
        Op::Rename("/d", "/d/e/x"),
        Op::Cwd(".."),
        Op::Rename("/d", "/b"),
        Op::Delete("b/e/a"),
        Op::Rmdir("b/e"),
        Op::Rmdir("b"),
        Op::List(Some("/")),
        Op::StoreFrom("r", 3, b"xy".to_vec()),
        Op::RetrieveFrom("r", 2),
        Op::StoreFrom("r", 1, b"a".to_vec()),
        Op::StoreFrom("r", 0, b"new".to_vec()),
        Op::RetrieveFrom("r", 99),
        Op::StoreUnique(b"one".to_vec()),
        Op::StoreUnique(b"two".to_vec()),
        Op::Mkdir("upload.2"),
        Op::StoreUnique(b"three".to_vec()),
        Op::AbortRetrieve("r"),
        Op::AbortStore("r", b"lost".to_vec()),
        Op::AbortRetrieve("missing"),
        Op::StallRetrieve("upload"),
        Op::Wait(299),
        Op::Retrieve("r"),
        Op::List(None),
    ];
    check(Case {
        active: false,
        reply_first: false,
        chunk: 7,
        ops,
    })
    .unwrap();
}
