//! Status and plumbing of the real server: version, provider status, health, Prometheus metrics,
//! the OpenAPI document, JSON 4xx answers to malformed requests (never a 5xx), the body limit,
//! and HTTPS with graceful shutdown.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, TestEnv, fixture};
use crate::server_client::Http;

both_backends!(
    version_providerstatus_and_healthz_answer,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let v = http.get("/api/v1/version", None);
        assert_eq!(v.status, 200);
        let v = v.json();
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(!v["commit_hash"].as_str().unwrap().is_empty());
        assert!(v["build_date"].as_str().unwrap().ends_with('Z'), "{v}");
        let p = http.get("/api/v1/providerstatus", None);
        assert_eq!(p.status, 200);
        assert_eq!(
            p.json(),
            json!({ "error": "", "message": "Alive", "status": 200 })
        );
        assert_eq!(http.get("/healthz", None).json(), json!({ "status": "ok" }));
    }
);

#[test]
fn metrics_count_requests_by_route_and_auth_outcomes() {
    let env = TestEnv::new(Backend::Sqlite);
    env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    http.get("/healthz", None);
    http.get("/healthz", None);
    http.login_ok("alice", "pw-alice");
    http.login("alice", "nope");
    http.get("/no/such/path/123", None);
    let m = http.get("/metrics", None);
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = m.text;
    for needle in [
        "keyward_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2",
        "keyward_http_requests_total{method=\"POST\",route=\"/auth/login\",status=\"401\"} 1",
        "keyward_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "keyward_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 2",
        "keyward_auth_total{method=\"password\",outcome=\"success\"} 1",
        "keyward_auth_total{method=\"password\",outcome=\"failure\"} 1",
        "# TYPE keyward_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

/// Every REST route this server must document, with its method.
const ROUTES: &[(&str, &str)] = &[
    ("/auth/login", "post"),
    ("/auth/logout", "post"),
    ("/auth/register", "post"),
    ("/api/v1/me", "get"),
    ("/api/v1/connections", "get"),
    ("/api/v1/connections/{connection_id}", "delete"),
    ("/api/v1/audit", "get"),
    ("/api/v1/version", "get"),
    ("/api/v1/providerstatus", "get"),
    ("/api/v1/openapi.json", "get"),
    ("/healthz", "get"),
    ("/metrics", "get"),
    ("/server/management-command/", "post"),
    ("/fileserver/alive/", "post"),
    ("/api/v1/fileserver/clusters", "get"),
    ("/api/v1/fileserver/clusters", "post"),
    ("/api/v1/fileserver/clusters/{id}/config", "get"),
    ("/api/v1/fileserver/shards", "get"),
    ("/api/v1/fileserver/links", "post"),
    ("/api/v1/fileserver/links/{id}", "delete"),
];

#[test]
fn openapi_document_lists_every_route_with_responses() {
    let env = TestEnv::new(Backend::Sqlite);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    let r = http.get("/api/v1/openapi.json", None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for (path, method) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    // Answers shared by a GET and POST pair are declared once and documented on both.
    for (path, statuses) in [
        (
            "/admin/{endpoint}",
            &["200", "401", "403", "404", "413"][..],
        ),
        ("/validate/check", &["200", "401", "413"][..]),
        ("/validate/simplecheck", &["200", "401"][..]),
        ("/admin/getsession", &["200", "401", "403"][..]),
    ] {
        for method in ["get", "post"] {
            let responses = &doc["paths"][path][method]["responses"];
            for status in statuses {
                assert!(
                    responses[status].is_object(),
                    "{method} {path}: {status} not documented: {responses}"
                );
            }
        }
    }
    assert!(
        doc["paths"]["/validate/simplecheck"]["get"]["responses"]["200"]["content"]["text/plain"]
            .is_object()
    );
    let audit_params: Vec<&str> = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(audit_params, ["limit", "before_id", "since"]);
    for schema in [
        "LoginBody",
        "LoginResponse",
        "StatusMessage",
        "ManagementRequest",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    // Validate with openapi-spec-validator when it is installed (.ci/schemathesis.sh installs
    // it and validates as well).
    let doc_file = env.dir.path().join("openapi.json");
    std::fs::write(&doc_file, &r.text).unwrap();
    let python = std::env::var("KEYWARD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let check = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys, json; from openapi_spec_validator import validate; \
             validate(json.load(open(sys.argv[1]))); print('valid')",
        ])
        .arg(&doc_file)
        .output();
    match check {
        Ok(out) if out.status.success() => {}
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            eprintln!("*** SKIPPED OpenAPI validation: openapi-spec-validator not installed ***")
        }
        Ok(out) => panic!(
            "OpenAPI document invalid: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("*** SKIPPED OpenAPI validation: no {python} ***"),
    }
}

both_backends!(
    malformed_requests_get_json_4xx_never_5xx,
    "max_body_bytes = 2048",
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let c = &http.client;
        let login = http.url("/auth/login");
        let cases: Vec<(&str, reqwest::blocking::RequestBuilder, u16)> = vec![
            (
                "no content type",
                c.post(&login).body(r#"{"username":"a","password":"b"}"#),
                415,
            ),
            (
                "text content type",
                c.post(&login)
                    .header("content-type", "text/plain")
                    .body("x"),
                415,
            ),
            (
                "malformed JSON",
                c.post(&login)
                    .header("content-type", "application/json")
                    .body("{\"username\":"),
                400,
            ),
            (
                "invalid UTF-8",
                c.post(&login)
                    .header("content-type", "application/json")
                    .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
                400,
            ),
            (
                "wrong types",
                c.post(&login)
                    .json(&json!({ "username": 1, "password": [] })),
                400,
            ),
            ("missing fields", c.post(&login).json(&json!({})), 400),
            ("JSON array", c.post(&login).json(&json!([1, 2])), 400),
            (
                "oversized body",
                c.post(&login)
                    .json(&json!({ "username": "a".repeat(4096), "password": "b" })),
                413,
            ),
            (
                "oversized management body",
                c.post(http.url("/server/management-command/"))
                    .body("x".repeat(4096)),
                413,
            ),
            ("no auth", c.get(http.url("/api/v1/me")), 401),
            (
                "garbage auth",
                c.get(http.url("/api/v1/me")).header(
                    "authorization",
                    reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfex").unwrap(),
                ),
                401,
            ),
            (
                "unknown scheme",
                c.get(http.url("/api/v1/me"))
                    .header("authorization", "Basic YTpi"),
                401,
            ),
            ("unknown route", c.get(http.url("/api/v2/nothing")), 404),
            ("wrong method", c.delete(http.url("/auth/login")), 405),
            (
                "bad query",
                c.get(http.url("/api/v1/audit?limit=-1&before_id=zz")),
                401,
            ),
            (
                "delete connection unauthenticated",
                c.delete(http.url("/api/v1/connections/%ff%fe")),
                401,
            ),
        ];
        for (what, req, want) in cases {
            let r = http.send(req);
            assert_eq!(r.status, want, "{what}: {}", r.text);
            let v: Value = r.json();
            assert_eq!(v["status"], want, "{what}: {v}");
            assert!(
                v["error"].is_string() && v["message"].is_string(),
                "{what}: {v}"
            );
        }
        let r = http.get("/healthz", None);
        assert_eq!(r.status, 200);
    }
);

#[test]
fn https_serves_and_shuts_down_gracefully() {
    let env = TestEnv::with_config(
        Backend::Sqlite,
        &format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            fixture("tls/cert.pem").display(),
            fixture("tls/key.pem").display()
        ),
    );
    let server = env.serve();
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let http = Http::new(&server);
    assert_eq!(http.get("/healthz", None).status, 200);
    assert!(server.terminate(), "no graceful exit on SIGTERM");
}

#[test]
fn tls_needs_both_files() {
    let env = TestEnv::with_config(
        Backend::Sqlite,
        &format!("tls_cert_file = \"{}\"", fixture("tls/cert.pem").display()),
    );
    let out = env
        .keyward()
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_key_file"));
}
