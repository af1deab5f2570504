//! The OpenAPI 3.1 document of the REST API (`GET /api/v1/openapi.json`), generated from the
//! route annotations: every route is registered through `utoipa_axum`'s `routes!`, so a route
//! cannot exist without its documentation.

use std::sync::Arc;

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The rendered document, shared by the route that serves it.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<String>);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "Self-hosted authentication server: users, OTP tokens, sessions, API keys. \
                       Errors are JSON: {\"error\", \"message\", \"status\"}."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(keyward_proto::FsAnnouncement)),
    tags(
        (name = "auth", description = "Login sessions and self-registration"),
        (name = "users", description = "Users as SFTPGo v0.9's REST API has them (/api/v1/user); \
                                        every time in the user object is in epoch milliseconds"),
        (name = "connections", description = "Active sessions (SFTPGo connections)"),
        (name = "tokens", description = "OTP tokens as REST resources (the commands of LinOTP's \
                                          /admin/*); times in epoch milliseconds"),
        (name = "apikeys", description = "API keys; a new key is shown once"),
        (name = "quota", description = "SFTPGo quota scans and usage updates"),
        (name = "audit", description = "Tamper-evident audit log"),
        (name = "maintenance", description = "dumpdata / loaddata (SFTPGo's dump files included)"),
        (name = "fileserver", description = "Psono-style fileserver clusters and shards; members \
                                              announce themselves at /fileserver/alive/ with \
                                              a signed FsAnnouncement"),
        (name = "management", description = "Psono-style remote management commands"),
        (name = "linotp", description = "LinOTP-compatible token administration (/admin/*) and \
                                         authentication (/validate/*). These answer LinOTP's \
                                         envelope {\"jsonrpc\", \"result\", \"version\", \"id\"} \
                                         instead of the REST error body; errors use HTTP 200 \
                                         unless the request carries httperror=<code>."),
        (name = "status", description = "Health, version, provider status, metrics, this document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from /auth/login or an admin API key (kw_…)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Username and password of an operator account (any role); throttled \
                         like /auth/login",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "management_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <management_command_access_key>`",
            ))),
        );
        components.add_security_scheme(
            "admin_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "admin_session",
                "LinOTP's admin session from `/admin/getsession` (after HTTP Basic); every \
                 request must repeat its value as the `session` parameter",
            ))),
        );
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "status",
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json"))
)]
pub async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    let mut resp = doc.0.as_str().to_owned().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
