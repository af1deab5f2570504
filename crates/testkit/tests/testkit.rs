//! The test kit itself, on SQLite and PostgreSQL: an installation, users and keys made through
//! the registry, the in-process server answering the typed client, and a clean stop that frees
//! the port and leaves the audit rows written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_testkit::{Backend, ClientError, Installation, TestServer, postgres_or_skip};

const ACCESS_KEY: &str = "testkit-management-key-0123456789";

/// The HTTP status of a failed call (the wire types need not be `Debug`).
fn failed_with<T>(r: Result<T, ClientError>) -> Option<u16> {
    r.err().and_then(|e| e.status())
}

fn installation(backend: Backend) -> Installation {
    Installation::new(
        backend,
        &format!("management_command_access_key = \"{ACCESS_KEY}\""),
    )
    .unwrap()
}

fn serves_the_typed_client(backend: Backend) {
    let install = installation(backend);
    // The first user is the superuser; alice, below it, may be disabled.
    install
        .create_user("root", "pw-root", "root@example.com")
        .unwrap();
    install
        .create_user("alice", "pw-alice", "alice@example.com")
        .unwrap();
    let key = install.create_api_key("admin", Some("alice")).unwrap();
    assert_eq!(key.username, "alice");
    assert!(key.key.starts_with(&format!("kw_{}_", key.id)), "{key:?}");

    let server = install.serve().unwrap();
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );
    let client = server.client();
    assert_eq!(client.health().unwrap().status, "ok");
    assert_eq!(client.version().unwrap().version, env!("CARGO_PKG_VERSION"));
    assert_eq!(client.provider_status().unwrap().message, "Alive");

    let session = client.login("alice", "pw-alice", None).unwrap();
    assert_eq!(session.username, "alice");
    let me = client.me(&session.token).unwrap();
    assert_eq!(
        (me.username.as_str(), me.auth.as_str()),
        ("alice", "session")
    );
    assert_eq!(client.me(&key.key).unwrap().auth, "api_key");
    let conns = client.connections(&key.key).unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].remote_address, "127.0.0.1");

    // Errors come back typed, with the server's error body.
    match client.login("alice", "wrong", None).err() {
        Some(ClientError::Status {
            status: 401,
            message: Some(m),
            ..
        }) => assert_eq!(m.status, 401),
        other => panic!("{other:?}"),
    }

    // The registry helpers act on the running server's database.
    let out = server.console(&["disableuser", "alice"]).unwrap();
    assert!(out.text.contains("alice"), "{}", out.text);
    assert_eq!(failed_with(client.me(&session.token)), Some(401));
    let err = server.console(&["disableuser", "nobody"]).unwrap_err();
    assert!(err.to_string().contains("nobody"), "{err}");

    // The management endpoint, typed.
    let r = client.management(ACCESS_KEY, "listusers", &[]).unwrap();
    assert_eq!(r.exit_code, 0);
    assert!(r.output.contains("alice"), "{}", r.output);
    let denied = client.management("wrong", "listusers", &[]);
    assert_eq!(failed_with(denied), Some(403));

    // Stopping frees the port and flushes the coalesced failure summary.
    let authority = server.authority().to_string();
    server.stop();
    assert!(std::net::TcpStream::connect(&authority).is_err());
    let audit = install.console(&["audit", "verify"]).unwrap();
    assert!(audit.text.contains("chains"), "{}", audit.text);
}

#[test]
fn serves_the_typed_client_sqlite() {
    serves_the_typed_client(Backend::Sqlite);
}

#[test]
fn serves_the_typed_client_postgres() {
    if postgres_or_skip("testkit serves_the_typed_client") {
        serves_the_typed_client(Backend::Postgres);
    }
}

#[test]
fn a_failed_start_is_an_error_not_a_hang() {
    let install =
        Installation::new(Backend::Sqlite, "tls_cert_file = \"/nonexistent.pem\"").unwrap();
    let err = TestServer::start(install.settings(&[]).unwrap())
        .err()
        .expect("a TLS certificate without its key must not start");
    assert!(err.to_string().contains("tls_key_file"), "{err}");
}

#[test]
fn two_servers_in_one_process_keep_their_own_state() {
    let a = installation(Backend::Sqlite);
    let b = installation(Backend::Sqlite);
    a.create_user("alice", "pw-alice", "a@example.com").unwrap();
    b.create_user("bob", "pw-bob", "b@example.com").unwrap();
    let (sa, sb) = (a.serve().unwrap(), b.serve().unwrap());
    assert_ne!(sa.url(), sb.url());
    sa.client().login("alice", "pw-alice", None).unwrap();
    assert_eq!(
        failed_with(sb.client().login("alice", "pw-alice", None)),
        Some(401)
    );
    sb.client().login("bob", "pw-bob", None).unwrap();
}
