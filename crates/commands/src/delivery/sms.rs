//! SMS through the configured HTTP gateway (`sms_gateway_*` settings): the URL and the body are
//! templates with `{phone}` and `{otp}`, filled in escaped for where they land (URL-encoded in
//! the URL and in a form body, JSON-escaped in a JSON body); success is the configured HTTP
//! status. One request, no redirects, bounded by the configured timeout. Errors name neither
//! the URL (it may carry the gateway's key) nor the OTP.

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::context::Ctx;
use crate::output::CommandError;

/// Fills `{phone}` and `{otp}` into a template, each value escaped by `escape`.
fn fill(template: &str, phone: &str, otp: &str, escape: impl Fn(&str) -> String) -> String {
    template
        .replace("{phone}", &escape(phone))
        .replace("{otp}", &escape(otp))
}

fn url_escape(v: &str) -> String {
    utf8_percent_encode(v, NON_ALPHANUMERIC).to_string()
}

fn json_escape(v: &str) -> String {
    let quoted = serde_json::Value::String(v.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// The request body for the configured content type.
fn body(content_type: &str, template: &str, phone: &str, otp: &str) -> String {
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("json") {
        fill(template, phone, otp, json_escape)
    } else if ct.contains("x-www-form-urlencoded") {
        fill(template, phone, otp, url_escape)
    } else {
        fill(template, phone, otp, str::to_string)
    }
}

/// Sends `otp` to `phone` through the gateway.
pub(crate) async fn send(ctx: &Ctx, phone: &str, otp: &str) -> Result<(), CommandError> {
    let s = ctx.settings();
    let url = s
        .sms_gateway_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            CommandError::Unavailable(
                "SMS is not configured: set sms_gateway_url in the config file".into(),
            )
        })?;
    let url = fill(url, phone, otp, url_escape);
    let timeout = Duration::from_secs(s.sms_gateway_timeout_secs.max(1));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CommandError::Internal(format!("SMS gateway client: {}", e.without_url())))?;
    let request = if s.sms_gateway_method == "GET" {
        client.get(&url)
    } else {
        client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, &s.sms_gateway_content_type)
            .body(body(
                &s.sms_gateway_content_type,
                &s.sms_gateway_body,
                phone,
                otp,
            ))
    };
    let answer = request.send().await.map_err(|e| {
        let why = if e.is_timeout() {
            format!("no answer within {} s", timeout.as_secs())
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else if e.is_builder() {
            "sms_gateway_url is not a usable URL".to_string()
        } else {
            e.without_url().to_string()
        };
        CommandError::Unavailable(format!("cannot send the SMS: the gateway: {why}"))
    })?;
    let status = answer.status().as_u16();
    if u32::from(status) != s.sms_gateway_success_status {
        return Err(CommandError::Unavailable(format!(
            "cannot send the SMS: the gateway answered HTTP {status} (success is {})",
            s.sms_gateway_success_status
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_where_they_land() {
        let json = body(
            "application/json",
            r#"{"to":"{phone}","text":"{otp}"}"#,
            "+49 \"x\"",
            "123456",
        );
        assert_eq!(json, r#"{"to":"+49 \"x\"","text":"123456"}"#);
        let form = body(
            "application/x-www-form-urlencoded",
            "to={phone}&t={otp}",
            "+49 1&x",
            "1",
        );
        assert_eq!(form, "to=%2B49%201%26x&t=1");
        assert_eq!(body("text/plain", "{otp} {phone}", "+1", "9"), "9 +1");
    }
}
