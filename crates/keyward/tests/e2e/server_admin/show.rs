//! /admin: `show`: selection, sorting, paging and the CSV download.

use super::*;
use crate::both_backends;

both_backends!(
    show_lists_tokens_with_linotp_fields_and_resultset,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("H2", OTHER_KEY_HEX, None, None);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        let v = api.ok("show", json!({}));
        assert_eq!(
            v["resultset"],
            json!({"pages": 1, "pagesize": 50, "tokens": 3, "page": 1}),
            "{v}"
        );
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        let h1 = data
            .iter()
            .find(|t| t["LinOtp.TokenSerialnumber"] == "H1")
            .unwrap();
        for k in [
            "LinOtp.TokenId",
            "LinOtp.TokenType",
            "LinOtp.TokenDesc",
            "LinOtp.Isactive",
            "LinOtp.FailCount",
            "LinOtp.MaxFail",
            "LinOtp.Count",
            "LinOtp.CountWindow",
            "LinOtp.SyncWindow",
            "LinOtp.OtpLen",
            "LinOtp.RealmNames",
            "LinOtp.TokenInfo",
            "LinOtp.IdResClass",
            "LinOtp.Userid",
            "User.username",
            "User.userid",
            "User.description",
        ] {
            assert!(h1.get(k).is_some(), "{k} missing: {h1}");
        }
        assert_eq!(h1["LinOtp.TokenType"], "HMAC");
        assert_eq!(h1["LinOtp.Isactive"], true);
        assert_eq!(h1["User.username"], "alice");
        assert_eq!(h1["User.userid"], user_id(env, "alice"));
        assert_eq!(h1["LinOtp.MaxFail"], 10);
        assert!(h1["LinOtp.RealmNames"].is_array());
        // Token info is a JSON string by default.
        let info: Value = serde_json::from_str(h1["LinOtp.TokenInfo"].as_str().unwrap()).unwrap();
        assert_eq!(info["hashlib"], "sha1");
        let t1 = data
            .iter()
            .find(|t| t["LinOtp.TokenSerialnumber"] == "T1")
            .unwrap();
        assert_eq!(t1["LinOtp.TokenType"], "TOTP");
        // GET answers the same.
        let r = api.get("show", &[]);
        assert_eq!(r.json()["result"]["value"]["resultset"]["tokens"], 3);
    }
);

both_backends!(show_selects_by_serial_user_and_filter, |env: &TestEnv| {
    let api = Api::start(env, &["alice", "bob", "charlie"]);
    api.hotp("A1", RFC_KEY_HEX, Some("alice"), None);
    api.hotp("A2", OTHER_KEY_HEX, Some("alice"), None);
    api.hotp("B1", RFC_KEY_HEX, Some("bob"), None);
    api.hotp("C1", OTHER_KEY_HEX, Some("charlie"), None);
    api.ok(
        "init",
        json!({"serial": "X9", "otpkey": RFC_KEY_HEX, "description": "Office Laptop"}),
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(api.serials(json!({"serial": "B1"})), vec!["B1"]);
    assert_eq!(
        sorted(api.serials(json!({"user": "alice"}))),
        vec!["A1", "A2"]
    );
    // No user "li": tokens of users whose name contains it.
    assert_eq!(
        sorted(api.serials(json!({"user": "li"}))),
        vec!["A1", "A2", "C1"]
    );
    assert_eq!(api.serials(json!({"filter": "laptop"})), vec!["X9"]);
    assert_eq!(api.serials(json!({"filter": "bob"})), vec!["B1"]);
    assert!(api.serials(json!({"serial": "NOPE"})).is_empty());
});

both_backends!(show_sorts_and_pages, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    for s in ["S1", "S2", "S3", "S4", "S5"] {
        api.hotp(s, RFC_KEY_HEX, None, None);
    }
    let v = api.ok(
        "show",
        json!({"sortby": "serial", "sortdir": "desc", "page": "2", "pagesize": "2"}),
    );
    let serials: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["LinOtp.TokenSerialnumber"].as_str().unwrap())
        .collect();
    assert_eq!(serials, vec!["S3", "S2"]);
    assert_eq!(
        v["resultset"],
        json!({"pages": 3, "pagesize": 2, "tokens": 5, "page": 2})
    );
    assert_eq!(
        api.serials(json!({"sortby": "serial", "sortdir": "asc", "pagesize": "3"})),
        vec!["S1", "S2", "S3"]
    );
    assert_eq!(
        api.serials(json!({"sortby": "serial", "page": "3", "pagesize": "2"})),
        vec!["S5"]
    );
    assert!(
        api.serials(json!({"page": "4", "pagesize": "2"}))
            .is_empty(),
        "beyond the last page"
    );
    api.err("show", json!({"sortby": "nosuchcolumn"}), 905);
    api.err("show", json!({"sortdir": "sideways"}), 905);
});

both_backends!(show_outform_csv_is_a_file_download, |env: &TestEnv| {
    let api = Api::start(env, &["alice"]);
    api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
    api.hotp("H2", OTHER_KEY_HEX, None, None);
    let r = api.get("show", &[("outform", "csv")]);
    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = r.headers["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment"), "{cd}");
    assert!(cd.contains("tokendata.csv"), "{cd}");
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 rows: {}", r.text);
    assert!(
        lines[0].contains("'LinOtp.TokenSerialnumber'; "),
        "{}",
        lines[0]
    );
    assert!(r.text.contains("'H1'; ") && r.text.contains("'H2'; "));
    assert!(r.text.contains("'alice'; "));
    // POST with a filter too.
    let r = api.form("show", &[("outform", "csv"), ("serial", "H2")]);
    assert_eq!(r.text.lines().count(), 2, "{}", r.text);
    assert!(!r.text.contains("'H1'; "));
});

both_backends!(
    show_tokeninfo_format_json_embeds_an_object,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        let t = &api.show(json!({"tokeninfo_format": "json"}))[0];
        let info = &t["LinOtp.TokenInfo"];
        assert!(info.is_object(), "{t}");
        assert_eq!(info["hashlib"], "sha1");
        assert_eq!(info["timeStep"], "30");
        assert!(api.show(json!({}))[0]["LinOtp.TokenInfo"].is_string());
    }
);
