//! Step 5: usage, cost, holds and settlement, generation records. [`Accounts`] ties the
//! in-memory book ([`bank`]) and key cache to the database ([`turnout_store`]): the request
//! path reads memory only, except on the first sight of a key.

pub mod bank;
pub mod cost;
pub mod limits;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use rust_decimal::Decimal;
use turnout_store::{AttemptRecord, Generation, KeyRecord, Nanos, Store, StoreError, clock};

use self::bank::{Bank, Hold, Shortfall};
use self::limits::RateLimiter;
use self::writer::Writer;
use crate::error::ApiError;
use crate::routing::catalog::Target;
use crate::routing::plan::Plan;
use crate::upstream::attempt::AttemptSummary;

/// The account of static `[auth] keys` and of open (`require_key = false`) traffic.
pub const DEFAULT_ACCOUNT: &str = "default";

/// How often changes made elsewhere (CLI, another process) are picked up: revocations take
/// effect within a second.
const SYNC_EVERY: Duration = Duration::from_millis(500);
/// Unknown keys are asked of the database at most this often each.
const NEGATIVE_TTL_MS: i64 = 1_000;
const NEGATIVE_CAP: usize = 10_000;

#[derive(Debug)]
pub struct Accounts {
    store: Store,
    bank: Arc<Bank>,
    limiter: RateLimiter,
    writer: Writer,
    keys: RwLock<HashMap<String, Arc<KeyRecord>>>,
    unknown: RwLock<HashMap<String, i64>>,
    /// Last ledger sequence number whose credits the book holds.
    credit_seq: AtomicI64,
    /// Keys changed at or after this time are re-read on the next sync.
    key_watermark: AtomicI64,
}

impl Accounts {
    /// Opens and migrates the database, loads balances and keys, and starts the writer and
    /// the sync loop.
    pub async fn open(database_url: &str) -> Result<Arc<Accounts>, StoreError> {
        let store = Store::open(database_url).await?;
        store.ensure_account(DEFAULT_ACCOUNT).await?;
        let now = clock::now_ms();
        let bank = Arc::new(Bank::default());
        let (totals, last_seq) = store.account_totals().await?;
        let usage = store
            .key_usage(
                turnout_store::LimitReset::Daily.window_start(now),
                turnout_store::LimitReset::Weekly.window_start(now),
                turnout_store::LimitReset::Monthly.window_start(now),
            )
            .await?;
        bank.load(&totals, &usage, now);
        let accounts = Arc::new(Accounts {
            writer: Writer::start(store.clone()),
            store,
            bank,
            limiter: RateLimiter::default(),
            keys: RwLock::new(HashMap::new()),
            unknown: RwLock::new(HashMap::new()),
            credit_seq: AtomicI64::new(last_seq),
            key_watermark: AtomicI64::new(0),
        });
        accounts.sync().await?;
        tokio::spawn(sync_loop(Arc::downgrade(&accounts)));
        Ok(accounts)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn bank(&self) -> &Arc<Bank> {
        &self.bank
    }

    /// Picks up keys changed and credits added since the last sync.
    pub async fn sync(&self) -> Result<(), StoreError> {
        // Re-read a little of the past: a change committed late with an earlier timestamp
        // is still seen.
        let since = self.key_watermark.load(Ordering::Relaxed) - 2_000;
        let changed = self.store.keys_changed_since(since).await?;
        for k in changed {
            self.key_watermark
                .fetch_max(k.changed_at_ms, Ordering::Relaxed);
            self.remember(k);
        }
        let from = self.credit_seq.load(Ordering::Relaxed);
        for c in self.store.credits_after(from).await? {
            self.bank.credit(&c.account, c.amount);
            self.credit_seq.fetch_max(c.seq, Ordering::Relaxed);
        }
        Ok(())
    }

    fn remember(&self, k: KeyRecord) -> Arc<KeyRecord> {
        self.bank.set_key_limit(&k.hash, k.limit, k.limit_reset);
        let k = Arc::new(k);
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.insert(k.hash.clone(), k.clone());
        self.unknown
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&k.hash);
        k
    }

    /// The key with this hash: from memory, else (first sight) from the database.
    pub async fn key(&self, hash: &str) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
        {
            return Ok(Some(k.clone()));
        }
        let now = clock::now_ms();
        if self
            .unknown
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .is_some_and(|until| now < *until)
        {
            return Ok(None);
        }
        match self.store.key(hash).await? {
            Some(k) => Ok(Some(self.remember(k))),
            None => {
                let mut unknown = self.unknown.write().unwrap_or_else(|p| p.into_inner());
                if unknown.len() >= NEGATIVE_CAP {
                    unknown.clear();
                }
                unknown.insert(hash.to_owned(), now + NEGATIVE_TTL_MS);
                Ok(None)
            }
        }
    }

    /// Makes a change visible to this process at once (others see it within a second).
    pub fn apply_key_change(&self, k: KeyRecord) {
        self.remember(k);
    }

    /// Per-key requests/tokens per minute: 429 with `Retry-After` and `X-RateLimit-*`.
    pub fn check_rate(&self, key: &KeyRecord) -> Result<(), ApiError> {
        self.limiter
            .admit(&key.hash, key.rate_limit, clock::now_ms())
            .map_err(|l| ApiError::RateLimited {
                limit: l.limit,
                reset_ms: l.reset_ms,
                retry_after: Duration::from_millis(u64::try_from(l.retry_after_ms).unwrap_or(0)),
                unit: l.unit,
            })
    }

    /// Reserves the request's maximum cost at the most expensive candidate of its plan, or
    /// refuses with OpenRouter's 402.
    pub fn hold(
        &self,
        account: &str,
        key: Option<&str>,
        plan: &Plan,
        prompt_chars: usize,
        max_tokens: Option<u64>,
    ) -> Result<Hold, ApiError> {
        let worst = plan
            .candidates()
            .map(|c| {
                let e = &c.target.endpoint;
                cost::max_cost(
                    &e.pricing,
                    prompt_chars,
                    max_tokens,
                    e.max_completion_tokens,
                    e.context_length,
                )
            })
            .max_by_key(cost::MaxCost::total);
        let amount = worst.map_or(Nanos::ZERO, |w| Nanos::from_usd(w.total()));
        self.bank
            .hold(account, key, amount, clock::now_ms())
            .map_err(|short| insufficient(short, worst, account))
    }

    /// Charges a finished request and queues its generation record, waiting while the
    /// writer's queue is full.
    pub async fn settle(&self, hold: Hold, generation: Generation) {
        self.apply(hold, &generation);
        self.writer.submit(generation).await;
    }

    /// [`Accounts::settle`] from a place that cannot wait (a stream's end or drop).
    pub fn settle_detached(&self, hold: Hold, generation: Generation) {
        self.apply(hold, &generation);
        self.writer.submit_detached(generation);
    }

    fn apply(&self, hold: Hold, g: &Generation) {
        let now = clock::now_ms();
        hold.settle(g.cost, now);
        if let Some(key) = &g.key_hash {
            self.limiter
                .record_tokens(key, g.tokens_prompt + g.tokens_completion, now);
        }
    }

    /// Resolves when every record queued so far is committed (graceful shutdown, tests).
    pub async fn flush(&self) {
        self.writer.flush().await;
    }
}

async fn sync_loop(accounts: Weak<Accounts>) {
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeps = 0u32;
    loop {
        tick.tick().await;
        let Some(accounts) = accounts.upgrade() else {
            return;
        };
        if let Err(e) = accounts.sync().await {
            tracing::warn!(error = %e, "cannot read key and credit changes; retrying");
        }
        sweeps = sweeps.wrapping_add(1);
        if sweeps.is_multiple_of(120) {
            accounts.limiter.sweep(clock::now_ms());
        }
    }
}

fn insufficient(short: Shortfall, worst: Option<cost::MaxCost>, account: &str) -> ApiError {
    let available = short.available();
    let message = match (worst, available > Nanos::ZERO) {
        (Some(w), true) => format!(
            "This request requires more credits, or fewer max_tokens. You requested up to {} \
             tokens, but can only afford {}. {}",
            w.completion_tokens,
            w.affordable_tokens(available.usd()),
            remedy(short, account)
        ),
        _ => match short {
            Shortfall::Credits { .. } => format!(
                "Insufficient credits. Add more with `turnout credits add --account {account} \
                 AMOUNT_USD`"
            ),
            Shortfall::KeyLimit { reset, .. } => format!(
                "Key limit exceeded{}. {}",
                reset.map_or(String::new(), |r| format!(" ({} limit)", r.as_str())),
                remedy(short, account)
            ),
        },
    };
    ApiError::InsufficientCredits {
        message,
        limit_source: match short {
            Shortfall::Credits { .. } => "credits",
            Shortfall::KeyLimit { .. } => "key_limit",
        },
    }
}

fn remedy(short: Shortfall, account: &str) -> String {
    match short {
        Shortfall::Credits { .. } => {
            format!("To increase, add credits to account {account:?}.")
        }
        Shortfall::KeyLimit { .. } => "To increase, raise this key's limit.".to_owned(),
    }
}

/// What the caller of a request is, for its generation record.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub account: String,
    pub key_hash: Option<String>,
    pub session_id: Option<String>,
    pub http_referer: Option<String>,
    pub app_title: Option<String>,
    pub user_agent: Option<String>,
}

/// How a served (or cancelled) request ended.
#[derive(Debug)]
pub struct Outcome<'a> {
    pub id: &'a str,
    pub target: &'a Target,
    pub usage: &'a turnout_wire::chat::Usage,
    pub cost: Decimal,
    pub finish_reason: Option<&'a str>,
    pub streamed: bool,
    pub cancelled: bool,
    pub latency: Duration,
    pub generation_time: Option<Duration>,
    pub attempts: &'a [AttemptSummary],
}

impl RequestContext {
    pub fn generation(&self, o: &Outcome<'_>) -> Generation {
        Generation {
            id: o.id.to_owned(),
            account: self.account.clone(),
            key_hash: self.key_hash.clone(),
            created_at_ms: clock::now_ms(),
            model: o.target.model_id.clone(),
            provider_name: o.target.endpoint.provider.name.clone(),
            provider_slug: o.target.endpoint.provider.slug.clone(),
            upstream_model: o.target.upstream_model.clone(),
            upstream_id: None,
            streamed: o.streamed,
            cancelled: o.cancelled,
            finish_reason: o.finish_reason.map(str::to_owned),
            native_finish_reason: None,
            tokens_prompt: o.usage.prompt_tokens,
            tokens_completion: o.usage.completion_tokens,
            tokens_cached: o.usage.cached_tokens(),
            tokens_reasoning: o.usage.reasoning_tokens(),
            cost: Nanos::from_usd(o.cost),
            latency_ms: Some(o.latency.as_millis() as u64),
            generation_time_ms: o.generation_time.map(|d| d.as_millis() as u64),
            session_id: self.session_id.clone(),
            http_referer: self.http_referer.clone(),
            app_title: self.app_title.clone(),
            user_agent: self.user_agent.clone(),
            attempts: o
                .attempts
                .iter()
                .map(|a| AttemptRecord {
                    provider_name: a.provider.clone(),
                    model: a.model.clone(),
                    status: a.status,
                })
                .collect(),
        }
    }
}

/// A request's hold and who made it, carried to where the request ends.
#[derive(Debug)]
pub struct Billing {
    pub accounts: Arc<Accounts>,
    pub hold: Hold,
    pub context: RequestContext,
}

impl Billing {
    pub async fn settle(self, outcome: &Outcome<'_>) {
        let g = self.context.generation(outcome);
        self.accounts.settle(self.hold, g).await;
    }

    pub fn settle_detached(self, outcome: &Outcome<'_>) {
        let g = self.context.generation(outcome);
        self.accounts.settle_detached(self.hold, g);
    }
}
