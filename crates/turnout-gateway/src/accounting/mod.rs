//! Step 5: usage, cost, holds and settlement, generation records. [`Accounts`] ties the
//! in-memory book ([`bank`]) and key cache to the database ([`turnout_store`]): the request
//! path reads memory only, except on the first sight of a key.

pub mod bank;
pub mod cost;
pub mod limits;
pub mod shared;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use rust_decimal::Decimal;
use turnout_store::{AttemptRecord, Generation, KeyRecord, Nanos, Store, StoreError, clock};

use self::bank::{AccountBook, Bank, KeySpend, Shortfall};
use self::limits::RateLimiter;
use self::shared::{SharedError, SharedFunds};
use self::writer::Writer;
use crate::error::ApiError;
use crate::ingress::auth::Principal;
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
/// Credits are re-read this far into the past, so one that committed late is still seen.
const CREDIT_LOOKBACK_MS: i64 = 60_000;

#[derive(Debug)]
pub struct Accounts {
    store: Store,
    bank: Arc<Bank>,
    /// Set when several instances share balances and limits through Redis.
    shared: Option<SharedFunds>,
    limiter: RateLimiter,
    writer: Writer,
    keys: RwLock<HashMap<String, Arc<KeyRecord>>>,
    unknown: RwLock<HashMap<String, i64>>,
    /// Credits already in the book (ledger seq → recorded at), within the lookback.
    credits_seen: Mutex<HashMap<i64, i64>>,
    /// When the last credit sync started.
    credit_sync_ms: AtomicI64,
    /// Keys changed at or after this time are re-read on the next sync.
    key_watermark: AtomicI64,
}

impl Accounts {
    /// Opens and migrates the database, loads balances and keys, and starts the writer and
    /// the sync loop.
    pub async fn open(database_url: &str) -> Result<Arc<Accounts>, SharedError> {
        Accounts::open_shared(database_url, None).await
    }

    /// [`Accounts::open`], sharing balances, holds and rate limits through Redis when
    /// `redis_url` is given.
    pub async fn open_shared(
        database_url: &str,
        redis_url: Option<&str>,
    ) -> Result<Arc<Accounts>, SharedError> {
        let store = Store::open(database_url).await?;
        store.ensure_account(DEFAULT_ACCOUNT).await?;
        let now = clock::now_ms();
        let bank = Arc::new(Bank::default());
        let (totals, recent) = store.account_totals(now - CREDIT_LOOKBACK_MS).await?;
        let usage = store
            .key_usage(
                turnout_store::LimitReset::Daily.window_start(now),
                turnout_store::LimitReset::Weekly.window_start(now),
                turnout_store::LimitReset::Monthly.window_start(now),
            )
            .await?;
        bank.load(&totals, &usage, now);
        let shared = match redis_url {
            Some(url) => Some(SharedFunds::open(url, &store, CREDIT_LOOKBACK_MS).await?),
            None => None,
        };
        let accounts = Arc::new(Accounts {
            writer: Writer::start(store.clone()),
            store,
            bank,
            shared,
            limiter: RateLimiter::default(),
            keys: RwLock::new(HashMap::new()),
            unknown: RwLock::new(HashMap::new()),
            credits_seen: Mutex::new(recent.iter().map(|c| (c.seq, c.created_at_ms)).collect()),
            credit_sync_ms: AtomicI64::new(now),
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
    pub async fn sync(&self) -> Result<(), SharedError> {
        // Re-read a little of the past: a change committed late with an earlier timestamp
        // is still seen.
        let since = self.key_watermark.load(Ordering::Relaxed) - 2_000;
        let changed = self.store.keys_changed_since(since).await?;
        for k in changed {
            self.key_watermark
                .fetch_max(k.changed_at_ms, Ordering::Relaxed);
            self.remember(k);
        }
        if let Some(shared) = &self.shared {
            // Rebuilds Redis from the ledger if it lost its data.
            shared.ensure_loaded(&self.store).await?;
        }
        let started = clock::now_ms();
        let since = self.credit_sync_ms.load(Ordering::Relaxed) - CREDIT_LOOKBACK_MS;
        for c in self.store.credits_since(since).await? {
            let new = self
                .credits_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(c.seq, c.created_at_ms)
                .is_none();
            if !new {
                continue;
            }
            match &self.shared {
                // Redis keeps its own applied set: each credit counts once across instances.
                Some(shared) => {
                    if !shared.credit(c.seq, &c.account, c.amount).await? {
                        self.credits_seen
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&c.seq);
                    }
                }
                None => self.bank.credit(&c.account, c.amount),
            }
        }
        self.credit_sync_ms.store(started, Ordering::Relaxed);
        // Nothing older than the next window can come back.
        self.credits_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, at| *at >= since - CREDIT_LOOKBACK_MS);
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
    pub async fn check_rate(&self, key: &KeyRecord, id: &str) -> Result<(), ApiError> {
        if key.rate_limit.requests_per_minute.is_none()
            && key.rate_limit.tokens_per_minute.is_none()
        {
            return Ok(());
        }
        let verdict = match &self.shared {
            Some(shared) => shared
                .admit(&key.hash, key.rate_limit, id)
                .await
                .map_err(internal)?,
            None => self
                .limiter
                .admit(&key.hash, key.rate_limit, clock::now_ms()),
        };
        verdict.map_err(|l| ApiError::RateLimited {
            limit: l.limit,
            reset_ms: l.reset_ms,
            retry_after: Duration::from_millis(u64::try_from(l.retry_after_ms).unwrap_or(0)),
            unit: l.unit,
        })
    }

    /// An account's balance, as holds see it.
    pub async fn account_book(&self, account: &str) -> Result<AccountBook, ApiError> {
        match &self.shared {
            Some(shared) => shared.account(account).await.map_err(internal),
            None => Ok(self.bank.account(account)),
        }
    }

    /// A key's spend in its windows, and what its limit leaves.
    pub async fn key_spend(
        &self,
        hash: &str,
        key: Option<&KeyRecord>,
    ) -> Result<KeySpend, ApiError> {
        match (&self.shared, key) {
            (Some(shared), Some(k)) => shared
                .key_spend(hash, k.limit, k.limit_reset)
                .await
                .map_err(internal),
            _ => Ok(self.bank.key_spend(hash, clock::now_ms())),
        }
    }

    /// Reserves the request's maximum cost at the most expensive candidate of its plan, or
    /// refuses with OpenRouter's 402.
    pub async fn hold(
        &self,
        principal: &Principal,
        id: &str,
        plan: &Plan,
        prompt_chars: usize,
        max_tokens: Option<u64>,
    ) -> Result<Held, ApiError> {
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
        let account = principal.account.as_str();
        let refuse = |short| insufficient(short, worst, account);
        let Some(shared) = &self.shared else {
            return self
                .bank
                .hold(
                    account,
                    principal.key_hash.as_deref(),
                    amount,
                    clock::now_ms(),
                )
                .map(Held::Local)
                .map_err(refuse);
        };
        let member = format!("{}:{id}", amount.0);
        let key = principal
            .key
            .as_ref()
            .map(|k| (k.hash.as_str(), k.limit, k.limit_reset));
        shared
            .hold(account, key, amount, &member)
            .await
            .map_err(internal)?
            .map_err(refuse)?;
        Ok(Held::Shared(SharedHold {
            funds: shared.clone(),
            account: account.to_owned(),
            key: principal.key.as_ref().map(|k| k.hash.clone()),
            member,
            open: true,
        }))
    }

    /// Charges a finished request and queues its generation record, waiting while the
    /// writer's queue is full.
    pub async fn settle(&self, hold: Held, generation: Generation) {
        self.apply(hold, &generation).await;
        self.writer.submit(generation).await;
    }

    /// [`Accounts::settle`] from a place that cannot wait (a stream's end or drop).
    pub fn settle_detached(self: &Arc<Self>, hold: Held, generation: Generation) {
        match hold {
            Held::Local(_) => {
                let now = clock::now_ms();
                self.apply_local(hold, &generation, now);
                self.writer.submit_detached(generation);
            }
            Held::Shared(_) => {
                let accounts = self.clone();
                tokio::spawn(async move { accounts.settle(hold, generation).await });
            }
        }
    }

    fn apply_local(&self, hold: Held, g: &Generation, now: i64) {
        if let Held::Local(hold) = hold {
            hold.settle(g.cost, now);
        }
        if let Some(key) = &g.key_hash {
            self.limiter
                .record_tokens(key, g.tokens_prompt + g.tokens_completion, now);
        }
    }

    async fn apply(&self, hold: Held, g: &Generation) {
        let now = clock::now_ms();
        match hold {
            Held::Local(_) => self.apply_local(hold, g, now),
            Held::Shared(mut h) => {
                h.open = false;
                let tokens = g.tokens_prompt + g.tokens_completion;
                let settled = async {
                    h.funds
                        .settle(&h.account, h.key.as_deref(), &h.member, g.cost)
                        .await?;
                    if let Some(key) = &h.key {
                        h.funds.record_tokens(key, tokens, &g.id).await?;
                    }
                    Ok::<(), SharedError>(())
                };
                if let Err(e) = settled.await {
                    // The generation record still carries the charge; Redis catches up when
                    // rebuilt.
                    tracing::error!(error = %e, generation = %g.id, "cannot settle in Redis");
                }
            }
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

fn internal(e: SharedError) -> ApiError {
    ApiError::Internal {
        detail: format!("shared accounting: {e}"),
    }
}

/// A request's reservation: in this process's book, or in Redis.
#[derive(Debug)]
pub enum Held {
    Local(bank::Hold),
    Shared(SharedHold),
}

/// A hold in Redis. Dropped without settling (a failed request), it is released by a
/// background task; if this process dies first, it expires.
#[derive(Debug)]
pub struct SharedHold {
    funds: SharedFunds,
    account: String,
    key: Option<String>,
    member: String,
    open: bool,
}

impl Drop for SharedHold {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let (funds, account, key, member) = (
            self.funds.clone(),
            std::mem::take(&mut self.account),
            self.key.take(),
            std::mem::take(&mut self.member),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = funds.release(&account, key.as_deref(), &member).await {
                    tracing::warn!(error = %e, "cannot release a hold in Redis; it will expire");
                }
            });
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
    pub hold: Held,
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
