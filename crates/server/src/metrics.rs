//! Prometheus metrics (`GET /metrics`) from a small in-process registry: requests by method,
//! route template and status, latency histograms per route, and authentication outcomes. The
//! same middleware writes one structured log line per request — method, path (never the query
//! string), client address, status, latency — and nothing else from headers or bodies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    auth: BTreeMap<(&'static str, &'static str), u64>,
}

/// How a caller tried to authenticate.
#[derive(Clone, Copy, Debug)]
pub enum AuthKind {
    Password,
    Session,
    ApiKey,
    ManagementKey,
}

impl AuthKind {
    fn as_str(self) -> &'static str {
        match self {
            AuthKind::Password => "password",
            AuthKind::Session => "session",
            AuthKind::ApiKey => "api_key",
            AuthKind::ManagementKey => "management_key",
        }
    }
}

/// How it went.
#[derive(Clone, Copy, Debug)]
pub enum AuthOutcome {
    Success,
    Failure,
    Throttled,
}

impl AuthOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Success => "success",
            AuthOutcome::Failure => "failure",
            AuthOutcome::Throttled => "throttled",
        }
    }
}

/// The node's metric registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut inner = self.lock();
        *inner
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let h = inner
            .latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn record_auth(&self, kind: AuthKind, outcome: AuthOutcome) {
        *self
            .lock()
            .auth
            .entry((kind.as_str(), outcome.as_str()))
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP keyward_build_info Build information.\n# TYPE keyward_build_info gauge\n\
             keyward_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            crate::status::VERSION,
            label(crate::status::COMMIT_HASH)
        );
        out.push_str(
            "# HELP keyward_http_requests_total HTTP requests by method, route and status.\n\
             # TYPE keyward_http_requests_total counter\n",
        );
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "keyward_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                label(method),
                label(route)
            );
        }
        out.push_str(
            "# HELP keyward_http_request_duration_seconds HTTP request latency.\n\
             # TYPE keyward_http_request_duration_seconds histogram\n",
        );
        for ((method, route), h) in &inner.latency {
            let (m, r) = (label(method), label(route));
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "keyward_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{le}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "keyward_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}\n\
                 keyward_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}\n\
                 keyward_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        out.push_str(
            "# HELP keyward_auth_total Authentication attempts by method and outcome.\n\
             # TYPE keyward_auth_total counter\n",
        );
        for ((kind, outcome), n) in &inner.auth {
            let _ = writeln!(
                out,
                "keyward_auth_total{{method=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts, times and logs every request. Unmatched paths share one label, so a
/// scanner cannot blow up the number of series.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let path = req.uri().path().to_string();
    let client = crate::client_addr::request_client_ip(&req)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    state
        .metrics
        .record_request(&method, &route, status, elapsed);
    tracing::info!(
        target: "keyward::http",
        %method,
        %path,
        %client,
        status,
        latency_ms = (elapsed * 1000.0).round() as u64,
        "request"
    );
    resp
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "status",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_counters_histograms_and_auth() {
        let m = Metrics::default();
        m.record_request("GET", "/healthz", 200, 0.003);
        m.record_request("GET", "/healthz", 200, 0.3);
        m.record_auth(AuthKind::Password, AuthOutcome::Failure);
        let text = m.render();
        assert!(text.contains(
            "keyward_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "keyward_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "keyward_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 2"
        ));
        assert!(text.contains("keyward_auth_total{method=\"password\",outcome=\"failure\"} 1"));
    }
}
