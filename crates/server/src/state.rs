//! State shared by all request handlers: the command registry and its shared state, plus this
//! node's in-memory login throttle and metrics.

use std::sync::Arc;

use keyward_commands::{Ctx, Registry, Shared};

use crate::auth::{Caller, ClientAddr};
use crate::metrics::Metrics;
use crate::throttle::Throttle;

#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub registry: Arc<Registry>,
    pub throttle: Arc<Throttle>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(shared: Arc<Shared>, registry: Arc<Registry>) -> Self {
        AppState {
            shared,
            registry,
            throttle: Arc::new(Throttle::default()),
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// A command context for an anonymous caller (named `actor` in the audit log).
    pub fn ctx(&self, actor: &str, client: &str) -> Ctx {
        Ctx::new(self.shared.clone(), actor, client)
    }

    /// A command context for an authenticated caller: the registry checks its roles.
    pub fn caller_ctx(&self, caller: &Caller, client: &ClientAddr) -> Ctx {
        Ctx::new(self.shared.clone(), caller.actor.clone(), client.text())
            .with_principal(caller.principal())
    }
}
