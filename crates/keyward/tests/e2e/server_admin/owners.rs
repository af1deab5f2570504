//! /admin: `assign`, `unassign`, `copyTokenUser`, `copyTokenPin`, `getTokenOwner`.

use super::*;
use crate::both_backends;
use crate::server_validate::{accepted, check};

both_backends!(
    assign_binds_the_token_and_its_pin_then_validates,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        assert_eq!(owner_of(env, "H1"), "");
        let v = api.ok(
            "assign",
            json!({"serial": "H1", "user": "alice", "pin": "1234"}),
        );
        assert_eq!(v, true);
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
        let pin_hash = text_column(env, "H1", "pin_hash");
        assert!(!pin_hash.is_empty() && !pin_hash.contains("1234"));
        assert!(!accepted(&api.http, "alice", &hotp(0)), "PIN missing");
        assert!(accepted(&api.http, "alice", &format!("1234{}", hotp(1))));
    }
);

both_backends!(
    assign_refuses_another_owner_unknown_user_and_missing_user,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.err("assign", json!({"serial": "H1", "user": "bob"}), 1101);
        api.err("assign", json!({"serial": "H1", "user": "nobody"}), 1102);
        let msg = api.err("assign", json!({"serial": "H1"}), 905);
        assert!(msg.contains("user"), "{msg}");
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
    }
);

both_backends!(
    unassign_removes_owner_pin_and_fail_count,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), Some("1234"));
        assert!(!accepted(&api.http, "alice", "1234000000"));
        assert_eq!(column(env, "H1", "fail_count"), 1);
        api.err("unassign", json!({"serial": "H1", "user": "bob"}), 905);
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
        let v = api.ok("unassign", json!({"serial": "H1"}));
        assert_eq!(v, 1);
        assert_eq!(owner_of(env, "H1"), "");
        assert_eq!(text_column(env, "H1", "pin_hash"), "");
        assert_eq!(column(env, "H1", "fail_count"), 0);
        assert_eq!(api.ok("getTokenOwner", json!({"serial": "H1"})), json!({}));
    }
);

both_backends!(
    copy_token_user_gives_the_target_the_source_owner,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("A", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("B", OTHER_KEY_HEX, None, None);
        let v = api.ok("copyTokenUser", json!({"from": "A", "to": "B"}));
        assert_eq!(v, true);
        assert_eq!(owner_of(env, "B"), user_id(env, "alice"));
        assert_eq!(owner_of(env, "A"), user_id(env, "alice"));
        let owner = api.ok("getTokenOwner", json!({"serial": "B"}));
        assert_eq!(owner["username"], "alice");
        // From an unassigned token: an error, nothing changes.
        api.hotp("C", OTHER_KEY_HEX, None, None);
        api.err("copyTokenUser", json!({"from": "C", "to": "B"}), 905);
        api.err("copyTokenUser", json!({"from": "A", "to": "NOPE"}), 1102);
        api.err("copyTokenUser", json!({"from": "A"}), 905);
        assert_eq!(owner_of(env, "B"), user_id(env, "alice"));
    }
);

both_backends!(
    copy_token_pin_makes_the_pin_work_on_the_target,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("A", OTHER_KEY_HEX, Some("alice"), Some("4321"));
        api.hotp("B", RFC_KEY_HEX, Some("bob"), None);
        assert!(!accepted(&api.http, "bob", &format!("4321{}", hotp(0))));
        let v = api.ok("copyTokenPin", json!({"from": "A", "to": "B"}));
        assert_eq!(v, true);
        assert_eq!(
            text_column(env, "B", "pin_hash"),
            text_column(env, "A", "pin_hash")
        );
        let v = check(
            &api.http,
            json!({"serial": "B", "pass": format!("4321{}", hotp(1))}),
        );
        assert_eq!(v["result"]["value"], true, "{v}");
        api.err("copyTokenPin", json!({"from": "NOPE", "to": "B"}), 1102);
        api.err("copyTokenPin", json!({"to": "B"}), 905);
    }
);

both_backends!(
    get_token_owner_returns_the_user_or_nothing,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("H2", OTHER_KEY_HEX, None, None);
        let v = api.ok("getTokenOwner", json!({"serial": "H1"}));
        assert_eq!(v["username"], "alice", "{v}");
        assert_eq!(v["userid"], user_id(env, "alice"), "{v}");
        assert_eq!(v["email"], "alice@example.com", "{v}");
        assert_eq!(v["resolver"], "internal", "{v}");
        // GET works as well.
        let r = api.get("getTokenOwner", &[("serial", "H1")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["result"]["value"]["username"], "alice");
        assert_eq!(api.ok("getTokenOwner", json!({"serial": "H2"})), json!({}));
        api.err("getTokenOwner", json!({"serial": "NOPE"}), 1102);
        api.err("getTokenOwner", json!({}), 905);
    }
);
