//! Hardening, small defects (issue 7, items 17–19) through the real binary: look-alike usernames
//! are one user, database files are owner-only, and `token set --phone` is one transaction.

use crate::both_backends;
use crate::harness::{Backend, TestEnv};
use crate::server_client::Http;

both_backends!(item17_lookalike_usernames_are_refused, |env: &TestEnv| {
    env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
    // Fullwidth letters are `alice` after NFKC.
    let (_, err) = env.manage_err(&["createuser", "ａｌｉｃｅ", "pw", "a2@example.com"]);
    assert!(err.contains("already exists"), "{err}");
    // Cyrillic а (U+0430) and е (U+0435): a different key, the same skeleton.
    let (_, err) = env.manage_err(&["createuser", "\u{430}lic\u{435}", "pw", "a3@example.com"]);
    assert!(err.contains("looks like an existing user"), "{err}");
    for invisible in ["ali\u{200B}ce", "\u{202E}ecila", "bob\u{2066}"] {
        let (_, err) = env.manage_err(&["createuser", invisible, "pw", "a4@example.com"]);
        assert!(err.contains("invisible or text-direction"), "{err}");
    }
    // A decomposed accent is stored composed; the precomposed spelling is the same user.
    env.manage_ok(&["createuser", "jose\u{301}", "pw-jose", "jose@example.com"]);
    assert_eq!(
        env.query_strings("SELECT username FROM users WHERE username_key = 'jos\u{e9}'"),
        vec![vec!["jos\u{e9}".to_string()]]
    );
    let (_, err) = env.manage_err(&["createuser", "jos\u{e9}", "pw", "j2@example.com"]);
    assert!(err.contains("already exists"), "{err}");
    // Created in fullwidth, logged in by the normalised name (and by the fullwidth one).
    env.manage_ok(&["createuser", "ｂｏｂ", "pw-bob", "bob@example.com"]);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM users WHERE username = 'bob'"),
        1
    );
    let server = env.serve_in_process();
    let http = Http::new(&server);
    http.login_ok("bob", "pw-bob");
    http.login_ok("ｂｏｂ", "pw-bob");
});

both_backends!(
    item17_skeletons_are_unique_in_the_database,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
        env.manage_ok(&["createuser", "carol", "pw-carol", "carol@example.com"]);
        // Rows from before the column existed are backfilled when the store opens.
        env.exec("UPDATE users SET username_skeleton = NULL");
        env.manage_ok(&["listusers"]);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM users WHERE username_skeleton IS NULL"),
            0
        );
        // The index itself refuses a second row with alice's skeleton, whoever inserts it.
        let skeleton =
            env.query_strings("SELECT username_skeleton FROM users WHERE username = 'alice'");
        let sk = &skeleton[0][0];
        let pool_insert = format!(
            "INSERT INTO users (id, username, username_key, username_skeleton, password_hash, email, \
         created_at, updated_at) VALUES ('x1', '\u{430}lice', '\u{430}lice', '{sk}', 'h', \
         'x@example.com', 1, 1)"
        );
        let refused =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.exec(&pool_insert)));
        assert!(
            refused.is_err(),
            "a second row with the same skeleton was stored"
        );
        // Concurrent creates of two look-alikes: exactly one wins.
        let mut first = env.manage(&["createuser", "mallory", "pw", "m1@example.com"]);
        let mut second = env.manage(&["createuser", "rnallory", "pw", "m2@example.com"]);
        let (h1, h2) = (
            std::thread::spawn(move || first.output().unwrap()),
            std::thread::spawn(move || second.output().unwrap()),
        );
        let (o1, o2) = (h1.join().unwrap(), h2.join().unwrap());
        assert!(o1.status.success() ^ o2.status.success(), "{o1:?}\n{o2:?}");
    }
);

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn item18_database_files_are_owner_only() {
    let env = TestEnv::new(Backend::Sqlite);
    let db = env.dir.path().join("test.db");
    env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
    assert_eq!(mode(&db), 0o600, "test.db");
    let files = |env: &TestEnv| {
        ["test.db", "test.db-wal", "test.db-shm"]
            .map(|f| env.dir.path().join(f))
            .into_iter()
            .filter(|p| p.exists())
            .collect::<Vec<_>>()
    };
    for f in files(&env) {
        assert_eq!(mode(&f), 0o600, "{} after a CLI command", f.display());
    }
    // While the server runs, the WAL and shared-memory files exist: owner-only too.
    let server = env.serve();
    Http::new(&server).login_ok("alice", "pw-alice");
    env.manage_ok(&["listusers"]);
    let present = files(&env);
    assert_eq!(present.len(), 3, "{present:?}");
    for f in present {
        assert_eq!(mode(&f), 0o600, "{} while serving", f.display());
    }
    for f in ["enckey", "server-keys.toml"] {
        let p = env.data_dir().join(f);
        if p.exists() {
            assert_eq!(mode(&p) & 0o077, 0, "{f}");
        }
    }
}

/// Makes the database refuse an update that sets `max_fail` to 77 (as a failing disk or a
/// constraint would), after anything else of the same command may already have been written.
fn refuse_max_fail_77(env: &TestEnv) {
    match env.backend {
        Backend::Sqlite => env.exec(
            "CREATE TRIGGER refuse_77 BEFORE UPDATE OF max_fail ON tokens WHEN NEW.max_fail = 77 \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ),
        Backend::Postgres => {
            env.exec(
                "CREATE FUNCTION refuse_77() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.max_fail = 77 THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
            );
            env.exec(
                "CREATE TRIGGER refuse_77 BEFORE UPDATE ON tokens FOR EACH ROW \
                 EXECUTE FUNCTION refuse_77()",
            );
        }
    }
}

both_backends!(
    item19_token_set_phone_is_one_transaction,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
        for serial in ["P1", "P2"] {
            env.manage_ok(&[
                "token", "init", "--serial", serial, "--genkey", "--user", "alice",
            ]);
        }
        refuse_max_fail_77(env);
        env.manage_err(&[
            "token",
            "set",
            "--user",
            "alice",
            "--phone",
            "+4915100000",
            "--MaxFailCount",
            "77",
        ]);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM tokens WHERE info LIKE '%4915100000%'"),
            0,
            "the phone was stored although the update failed"
        );
        // Without the refused value, phone and fields land together on both tokens.
        env.manage_ok(&[
            "token",
            "set",
            "--user",
            "alice",
            "--phone",
            "+4915100000",
            "--MaxFailCount",
            "7",
        ]);
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM tokens WHERE info LIKE '%4915100000%' AND max_fail = 7"
            ),
            2
        );
    }
);
