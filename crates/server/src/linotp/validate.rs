//! `GET|POST /validate/check` and `/validate/simplecheck`: authenticate a user (or a token
//! serial) with PIN+OTP through `keyward_commands::validate::check`, which also audits.
//!
//! `check` answers the envelope with `result.value` true/false and privacyIDEA's
//! `result.authentication` (`ACCEPT`, `REJECT`, `CHALLENGE`); the accepting serial or the opened
//! challenge is in `detail`, a rejection's reason never reaches the client. `simplecheck`
//! answers plain text: `:-)` accepted, `:-(` rejected or challenged, `:-/` error. When the
//! runtime setting `api_key_required` is on, or an authorization policy with `api_key_required`
//! applies to the request, both need a `validate` API key (else -311, HTTP 401, for both).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_commands::validate::{CheckOutcome, CheckRequest, check};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{LinotpEnvelope, LinotpError, Success};
use super::params::LinotpParams;
use crate::AppState;
use crate::auth::{ClientAddr, validate_key};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_get, check_post))
        .routes(routes!(simplecheck_get, simplecheck_post))
}

/// The parameters of `/validate/check` and `/validate/simplecheck` (for the OpenAPI document;
/// the handlers read them from the merged [`LinotpParams`]).
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CheckParams {
    /// The user, `name` or `name@realm` (give `user` or `serial`).
    user: Option<String>,
    /// The user's realm, when not in `user`.
    realm: Option<String>,
    /// A token serial instead of a user.
    serial: Option<String>,
    /// The token PIN followed by the OTP; the OTP alone when answering a challenge.
    pass: String,
    /// The transaction id of the challenge being answered (`transaction_id` and `state` are
    /// accepted too).
    transactionid: Option<String>,
    /// The question of an ocra2 token's challenge, chosen by the client (`data` is accepted
    /// too); drawn by keyward when absent.
    challenge: Option<String>,
}

/// The transaction id, by any of its names.
fn transaction_id(params: &LinotpParams) -> Result<Option<String>, LinotpError> {
    for name in ["transactionid", "transaction_id", "state"] {
        if let Some(t) = params.non_empty(name)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// The check request from the parameters (`pass` is required; empty names count as absent).
fn check_request(params: &LinotpParams, client: ClientAddr) -> Result<CheckRequest, LinotpError> {
    let pass = params.text("pass")?.ok_or_else(|| {
        LinotpError::invalid("Missing parameter: 'pass'").with_httperror(params.httperror)
    })?;
    Ok(CheckRequest {
        user: params.non_empty("user")?,
        realm: params.non_empty("realm")?,
        serial: params.non_empty("serial")?,
        pass,
        transaction_id: transaction_id(params)?,
        challenge: match params.non_empty("challenge")? {
            Some(c) => Some(c),
            None => params.non_empty("data")?,
        },
        client: client.0,
    })
}

async fn run(
    state: &AppState,
    client: ClientAddr,
    headers: &HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Result<CheckOutcome, LinotpError> {
    let httperror = params.as_ref().ok().and_then(|p| p.httperror);
    let mut ctx = state.ctx("anonymous", &client.text());
    let fail = |e: keyward_commands::CommandError| LinotpError::from(e).with_httperror(httperror);
    let by_config = keyward_commands::runtime_config::get_bool(&ctx, "api_key_required")
        .await
        .map_err(&fail)?
        == Some(true);
    // The setting, or an authorization policy for this request's user, realm and client.
    let named = |name: &str| -> Option<String> {
        params
            .as_ref()
            .ok()
            .and_then(|p| p.non_empty(name).ok().flatten())
    };
    let by_policy = !by_config
        && keyward_commands::policies::enforce::api_key_required(
            &ctx,
            named("user").as_deref(),
            named("realm").as_deref(),
            client.0,
        )
        .await
        .map_err(&fail)?;
    let key_required = (by_config || by_policy).then_some(true);
    // A presented validate key names the caller in the audit log; with the policy on, one is
    // required.
    let key = if headers.contains_key(header::AUTHORIZATION) || key_required == Some(true) {
        validate_key(state, headers).await
    } else {
        None
    };
    match key {
        Some(id) => ctx.actor = format!("apikey:{id}"),
        None if key_required == Some(true) => {
            return Err(LinotpError::unauthenticated(
                "this server requires a validate API key",
            ));
        }
        None => {}
    }
    let params = params?;
    let req = check_request(&params, client)?;
    check(&ctx, &req)
        .await
        .map_err(|e| LinotpError::from(e).with_httperror(httperror))
}

/// The `/validate/check` envelope of an outcome.
fn check_answer(outcome: CheckOutcome) -> Success {
    match outcome {
        // The passthru policy: the password, not a token, authenticated.
        CheckOutcome::Accepted { serial } if serial.is_empty() => Success::new(
            json!(true),
            Some(json!({ "message": "authenticated by the user's password (passthru policy)" })),
        )
        .with_result_key("authentication", json!("ACCEPT")),
        CheckOutcome::Accepted { serial } => {
            Success::new(json!(true), Some(json!({ "serial": serial })))
                .with_result_key("authentication", json!("ACCEPT"))
        }
        CheckOutcome::Rejected { .. } => {
            Success::new(json!(false), None).with_result_key("authentication", json!("REJECT"))
        }
        CheckOutcome::Challenge {
            transaction_id,
            message,
            serials,
            challenge,
        } => {
            let multi: Vec<Value> = serials
                .iter()
                .map(|s| {
                    json!({ "serial": s, "transaction_id": transaction_id, "message": message })
                })
                .collect();
            let mut detail = json!({
                "transactionid": transaction_id,
                "transaction_id": transaction_id,
                "message": message,
                "multi_challenge": multi,
            });
            if let Some(q) = challenge {
                detail["challenge"] = json!(q);
                detail["data"] = json!(q);
            }
            Success::new(json!(false), Some(detail))
                .with_result_key("authentication", json!("CHALLENGE"))
        }
    }
}

fn smiley(text: &'static str) -> Response {
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The `/validate/simplecheck` answer: the smiley, or the envelope when a key is missing.
fn simple_answer(result: Result<CheckOutcome, LinotpError>) -> Response {
    match result {
        Ok(CheckOutcome::Accepted { .. }) => smiley(":-)"),
        Ok(_) => smiley(":-("),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => e.into_response(),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            let mut resp = smiley(":-/");
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, super::envelope::retry_after_value());
            resp
        }
        Err(_) => smiley(":-/"),
    }
}

async fn do_check(
    state: AppState,
    client: ClientAddr,
    headers: HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    match run(&state, client, &headers, params).await {
        Ok(outcome) => check_answer(outcome).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn do_simplecheck(
    state: AppState,
    client: ClientAddr,
    headers: HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    simple_answer(run(&state, client, &headers, params).await)
}

/// The answers of `/validate/check` (GET and POST alike), for the OpenAPI document; the
/// handlers build their answers from the envelope, never from this enum.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum CheckAnswers {
    /// The envelope: `result.value` true when accepted, `result.authentication` ACCEPT /
    /// REJECT / CHALLENGE; errors have `result.status` false
    #[response(status = 200)]
    Checked(LinotpEnvelope),
    /// `api_key_required` is on and no validate API key was presented
    #[response(status = 401)]
    NoValidateKey(LinotpEnvelope),
    /// Body too large
    #[response(status = 413)]
    TooLarge(LinotpEnvelope),
}

/// The answers of `/validate/simplecheck` (GET and POST alike), for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum SimplecheckAnswers {
    /// `:-)` accepted, `:-(` rejected or challenged, `:-/` error
    #[response(status = 200, content_type = "text/plain")]
    Checked(String),
    /// `api_key_required` is on and no validate API key was presented
    #[response(status = 401)]
    NoValidateKey(LinotpEnvelope),
}

/// Check a PIN+OTP (LinOTP `/validate/check`).
#[utoipa::path(
    get,
    path = "/validate/check",
    tag = "linotp",
    operation_id = "linotp_validate_check_get",
    security((), ("bearer" = [])),
    params(CheckParams),
    responses(CheckAnswers)
)]
async fn check_get(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    do_check(state, client, headers, params).await
}

/// Check a PIN+OTP (LinOTP `/validate/check`), parameters in a form or JSON body.
#[utoipa::path(
    post,
    path = "/validate/check",
    tag = "linotp",
    operation_id = "linotp_validate_check_post",
    security((), ("bearer" = [])),
    request_body(content(
        (CheckParams = "application/x-www-form-urlencoded"),
        (CheckParams = "application/json"),
    )),
    responses(CheckAnswers)
)]
async fn check_post(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    do_check(state, client, headers, params).await
}

/// Check a PIN+OTP, plain-text answer (LinOTP `/validate/simplecheck`).
#[utoipa::path(
    get,
    path = "/validate/simplecheck",
    tag = "linotp",
    operation_id = "linotp_validate_simplecheck_get",
    security((), ("bearer" = [])),
    params(CheckParams),
    responses(SimplecheckAnswers)
)]
async fn simplecheck_get(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    do_simplecheck(state, client, headers, params).await
}

/// Check a PIN+OTP, plain-text answer (LinOTP `/validate/simplecheck`), parameters in a body.
#[utoipa::path(
    post,
    path = "/validate/simplecheck",
    tag = "linotp",
    operation_id = "linotp_validate_simplecheck_post",
    security((), ("bearer" = [])),
    request_body(content(
        (CheckParams = "application/x-www-form-urlencoded"),
        (CheckParams = "application/json"),
    )),
    responses(SimplecheckAnswers)
)]
async fn simplecheck_post(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    do_simplecheck(state, client, headers, params).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn params(v: Value) -> LinotpParams {
        LinotpParams {
            map: match v {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            httperror: None,
            multipart: false,
        }
    }

    #[test]
    fn check_request_reads_every_alias() {
        let p = params(json!({"user": "alice", "realm": "", "pass": 123456, "state": "42"}));
        let req = check_request(&p, ClientAddr(None)).ok();
        let req = req.unwrap_or_default();
        assert_eq!(req.user.as_deref(), Some("alice"));
        assert_eq!(req.realm, None);
        assert_eq!(req.pass, "123456");
        assert_eq!(req.transaction_id.as_deref(), Some("42"));
        let p = params(json!({"serial": "S", "pass": "", "transaction_id": "7", "state": "8"}));
        let req = check_request(&p, ClientAddr(None)).ok().unwrap_or_default();
        assert_eq!(req.transaction_id.as_deref(), Some("7"));
        assert_eq!(req.pass, "");
        let e = check_request(&params(json!({"user": "a"})), ClientAddr(None)).err();
        assert_eq!(e.map(|e| e.code), Some(905));
        let e = check_request(
            &params(json!({"user": ["a", "b"], "pass": "1"})),
            ClientAddr(None),
        )
        .err();
        assert_eq!(e.map(|e| e.code), Some(905));
    }

    #[test]
    fn check_answers_have_the_authentication_field() {
        let ok = check_answer(CheckOutcome::Accepted {
            serial: "S1".into(),
        })
        .body();
        assert_eq!(
            ok["result"],
            json!({"status": true, "value": true, "authentication": "ACCEPT"})
        );
        assert_eq!(ok["detail"], json!({"serial": "S1"}));
        let no = check_answer(CheckOutcome::Rejected {
            reason: "wrong PIN".into(),
        })
        .body();
        assert_eq!(
            no["result"],
            json!({"status": true, "value": false, "authentication": "REJECT"})
        );
        assert!(no.get("detail").is_none());
        assert!(!no.to_string().contains("wrong PIN"));
        let ch = check_answer(CheckOutcome::Challenge {
            transaction_id: "123".into(),
            message: "please enter otp: ".into(),
            serials: vec!["A".into(), "B".into()],
            challenge: None,
        })
        .body();
        assert_eq!(ch["result"]["authentication"], json!("CHALLENGE"));
        assert_eq!(ch["result"]["value"], json!(false));
        assert_eq!(ch["detail"]["transactionid"], json!("123"));
        assert_eq!(ch["detail"]["transaction_id"], json!("123"));
        assert_eq!(
            ch["detail"]["multi_challenge"],
            json!([
                {"serial": "A", "transaction_id": "123", "message": "please enter otp: "},
                {"serial": "B", "transaction_id": "123", "message": "please enter otp: "},
            ])
        );
    }

    #[tokio::test]
    async fn simplecheck_answers_smileys() {
        async fn text(resp: Response) -> (StatusCode, String) {
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1024)
                .await
                .unwrap_or_default();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
        let ok = simple_answer(Ok(CheckOutcome::Accepted { serial: "S".into() }));
        assert_eq!(
            ok.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("text/plain; charset=utf-8"))
        );
        assert_eq!(text(ok).await, (StatusCode::OK, ":-)".into()));
        let no = simple_answer(Ok(CheckOutcome::Rejected { reason: "x".into() }));
        assert_eq!(text(no).await, (StatusCode::OK, ":-(".into()));
        let err = simple_answer(Err(LinotpError::invalid("x")));
        assert_eq!(text(err).await, (StatusCode::OK, ":-/".into()));
        let key = simple_answer(Err(LinotpError::unauthenticated("x")));
        assert_eq!(key.status(), StatusCode::UNAUTHORIZED);
    }
}
