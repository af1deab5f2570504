//! `GET|POST /admin/<endpoint>`: LinOTP's admin API, one dispatcher over the token commands of
//! `keyward_commands::tokens::ADMIN_ENDPOINTS`. It authenticates ([`AdminAuth`]: bearer session,
//! admin API key, HTTP Basic of an operator account, or LinOTP's `admin_session` cookie with its
//! `session` parameter; a 401 carries `WWW-Authenticate: Basic`) and runs the command with the request's parameters as the caller — the registry applies the
//! command's roles and the target rule; the command's JSON is the envelope's `value`. `show` with `outform=csv` answers
//! the CSV download instead.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_commands::tokens::ADMIN_ENDPOINTS;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin_session::{AdminAuth, challenge};
use super::envelope::{LinotpEnvelope, LinotpError, Success};
use super::params::LinotpParams;
use crate::AppState;
use crate::auth::ClientAddr;

/// `Content-Disposition` of the `show` CSV download.
const CSV_DISPOSITION: &str = "attachment; filename=\"keyward-tokendata.csv\"";

pub fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new().routes(routes!(admin_get, admin_post));
    document_endpoints(router.get_openapi_mut());
    router
}

/// Lists the endpoint names as the `endpoint` parameter's enum, from the commands crate's table
/// (so the document cannot drift from what is served).
fn document_endpoints(doc: &mut OpenApi) {
    let names: Vec<&str> = ADMIN_ENDPOINTS.iter().map(|(e, _)| *e).collect();
    let Some(item) = doc.paths.paths.get_mut("/admin/{endpoint}") else {
        return;
    };
    for op in [item.get.as_mut(), item.post.as_mut()]
        .into_iter()
        .flatten()
    {
        for p in op.parameters.iter_mut().flatten() {
            if let RefOr::T(p) = p
                && p.name == "endpoint"
            {
                p.schema = Some(RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(names.clone()))
                        .build(),
                )));
            }
        }
    }
}

/// The command behind an endpoint name (exact, case-sensitive, as LinOTP routes them).
fn command_for(endpoint: &str) -> Option<&'static str> {
    ADMIN_ENDPOINTS
        .iter()
        .find(|(e, _)| *e == endpoint)
        .map(|(_, c)| *c)
}

fn wants_csv(endpoint: &str, params: &LinotpParams) -> bool {
    endpoint == "show"
        && matches!(params.map.get("outform"), Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("csv"))
}

fn csv_response(text: String) -> Response {
    let mut resp = (StatusCode::OK, text).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(CSV_DISPOSITION),
    );
    resp
}

async fn dispatch(
    state: AppState,
    client: ClientAddr,
    endpoint: Result<Path<String>, PathRejection>,
    auth: Result<AdminAuth, LinotpError>,
    params: Result<LinotpParams, LinotpError>,
) -> Result<Response, LinotpError> {
    let endpoint = endpoint.map(|Path(e)| e).unwrap_or_default();
    let Some(command) = command_for(&endpoint) else {
        let shown: String = endpoint.chars().take(100).collect();
        return Err(LinotpError::invalid_with_status(
            format!("unknown endpoint /admin/{shown}"),
            StatusCode::NOT_FOUND,
        ));
    };
    let auth = auth?;
    let params = params?;
    let httperror = params.httperror;
    auth.check_session(params.map.get("session"))?;
    let caller = auth.caller();
    if state.registry.spec(command).is_none() {
        return Err(
            LinotpError::from(keyward_commands::CommandError::Internal(format!(
                "/admin/{endpoint}: command {command:?} is not registered"
            )))
            .with_httperror(httperror),
        );
    }
    let csv = wants_csv(&endpoint, &params);
    // LinOTP answers a browser's file upload to loadtokens in XML.
    let xml = endpoint == "loadtokens" && params.multipart;
    let ctx = caller.ctx(&state, &client);
    let output = state
        .registry
        .run_params(&ctx, command, params.map)
        .await
        .map_err(|e| LinotpError::from(e).with_httperror(httperror));
    if xml {
        return Ok(match output {
            Ok(out) => super::xml_reply::loadtokens_result(&out.json),
            Err(e) => super::xml_reply::error(&e),
        });
    }
    let output = output?;
    if csv {
        return Ok(csv_response(output.text));
    }
    let mut success = Success::new(output.json, output.detail);
    for (key, value) in output.result_keys {
        success = success.with_result_key(&key, value);
    }
    Ok(success.into_response())
}

/// The refusals of `/admin/*` (GET and POST alike), for the OpenAPI document; the handlers
/// answer with the LinOTP envelope, never with this enum.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum AdminRefusals {
    /// Not authenticated (code -311), with `WWW-Authenticate: Basic realm="keyward"`
    #[response(status = 401)]
    NotAuthenticated(LinotpEnvelope),
    /// Role or API key not allowed here, or an `admin_session` cookie without its `session`
    /// parameter (code -311)
    #[response(status = 403)]
    Forbidden(LinotpEnvelope),
    /// No such admin endpoint
    #[response(status = 404)]
    NoSuchEndpoint(LinotpEnvelope),
    /// Body too large
    #[response(status = 413)]
    TooLarge(LinotpEnvelope),
}

/// LinOTP admin API (read with GET): `show`, `check_serial`, `getTokenOwner`, … — every
/// endpoint accepts GET and POST; parameters come from the query string.
#[utoipa::path(
    get,
    path = "/admin/{endpoint}",
    tag = "linotp",
    operation_id = "linotp_admin_get",
    security(("bearer" = []), ("basic" = []), ("admin_session" = [])),
    params(
        ("endpoint" = String, Path, description = "The LinOTP admin endpoint, e.g. `show`"),
    ),
    responses(
        (status = 200, description = "The LinOTP envelope; `result.status` false on errors \
            (code 905 bad parameters, 1102 not found, 1101 conflict, -311 forbidden, -1 internal). \
            `show` with `outform=csv` answers a CSV download.",
            content(
                (LinotpEnvelope = "application/json"),
                (String = "text/csv"),
            )),
        AdminRefusals,
    )
)]
async fn admin_get(
    State(state): State<AppState>,
    client: ClientAddr,
    endpoint: Result<Path<String>, PathRejection>,
    auth: Result<AdminAuth, LinotpError>,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    challenge(
        dispatch(state, client, endpoint, auth, params)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    )
}

/// LinOTP admin API: `init`, `assign`, `remove`, `set`, `loadtokens`, … — parameters from
/// the query string and a form, multipart or JSON body.
#[utoipa::path(
    post,
    path = "/admin/{endpoint}",
    tag = "linotp",
    operation_id = "linotp_admin_post",
    security(("bearer" = []), ("basic" = []), ("admin_session" = [])),
    params(
        ("endpoint" = String, Path, description = "The LinOTP admin endpoint, e.g. `init`"),
    ),
    request_body(
        description = "The endpoint's parameters (text values; repeat a name or use a list for \
                       `tokens[]`-style parameters)",
        content(
            (Object = "application/x-www-form-urlencoded"),
            (Object = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "The LinOTP envelope; `result.status` false on errors \
            (code 905 bad parameters, 1102 not found, 1101 conflict, -311 forbidden, -1 internal). \
            `show` with `outform=csv` answers a CSV download.",
            content(
                (LinotpEnvelope = "application/json"),
                (String = "text/csv"),
            )),
        AdminRefusals,
    )
)]
async fn admin_post(
    state: State<AppState>,
    client: ClientAddr,
    endpoint: Result<Path<String>, PathRejection>,
    auth: Result<AdminAuth, LinotpError>,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    admin_get(state, client, endpoint, auth, params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_exactly() {
        assert_eq!(command_for("copyTokenPin"), Some("token copypin"));
        assert_eq!(command_for("show"), Some("token show"));
        assert_eq!(command_for("copytokenpin"), None);
        assert_eq!(command_for(""), None);
        assert_eq!(ADMIN_ENDPOINTS.len(), 25);
    }

    #[test]
    fn csv_only_for_show_with_outform_csv() {
        let mut p = LinotpParams::default();
        p.map.insert("outform".into(), Value::String("CSV".into()));
        assert!(wants_csv("show", &p));
        assert!(!wants_csv("userlist", &p));
        assert!(!wants_csv("show", &LinotpParams::default()));
        let resp = csv_response("'a'; \n".into());
        assert_eq!(
            resp.headers().get(header::CONTENT_DISPOSITION),
            Some(&HeaderValue::from_static(
                "attachment; filename=\"keyward-tokendata.csv\""
            ))
        );
    }

    #[test]
    fn the_document_lists_the_endpoints() {
        let doc = routes().into_openapi();
        let item = doc.paths.paths.get("/admin/{endpoint}");
        let json = serde_json::to_value(item).unwrap_or_default();
        let names = &json["get"]["parameters"][0]["schema"]["enum"];
        assert_eq!(names.as_array().map(Vec::len), Some(ADMIN_ENDPOINTS.len()));
        assert_eq!(json["post"]["operationId"], "linotp_admin_post");
    }
}
