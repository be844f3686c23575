//! Unit tests of the server adapter: configuration checks, the control listing limit
//! and the size of an idle session.

use super::answer::list_all;
use super::*;
use crate::server::MoreEntries;

use crate::tokio::{LocalFs, StaticUsers};

#[test]
fn server_new_refuses_contradictions_and_changes_nothing() {
    let users = || StaticUsers::new().anonymous(LocalFs::new(".").unwrap());
    let mut config = ServerConfig::default();
    config.session.capabilities.append = false;
    config.session.greeting = "mine".into();
    let server = Server::new(config, users()).unwrap();
    // The session configuration is the one built, not widened to the storage's.
    assert!(!server.shared.session_config.capabilities.append);
    assert_eq!(server.shared.session_config.greeting, "mine");
    assert!(!server.shared.session_config.enable_tls);

    let mut config = ServerConfig::default();
    config.session.enable_tls = true;
    let refused = Server::new(config, users()).err();
    assert_eq!(refused, Some(ConfigError::TlsWithoutConfiguration));

    let mut config = ServerConfig::default();
    config.session.implicit_tls = true;
    let refused = Server::new(config, users()).err();
    assert_eq!(refused, Some(ConfigError::ImplicitTlsNotEnabled));

    let config = ServerConfig::default();
    let read_only = server::Capabilities::READ_ONLY;
    assert_eq!(
        config.check(read_only),
        Err(ConfigError::CapabilitiesBeyondStorage {
            configured: server::Capabilities::ALL,
            storage: read_only,
        })
    );
    let mut config = ServerConfig::default();
    config.session.capabilities = read_only;
    assert_eq!(config.check(read_only), Ok(()));
}

#[cfg(feature = "tls")]
#[test]
fn tls_material_and_the_session_s_enable_tls_go_together() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("ftp-proto-check-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let tls =
        crate::tokio::tls::server_config_from_pem(&dir.join("cert.pem"), &dir.join("key.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
    let tls = tls.unwrap();
    let config = ServerConfig {
        tls: Some(Arc::clone(&tls)),
        ..ServerConfig::default()
    };
    assert_eq!(
        config.check(server::Capabilities::ALL),
        Err(ConfigError::TlsNotEnabled)
    );
    let mut config = ServerConfig::default().with_tls(tls);
    assert!(config.session.enable_tls);
    config.session.implicit_tls = true;
    assert_eq!(config.check(server::Capabilities::ALL), Ok(()));
}

#[test]
fn a_control_listing_reads_up_to_its_limit_and_says_whether_there_are_more() {
    let dir = std::env::temp_dir().join(format!("ftp-proto-list-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for n in 0..5 {
        std::fs::write(dir.join(format!("f{n}")), b"x").unwrap();
    }
    let fs = LocalFs::new(&dir).unwrap();
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let root = server::VirtualPath::root();
    let cut = runtime.block_on(list_all(&fs, &root, 3)).unwrap();
    let whole = runtime.block_on(list_all(&fs, &root, 5)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((cut.0.len(), cut.1), (3, MoreEntries::Unknown));
    assert_eq!((whole.0.len(), whole.1), (5, MoreEntries::None));
}

/// What an idle session costs is mostly its task (tokio rounds a task cell up to 128
/// bytes) and its boxed connection: a state that grows here (an inline timer, a TLS
/// handshake) is paid by every one of 10,000 idle sessions. The serve future was
/// 392 bytes before issue 16 in a `tokio` build, 1,776 with every feature (the
/// handshake inline).
#[test]
fn an_idle_session_stays_small_with_every_feature() {
    type Users = StaticUsers<LocalFs>;
    let config = ServerConfig::default();
    let shared = Arc::new(Shared {
        session_config: Arc::new(config.session.clone()),
        lockouts: Mutex::new(Lockouts::new(&config.limits)),
        admissions: Mutex::new(Admitted {
            admissions: Admissions::new(&config.limits),
            handles: HashMap::new(),
        }),
        next_passive_port: AtomicU16::new(*config.passive_ports.start()),
        config,
        authenticator: Users::new(),
    });
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stream = TcpStream::connect(address).await.unwrap();
        assert!(shared.admit(1, address.ip()).is_ok());
        let connection = Connection::new(shared, address, address, 1);
        let task = connection.serve(stream, CancellationToken::new());
        let size = std::mem::size_of_val(&task);
        assert!(size <= 400, "the session task's future is {size} bytes");
        assert!(std::mem::size_of::<Connection<Users>>() <= 576);
    });
}
