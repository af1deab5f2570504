//! Prometheus metrics (`GET /metrics`): requests by method, route template and status, latency
//! histograms per route, and authentication outcomes, kept and rendered in the Prometheus text
//! format by a `metrics-exporter-prometheus` recorder owned by the node (not the process-wide
//! `metrics` recorder, so every server in a process keeps its own counts). The
//! same middleware writes one structured log line per request — method, path (never the query
//! string), client address, status, latency — and nothing else from headers or bodies.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::AppState;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const BUILD_INFO: &str = "keyward_build_info";
const REQUESTS: &str = "keyward_http_requests_total";
const LATENCY: &str = "keyward_http_request_duration_seconds";
const AUTH: &str = "keyward_auth_total";

/// Where the metrics are recorded from, for the recorder's metadata.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// How a caller tried to authenticate.
#[derive(Clone, Copy, Debug)]
pub enum AuthKind {
    Password,
    Session,
    ApiKey,
    ManagementKey,
    /// LinOTP's `admin_session` cookie on `/admin/*`.
    AdminSession,
}

impl AuthKind {
    fn as_str(self) -> &'static str {
        match self {
            AuthKind::Password => "password",
            AuthKind::Session => "session",
            AuthKind::ApiKey => "api_key",
            AuthKind::ManagementKey => "management_key",
            AuthKind::AdminSession => "admin_session",
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

/// How often buffered latency samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The node's metric registry.
pub struct Metrics {
    recorder: PrometheusRecorder,
}

impl Default for Metrics {
    fn default() -> Self {
        let builder = PrometheusBuilder::new();
        // `set_buckets` only refuses an empty list; without buckets latencies would be summaries.
        let builder = builder
            .set_buckets(&BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        recorder.describe_gauge(BUILD_INFO.into(), None, "Build information.".into());
        recorder.describe_counter(
            REQUESTS.into(),
            None,
            "HTTP requests by method, route and status.".into(),
        );
        recorder.describe_histogram(LATENCY.into(), None, "HTTP request latency.".into());
        recorder.describe_counter(
            AUTH.into(),
            None,
            "Authentication attempts by method and outcome.".into(),
        );
        let build = Key::from_parts(
            BUILD_INFO,
            vec![
                Label::new("version", crate::status::VERSION),
                Label::new("commit", crate::status::COMMIT_HASH),
            ],
        );
        recorder.register_gauge(&build, &METADATA).set(1.0);
        Metrics { recorder }
    }
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = Label::new("method", method.to_string());
        let route = Label::new("route", route.to_string());
        let requests = Key::from_parts(
            REQUESTS,
            vec![
                method.clone(),
                route.clone(),
                Label::new("status", status.to_string()),
            ],
        );
        self.recorder
            .register_counter(&requests, &METADATA)
            .increment(1);
        let latency = Key::from_parts(LATENCY, vec![method, route]);
        self.recorder
            .register_histogram(&latency, &METADATA)
            .record(seconds);
    }

    pub fn record_auth(&self, kind: AuthKind, outcome: AuthOutcome) {
        let key = Key::from_parts(
            AUTH,
            vec![
                Label::new("method", kind.as_str()),
                Label::new("outcome", outcome.as_str()),
            ],
        );
        self.recorder.register_counter(&key, &METADATA).increment(1);
    }

    /// Folds the latency samples recorded since the last call into their histogram buckets.
    /// The exporter buffers every sample until then, so this runs periodically (see
    /// [`Metrics::keep_up`]) as well as at each scrape: memory stays bounded without scrapes.
    pub fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// Starts the periodic upkeep on the current runtime (when there is one); it ends with the
    /// last holder of the metrics.
    pub fn keep_up(metrics: &std::sync::Arc<Metrics>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = std::sync::Arc::downgrade(metrics);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(m) => m.upkeep(),
                    None => return,
                }
            }
        });
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }
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

    #[test]
    fn build_info_and_help_lines_are_rendered() {
        let text = Metrics::default().render();
        assert!(text.contains(&format!(
            "keyward_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            crate::status::VERSION,
            crate::status::COMMIT_HASH
        )));
        assert!(text.contains("# HELP keyward_build_info Build information.\n"));
        assert!(text.contains("# TYPE keyward_build_info gauge\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.record_request("GET", "/a\"b\\c\nd", 200, 0.0);
        assert!(m.render().contains(
            "keyward_http_requests_total{method=\"GET\",route=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 1"
        ));
    }

    #[test]
    fn each_registry_keeps_its_own_counts() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.record_auth(AuthKind::ApiKey, AuthOutcome::Throttled);
        assert!(
            a.render()
                .contains("keyward_auth_total{method=\"api_key\",outcome=\"throttled\"} 1")
        );
        assert!(!b.render().contains("keyward_auth_total"));
    }
}
