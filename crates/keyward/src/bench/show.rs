//! `bench show`: many token rows, then `token show` pages timed through the registry, with the
//! database's query plan as evidence that paging happens in the database.

use super::*;
use keyward_store::instance::{BulkToken, BulkUser};

/// The column list and join of `Store::list_tokens`, for EXPLAIN.
use keyward_store::tokens::SELECT as LIST_SELECT;

/// Token rows per transaction when filling the table.
const ROWS_PER_TX: u64 = 20_000;

pub(super) async fn show(a: ShowArgs) -> anyhow::Result<Report> {
    if a.pagesize == 0 || a.page == 0 || a.runs == 0 {
        bail!("--page, --pagesize and --runs must be at least 1");
    }
    let env = BenchEnv::create(a.database_url.as_deref()).await?;
    let result = show_in(&env, &a).await;
    env.cleanup().await;
    result
}

async fn show_in(env: &BenchEnv, a: &ShowArgs) -> anyhow::Result<Report> {
    let shared = Arc::new(Shared::open(env.settings.clone(), "bench".into()).await?);
    let result = show_measure(env, &shared, a).await;
    shared.store.close().await;
    result
}

/// Token `i`'s type and serial: three types in turn; serials scrambled so that serial order is
/// not insertion order.
pub(super) fn bench_token(i: u64) -> (&'static str, String) {
    let scrambled = (i.wrapping_mul(2_654_435_761)) & 0xffff_ffff;
    match i % 3 {
        0 => ("hotp", format!("OATH{scrambled:08X}")),
        1 => ("totp", format!("TOTP{scrambled:08X}")),
        _ => ("pw", format!("PW{scrambled:08X}")),
    }
}

/// Fills the tables: `users` users, then `tokens` tokens (every tenth owned by a user and in
/// realm `benchrealm`), `ROWS_PER_TX` rows per transaction. Returns how many tokens are owned.
pub(super) async fn populate(store: &Store, tokens: u64, users: u64) -> anyhow::Result<u64> {
    let now = keyward_store::now_secs();
    let all_users: Vec<BulkUser> = (0..users)
        .map(|u| BulkUser {
            id: format!("bench-user-{u:06}"),
            username: format!("benchuser{u:06}"),
            email: format!("benchuser{u:06}@example.invalid"),
        })
        .collect();
    store.bulk_insert_users(&all_users, now).await?;
    let mut owned = 0;
    let mut start = 0;
    while start < tokens {
        let end = (start + ROWS_PER_TX).min(tokens);
        let batch: Vec<BulkToken> = (start..end)
            .map(|i| {
                let (kind, serial) = bench_token(i);
                let owner = (users > 0 && i % 10 == 0)
                    .then(|| format!("bench-user-{:06}", (i / 10) % users));
                owned += u64::from(owner.is_some());
                BulkToken {
                    id: format!("bench-token-{i:08}"),
                    serial,
                    token_type: kind,
                    description: format!("bench token {i}"),
                    realm: owner.as_ref().map(|_| "benchrealm".to_string()),
                    owner_id: owner,
                }
            })
            .collect();
        store.bulk_insert_tokens(&batch, now).await?;
        start = end;
    }
    Ok(owned)
}

struct Variant {
    label: String,
    params: Map<String, Value>,
}

async fn show_measure(
    env: &BenchEnv,
    shared: &Arc<Shared>,
    a: &ShowArgs,
) -> anyhow::Result<Report> {
    let store = &shared.store;
    eprintln!(
        "keyward bench show: inserting {} tokens and {} users into {} ...",
        a.tokens,
        a.users,
        env.backend()
    );
    let fill_started = Instant::now();
    let owned = populate(store, a.tokens, a.users).await?;
    let fill = fill_started.elapsed();
    let analyzed = store.backend() == Backend::Postgres;
    if analyzed {
        // What autovacuum would have done by the time a real table has this many rows.
        store.analyze().await?;
    }

    let registry = Registry::standard();
    let ctx = Ctx::console(shared.clone());
    let (page, pagesize) = (a.page.to_string(), a.pagesize.to_string());
    let variants = [
        Variant {
            label: format!("page={page} pagesize={pagesize}"),
            params: params(&[("page", &page), ("pagesize", &pagesize)]),
        },
        Variant {
            label: format!("page={page} pagesize={pagesize} sortby=type"),
            params: params(&[("page", &page), ("pagesize", &pagesize), ("sortby", "type")]),
        },
        Variant {
            label: format!(
                "page={page} pagesize={pagesize} filter={} sortby=type",
                a.filter
            ),
            params: params(&[
                ("page", &page),
                ("pagesize", &pagesize),
                ("filter", &a.filter),
                ("sortby", "type"),
            ]),
        },
    ];

    let offset = (a.page - 1) * a.pagesize;
    let mut text = format!(
        "keyward bench show ({backend}): {tokens} tokens ({owned} owned by {users} users), \
         inserted in {fill:.1} s{analyze}\n\
         registry `token show` as run by `keyward manage` and /admin/show; {runs} timed runs \
         per variant after one warm-up run\n",
        backend = env.backend(),
        tokens = a.tokens,
        users = a.users,
        fill = fill.as_secs_f64(),
        analyze = if analyzed { ", then ANALYZE" } else { "" },
        runs = a.runs,
    );
    let mut results = Vec::new();
    for v in &variants {
        let mut times = Vec::with_capacity(a.runs);
        let mut last = None;
        let warm = Instant::now();
        registry
            .run_params(&ctx, "token show", v.params.clone())
            .await?;
        let first = warm.elapsed();
        for _ in 0..a.runs {
            let t = Instant::now();
            let out = registry
                .run_params(&ctx, "token show", v.params.clone())
                .await?;
            times.push(t.elapsed());
            last = Some(out.json);
        }
        times.sort();
        let out = last.unwrap_or(Value::Null);
        let rows = out
            .get("data")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0) as u64;
        let total = out
            .pointer("/resultset/tokens")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        let expected = u64::try_from(total)
            .unwrap_or(0)
            .saturating_sub(offset)
            .min(a.pagesize);
        let median = quantile(&times, 0.5);
        let max = times.last().copied().unwrap_or_default();
        text.push_str(&format!(
            "  {:<48} median {:>8.2} ms  max {:>8.2} ms  (warm-up {:.2} ms)  rows {rows}{}  total {total}\n",
            v.label,
            ms(median),
            ms(max),
            ms(first),
            if rows == expected { "" } else { " (UNEXPECTED)" },
        ));
        results.push(json!({
            "variant": v.label,
            "params": v.params,
            "median_ms": ms(median),
            "max_ms": ms(max),
            "warmup_ms": ms(first),
            "rows": rows,
            "rows_expected": expected,
            "total": total,
        }));
    }

    let page_sql = format!(
        "{LIST_SELECT}ORDER BY t.serial ASC LIMIT {} OFFSET {offset}",
        a.pagesize
    );
    let sorted_sql = format!(
        "{LIST_SELECT}ORDER BY t.token_type ASC, t.serial ASC LIMIT {} OFFSET {offset}",
        a.pagesize
    );
    // The filtered variant's WHERE as list_tokens builds it, with the pattern inlined.
    let pattern = format!("'%{}%'", a.filter.to_lowercase().replace('\'', "''"));
    let filtered_sql = format!(
        "{LIST_SELECT}WHERE (LOWER(t.serial) LIKE {pattern} OR LOWER(t.token_type) LIKE {pattern} \
         OR LOWER(t.description) LIKE {pattern} OR u.username_key LIKE {pattern}) \
         ORDER BY t.token_type ASC, t.serial ASC LIMIT {} OFFSET {offset}",
        a.pagesize
    );
    let count_sql = "SELECT COUNT(*) FROM tokens t LEFT JOIN users u ON u.id = t.owner_id";
    let explain = if store.backend() == Backend::Sqlite {
        "EXPLAIN QUERY PLAN"
    } else {
        "EXPLAIN"
    };
    let mut plans = Map::new();
    for (name, sql) in [
        ("page", page_sql.as_str()),
        ("page_sorted_by_type", sorted_sql.as_str()),
        ("page_filtered_sorted_by_type", filtered_sql.as_str()),
        ("count", count_sql),
    ] {
        let plan = store.query_plan(sql).await?;
        let shown_sql = sql.replacen(
            LIST_SELECT,
            "SELECT t.…, u.username … FROM tokens t LEFT JOIN users u ON u.id = t.owner_id ",
            1,
        );
        text.push_str(&format!("{explain} {shown_sql}\n"));
        for line in &plan {
            text.push_str(&format!("    {line}\n"));
        }
        plans.insert(name.to_string(), json!({ "sql": sql, "plan": plan }));
    }
    let json = json!({
        "benchmark": "show",
        "backend": env.backend(),
        "tokens": a.tokens,
        "users": a.users,
        "owned_tokens": owned,
        "insert_seconds": fill.as_secs_f64(),
        "analyzed": analyzed,
        "page": a.page,
        "pagesize": a.pagesize,
        "runs": a.runs,
        "results": results,
        "plans": plans,
    });
    Ok(Report { text, json })
}

// ---------------------------------------------------------------------------------------------
// bench validate
