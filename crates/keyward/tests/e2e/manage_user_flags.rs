//! `add-user` and `update-user` at the console with seed 004's flags (SFTPGo's client spellings:
//! `--subdirs-permissions /dir1::list`, `--allowed-extensions /dir1::.jpg`, `--fs S3`, `""` to
//! clear), on both backends: the same object as over REST, only the flags given change, and a bad
//! flag names itself and changes nothing.

use serde_json::{Value, json};

use crate::api_client::{SEED_ADD_USER, SEED_UPDATE_USER};
use crate::both_backends;
use crate::server_users_rest::{assert_fields, seed_add_answer, seed_get_answer};

both_backends!(
    update_user_at_the_console_takes_the_seed_flags,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
        // Seed 004's "Add user" line, as `keyward api` runs it, at the console.
        let mut add: Vec<&str> = SEED_ADD_USER.to_vec();
        add.push("--json");
        let added: Value = serde_json::from_str(&env.manage_ok(&add)).unwrap();
        let mut want = seed_add_answer();
        // 2019-01-01 at 00:00 UTC here; the seed's author was at UTC+1.
        want["expiration_date"] = json!(1546300800000i64);
        assert_fields(&added, &want);
        // Seed 004's "Update user" line, the console's USER standing for the client's ID USERNAME.
        let mut update: Vec<&str> = vec!["update-user"];
        update.extend_from_slice(SEED_UPDATE_USER);
        assert_eq!(env.manage_ok(&update), "User updated\n");
        let id = added["id"].to_string();
        let got: Value =
            serde_json::from_str(&env.manage_ok(&["get-user", &id, "--json"])).unwrap();
        assert_fields(&got, &seed_get_answer());
        // Only the flags given change.
        env.manage_ok(&["update-user", &id, "--quota-files", "9"]);
        let got: Value =
            serde_json::from_str(&env.manage_ok(&["get-user", &id, "--json"])).unwrap();
        assert_eq!(got["quota_files"], 9);
        assert_eq!(got["filters"], seed_get_answer()["filters"]);
        // Bad flags name themselves and change nothing.
        for (flag, value) in [
            ("--allowed-ip", "10.0.0.1"),
            ("--subdirs-permissions", "/dir1:list"),
            ("--expiration-date", "2019-13-01"),
            ("--fs", "FTP"),
            ("--quota-size", "-1"),
            ("--permissions", "fly"),
        ] {
            let (code, err) = env.manage_err(&["update-user", &id, flag, value]);
            assert_ne!(code, 0);
            let name = flag.trim_start_matches("--").replace('-', "_");
            assert!(
                err.contains(flag) || err.contains(&name) || err.contains("permissions"),
                "{flag}: {err}"
            );
        }
        let again: Value =
            serde_json::from_str(&env.manage_ok(&["get-user", &id, "--json"])).unwrap();
        assert_eq!(again, got);
        assert_eq!(env.manage_ok(&["delete-user", &id]), "User deleted\n");
    }
);
