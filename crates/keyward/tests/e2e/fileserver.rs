//! Fileserver clusters and shards (issue 11, seed 000) on both backends: the seed's nine
//! `fscluster*`/`fsshard*` lines run as written (ids substituted) with the lists checked after
//! each step, bad input changes nothing, and a member announced by `keyward fileserver announce`
//! with the configuration `fsclustershowconfig` printed is listed for its shard until its TTL
//! ends; forged, replayed, stale and over-permitted announcements are refused and audited.

use keyward_commands::fileserver::keys;
use keyward_proto::{FsAnnouncedShard, FsAnnouncement, FsMemberConfig};
use serde_json::json;

use crate::both_backends;
use crate::server_client::Http;
use crate::server_validate::user;

/// The id a create command printed: `Created cluster|shard|link ID …`.
fn created_id(out: &str) -> String {
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"Created"), "{out}");
    words[2].to_string()
}

/// The rows of a list's text output after its header, as words.
fn rows(out: &str) -> Vec<String> {
    out.lines().skip(1).map(|l| l.trim().to_string()).collect()
}

both_backends!(seed_000_fileserver_lines_run_as_written, |env: &TestEnv| {
    let cluster = created_id(&env.manage_ok(&["fsclustercreate", "Default Cluster"]));
    let list = env.manage_ok(&["fsclusterlist"]);
    assert_eq!(rows(&list).len(), 1, "{list}");
    assert!(
        list.contains(&cluster) && list.contains("Default Cluster"),
        "{list}"
    );

    let shard = created_id(&env.manage_ok(&["fsshardcreate", "Some Title", "Some description"]));
    let list = env.manage_ok(&["fsshardlist"]);
    assert_eq!(rows(&list).len(), 1, "{list}");
    assert!(
        list.contains(&shard) && list.contains("Some description"),
        "{list}"
    );

    let link = created_id(&env.manage_ok(&["fsshardlink", &cluster, &shard, "rw"]));
    let list = env.manage_ok(&["fsshardlist"]);
    let row = rows(&list).join("\n");
    assert!(
        row.contains(&link) && row.contains(&cluster) && row.ends_with("rw"),
        "{list}"
    );
    let clusters = env.manage_ok(&["fsclusterlist", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&clusters).unwrap();
    assert_eq!(v["clusters"][0]["links"][0]["id"], link.as_str(), "{v}");

    // Bad input: clear errors, nothing changed.
    let (code, err) = env.manage_err(&["fsshardlink", &cluster, &shard, "rw"]);
    assert!(code == 1 && err.contains("already linked"), "{err}");
    let (_, err) = env.manage_err(&["fsshardlink", &cluster, &shard, "rwx"]);
    assert!(err.contains("permission: must be rw, r or w"), "{err}");
    let (_, err) = env.manage_err(&["fsclusterdelete", "1713b68b"]);
    assert!(err.contains("not a UUID"), "{err}");
    let (_, err) = env.manage_err(&["fsclusterdelete", "1713b68b-df64-41c5-822c-6eb8c877037c"]);
    assert!(err.contains("no fileserver cluster"), "{err}");
    let (_, err) = env.manage_err(&["fsshardunlink", "c8916ab1-4a22-4aa6-9549-c0b15f688e7c"]);
    assert!(err.contains("no fileserver link"), "{err}");
    let (_, err) = env.manage_err(&["fsclusterdelete", &cluster]);
    assert!(err.contains("--force"), "{err}");
    let (_, err) = env.manage_err(&["fssharddelete", &shard]);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM fileserver_links"),
        1,
        "refused deletes changed nothing"
    );

    // The member configuration holds the private key; the database does not, in clear.
    let config = env.manage_ok(&["fsclustershowconfig", &cluster]);
    let parsed: FsMemberConfig = toml::from_str(&config).unwrap();
    assert_eq!(parsed.cluster_id, cluster);
    assert_eq!(parsed.shards.len(), 1);
    assert!(parsed.shards[0].read && parsed.shards[0].write);
    assert!(!env.database_text().contains(&parsed.cluster_private_key));

    assert!(
        env.manage_ok(&["fsshardunlink", &link])
            .starts_with("Deleted link")
    );
    let list = env.manage_ok(&["fsshardlist"]);
    assert!(
        !list.contains(&link) && rows(&list)[0].ends_with('-'),
        "{list}"
    );

    env.manage_ok(&["fssharddelete", &shard]);
    assert!(rows(&env.manage_ok(&["fsshardlist"])).is_empty());
    env.manage_ok(&["fsclusterdelete", &cluster]);
    assert!(rows(&env.manage_ok(&["fsclusterlist"])).is_empty());

    // A fixed id makes creation idempotent.
    let fixed = "1713b68b-df64-41c5-822c-6eb8c877037c";
    for _ in 0..2 {
        env.manage_ok(&["fsclustercreate", "Fixed", "--fix-cluster-id", fixed]);
    }
    assert_eq!(rows(&env.manage_ok(&["fsclusterlist"])).len(), 1);
    assert_eq!(
        env.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'fsshardlink' AND success = 0"
        ),
        2,
        "each refused link is audited"
    );
});

/// A signed alive request for `member` serving `shards`, stamped `ts_ms`.
fn alive_body(
    config: &FsMemberConfig,
    key_b64: &str,
    ts_ms: i64,
    shards: &[(&str, bool, bool)],
) -> serde_json::Value {
    let key = keys::signing_key(key_b64).unwrap();
    let a = FsAnnouncement {
        cluster_id: config.cluster_id.clone(),
        member_id: "fs2".into(),
        url: "https://fs2.example.com".into(),
        timestamp_ms: ts_ms,
        shards: shards
            .iter()
            .map(|(id, read, write)| FsAnnouncedShard {
                shard_id: id.to_string(),
                read: *read,
                write: *write,
            })
            .collect(),
    };
    serde_json::to_value(keys::sign_announcement(&key, &a)).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

both_backends!(
    announced_members_are_listed_until_their_ttl,
    "fileserver_member_ttl_secs = 2\n",
    |env: &TestEnv| {
        user(env, "root");
        user(env, "alice"); // a plain user: reads the shards
        let server = env.serve_in_process();
        let http = Http::new(&server);
        // Set up over REST as root (the adapters run the same commands).
        let root = format!("Bearer {}", http.login_ok("root", "pw-12345"));
        let post = |path: &str, body: serde_json::Value| {
            let r = http.post(path, &body, Some(&root));
            assert_eq!(r.status, 201, "{path}: {}", r.text);
            r.json()["id"].as_str().unwrap().to_string()
        };
        let cluster = post(
            "/api/v1/fileserver/clusters",
            json!({ "title": "Default Cluster" }),
        );
        let shard_body = |t: &str| json!({ "title": t, "description": "d" });
        let shard = post("/api/v1/fileserver/shards", shard_body("Docs"));
        let read_only = post("/api/v1/fileserver/shards", shard_body("Archive"));
        let unlinked = post("/api/v1/fileserver/shards", shard_body("Other"));
        let link =
            |s: &str, p: &str| json!({ "cluster_id": cluster, "shard_id": s, "permission": p });
        post("/api/v1/fileserver/links", link(&shard, "rw"));
        post("/api/v1/fileserver/links", link(&read_only, "r"));
        let dup = http.post("/api/v1/fileserver/links", &link(&shard, "r"), Some(&root));
        dup.assert_error(409);
        let bad = http.post("/api/v1/fileserver/links", &link(&shard, "x"), Some(&root));
        assert_eq!(bad.assert_error(400)["field"], "permission");
        let config_path = format!(
            "/api/v1/fileserver/clusters/{cluster}/config?server_url={}",
            server.url()
        );
        let r = http.send(
            http.client
                .get(http.url(&config_path))
                .header("Authorization", &root),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let text = r.json()["config"].as_str().unwrap().to_string();
        let file = env.dir.path().join("member.toml");
        std::fs::write(&file, &text).unwrap();

        let out = env
            .keyward()
            .args(["fileserver", "announce", "--config"])
            .arg(&file)
            .args(["--member-id", "fs1", "--url", "http://127.0.0.1:9/fs1"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("Announced member fs1"), "{stdout}");

        let token = http.login_ok("alice", "pw-12345");
        let shards = http.get("/api/v1/fileserver/shards", Some(&token));
        assert_eq!(shards.status, 200, "{}", shards.text);
        let v = shards.json();
        let docs = v
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == shard.as_str())
            .unwrap();
        assert_eq!(docs["read"], true, "{v}");
        assert_eq!(docs["write"], true, "{v}");
        assert_eq!(docs["members"][0]["member_id"], "fs1", "{v}");
        assert_eq!(docs["members"][0]["url"], "http://127.0.0.1:9/fs1", "{v}");
        let archive = v
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == read_only.as_str())
            .unwrap();
        assert_eq!(
            (archive["read"].clone(), archive["write"].clone()),
            (json!(true), json!(false))
        );
        let members = env.console_ok(&["fsclusterlist", "--members"]);
        assert!(
            members.contains("fs1") && members.contains("http://127.0.0.1:9/fs1"),
            "{members}"
        );

        // Replayed, forged, stale, unlinked, over-permitted, unknown cluster: refused.
        let config: FsMemberConfig = toml::from_str(&text).unwrap();
        let key = config.cluster_private_key.clone();
        let ts = now_ms();
        let body = alive_body(&config, &key, ts, &[(&shard, true, false)]);
        let ok = http.post("/fileserver/alive/", &body, None);
        assert_eq!(ok.status, 200, "{}", ok.text);
        let accepted = ok.json();
        assert!(keys::accepted_signed_by(
            &config.server_public_key,
            &cluster,
            "fs2",
            ts,
            accepted["signature"].as_str().unwrap()
        ));
        http.post("/fileserver/alive/", &body, None)
            .assert_error(409);
        let other = data_encoding::BASE64.encode(&[3u8; 32]);
        let forged = alive_body(&config, &other, ts + 1, &[(&shard, true, true)]);
        http.post("/fileserver/alive/", &forged, None)
            .assert_error(403);
        let stale = alive_body(&config, &key, ts - 3_600_000, &[(&shard, true, true)]);
        http.post("/fileserver/alive/", &stale, None)
            .assert_error(403);
        let elsewhere = alive_body(&config, &key, ts + 2, &[(&unlinked, true, false)]);
        http.post("/fileserver/alive/", &elsewhere, None)
            .assert_error(403);
        let too_much = alive_body(&config, &key, ts + 3, &[(&read_only, true, true)]);
        let e = http
            .post("/fileserver/alive/", &too_much, None)
            .assert_error(403);
        assert!(
            e["error"].as_str().unwrap().contains("grants only r"),
            "{e}"
        );
        let mut unknown = body.clone();
        unknown["cluster_id"] = json!("2713b68b-df64-41c5-822c-6eb8c877037c");
        http.post("/fileserver/alive/", &unknown, None)
            .assert_error(404);
        assert!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'fileserver alive' AND success = 0"
            ) >= 5
        );
        // What the refused ones asked for is not recorded: fs2 still serves docs read-only.
        let v = http.get("/api/v1/fileserver/shards", Some(&token)).json();
        let fs2 = v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["members"].as_array().unwrap().clone())
            .filter(|m| m["member_id"] == "fs2")
            .collect::<Vec<_>>();
        assert_eq!(fs2.len(), 1, "{v}");
        assert_eq!(fs2[0]["write"], false, "{v}");

        // After the TTL (2 s) both are gone.
        std::thread::sleep(std::time::Duration::from_millis(2_500));
        let v = http.get("/api/v1/fileserver/shards", Some(&token)).json();
        for s in v.as_array().unwrap() {
            assert!(s["members"].as_array().unwrap().is_empty(), "{v}");
            assert_eq!(s["read"], false, "{v}");
        }
        let members = env.console_ok(&["fsclusterlist", "--members"]);
        assert!(!members.contains("fs1"), "{members}");
        // The replay stays refused after the TTL (the timestamp is still remembered).
        http.post("/fileserver/alive/", &body, None)
            .assert_error(409);

        // A linked cluster goes over REST only with force=true.
        let delete = |path: &str| {
            http.send(
                http.client
                    .delete(http.url(path))
                    .header("Authorization", &root),
            )
        };
        delete(&format!("/api/v1/fileserver/clusters/{cluster}")).assert_error(409);
        let gone = delete(&format!("/api/v1/fileserver/clusters/{cluster}?force=true"));
        assert_eq!(gone.status, 200, "{}", gone.text);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM fileserver_links"), 0);
    }
);
