//! State shared by all request handlers: the command registry and its shared state, plus this
//! node's in-memory login throttle and metrics.

use std::sync::Arc;

use keyward_commands::{Ctx, Registry, Shared};

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

    /// A command context acting as `actor` for a client address.
    pub fn ctx(&self, actor: &str, client: &str) -> Ctx {
        Ctx::new(self.shared.clone(), actor, client)
    }
}
