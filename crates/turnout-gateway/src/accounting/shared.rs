//! Step 1 and 5 across instances (DESIGN.md §4–5): when `redis_url` is set, balances, holds,
//! key-limit windows and rate limits live in Redis, one atomic script per hold, settle and
//! rate check, under a namespace named by the ledger's id. Redis is rebuilt from the ledger
//! when it is empty. A hold is an entry with a deadline, so holds of an instance that died
//! expire by themselves instead of locking money forever.

use redis::Script;
use redis::aio::ConnectionManager;
use turnout_store::{KeyUsage, LimitReset, Nanos, RateLimit, Store, StoreError};

use super::bank::{AccountBook, KeySpend, Shortfall};
use super::limits::{Limited, WINDOW_MS};

/// An instance that dies mid-request leaves its holds behind for at most this long.
const HOLD_TTL_MS: i64 = 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct SharedFunds {
    conn: ConnectionManager,
    ns: String,
    /// How far back followers re-read credits: the applied set must cover it at load.
    credit_lookback_ms: i64,
}

impl std::fmt::Debug for SharedFunds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFunds").field("ns", &self.ns).finish()
    }
}

/// Sums the amounts of live holds (members `amount:id`, score = deadline) after dropping
/// expired ones. Shared by the scripts below.
const LIVE_HOLDS: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_holds(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local sum = 0
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    sum = sum + tonumber(string.match(m, '^(-?%d+):'))
  end
  return sum
end
";

/// KEYS: account hash, account holds, key holds, key spend (limit window)
/// ARGV: amount, limit (-1 = none), member, ttl
/// → {2} held, {0, available} short of credits, {1, available} short of key limit.
const HOLD: &str = r"
local now = now_ms()
local amount = tonumber(ARGV[1])
local a = redis.call('HMGET', KEYS[1], 'credits', 'usage', 'metered')
if a[3] == '1' then
  local avail = tonumber(a[1] or '0') - tonumber(a[2] or '0') - live_holds(KEYS[2], now)
  if avail <= 0 or avail < amount then return {0, avail} end
end
local limit = tonumber(ARGV[2])
if limit >= 0 then
  local avail = limit - tonumber(redis.call('GET', KEYS[4]) or '0') - live_holds(KEYS[3], now)
  if avail <= 0 or avail < amount then return {1, avail} end
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
return {2, 0}
";

/// KEYS: account hash, account holds, key holds, key total, daily, weekly, monthly
/// ARGV: member, cost, and the windows' lifetimes in ms (daily, weekly, monthly)
const SETTLE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local cost = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'usage', cost)
if KEYS[4] ~= '' then
  redis.call('INCRBY', KEYS[4], cost)
  for i = 5, 7 do
    redis.call('INCRBY', KEYS[i], cost)
    redis.call('PEXPIRE', KEYS[i], ARGV[i - 2])
  end
end
return 1
";

/// KEYS: account holds, key holds; ARGV: member
const RELEASE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
";

/// KEYS: requests log, tokens log; ARGV: rpm (-1 none), tpm (-1 none), member, window
/// → {1, 0} admitted, {0, reset_ms, limit, unit (0 requests, 1 tokens), now}
const RATE: &str = r"
local now = now_ms()
local window = tonumber(ARGV[4])
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local sum = 0
  for i = 1, #entries, 2 do sum = sum + tonumber(string.match(entries[i], '^(%d+):')) end
  if sum >= tpm then
    for i = 1, #entries, 2 do
      sum = sum - tonumber(string.match(entries[i], '^(%d+):'))
      if sum < tpm then return {0, tonumber(entries[i + 1]) + window, tpm, 1, now} end
    end
    return {0, now + window, tpm, 1, now}
  end
end
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
    return {0, tonumber(oldest[2]) + window, rpm, 0, now}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return {1, 0}
";

/// KEYS: tokens log; ARGV: member (`tokens:id`), window
const TOKENS: &str = r"
local now = now_ms()
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: account hash, applied-credits set, ready marker; ARGV: seq, amount
const CREDIT: &str = r"
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'credits', ARGV[2])
redis.call('HSET', KEYS[1], 'metered', '1')
return 1
";

fn script(body: &str) -> Script {
    Script::new(&format!("{LIVE_HOLDS}\n{body}"))
}

/// The key-limit window a hold is checked against: the reset window, or all time.
fn limit_window(reset: Option<LimitReset>) -> &'static str {
    match reset {
        Some(LimitReset::Daily) => "d",
        Some(LimitReset::Weekly) => "w",
        Some(LimitReset::Monthly) => "m",
        None => "t",
    }
}

impl SharedFunds {
    /// Connects, and loads the ledger's sums into Redis when this namespace is empty.
    pub async fn open(
        redis_url: &str,
        store: &Store,
        credit_lookback_ms: i64,
    ) -> Result<SharedFunds, SharedError> {
        let client = redis::Client::open(redis_url)?;
        let conn = ConnectionManager::new(client).await?;
        let ns = format!("turnout:{}", store.ledger_id().await?);
        let shared = SharedFunds {
            conn,
            ns,
            credit_lookback_ms,
        };
        shared.ensure_loaded(store).await?;
        Ok(shared)
    }

    fn k(&self, parts: &[&str]) -> String {
        let mut s = self.ns.clone();
        for p in parts {
            s.push(':');
            s.push_str(p);
        }
        s
    }

    fn window_key(&self, hash: &str, window: &str, now_ms: i64) -> String {
        let start = match window {
            "d" => LimitReset::Daily.window_start(now_ms),
            "w" => LimitReset::Weekly.window_start(now_ms),
            "m" => LimitReset::Monthly.window_start(now_ms),
            _ => return self.k(&["keyspend", hash, "t"]),
        };
        self.k(&["keyspend", hash, window, &start.to_string()])
    }

    /// Rebuilds the namespace from the ledger when it is empty (first start, or Redis lost
    /// its data). One instance loads; the others wait for its ready marker.
    pub async fn ensure_loaded(&self, store: &Store) -> Result<(), SharedError> {
        let mut conn = self.conn.clone();
        let ready = self.k(&["ready"]);
        for _ in 0..100 {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&ready)
                .query_async(&mut conn)
                .await?;
            if exists {
                return Ok(());
            }
            let lock = self.k(&["loading"]);
            let won: Option<String> = redis::cmd("SET")
                .arg(&lock)
                .arg("1")
                .arg("NX")
                .arg("PX")
                .arg(30_000)
                .query_async(&mut conn)
                .await?;
            if won.is_some() {
                self.load(store).await?;
                let _: () = redis::cmd("DEL").arg(&lock).query_async(&mut conn).await?;
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(SharedError::Redis(redis::RedisError::from((
            redis::ErrorKind::Io,
            "another instance is still loading the ledger into Redis",
        ))))
    }

    async fn load(&self, store: &Store) -> Result<(), SharedError> {
        let now = turnout_store::clock::now_ms();
        let (totals, recent) = store.account_totals(now - self.credit_lookback_ms).await?;
        let usage = store
            .key_usage(
                LimitReset::Daily.window_start(now),
                LimitReset::Weekly.window_start(now),
                LimitReset::Monthly.window_start(now),
            )
            .await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for t in &totals {
            pipe.cmd("HSET")
                .arg(self.k(&["acct", &t.account]))
                .arg("credits")
                .arg(t.credits.0)
                .arg("usage")
                .arg(t.usage.0)
                .arg("metered")
                .arg(if t.metered { "1" } else { "0" })
                .ignore();
        }
        for (hash, u) in &usage {
            for (w, amount) in [
                ("t", u.total),
                ("d", u.daily),
                ("w", u.weekly),
                ("m", u.monthly),
            ] {
                pipe.cmd("SET")
                    .arg(self.window_key(hash, w, now))
                    .arg(amount.0)
                    .ignore();
            }
        }
        // Credits these sums include, so followers re-reading the lookback skip them.
        pipe.cmd("DEL").arg(self.k(&["credits-applied"])).ignore();
        for c in &recent {
            pipe.cmd("SADD")
                .arg(self.k(&["credits-applied"]))
                .arg(c.seq)
                .ignore();
        }
        pipe.cmd("SET").arg(self.k(&["ready"])).arg(1).ignore();
        let mut conn = self.conn.clone();
        let _: () = pipe.query_async(&mut conn).await?;
        tracing::info!(accounts = totals.len(), ns = %self.ns, "loaded the ledger into Redis");
        Ok(())
    }

    /// Applies a credit from the ledger exactly once across all instances. `false` when
    /// Redis is being rebuilt: try again later.
    pub async fn credit(
        &self,
        seq: i64,
        account: &str,
        amount: Nanos,
    ) -> Result<bool, SharedError> {
        let mut conn = self.conn.clone();
        let verdict: i64 = script(CREDIT)
            .key(self.k(&["acct", account]))
            .key(self.k(&["credits-applied"]))
            .key(self.k(&["ready"]))
            .arg(seq)
            .arg(amount.0)
            .invoke_async(&mut conn)
            .await?;
        Ok(verdict >= 0)
    }

    pub async fn hold(
        &self,
        account: &str,
        key: Option<(&str, Option<Nanos>, Option<LimitReset>)>,
        amount: Nanos,
        member: &str,
    ) -> Result<Result<(), Shortfall>, SharedError> {
        let now = turnout_store::clock::now_ms();
        let (key_holds, spend, limit, reset) = match key {
            Some((hash, limit, reset)) => (
                self.k(&["keyholds", hash]),
                self.window_key(hash, limit_window(reset), now),
                limit,
                reset,
            ),
            None => (
                self.k(&["keyholds", "-"]),
                self.k(&["keyspend", "-"]),
                None,
                None,
            ),
        };
        let mut conn = self.conn.clone();
        let (verdict, available): (i64, i64) = script(HOLD)
            .key(self.k(&["acct", account]))
            .key(self.k(&["holds", account]))
            .key(key_holds)
            .key(spend)
            .arg(amount.0)
            .arg(limit.map_or(-1, |l| l.0))
            .arg(member)
            .arg(HOLD_TTL_MS)
            .invoke_async(&mut conn)
            .await?;
        Ok(match verdict {
            2 => Ok(()),
            1 => Err(Shortfall::KeyLimit {
                available: Nanos(available),
                reset,
            }),
            _ => Err(Shortfall::Credits {
                available: Nanos(available),
            }),
        })
    }

    pub async fn settle(
        &self,
        account: &str,
        key: Option<&str>,
        member: &str,
        cost: Nanos,
    ) -> Result<(), SharedError> {
        let now = turnout_store::clock::now_ms();
        let settle = script(SETTLE);
        let mut inv = settle.prepare_invoke();
        inv.key(self.k(&["acct", account]))
            .key(self.k(&["holds", account]))
            .key(self.k(&["keyholds", key.unwrap_or("-")]));
        match key {
            Some(hash) => {
                for w in ["t", "d", "w", "m"] {
                    inv.key(self.window_key(hash, w, now));
                }
            }
            None => {
                for _ in 0..4 {
                    inv.key("");
                }
            }
        }
        // Windows live a little past their end, then expire.
        let day = 86_400_000i64;
        inv.arg(member)
            .arg(cost.0)
            .arg(2 * day)
            .arg(8 * day)
            .arg(32 * day);
        let mut conn = self.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await?;
        Ok(())
    }

    pub async fn release(
        &self,
        account: &str,
        key: Option<&str>,
        member: &str,
    ) -> Result<(), SharedError> {
        let mut conn = self.conn.clone();
        let _: i64 = script(RELEASE)
            .key(self.k(&["holds", account]))
            .key(self.k(&["keyholds", key.unwrap_or("-")]))
            .arg(member)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn admit(
        &self,
        hash: &str,
        limit: RateLimit,
        member: &str,
    ) -> Result<Result<(), Limited>, SharedError> {
        let mut conn = self.conn.clone();
        let verdict: Vec<i64> = script(RATE)
            .key(self.k(&["rate", hash, "req"]))
            .key(self.k(&["rate", hash, "tok"]))
            .arg(limit.requests_per_minute.map_or(-1, i64::from))
            .arg(
                limit
                    .tokens_per_minute
                    .map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)),
            )
            .arg(member)
            .arg(WINDOW_MS)
            .invoke_async(&mut conn)
            .await?;
        Ok(match verdict.as_slice() {
            [0, reset_ms, limit, unit, now, ..] => Err(Limited {
                limit: u64::try_from(*limit).unwrap_or(0),
                reset_ms: *reset_ms,
                retry_after_ms: reset_ms - now,
                unit: if *unit == 1 { "tokens" } else { "requests" },
            }),
            _ => Ok(()),
        })
    }

    pub async fn record_tokens(
        &self,
        hash: &str,
        tokens: u64,
        id: &str,
    ) -> Result<(), SharedError> {
        let mut conn = self.conn.clone();
        let _: i64 = script(TOKENS)
            .key(self.k(&["rate", hash, "tok"]))
            .arg(format!("{tokens}:{id}"))
            .arg(WINDOW_MS)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn account(&self, account: &str) -> Result<AccountBook, SharedError> {
        let mut conn = self.conn.clone();
        let (credits, usage, metered): (Option<i64>, Option<i64>, Option<String>) =
            redis::cmd("HMGET")
                .arg(self.k(&["acct", account]))
                .arg("credits")
                .arg("usage")
                .arg("metered")
                .query_async(&mut conn)
                .await?;
        Ok(AccountBook {
            credits: Nanos(credits.unwrap_or(0)),
            usage: Nanos(usage.unwrap_or(0)),
            held: Nanos::ZERO,
            metered: metered.as_deref() == Some("1"),
        })
    }

    pub async fn key_spend(
        &self,
        hash: &str,
        limit: Option<Nanos>,
        reset: Option<LimitReset>,
    ) -> Result<KeySpend, SharedError> {
        let now = turnout_store::clock::now_ms();
        let mut conn = self.conn.clone();
        let values: Vec<Option<i64>> = redis::cmd("MGET")
            .arg(self.window_key(hash, "t", now))
            .arg(self.window_key(hash, "d", now))
            .arg(self.window_key(hash, "w", now))
            .arg(self.window_key(hash, "m", now))
            .query_async(&mut conn)
            .await?;
        let at = |i: usize| Nanos(values.get(i).copied().flatten().unwrap_or(0));
        let usage = KeyUsage {
            total: at(0),
            daily: at(1),
            weekly: at(2),
            monthly: at(3),
        };
        let spent = match reset {
            Some(LimitReset::Daily) => usage.daily,
            Some(LimitReset::Weekly) => usage.weekly,
            Some(LimitReset::Monthly) => usage.monthly,
            None => usage.total,
        };
        Ok(KeySpend {
            usage,
            limit,
            limit_remaining: limit.map(|l| (l - spent).max(Nanos::ZERO)),
        })
    }
}
