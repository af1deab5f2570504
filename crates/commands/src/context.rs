//! What every command runs with: the store, the settings, a clock, the acting identity, and
//! lazily loaded key material. Cloning a context is cheap (shared state behind an `Arc`).

use std::sync::Arc;

use keyward_core::enckey::EncKey;
use keyward_store::audit::{AuditAppend, AuditEvent, SharedSigner};
use keyward_store::{OpenOptions, Store};
use tokio::sync::OnceCell;

use crate::access::Principal;
use crate::change::AuditDraft;
use crate::hashing::PasswordHashing;
use crate::keys::{ServerKeys, ensure_private_dir, load_or_create_enckey};
use crate::output::CommandError;
use crate::settings::Settings;
use crate::tokens::lookup_limit::LookupLimit;

/// Source of the current time (a trait so tests can pin it).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The real wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// State shared by all commands of one process.
pub struct Shared {
    pub store: Store,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    /// This process's audit chain name.
    pub chain: String,
    /// The bound on concurrent password/PIN hashing (see [`crate::hashing`]).
    pub hashing: PasswordHashing,
    /// This node's OTP look-up counts per caller (see [`LookupLimit`]).
    pub lookup_limit: LookupLimit,
    /// This process's running quota scans (see [`crate::quota_scan`]).
    pub quota_scans: crate::quota_scan::QuotaScans,
    /// This process's copy of the active policies and passthru brake (see [`crate::policies`]).
    pub policies: crate::policies::PolicyState,
    /// This node's bounds on adopting directory users (see [`crate::realms::adopt`]).
    pub adoption: crate::realms::adopt::Adoption,
    enckey: OnceCell<EncKey>,
    server_keys: OnceCell<ServerKeys>,
    audit_signer: OnceCell<SharedSigner>,
}

impl Shared {
    /// Opens the configured database (creating the embedded default, with a notice on stderr)
    /// and migrates it.
    pub async fn open(settings: Settings, chain: String) -> Result<Shared, CommandError> {
        if settings.uses_default_database() {
            let dir = settings.data_dir();
            if ensure_private_dir(&dir)? {
                eprintln!(
                    "keyward: no database configured; created {} for the embedded SQLite database, \
                     the encryption key and the server keys",
                    dir.display()
                );
            }
        }
        let opts = OpenOptions {
            max_connections: settings.db_max_connections.max(1),
            ..Default::default()
        };
        let url = settings.database_url();
        // A SQLite file this process creates is the owner's only (umask 077 in the binary does
        // the same for the -wal/-shm files; this also covers library callers).
        let new_file = keyward_store::sqlite_file(&url).filter(|f| !f.exists());
        let store = Store::open(&url, &opts).await?;
        if settings.uses_default_database() {
            restrict_to_owner(&settings.data_dir().join("keyward.db"));
        }
        if let Some(file) = new_file {
            restrict_to_owner(&file);
        }
        // Signed heads of the chains this process writes, outside the table (audit verify).
        store.keep_audit_heads_in(settings.data_dir().join("audit-heads"));
        Ok(Self::with_store(store, settings, chain))
    }

    pub fn with_store(store: Store, settings: Settings, chain: String) -> Shared {
        Shared {
            store,
            hashing: PasswordHashing::from_settings(&settings),
            settings,
            clock: Arc::new(SystemClock),
            chain,
            lookup_limit: LookupLimit::default(),
            quota_scans: Default::default(),
            policies: Default::default(),
            adoption: Default::default(),
            enckey: OnceCell::new(),
            server_keys: OnceCell::new(),
            audit_signer: OnceCell::new(),
        }
    }

    /// The enckey, loaded (or, for an embedded default installation, created) on first use.
    pub async fn enckey(&self) -> Result<&EncKey, CommandError> {
        self.enckey
            .get_or_try_init(|| async { load_or_create_enckey(&self.settings) })
            .await
    }

    pub async fn server_keys(&self) -> Result<&ServerKeys, CommandError> {
        self.server_keys
            .get_or_try_init(|| async { ServerKeys::load_or_create(&self.settings) })
            .await
    }

    /// Signs audit hashes with the server's audit signing key (built once).
    pub async fn audit_signer(&self) -> Result<SharedSigner, CommandError> {
        let signer = self
            .audit_signer
            .get_or_try_init(|| async {
                let key = self.server_keys().await?.audit_signing_key.clone();
                let signer: SharedSigner =
                    Arc::new(move |hash: &str| crate::audit_sign::sign(&key, hash));
                Ok::<_, CommandError>(signer)
            })
            .await?;
        Ok(signer.clone())
    }
}

/// The context one command runs in.
#[derive(Clone)]
pub struct Ctx {
    pub shared: Arc<Shared>,
    /// Who is acting, e.g. `cli:local`, `remote:127.0.0.1`, `user:alice`.
    pub actor: String,
    /// The client address, when the command came over the network.
    pub client: String,
    /// Who is acting, for the registry's access and target rules. Anonymous unless the
    /// transport says otherwise, so a forgotten transport grants nothing.
    pub principal: Principal,
    /// The audit row a changing command owes, set by the registry before its handler runs
    /// (see `change`).
    pub draft: Option<Arc<AuditDraft>>,
}

impl Ctx {
    /// A context for an anonymous caller (validation, login, registration).
    pub fn new(shared: Arc<Shared>, actor: impl Into<String>, client: impl Into<String>) -> Ctx {
        Ctx {
            shared,
            actor: actor.into(),
            client: client.into(),
            principal: Principal::Anonymous,
            draft: None,
        }
    }

    /// The context of `keyward manage` on this machine.
    pub fn console(shared: Arc<Shared>) -> Ctx {
        Ctx::new(shared, "cli:local", "").with_principal(Principal::Console)
    }

    /// The same context acting as `principal`.
    pub fn with_principal(mut self, principal: Principal) -> Ctx {
        self.principal = principal;
        self
    }

    /// Whether the caller runs on this machine: options naming local files (`--file-path`,
    /// `--qr-png`, `audit dump -f`) are for it alone.
    pub fn is_local(&self) -> bool {
        self.principal.is_local()
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    pub fn now(&self) -> i64 {
        self.shared.clock.now()
    }

    /// A signed, chained audit row for an action of this context's actor, ready to append
    /// (alone, or together with the writes of a validation).
    pub async fn audit_entry(
        &self,
        action: &str,
        target: &str,
        success: bool,
        details: &str,
    ) -> Result<AuditAppend, CommandError> {
        Ok(AuditAppend {
            chain: self.shared.chain.clone(),
            ts_ms: self.shared.clock.now_ms(),
            event: AuditEvent {
                actor: self.actor.clone(),
                action: action.to_string(),
                target: target.to_string(),
                success,
                client: self.client.clone(),
                details: details.to_string(),
            },
            signer: self.shared.audit_signer().await?,
        })
    }

    /// Appends a signed, chained audit row for an action of this context's actor.
    pub async fn audit(
        &self,
        action: &str,
        target: &str,
        success: bool,
        details: &str,
    ) -> Result<(), CommandError> {
        let entry = self.audit_entry(action, target, success, details).await?;
        self.store().append_audit(entry).await?;
        Ok(())
    }
}

/// Makes a file readable by its owner only (the embedded database holds hashes and sealed secrets).
fn restrict_to_owner(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}
