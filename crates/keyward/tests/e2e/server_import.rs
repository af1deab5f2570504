//! Token import (`/admin/loadtokens`, `keyward manage token loadtokens`) through the real server
//! on both backends, with the files and expectations of LinOTP's own tests
//! (`fixtures/linotp/`) and python-pskc samples holding the RFC seeds (`fixtures/pskc/`): OATH
//! CSV and PSKC (plain, pre-shared key, PBKDF2 password) uploaded as multipart like LinOTP
//! clients do (answered in LinOTP's XML) and as JSON text (answered with the JSON envelope); the imported tokens validate by serial with OTPs from
//! `oathtool`; `pskc_checkserial` skips existing serials; a taken serial imports nothing; a wrong
//! password or key is refused; and no seed or PSKC secret reaches the database in clear.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{TestEnv, fixture};
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::{Http, Resp};
use crate::server_validate::{admin, admin_key, admin_ok, check};
use keyward_testkit::TestServer;

/// The RFC 6238 SHA-256 seed (32 bytes), hex.
const SEED32_HEX: &str = "3132333435363738393031323334353637383930313233343536373839303132";
/// The RFC 6238 SHA-512 seed (64 bytes), hex.
const SEED64_HEX: &str = "31323334353637383930313233343536373839303132333435363738393031323334353637383930313233343536373839303132333435363738393031323334";
const PSKC_PASSWORD: &str = "pskc-test-passphrase";
const PSKC_PSK_HEX: &str = "12345678901234567890123456789012";
const BOUNDARY: &str = "keywardImportBoundary";

fn read_fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

/// A running server, a client and an admin API key.
struct Importer {
    _server: TestServer,
    http: Http,
    key: String,
}

impl Importer {
    fn start(env: &TestEnv) -> Importer {
        let key = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        Importer {
            _server: server,
            http,
            key,
        }
    }

    /// POSTs the file as LinOTP clients do: `multipart/form-data`, the file as part `file`.
    /// The XML answer, read into the shape of the JSON envelope (status, value.imported,
    /// error.code/message).
    fn upload(&self, file_name: &str, content: &str, fields: &[(&str, &str)]) -> Value {
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n\
             {content}\r\n--{BOUNDARY}--\r\n"
        ));
        let r: Resp = self.http.send(
            self.http
                .client
                .post(self.http.url("/admin/loadtokens"))
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(body)
                .bearer_auth(&self.key),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let content_type = r.headers.get("content-type").unwrap().to_str().unwrap();
        assert!(content_type.starts_with("text/xml"), "{content_type}");
        xml_envelope(&r.text)
    }

    /// Uploads and expects success: the number imported.
    fn upload_ok(&self, file_name: &str, content: &str, fields: &[(&str, &str)]) -> i64 {
        let v = self.upload(file_name, content, fields);
        assert_eq!(v["result"]["status"], true, "{v}");
        v["result"]["value"]["imported"].as_i64().unwrap()
    }

    /// JSON parameters (the file as the text parameter `file`): the envelope.
    fn json(&self, params: Value) -> Value {
        admin(&self.http, &self.key, "loadtokens", params)
    }

    /// Whether `/validate/check` accepts `otp` for the token `serial` (no PIN).
    fn valid(&self, serial: &str, otp: &str) -> bool {
        let v = check(&self.http, json!({ "serial": serial, "pass": otp }));
        assert_eq!(v["result"]["status"], true, "{v}");
        v["result"]["value"].as_bool().unwrap()
    }
}

/// The text of the first `<tag>…</tag>` in LinOTP's XML answer, unescaped.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// LinOTP's XML answer (`<jsonrpc><result><status>True</status><value><imported>N</imported>
/// <value>True</value></value></result>…`) as the JSON envelope's fields.
pub fn xml_envelope(xml: &str) -> Value {
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    assert!(xml.contains("<jsonrpc version=\"2.0\">"), "{xml}");
    match xml_text(xml, "status").as_deref() {
        Some("True") => {
            let imported: i64 = xml_text(xml, "imported").unwrap().parse().unwrap();
            assert!(xml.contains("<value>True</value></value>"), "{xml}");
            json!({"result": {"status": true, "value": {"imported": imported}}})
        }
        Some("False") => {
            let code: i64 = xml_text(xml, "code").unwrap().parse().unwrap();
            let message = xml_text(xml, "message").unwrap();
            json!({"result": {"status": false, "error": {"code": code, "message": message}}})
        }
        other => panic!("no status in {other:?}: {xml}"),
    }
}

/// An error envelope with this code: the message.
fn error(v: &Value, code: i64) -> String {
    assert_eq!(v["result"]["status"], false, "{v}");
    assert_eq!(v["result"]["error"]["code"], code, "{v}");
    v["result"]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

fn token_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM tokens")
}

fn row(env: &TestEnv, serial: &str) -> Vec<String> {
    let rows = env.query_strings(&format!(
        "SELECT token_type, CAST(otplen AS TEXT), hashlib, CAST(counter AS TEXT), \
         CAST(time_step AS TEXT) FROM tokens WHERE serial = '{serial}'"
    ));
    assert_eq!(rows.len(), 1, "token {serial}: {rows:?}");
    rows.into_iter().next().unwrap()
}

/// TOTP value from oathtool with any step (`oath::totp_at` uses 30 s).
fn totp_step(key_hex: &str, alg: &str, digits: u32, step: u32, unix: i64) -> String {
    let out = std::process::Command::new("oathtool")
        .args([
            &format!("--totp={alg}"),
            "-d",
            &digits.to_string(),
            "-s",
            &format!("{step}s"),
            "-N",
            &format!("@{unix}"),
            key_hex,
        ])
        .output()
        .expect("oathtool (apt-get install oathtool)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The python-pskc samples' five tokens validate with OTPs computed from the RFC seeds.
fn assert_sample_tokens(api: &Importer, env: &TestEnv) {
    assert_eq!(row(env, "HOTP0001"), ["hotp", "6", "sha1", "0", "30"]);
    assert_eq!(row(env, "HOTP0002"), ["hotp", "8", "sha1", "5", "30"]);
    assert_eq!(row(env, "TOTP0001"), ["totp", "8", "sha1", "0", "30"]);
    assert_eq!(row(env, "TOTP0002"), ["totp", "8", "sha256", "0", "30"]);
    assert_eq!(row(env, "TOTP0003"), ["totp", "6", "sha512", "0", "60"]);
    assert_eq!(oath::hotp(RFC_KEY_HEX, 0, 6), "755224");
    assert!(api.valid("HOTP0001", "755224"));
    // The counter is kept: 4 is behind it, 5 is next.
    assert!(!api.valid("HOTP0002", &oath::hotp(RFC_KEY_HEX, 4, 8)));
    assert!(api.valid("HOTP0002", &oath::hotp(RFC_KEY_HEX, 5, 8)));
    let now = oath::now();
    assert!(api.valid("TOTP0001", &oath::totp_at(RFC_KEY_HEX, "sha1", 8, now)));
    assert!(api.valid("TOTP0002", &oath::totp_at(SEED32_HEX, "sha256", 8, now)));
    assert!(api.valid("TOTP0003", &totp_step(SEED64_HEX, "sha512", 6, 60, now)));
}

both_backends!(
    linotp_oath_csv_upload_meets_linotp_expectations,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let csv = read_fixture("linotp/oath_tokens_sha256.csv");
        assert_eq!(
            api.upload_ok("oath_tokens_sha256.csv", &csv, &[("type", "oathcsv")]),
            8
        );
        assert_eq!(token_count(env), 8);
        // LinOTP's own test expectations.
        assert!(api.valid("htok_sha256_3", "46119246"), "explicit sha256");
        assert!(
            api.valid("htok_sha256_1", "46119246"),
            "sha256 from the 32-byte seed"
        );
        assert!(api.valid("htok_sha1_6", "94287082"));
        assert!(
            !api.valid("htok_sha256_7", "94287082"),
            "a 20-byte seed declared sha256 hashes with sha256"
        );
        assert_eq!(
            row(env, "htok_sha256_2"),
            ["hotp", "6", "sha256", "0", "30"]
        );
        assert_eq!(
            row(env, "ttok_sha256_4"),
            ["totp", "6", "sha256", "0", "30"]
        );
        assert_eq!(
            row(env, "ttok_sha256_5"),
            ["totp", "8", "sha256", "0", "60"]
        );
        assert_eq!(
            row(env, "htok_sha256_8"),
            ["hotp", "8", "sha256", "0", "30"]
        );
        // Audited with the count and the type.
        let audit = env.query_strings(
            "SELECT CAST(success AS TEXT), details FROM audit_log WHERE action = 'token loadtokens'",
        );
        assert_eq!(
            audit,
            vec![vec![
                "1".to_string(),
                "imported 8 tokens from a oathcsv file".to_string()
            ]]
        );
    }
);

both_backends!(
    linotp_pskc_file_imports_six_and_again_with_checkserial_none,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let xml = read_fixture("linotp/pskc_tokens.xml");
        let fields = [("type", "pskc"), ("pskc_type", "plain")];
        assert_eq!(api.upload_ok("pskc_tokens.xml", &xml, &fields), 6);
        assert_eq!(row(env, "2600124809778"), ["totp", "6", "sha1", "0", "60"]);
        assert_eq!(row(env, "1000133508267"), ["hotp", "6", "sha1", "0", "30"]);
        let again = [
            ("type", "pskc"),
            ("pskc_type", "plain"),
            ("pskc_checkserial", "true"),
        ];
        let v = api.upload("pskc_tokens.xml", &xml, &again);
        assert_eq!(v["result"]["value"]["imported"], 0, "{v}");
        // The JSON answer names the skipped tokens.
        let v = api.json(json!({
            "type": "pskc", "pskc_type": "plain", "pskc_checkserial": "true", "file": xml,
        }));
        assert_eq!(v["result"]["value"]["imported"], 0, "{v}");
        assert_eq!(
            v["detail"]["skipped"].as_array().map(Vec::len),
            Some(6),
            "{v}"
        );
        assert_eq!(token_count(env), 6);
        // Without pskc_checkserial the taken serials fail the upload.
        let msg = error(&api.upload("pskc_tokens.xml", &xml, &fields), 1101);
        assert!(msg.contains("1000133508267"), "{msg}");
        assert_eq!(token_count(env), 6);
    }
);

both_backends!(
    a_taken_serial_fails_the_whole_import_unless_checkserial,
    |env: &TestEnv| {
        let api = Importer::start(env);
        // HOTP0002 exists already, with another seed.
        let other_key = "3132333435363738393031323334353637383931";
        let v = admin_ok(
            &api.http,
            &api.key,
            "init",
            json!({"serial": "HOTP0002", "otpkey": other_key}),
        );
        assert_eq!(v, true);
        let before = token_count(env);
        let plain = read_fixture("pskc/plain.pskcxml");
        let v = api.json(json!({"type": "pskc", "file": plain}));
        let msg = error(&v, 1101);
        assert!(msg.contains("HOTP0002") && msg.contains("nothing"), "{msg}");
        assert_eq!(token_count(env), before, "nothing imported");
        // Skipping it imports the other four; the existing token keeps its seed.
        let v = api.json(json!({"type": "pskc", "file": plain, "pskc_checkserial": "1"}));
        assert_eq!(v["result"]["value"]["imported"], 4, "{v}");
        assert_eq!(v["detail"]["skipped"], json!(["HOTP0002"]), "{v}");
        assert_eq!(token_count(env), before + 4);
        assert!(api.valid("HOTP0002", &oath::hotp(other_key, 0, 6)));
        assert!(api.valid("HOTP0001", &oath::hotp(RFC_KEY_HEX, 0, 6)));
    }
);

both_backends!(
    pskc_pre_shared_key_file_imports_the_rfc_seeds,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let xml = read_fixture("pskc/psk-aes128cbc.pskcxml");
        let v = api.upload(
            "psk.pskcxml",
            &xml,
            &[
                ("type", "pskc"),
                ("pskc_type", "key"),
                ("pskc_preshared", "00000000000000000000000000000000"),
            ],
        );
        let msg = error(&v, 905);
        assert!(msg.contains("wrong password or key"), "{msg}");
        let v = api.upload("psk.pskcxml", &xml, &[("type", "pskc")]);
        assert!(error(&v, 905).contains("encrypted"));
        assert_eq!(token_count(env), 0);
        let fields = [
            ("type", "pskc"),
            ("pskc_type", "key"),
            ("pskc_preshared", PSKC_PSK_HEX),
        ];
        assert_eq!(api.upload_ok("psk.pskcxml", &xml, &fields), 5);
        assert_sample_tokens(&api, env);
    }
);

both_backends!(
    pskc_password_file_imports_the_rfc_seeds_and_refuses_a_wrong_password,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let xml = read_fixture("pskc/pbe-pbkdf2-aes128cbc.pskcxml");
        let v = api.json(json!({
            "type": "pskc", "pskc_type": "password", "pskc_password": "wrong-pass-4411",
            "file": xml,
        }));
        assert!(error(&v, 905).contains("wrong password or key"), "{v}");
        // A tampered MAC is refused too.
        let tampered = xml.replace(
            "AgmjCUlVSv64WhffcXdLd+qq0Ro=",
            "AAAACUlVSv64WhffcXdLd+qq0Ro=",
        );
        assert_ne!(tampered, xml);
        let v = api.json(json!({
            "type": "pskc", "pskc_type": "password", "pskc_password": PSKC_PASSWORD,
            "file": tampered,
        }));
        assert!(
            error(&v, 905).contains("MAC mismatch for key hotp-sha1-6"),
            "{v}"
        );
        assert_eq!(token_count(env), 0);
        let v = api.json(json!({
            "type": "pskc", "pskc_type": "password", "pskc_password": PSKC_PASSWORD,
            "file": xml, "tokenrealm": "Sales",
        }));
        assert_eq!(v["result"]["value"]["imported"], 5, "{v}");
        assert_sample_tokens(&api, env);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM token_realms WHERE realm = 'sales'"),
            5
        );
        // Failed attempts are audited without the password.
        let audit = env.query_strings(
            "SELECT CAST(success AS TEXT), details FROM audit_log \
             WHERE action = 'token loadtokens' ORDER BY id",
        );
        assert_eq!(audit.len(), 3, "{audit:?}");
        assert_eq!(audit[0][0], "0");
        assert!(audit[0][1].contains("wrong password or key"), "{audit:?}");
        assert_eq!(audit[2][1], "imported 5 tokens from a pskc file");
        for row in &audit {
            assert!(!row[1].contains("wrong-pass-4411") && !row[1].contains(PSKC_PASSWORD));
        }
    }
);

both_backends!(
    empty_files_and_unknown_types_get_linotps_errors,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let v = api.upload("empty.csv", "", &[("type", "oathcsv")]);
        assert_eq!(error(&v, 905), "Error loading tokens. File or Type empty!");
        let csv = read_fixture("linotp/oath_tokens_sha256.csv");
        let v = api.upload("t.csv", &csv, &[]);
        assert_eq!(error(&v, 905), "Error loading tokens. File or Type empty!");
        let v = api.upload("t.xml", &csv, &[("type", "aladdin-xml")]);
        assert!(error(&v, 905).starts_with("Unknown file type"), "{v}");
        let v = api.json(json!({"type": "oathcsv", "file": "S1, 31zz32\n"}));
        assert!(error(&v, 905).contains("line 1"), "{v}");
        let v = api.json(json!({"type": "pskc", "file": "<KeyContainer"}));
        assert!(error(&v, 905).contains("XML"), "{v}");
        assert_eq!(token_count(env), 0);
    }
);

both_backends!(
    imported_seeds_and_pskc_secrets_never_appear_in_the_database,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let csv = read_fixture("linotp/oath_tokens_sha256.csv");
        assert_eq!(api.upload_ok("t.csv", &csv, &[("type", "oathcsv")]), 8);
        let xml = read_fixture("pskc/psk-aes128cbc.pskcxml");
        let fields = [
            ("type", "pskc"),
            ("pskc_type", "key"),
            ("pskc_preshared", PSKC_PSK_HEX),
        ];
        assert_eq!(api.upload_ok("psk.pskcxml", &xml, &fields), 5);
        let feitian = read_fixture("linotp/pskc_tokens.xml");
        assert_eq!(api.upload_ok("f.xml", &feitian, &[("type", "pskc")]), 6);
        let dump = env.database_text();
        assert!(dump.contains("htok_sha256_7") && dump.contains("TOTP0003"));
        for secret in [
            RFC_KEY_HEX,
            SEED32_HEX,
            "12345678901234567890",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            PSKC_PSK_HEX,
            "PuMnCivln/14Ii3DNhR4/1zGN5A",
            "3ee3270a2be59ffd78222dc3361478ff5cc63790",
        ] {
            assert!(!dump.contains(secret), "{secret} found in the database");
        }
    }
);

both_backends!(cli_imports_a_local_file_with_file_path, |env: &TestEnv| {
    let path = fixture("pskc/pbe-pbkdf2-aes128cbc.pskcxml");
    let path = path.to_str().unwrap();
    let out = env.manage_ok(&[
        "token",
        "loadtokens",
        "--file-path",
        path,
        "--type",
        "pskc",
        "--pskc-type",
        "password",
        "--pskc-password",
        PSKC_PASSWORD,
    ]);
    assert!(out.contains("Imported 5 tokens"), "{out}");
    assert_eq!(token_count(env), 5);
    // Again, as JSON, skipping what exists.
    let out = env.manage_ok(&[
        "token",
        "loadtokens",
        "--file-path",
        path,
        "--type",
        "pskc",
        "--pskc-password",
        PSKC_PASSWORD,
        "--pskc-checkserial",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["value"]["imported"], 0, "{v}");
    assert_eq!(v["detail"]["skipped"].as_array().map(Vec::len), Some(5));
    // A wrong password fails with a clear message and a non-zero exit.
    let (_, err) = env.manage_err(&[
        "token",
        "loadtokens",
        "--file-path",
        path,
        "--type",
        "pskc",
        "--pskc-password",
        "nope-9931",
    ]);
    assert!(err.contains("wrong password or key"), "{err}");
    assert!(!err.contains("nope-9931"), "{err}");
    let (_, err) = env.manage_err(&[
        "token",
        "loadtokens",
        "--file-path",
        "/nonexistent/t.csv",
        "--type",
        "oathcsv",
    ]);
    assert!(err.contains("cannot read"), "{err}");
});

both_backends!(
    uploads_land_in_the_target_realm_keep_pskc_labels_and_refuse_bad_files_whole,
    |env: &TestEnv| {
        let api = Importer::start(env);
        let plain = read_fixture("pskc/plain.pskcxml");
        let fields = [("type", "pskc"), ("targetrealm", "Sales")];
        assert_eq!(api.upload_ok("plain.xml", &plain, &fields), 5);
        let realms = env.query_strings(
            "SELECT t.serial, r.realm FROM tokens t JOIN token_realms r ON r.token_id = t.id \
             ORDER BY t.serial",
        );
        assert_eq!(realms.len(), 5, "{realms:?}");
        assert!(realms.iter().all(|r| r[1] == "sales"), "{realms:?}");
        // Issuer, Manufacturer and the Key Id beside the SerialNo are kept as token info.
        let info = env.query_strings("SELECT info FROM tokens WHERE serial = 'HOTP0001'");
        let info: Value = serde_json::from_str(&info[0][0]).unwrap();
        assert_eq!(info["issuer"], "AuthTest", "{info}");
        assert_eq!(info["manufacturer"], "Example Tokens", "{info}");
        assert_eq!(info["pskc_key_id"], "hotp-sha1-6", "{info}");
        // Refused whole, with the reason: ALPHANUMERIC OTPs, a short CSV row, a serial twice.
        let alnum = plain
            .replace("HOTP000", "ALNUM000")
            .replace("TOTP000", "ALNUMT00")
            .replacen(
                "Encoding=\"DECIMAL\" Length=\"8\"",
                "Encoding=\"ALPHANUMERIC\" Length=\"8\"",
                1,
            );
        let msg = error(&api.upload("a.xml", &alnum, &[("type", "pskc")]), 905);
        assert!(msg.contains("\"ALPHANUMERIC\" is not supported"), "{msg}");
        let short = format!("S1, {RFC_KEY_HEX}\nS2\n");
        let msg = error(&api.upload("s.csv", &short, &[("type", "oathcsv")]), 905);
        assert!(msg.contains("line 2"), "{msg}");
        let twice = format!("S1, {RFC_KEY_HEX}\nS1, {RFC_KEY_HEX}\n");
        let msg = error(&api.upload("d.csv", &twice, &[("type", "oathcsv")]), 905);
        assert!(msg.contains("S1"), "{msg}");
        assert_eq!(token_count(env), 5);
    }
);
