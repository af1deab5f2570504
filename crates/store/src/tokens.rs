//! The `tokens` table and its realms: OTP tokens as stored (seed and reversible PINs sealed by the
//! caller, never in clear), lookups, field patches, paged listing filtered and sorted **in the
//! database**, and the two writes of the validate path — the compare-and-set that accepts an OTP
//! at most once, and the failure count. Neither touches a row shared by other tokens.

use serde_json::{Map, Value};
use sqlx::Row;

use crate::columns::Columns;
use crate::writer::batch_tx::{BatchTx, Param};

use keyward_proto::Serial;

use crate::{Store, StoreError, flag};

/// One token as stored, with its owner's username (internal users) and realms.
#[derive(Clone, Debug)]
pub struct Token {
    pub id: String,
    pub serial: Serial,
    pub token_type: String,
    pub description: String,
    pub owner_id: Option<String>,
    /// The owner's username (joined from `users`), when the token is assigned.
    pub owner_name: Option<String>,
    pub active: bool,
    pub seed_sealed: String,
    pub pin_hash: String,
    pub userpin_sealed: String,
    pub sopin_sealed: String,
    pub otplen: i64,
    pub hashlib: String,
    pub counter: i64,
    pub time_step: i64,
    pub time_window: i64,
    pub time_shift: i64,
    pub sync_window: i64,
    pub count_window: i64,
    pub fail_count: i64,
    pub max_fail: i64,
    pub count_auth: i64,
    pub count_auth_max: i64,
    pub count_auth_success: i64,
    pub count_auth_success_max: i64,
    pub validity_start: Option<i64>,
    pub validity_end: Option<i64>,
    pub last_auth: Option<i64>,
    pub info: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub realms: Vec<String>,
}

/// A token to insert. The id is chosen by the caller because sealed values are bound to it.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub id: String,
    pub serial: Serial,
    pub token_type: String,
    pub description: String,
    pub owner_id: Option<String>,
    pub seed_sealed: String,
    pub pin_hash: String,
    pub otplen: i64,
    pub hashlib: String,
    pub counter: i64,
    pub time_step: i64,
    pub time_window: i64,
    /// Known clock drift of a TOTP token in seconds (imports carry it; enrolment starts at 0).
    pub time_shift: i64,
    pub info: Map<String, Value>,
    pub realms: Vec<String>,
    pub now: i64,
}

/// A typed column update; several make one `UPDATE`.
#[derive(Clone, Debug)]
pub enum TokenField {
    Description(String),
    Owner(Option<String>),
    Active(bool),
    SeedSealed(String),
    PinHash(String),
    UserpinSealed(String),
    SopinSealed(String),
    Otplen(i64),
    Hashlib(String),
    Counter(i64),
    TimeStep(i64),
    TimeWindow(i64),
    TimeShift(i64),
    SyncWindow(i64),
    CountWindow(i64),
    FailCount(i64),
    MaxFail(i64),
    CountAuth(i64),
    CountAuthMax(i64),
    CountAuthSuccess(i64),
    CountAuthSuccessMax(i64),
    ValidityStart(Option<i64>),
    ValidityEnd(Option<i64>),
    Info(Map<String, Value>),
}

pub(crate) enum Bind {
    Int(Option<i64>),
    Text(Option<String>),
}

impl TokenField {
    pub(crate) fn column_and_value(&self) -> (&'static str, Bind) {
        use TokenField::*;
        let int = |v: i64| Bind::Int(Some(v));
        let text = |v: &str| Bind::Text(Some(v.to_string()));
        match self {
            Description(v) => ("description", text(v)),
            Owner(v) => ("owner_id", Bind::Text(v.clone())),
            Active(v) => ("active", int(i64::from(*v))),
            SeedSealed(v) => ("seed_sealed", text(v)),
            PinHash(v) => ("pin_hash", text(v)),
            UserpinSealed(v) => ("userpin_sealed", text(v)),
            SopinSealed(v) => ("sopin_sealed", text(v)),
            Otplen(v) => ("otplen", int(*v)),
            Hashlib(v) => ("hashlib", text(v)),
            Counter(v) => ("counter", int(*v)),
            TimeStep(v) => ("time_step", int(*v)),
            TimeWindow(v) => ("time_window", int(*v)),
            TimeShift(v) => ("time_shift", int(*v)),
            SyncWindow(v) => ("sync_window", int(*v)),
            CountWindow(v) => ("count_window", int(*v)),
            FailCount(v) => ("fail_count", int(*v)),
            MaxFail(v) => ("max_fail", int(*v)),
            CountAuth(v) => ("count_auth", int(*v)),
            CountAuthMax(v) => ("count_auth_max", int(*v)),
            CountAuthSuccess(v) => ("count_auth_success", int(*v)),
            CountAuthSuccessMax(v) => ("count_auth_success_max", int(*v)),
            ValidityStart(v) => ("validity_start", Bind::Int(*v)),
            ValidityEnd(v) => ("validity_end", Bind::Int(*v)),
            Info(v) => ("info", text(&Value::Object(v.clone()).to_string())),
        }
    }
}

/// Columns `show` may sort by (LinOTP names and plain ones map to a fixed column list, so no
/// client text ever reaches the SQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Serial,
    Type,
    Description,
    Active,
    FailCount,
    Count,
    Owner,
    Created,
}

impl SortBy {
    pub fn parse(name: &str) -> Option<SortBy> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.trim_start_matches("linotp.").trim_start_matches("token");
        Some(match n {
            "serial" | "serialnumber" | "" => SortBy::Serial,
            "type" => SortBy::Type,
            "desc" | "description" => SortBy::Description,
            "isactive" | "active" => SortBy::Active,
            "failcount" | "fail_count" => SortBy::FailCount,
            "count" | "counter" => SortBy::Count,
            "user" | "user.username" | "username" | "owner" => SortBy::Owner,
            "created" | "created_at" | "id" => SortBy::Created,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            SortBy::Serial => "t.serial",
            SortBy::Type => "t.token_type",
            SortBy::Description => "t.description",
            SortBy::Active => "t.active",
            SortBy::FailCount => "t.fail_count",
            SortBy::Count => "t.counter",
            SortBy::Owner => "u.username_key",
            SortBy::Created => "t.created_at",
        }
    }
}

/// What `show` asks for. Every filter is a bound parameter; paging is LIMIT/OFFSET on an indexed
/// order with the serial as tie-breaker.
#[derive(Clone, Debug, Default)]
pub struct TokenQuery {
    pub serial: Option<String>,
    /// Exact owner (user id).
    pub owner_id: Option<String>,
    /// Owner username substring (LinOTP: when the user does not exist).
    pub owner_like: Option<String>,
    /// Substring of serial, type, description or owner name.
    pub filter: Option<String>,
    pub realm: Option<String>,
    pub token_type: Option<String>,
    pub assigned: Option<bool>,
    pub active: Option<bool>,
    pub sort: Option<SortBy>,
    pub descending: bool,
    /// 1-based page.
    pub page: i64,
    pub pagesize: i64,
    /// Rows to skip, when given instead of `page` (the REST `offset`).
    pub offset: Option<i64>,
}

/// One page of tokens and the total matching.
#[derive(Clone, Debug)]
pub struct TokenPage {
    pub tokens: Vec<Token>,
    pub total: i64,
}

/// The column list and join every token read uses (public for the benchmark's EXPLAIN).
pub const SELECT: &str = "SELECT t.id, t.serial, t.token_type, t.description, t.owner_id, \
    u.username AS owner_name, t.active, t.seed_sealed, t.pin_hash, t.userpin_sealed, t.sopin_sealed, \
    t.otplen, t.hashlib, t.counter, t.time_step, t.time_window, t.time_shift, t.sync_window, \
    t.count_window, t.fail_count, t.max_fail, t.count_auth, t.count_auth_max, t.count_auth_success, \
    t.count_auth_success_max, t.validity_start, t.validity_end, t.last_auth, t.info, t.created_at, \
    t.updated_at FROM tokens t LEFT JOIN users u ON u.id = t.owner_id ";

pub(crate) fn from_row(row: &impl Columns) -> Result<Token, StoreError> {
    let info = match serde_json::from_str(&row.text("info")?) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(StoreError::Corrupt(
                "token info is not a JSON object".into(),
            ));
        }
    };
    Ok(Token {
        id: row.text("id")?,
        serial: row.text("serial")?.into(),
        token_type: row.text("token_type")?,
        description: row.text("description")?,
        owner_id: row.opt_text("owner_id")?,
        owner_name: row.opt_text("owner_name")?,
        active: flag(row.int("active")?),
        seed_sealed: row.text("seed_sealed")?,
        pin_hash: row.text("pin_hash")?,
        userpin_sealed: row.text("userpin_sealed")?,
        sopin_sealed: row.text("sopin_sealed")?,
        otplen: row.int("otplen")?,
        hashlib: row.text("hashlib")?,
        counter: row.int("counter")?,
        time_step: row.int("time_step")?,
        time_window: row.int("time_window")?,
        time_shift: row.int("time_shift")?,
        sync_window: row.int("sync_window")?,
        count_window: row.int("count_window")?,
        fail_count: row.int("fail_count")?,
        max_fail: row.int("max_fail")?,
        count_auth: row.int("count_auth")?,
        count_auth_max: row.int("count_auth_max")?,
        count_auth_success: row.int("count_auth_success")?,
        count_auth_success_max: row.int("count_auth_success_max")?,
        validity_start: row.opt_int("validity_start")?,
        validity_end: row.opt_int("validity_end")?,
        last_auth: row.opt_int("last_auth")?,
        info,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        realms: Vec::new(),
    })
}

/// `%text%` for LIKE with `\` escaping the wildcards in `text`.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A SQL WHERE clause under construction with its bound text parameters.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<String>,
}

impl Where {
    fn next(&mut self, value: String) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    fn add(&mut self, clause: impl FnOnce(&mut Self) -> String) {
        let c = clause(self);
        self.clauses.push(c);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {} ", self.clauses.join(" AND "))
        }
    }
}

fn query_where(q: &TokenQuery) -> Where {
    let mut w = Where::default();
    if let Some(s) = &q.serial {
        w.add(|w| format!("t.serial = {}", w.next(s.clone())));
    }
    if let Some(o) = &q.owner_id {
        w.add(|w| format!("t.owner_id = {}", w.next(o.clone())));
    }
    if let Some(o) = &q.owner_like {
        w.add(|w| {
            format!(
                "u.username_key LIKE {} ESCAPE '\\'",
                w.next(like_pattern(o))
            )
        });
    }
    if let Some(f) = &q.filter {
        w.add(|w| {
            let p = w.next(like_pattern(f));
            format!(
                "(LOWER(t.serial) LIKE {p} ESCAPE '\\' OR LOWER(t.token_type) LIKE {p} ESCAPE '\\' \
                 OR LOWER(t.description) LIKE {p} ESCAPE '\\' OR u.username_key LIKE {p} ESCAPE '\\')"
            )
        });
    }
    if let Some(r) = &q.realm {
        w.add(|w| {
            format!(
                "EXISTS (SELECT 1 FROM token_realms r WHERE r.token_id = t.id AND r.realm = {})",
                w.next(r.to_lowercase())
            )
        });
    }
    if let Some(t) = &q.token_type {
        w.add(|w| format!("t.token_type = {}", w.next(t.clone())));
    }
    match q.assigned {
        Some(true) => w.clauses.push("t.owner_id IS NOT NULL".into()),
        Some(false) => w.clauses.push("t.owner_id IS NULL".into()),
        None => {}
    }
    match q.active {
        Some(true) => w.clauses.push("t.active = 1".into()),
        Some(false) => w.clauses.push("t.active = 0".into()),
        None => {}
    }
    w
}

pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    params: &'q [String],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for p in params {
        query = query.bind(p.as_str());
    }
    query
}

impl Store {
    /// Inserts a token and its realms in one transaction; a taken serial is a conflict.
    pub async fn create_token(&self, new: &NewToken) -> Result<Token, StoreError> {
        self.create_tokens(std::slice::from_ref(new)).await?;
        self.token_by_serial(&new.serial)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("token {:?}", new.serial)))
    }

    /// Which of `serials` are taken (for an import that skips existing tokens).
    pub async fn existing_token_serials(
        &self,
        serials: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut taken = std::collections::HashSet::new();
        for chunk in serials.chunks(crate::token_writes::IMPORT_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT serial FROM tokens WHERE serial IN ({})",
                marks.join(", ")
            );
            let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), chunk)
                .fetch_all(self.pool())
                .await?;
            for row in rows {
                taken.insert(row.try_get::<String, _>("serial")?);
            }
        }
        Ok(taken)
    }

    /// The token with this serial, with its realms.
    pub async fn token_by_serial(&self, serial: &str) -> Result<Option<Token>, StoreError> {
        let sql = format!("{SELECT}WHERE t.serial = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(serial)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => {
                let mut tokens = vec![from_row(&row)?];
                self.fill_realms(&mut tokens).await?;
                Ok(tokens.pop())
            }
            None => Ok(None),
        }
    }

    /// Every token of an owner (user id), by serial.
    pub async fn tokens_of_owner(
        &self,
        owner_id: &keyward_proto::UserId,
    ) -> Result<Vec<Token>, StoreError> {
        let mut tokens = self.owner_tokens_for_validation(owner_id).await?;
        self.fill_realms(&mut tokens).await?;
        Ok(tokens)
    }

    /// Every token of an owner without their realms (the validate path needs none: one query).
    pub async fn owner_tokens_for_validation(
        &self,
        owner_id: &str,
    ) -> Result<Vec<Token>, StoreError> {
        let sql = format!("{SELECT}WHERE t.owner_id = $1 ORDER BY t.serial");
        if let Some(path) = &self.sqlite_file {
            return crate::native_read::query_map(path, &sql, [owner_id], |r| from_row(r));
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(owner_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    async fn fill_realms(&self, tokens: &mut [Token]) -> Result<(), StoreError> {
        if tokens.is_empty() {
            return Ok(());
        }
        let marks: Vec<String> = (1..=tokens.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT token_id, realm FROM token_realms WHERE token_id IN ({}) ORDER BY realm",
            marks.join(", ")
        );
        let ids: Vec<String> = tokens.iter().map(|t| t.id.clone()).collect();
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), &ids)
            .fetch_all(self.pool())
            .await?;
        for row in rows {
            let id: String = row.try_get("token_id")?;
            let realm: String = row.try_get("realm")?;
            if let Some(t) = tokens.iter_mut().find(|t| t.id == id) {
                t.realms.push(realm);
            }
        }
        Ok(())
    }

    /// One page of tokens matching `q`, and how many match in all.
    pub async fn list_tokens(&self, q: &TokenQuery) -> Result<TokenPage, StoreError> {
        let w = query_where(q);
        let from = "FROM tokens t LEFT JOIN users u ON u.id = t.owner_id ";
        let count_sql = format!("SELECT COUNT(*) {from}{}", w.sql());
        let total: i64 = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(count_sql.as_str())),
            &w.params,
        )
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = match q.sort.unwrap_or(SortBy::Serial) {
            SortBy::Serial => format!("t.serial {dir}"),
            other => format!("{} {dir}, t.serial {dir}", other.column()),
        };
        let pagesize = q.pagesize.max(1);
        let offset = match q.offset {
            Some(o) => o.max(0),
            None => (q.page.max(1) - 1).saturating_mul(pagesize),
        };
        let sql = format!(
            "{SELECT}{}ORDER BY {order} LIMIT {pagesize} OFFSET {offset}",
            w.sql()
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), &w.params)
            .fetch_all(self.pool())
            .await?;
        let mut tokens = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        self.fill_realms(&mut tokens).await?;
        Ok(TokenPage { tokens, total })
    }

    /// Tokens after `after_serial` (keyset paging by serial), for scans such as getSerialByOtp.
    pub async fn scan_tokens(
        &self,
        q: &TokenQuery,
        after_serial: &str,
        limit: i64,
    ) -> Result<Vec<Token>, StoreError> {
        let mut w = query_where(q);
        w.add(|w| format!("t.serial > {}", w.next(after_serial.to_string())));
        let sql = format!(
            "{SELECT}{}ORDER BY t.serial LIMIT {}",
            w.sql(),
            limit.max(1)
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), &w.params)
            .fetch_all(self.pool())
            .await?;
        let mut tokens = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        self.fill_realms(&mut tokens).await?;
        Ok(tokens)
    }

    /// Ends a validation: closes the answered challenge, accepts the OTP (compare-and-set),
    /// counts failures and appends the audit row — together, in a commit shared with concurrent
    /// requests (see `writer`). Returns whether the OTP was accepted.
    pub async fn commit_validation(
        &self,
        v: crate::writer::ValidationCommit,
    ) -> Result<bool, StoreError> {
        self.writer.commit_validation(v).await
    }

    /// Number of tokens (all, or of one type).
    pub async fn count_tokens(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
            .fetch_one(self.pool())
            .await?)
    }
}

/// The write of a successful validation.
#[derive(Clone, Debug)]
pub struct OtpAcceptance {
    pub token_id: String,
    /// The HOTP counter or TOTP time step the OTP matched.
    pub matched: i64,
    /// The token's time drift after this authentication (TOTP), else its current value.
    pub time_shift: i64,
    pub now: i64,
}

/// Accepts an OTP: moves the token's counter past `matched` — only if it has not moved there
/// already (the compare-and-set that makes every OTP single-use, across processes too) and only
/// while the token is active, unlocked and within its count limits. Resets the fail counter.
/// Returns whether this call won.
pub(crate) async fn accept_in(
    tx: &mut impl BatchTx,
    acc: &OtpAcceptance,
) -> Result<bool, StoreError> {
    let n = tx
        .exec(
            "UPDATE tokens SET counter = $1, time_shift = $2, fail_count = 0, \
             count_auth = count_auth + 1, count_auth_success = count_auth_success + 1, \
             last_auth = $3 \
             WHERE id = $4 AND counter <= $5 AND active = 1 AND fail_count < max_fail \
             AND (count_auth_max = 0 OR count_auth < count_auth_max) \
             AND (count_auth_success_max = 0 OR count_auth_success < count_auth_success_max)",
            &[
                Param::Int(acc.matched.saturating_add(1)),
                Param::Int(acc.time_shift),
                Param::Int(acc.now),
                Param::Text(&acc.token_id),
                Param::Int(acc.matched),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Counts a failed authentication on tokens (fail counter, capped at max_fail, and count_auth).
pub(crate) async fn record_failures_in(
    tx: &mut impl BatchTx,
    ids: &[String],
    now: i64,
) -> Result<(), StoreError> {
    for id in ids {
        tx.exec(
            "UPDATE tokens SET fail_count = CASE WHEN fail_count < max_fail \
             THEN fail_count + 1 ELSE fail_count END, count_auth = count_auth + 1, \
             updated_at = $1 WHERE id = $2",
            &[Param::Int(now), Param::Text(id)],
        )
        .await?;
    }
    Ok(())
}
