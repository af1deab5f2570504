//! The LDAP side of a resolver (ldap3 over tokio, rustls for ldaps:// and StartTLS, trusting the
//! resolver's `tls_ca_file` when it has one): connect within the connect timeout, bind as the
//! service account, search users, and check a user's password by binding as that user. Every
//! operation is bounded by the operation timeout, and the whole of each step by a timer of its
//! own, so an unreachable or stalled server yields a clear error in time. Messages never
//! contain a password.

use std::collections::HashMap;
use std::time::Duration;

use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions, ldap_escape,
};

use super::definition::LdapSettings;

/// A directory user, mapped through the resolver's attribute settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapUser {
    pub dn: String,
    pub login: String,
    pub email: String,
    pub phone: String,
    pub name: String,
    pub disabled: bool,
}

/// A failed step, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapFailure(pub String);

impl std::fmt::Display for LdapFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Step<T> = Result<T, LdapFailure>;

/// Runs one step under `limit` (a margin over ldap3's own timeouts).
async fn bounded<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, ldap3::LdapError>>,
) -> Step<T> {
    match tokio::time::timeout(limit + Duration::from_millis(500), fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(LdapFailure(format!("{what}: {}", describe(&e)))),
        Err(_) => Err(LdapFailure(format!(
            "{what}: no answer within {} s",
            limit.as_secs()
        ))),
    }
}

fn describe(e: &ldap3::LdapError) -> String {
    match e {
        ldap3::LdapError::LdapResult { result } => {
            let text = match result.rc {
                49 => "invalid credentials",
                32 => "no such object (check the base DN)",
                50 => "insufficient access rights",
                _ => "refused",
            };
            format!("{text} (LDAP result {})", result.rc)
        }
        ldap3::LdapError::Timeout { .. } => "timed out".into(),
        other => match crate::tls_trust::certificate_problem(other) {
            Some(problem) => format!("{problem}; trust the directory's CA with tls_ca_file"),
            None => other.to_string(),
        },
    }
}

/// An open connection to the directory.
pub struct Connection {
    ldap: Ldap,
    settings: LdapSettings,
}

/// Connects to `uri` (the resolver's own unless overridden, e.g. by the LDAP gateway URL).
pub async fn connect(settings: &LdapSettings, uri: &str) -> Step<Connection> {
    if settings.starttls || uri.to_ascii_lowercase().starts_with("ldaps://") {
        // ldap3 builds its TLS configuration from the process's default crypto provider, and
        // this build links more than one: name it (a no-op when one is installed already).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let limit = settings.connect_timeout();
    let mut conn_settings = LdapConnSettings::new()
        .set_conn_timeout(limit)
        .set_starttls(settings.starttls)
        .set_no_tls_verify(settings.no_tls_verify);
    if !settings.tls_ca_file.is_empty() {
        // Read at every connection, so a renewed CA file counts without a restart.
        let config = crate::tls_trust::client_config(&settings.tls_ca_file)
            .map_err(|e| LdapFailure(format!("connect to {uri}: tls_ca_file: {e}")))?;
        conn_settings = conn_settings.set_config(config);
    }
    let (conn, ldap) = bounded(
        &format!("connect to {uri}"),
        limit,
        LdapConnAsync::with_settings(conn_settings, uri),
    )
    .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(error = %e, "LDAP connection ended");
        }
    });
    Ok(Connection {
        ldap,
        settings: settings.clone(),
    })
}

impl Connection {
    /// A simple bind; an empty password is refused here (LDAP would take it as an
    /// unauthenticated bind, which "succeeds" without checking anything).
    pub async fn bind(&mut self, dn: &str, password: &str) -> Step<()> {
        if password.is_empty() {
            return Err(LdapFailure(format!("bind as {dn}: empty password refused")));
        }
        let limit = self.settings.op_timeout();
        let res = bounded(
            &format!("bind as {dn}"),
            limit,
            self.ldap.with_timeout(limit).simple_bind(dn, password),
        )
        .await?;
        res.success()
            .map(|_| ())
            .map_err(|e| LdapFailure(format!("bind as {dn}: {}", describe(&e))))
    }

    /// Binds as the service account when one is configured (else searches anonymously).
    pub async fn service_bind(&mut self, password: &str) -> Step<()> {
        let dn = self.settings.bind_dn.clone();
        if dn.is_empty() {
            return Ok(());
        }
        self.bind(&dn, password).await
    }

    /// Users whose login attribute matches `login_pattern` (an LDAP value with `*` wildcards;
    /// other special characters are escaped), at most the size limit.
    pub async fn search(&mut self, login_pattern: &str) -> Step<Vec<LdapUser>> {
        let escaped: Vec<String> = login_pattern
            .split('*')
            .map(|part| ldap_escape(part).into_owned())
            .collect();
        let s = &self.settings;
        let filter = format!(
            "(&{}({}={}))",
            s.search_filter,
            s.login_attribute,
            escaped.join("*")
        );
        let mut attrs = vec![s.login_attribute.clone()];
        for a in [&s.email_attribute, &s.phone_attribute, &s.name_attribute] {
            if !a.is_empty() {
                attrs.push(a.clone());
            }
        }
        let limit = s.op_timeout();
        let opts = SearchOptions::new()
            .sizelimit(i32::try_from(s.size_limit).unwrap_or(i32::MAX))
            .timelimit(i32::try_from(limit.as_secs()).unwrap_or(i32::MAX));
        let base = s.base_dn.clone();
        let what = format!("search {filter} under {base}");
        let found = bounded(
            &what,
            limit,
            self.ldap
                .with_search_options(opts)
                .with_timeout(limit)
                .search(&base, Scope::Subtree, &filter, attrs),
        )
        .await?;
        // A size-limit answer (4) still carries the entries found so far.
        if found.1.rc != 0 && found.1.rc != 4 {
            return Err(LdapFailure(format!(
                "{what}: {}",
                describe(&ldap3::LdapError::LdapResult { result: found.1 })
            )));
        }
        let mut users: Vec<LdapUser> = found
            .0
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|e| self.map_entry(e))
            .collect();
        if !self.settings.disabled_filter.is_empty() && !users.is_empty() {
            let disabled = self.disabled_dns(&filter).await?;
            for u in &mut users {
                u.disabled = disabled.contains_key(&u.dn.to_ascii_lowercase());
            }
        }
        Ok(users)
    }

    /// The DNs (lower-case) of the users of `filter` that also match the disabled filter.
    async fn disabled_dns(&mut self, filter: &str) -> Step<HashMap<String, ()>> {
        let s = &self.settings;
        let filter = format!("(&{filter}{})", s.disabled_filter);
        let limit = s.op_timeout();
        let base = s.base_dn.clone();
        let found = bounded(
            &format!("search {filter}"),
            limit,
            self.ldap
                .with_timeout(limit)
                .search(&base, Scope::Subtree, &filter, vec!["1.1"]),
        )
        .await?;
        Ok(found
            .0
            .into_iter()
            .map(|e| (SearchEntry::construct(e).dn.to_ascii_lowercase(), ()))
            .collect())
    }

    /// The one user whose login attribute is exactly `login`; several is an error.
    pub async fn find(&mut self, login: &str) -> Step<Option<LdapUser>> {
        let escaped = login.replace('*', "\\2a");
        let mut users = self.search(&escaped).await?;
        users.retain(|u| u.login.eq_ignore_ascii_case(login));
        if users.len() > 1 {
            return Err(LdapFailure(format!(
                "{} entries have {}={login}: make the search filter or login attribute unique",
                users.len(),
                self.settings.login_attribute
            )));
        }
        Ok(users.pop())
    }

    fn map_entry(&self, e: SearchEntry) -> Option<LdapUser> {
        let s = &self.settings;
        let first = |attr: &str| -> String {
            if attr.is_empty() {
                return String::new();
            }
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first().cloned())
                .unwrap_or_default()
        };
        let login = first(&s.login_attribute);
        if login.is_empty() {
            return None;
        }
        Some(LdapUser {
            login,
            email: first(&s.email_attribute),
            phone: first(&s.phone_attribute),
            name: first(&s.name_attribute),
            dn: e.dn.clone(),
            disabled: false,
        })
    }

    /// Ends the session politely (bounded; a failure here does not matter).
    pub async fn close(mut self) {
        let limit = self.settings.op_timeout();
        let _ = tokio::time::timeout(limit, self.ldap.unbind()).await;
    }
}

/// A connection to the resolver's directory, bound as its service account (anonymous when it
/// has none); a connection whose bind fails is closed before the error is returned.
pub async fn connect_as_service(settings: &LdapSettings, bind_password: &str) -> Step<Connection> {
    let mut conn = connect(settings, &settings.uri).await?;
    match conn.service_bind(bind_password).await {
        Ok(()) => Ok(conn),
        Err(e) => {
            conn.close().await;
            Err(e)
        }
    }
}

/// Whether `password` is the password of the directory user `login`: search it (as the
/// service account), then bind as its entry. `Ok(false)` for an unknown or disabled user and for
/// wrong credentials; an unreachable or failing directory is an error.
pub async fn check_login_password(
    settings: &LdapSettings,
    bind_password: &str,
    login: &str,
    password: &str,
) -> Step<bool> {
    if password.is_empty() {
        return Ok(false);
    }
    let mut conn = connect_as_service(settings, bind_password).await?;
    let result = async {
        let Some(user) = conn.find(login).await? else {
            return Ok(false);
        };
        if user.disabled {
            return Ok(false);
        }
        let limit = settings.op_timeout();
        let dn = user.dn;
        let res = bounded(
            &format!("bind as {dn}"),
            limit,
            conn.ldap.with_timeout(limit).simple_bind(&dn, password),
        )
        .await?;
        match res.rc {
            0 => Ok(true),
            49 => Ok(false),
            _ => Err(LdapFailure(format!(
                "bind as {dn}: {}",
                describe(&ldap3::LdapError::LdapResult { result: res })
            ))),
        }
    }
    .await;
    conn.close().await;
    result
}
