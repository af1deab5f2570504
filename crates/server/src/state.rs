//! State shared by all request handlers: the command registry and its shared state, plus this
//! node's in-memory throttles, audit coalescing, trusted proxies and metrics.

use std::sync::Arc;

use keyward_commands::{Ctx, Registry, Shared};

use crate::audit_coalesce::AuditCoalescer;
use crate::forwarded::TrustedProxies;
use crate::metrics::Metrics;
use crate::throttle::{Backoff, Throttle};

#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub registry: Arc<Registry>,
    /// Failed logins.
    pub throttle: Arc<Throttle>,
    /// Failed management-key presentations, per client address.
    pub management_throttle: Arc<Backoff>,
    pub audit_coalescer: Arc<AuditCoalescer>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers name the client.
    pub proxies: Arc<TrustedProxies>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over `shared`; `trusted_proxies` entries that do not parse are ignored with an
    /// error in the log (`run` refuses to start with them, see [`TrustedProxies::parse`]).
    pub fn new(shared: Arc<Shared>, registry: Arc<Registry>) -> Self {
        let proxies = TrustedProxies::parse(&shared.settings.trusted_proxies).unwrap_or_else(|e| {
            tracing::error!(error = %e, "trusted_proxies ignored");
            TrustedProxies::default()
        });
        let metrics = Arc::new(Metrics::default());
        Metrics::keep_up(&metrics);
        AppState {
            shared,
            registry,
            throttle: Arc::new(Throttle::default()),
            management_throttle: Arc::new(Backoff::default()),
            audit_coalescer: Arc::new(AuditCoalescer::default()),
            proxies: Arc::new(proxies),
            metrics,
        }
    }

    /// A command context for an anonymous caller (named `actor` in the audit log).
    pub fn ctx(&self, actor: &str, client: &str) -> Ctx {
        Ctx::new(self.shared.clone(), actor, client)
    }
}
