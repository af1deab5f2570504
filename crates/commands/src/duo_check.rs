//! `testduoconnection IKEY SKEY HOST [USERNAME] [--base-url URL] [--digest sha1|sha512]`
//! (seed 000): checks a Duo Auth API integration. Every request is signed as Duo documents
//! (`keyward_core::duo`); `/auth/v2/check` proves the keys, and with a USERNAME (the part before
//! `@` is the Duo user) `/auth/v2/preauth` and a push `/auth/v2/auth` prove the user can
//! authenticate. Each step prints its result; the first failing one ends the run with exit 1.
//! Requests go to `https://HOST` unless `--base-url` points elsewhere (the signature always
//! names HOST); each has a 10 s connect and a 75 s overall timeout (a push waits for the user).

use std::time::Duration;

use clap::Parser;
use keyward_core::duo::{DuoDigest, authorization, canonical_request};
use serde_json::Value;

use crate::access::{ADMINS, Access};
use crate::check_report::CheckReport;
use crate::context::Ctx;
use crate::http_fetch;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Duo holds a push request open until the user answers (up to about a minute).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);
/// Largest answer read from Duo.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "testduoconnection",
            "Test a Duo integration: keys (/auth/v2/check) and, with USERNAME, a push",
            testduoconnection,
        )
        .example("testduoconnection DIXXXXXXXXXXXXXXXXXX lt3s... api-XXXXXXX.duosecurity.com")
        .example("testduoconnection DIXXXXXXXXXXXXXXXXXX lt3s... api-XXXXXXX.duosecurity.com something@example.com")
        .secret("skey")
        .allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser)]
struct DuoArgs {
    /// The integration key (DI…).
    ikey: String,
    /// The secret key.
    skey: String,
    /// The API hostname (api-XXXXXXXX.duosecurity.com).
    host: String,
    /// A user to test push authentication with (the part before `@` is the Duo username).
    username: Option<String>,
    /// Send the requests here instead of https://HOST (e.g. a test server).
    #[arg(long = "base-url", value_name = "URL")]
    base_url: Option<String>,
    /// The signature's HMAC: sha1 (Duo's v2 signature) or sha512.
    #[arg(long, default_value = "sha1", value_parser = ["sha1", "sha512"])]
    digest: String,
}

crate::no_targets!(DuoArgs);

/// RFC 2822 date, as Duo expects in the `Date` header and the canonical request.
fn rfc2822(now: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] -0000"
            ))
            .ok()
        })
        .unwrap_or_default()
}

struct DuoClient {
    http: reqwest::Client,
    base: String,
    host: String,
    ikey: String,
    skey: String,
    digest: DuoDigest,
    now: i64,
}

impl DuoClient {
    /// A signed call; `Ok((status, body))` whatever the status, `Err` when no answer came.
    async fn call(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        let date = rfc2822(self.now);
        let canon = canonical_request(&date, method, &self.host, path, params);
        let auth = authorization(&self.ikey, self.skey.as_bytes(), &canon, self.digest);
        let body = keyward_core::duo::canon_params(params);
        let url = format!("{}{path}", self.base);
        let req = if method == "GET" {
            let url = if body.is_empty() {
                url
            } else {
                format!("{url}?{body}")
            };
            self.http.get(url)
        } else {
            self.http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
        };
        let resp = req
            .header("Date", date)
            .header("Authorization", auth)
            .send()
            .await
            .map_err(|e| http_fetch::describe(&e))?;
        let status = resp.status().as_u16();
        let bytes = http_fetch::read_capped(resp, MAX_ANSWER_BYTES).await?;
        let value = serde_json::from_slice(&bytes).map_err(|_| {
            format!("HTTP {status}: the answer is not Duo's JSON (is the host a Duo API host?)")
        })?;
        Ok((status, value))
    }
}

/// Duo's failure text: `message (code N): message_detail`.
fn duo_failure(status: u16, v: &Value) -> String {
    let message = v["message"].as_str().unwrap_or("no message");
    let code = v["code"]
        .as_i64()
        .map(|c| format!(" (code {c})"))
        .unwrap_or_default();
    let detail = v["message_detail"]
        .as_str()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    let hint = match status {
        401 => " — the integration key, secret key or host is wrong",
        _ => "",
    };
    format!("HTTP {status}, {message}{code}{detail}{hint}")
}

fn is_ok(status: u16, v: &Value) -> bool {
    status == 200 && v["stat"] == "OK"
}

async fn testduoconnection(ctx: Ctx, a: DuoArgs) -> Result<Output, CommandError> {
    let host = a.host.trim().to_ascii_lowercase();
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(CommandError::Invalid(
            "HOST must be a host name such as api-XXXXXXXX.duosecurity.com".into(),
        ));
    }
    let base = match &a.base_url {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            u.trim_end_matches('/').to_string()
        }
        Some(_) => {
            return Err(CommandError::Invalid(
                "--base-url must start with http:// or https://".into(),
            ));
        }
        None => format!("https://{host}"),
    };
    let http =
        http_fetch::client(CONNECT_TIMEOUT, REQUEST_TIMEOUT).map_err(CommandError::Internal)?;
    let client = DuoClient {
        http,
        base,
        host,
        ikey: a.ikey.trim().to_string(),
        skey: a.skey,
        digest: if a.digest == "sha512" {
            DuoDigest::Sha512
        } else {
            DuoDigest::Sha1
        },
        now: ctx.now(),
    };
    let mut report = CheckReport::headed(format!(
        "Duo API {} (signed for {})",
        client.base, client.host
    ));
    // 1. The keys.
    match client.call("GET", "/auth/v2/check", &[]).await {
        Ok((status, v)) if is_ok(status, &v) => {
            let time = v["response"]["time"].as_i64().unwrap_or_default();
            report.step("check", true, format!("keys accepted (server time {time})"));
        }
        Ok((status, v)) => {
            report.step("check", false, duo_failure(status, &v));
            return Ok(report.finish());
        }
        Err(e) => {
            report.step("check", false, e);
            return Ok(report.finish());
        }
    }
    let Some(user) = a
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Ok(report.finish());
    };
    let duo_user = user.split('@').next().unwrap_or(user);
    // 2. The user's enrolment.
    let params = [("username", duo_user)];
    match client.call("POST", "/auth/v2/preauth", &params).await {
        Ok((status, v)) if is_ok(status, &v) => {
            let result = v["response"]["result"].as_str().unwrap_or("");
            let msg = v["response"]["status_msg"].as_str().unwrap_or("");
            if result != "auth" {
                report.step(
                    "preauth",
                    false,
                    format!("user \"{duo_user}\": result {result:?} {msg}"),
                );
                return Ok(report.finish());
            }
            report.step(
                "preauth",
                true,
                format!("user \"{duo_user}\" may authenticate"),
            );
        }
        Ok((status, v)) => {
            report.step("preauth", false, duo_failure(status, &v));
            return Ok(report.finish());
        }
        Err(e) => {
            report.step("preauth", false, e);
            return Ok(report.finish());
        }
    }
    // 3. A push to the user's first device.
    let params = [
        ("username", duo_user),
        ("factor", "push"),
        ("device", "auto"),
    ];
    match client.call("POST", "/auth/v2/auth", &params).await {
        Ok((status, v)) if is_ok(status, &v) => {
            let result = v["response"]["result"].as_str().unwrap_or("");
            let msg = v["response"]["status_msg"].as_str().unwrap_or("");
            let ok = result == "allow";
            report.step("push", ok, format!("result {result:?}: {msg}"));
        }
        Ok((status, v)) => {
            report.step("push", false, duo_failure(status, &v));
        }
        Err(e) => {
            report.step("push", false, e);
        }
    }
    Ok(report.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc2822() {
        assert_eq!(rfc2822(1_345_570_158), "Tue, 21 Aug 2012 17:29:18 -0000");
    }
}
