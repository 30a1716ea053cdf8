//! Step 5: balances, key limits and holds, in memory and authoritative on one instance
//! (DESIGN.md §4). Every settled charge is also written, as its generation record, by the
//! writer; credits reach this book from the ledger. Pure: the caller passes the time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use turnout_store::{AccountTotals, KeyUsage, LimitReset, Nanos};

#[derive(Debug, Default)]
pub struct Bank {
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    accounts: HashMap<String, AccountBook>,
    keys: HashMap<String, KeyBook>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AccountBook {
    pub credits: Nanos,
    /// Settled charges.
    pub usage: Nanos,
    /// Open holds of requests in flight.
    pub held: Nanos,
    /// Enforced once credits were first added; until then usage is only recorded.
    pub metered: bool,
}

impl AccountBook {
    /// What new holds may still take.
    pub fn available(&self) -> Nanos {
        self.credits - self.usage - self.held
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start_ms: i64,
    spent: Nanos,
}

impl Window {
    fn at(&mut self, reset: LimitReset, now_ms: i64) -> &mut Nanos {
        let start = reset.window_start(now_ms);
        if start != self.start_ms {
            *self = Window {
                start_ms: start,
                spent: Nanos::ZERO,
            };
        }
        &mut self.spent
    }
}

#[derive(Debug, Default, Clone)]
struct KeyBook {
    limit: Option<Nanos>,
    reset: Option<LimitReset>,
    total: Nanos,
    daily: Window,
    weekly: Window,
    monthly: Window,
    held: Nanos,
}

impl KeyBook {
    fn window(&mut self, reset: LimitReset) -> &mut Window {
        match reset {
            LimitReset::Daily => &mut self.daily,
            LimitReset::Weekly => &mut self.weekly,
            LimitReset::Monthly => &mut self.monthly,
        }
    }

    /// Spent against the limit: in the current reset window, or ever.
    fn spent(&mut self, now_ms: i64) -> Nanos {
        match self.reset {
            Some(r) => *self.window(r).at(r, now_ms),
            None => self.total,
        }
    }

    fn charge(&mut self, amount: Nanos, now_ms: i64) {
        self.total += amount;
        for r in [LimitReset::Daily, LimitReset::Weekly, LimitReset::Monthly] {
            *self.window(r).at(r, now_ms) += amount;
        }
    }
}

/// A key's spend as `/key` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeySpend {
    pub usage: KeyUsage,
    pub limit: Option<Nanos>,
    pub limit_remaining: Option<Nanos>,
}

/// Why a hold was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// The account's balance (credits − usage − open holds) is below the hold.
    Credits { available: Nanos },
    /// The key's spending limit (in its window) has less left than the hold.
    KeyLimit {
        available: Nanos,
        reset: Option<LimitReset>,
    },
}

impl Shortfall {
    pub fn available(self) -> Nanos {
        match self {
            Shortfall::Credits { available } | Shortfall::KeyLimit { available, .. } => available,
        }
    }
}

/// An amount reserved for one request. Dropping it releases the reservation (a failed
/// request costs nothing); [`Hold::settle`] charges the actual cost instead.
#[derive(Debug)]
pub struct Hold {
    bank: Arc<Bank>,
    account: String,
    key: Option<String>,
    amount: Nanos,
    open: bool,
}

impl Hold {
    pub fn amount(&self) -> Nanos {
        self.amount
    }

    /// Charges `cost` (which may exceed the hold: the balance may go below zero, never the
    /// record) and releases the rest.
    pub fn settle(mut self, cost: Nanos, now_ms: i64) {
        self.open = false;
        let mut book = self.bank.lock();
        let Book { accounts, keys } = &mut *book;
        let account = accounts.entry(self.account.clone()).or_default();
        account.held -= self.amount;
        account.usage += cost;
        if let Some(k) = self.key.as_ref().and_then(|k| keys.get_mut(k)) {
            k.held -= self.amount;
            k.charge(cost, now_ms);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.open {
            let mut book = self.bank.lock();
            let Book { accounts, keys } = &mut *book;
            if let Some(a) = accounts.get_mut(&self.account) {
                a.held -= self.amount;
            }
            if let Some(k) = self.key.as_ref().and_then(|k| keys.get_mut(k)) {
                k.held -= self.amount;
            }
        }
    }
}

impl Bank {
    fn lock(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock leaves numbers that are still individually valid.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the book with the ledger's sums (on start).
    pub fn load(&self, totals: &[AccountTotals], keys: &[(String, KeyUsage)], now_ms: i64) {
        let mut book = self.lock();
        for t in totals {
            let a = book.accounts.entry(t.account.clone()).or_default();
            a.credits = t.credits;
            a.usage = t.usage;
            a.metered = t.metered;
        }
        for (hash, u) in keys {
            let k = book.keys.entry(hash.clone()).or_default();
            k.total = u.total;
            for (r, spent) in [
                (LimitReset::Daily, u.daily),
                (LimitReset::Weekly, u.weekly),
                (LimitReset::Monthly, u.monthly),
            ] {
                *k.window(r) = Window {
                    start_ms: r.window_start(now_ms),
                    spent,
                };
            }
        }
    }

    pub fn open_account(&self, account: &str) {
        self.lock().accounts.entry(account.to_owned()).or_default();
    }

    /// Credits from the ledger; the first one makes the account metered.
    pub fn credit(&self, account: &str, amount: Nanos) {
        let mut book = self.lock();
        let a = book.accounts.entry(account.to_owned()).or_default();
        a.credits += amount;
        a.metered = true;
    }

    /// A key's limit settings (on first sight and after every change).
    pub fn set_key_limit(&self, hash: &str, limit: Option<Nanos>, reset: Option<LimitReset>) {
        let mut book = self.lock();
        let k = book.keys.entry(hash.to_owned()).or_default();
        k.limit = limit;
        k.reset = reset;
    }

    pub fn account(&self, account: &str) -> AccountBook {
        self.lock()
            .accounts
            .get(account)
            .copied()
            .unwrap_or_default()
    }

    pub fn key_spend(&self, hash: &str, now_ms: i64) -> KeySpend {
        let mut book = self.lock();
        let Some(k) = book.keys.get_mut(hash) else {
            return KeySpend::default();
        };
        let usage = KeyUsage {
            total: k.total,
            daily: *k.daily.at(LimitReset::Daily, now_ms),
            weekly: *k.weekly.at(LimitReset::Weekly, now_ms),
            monthly: *k.monthly.at(LimitReset::Monthly, now_ms),
        };
        let spent = k.spent(now_ms);
        KeySpend {
            usage,
            limit: k.limit,
            limit_remaining: k.limit.map(|l| (l - spent).max(Nanos::ZERO)),
        }
    }

    /// Reserves `amount` against the account's balance (when metered) and the key's limit
    /// (when set), atomically: both or neither.
    pub fn hold(
        self: &Arc<Self>,
        account: &str,
        key: Option<&str>,
        amount: Nanos,
        now_ms: i64,
    ) -> Result<Hold, Shortfall> {
        let mut book = self.lock();
        let Book { accounts, keys } = &mut *book;
        let a = accounts.entry(account.to_owned()).or_default();
        if a.metered {
            let available = a.available();
            // A balance at or below zero refuses even free requests (OpenRouter's rule).
            if available <= Nanos::ZERO || available < amount {
                return Err(Shortfall::Credits { available });
            }
        }
        let mut key_book = key.and_then(|k| keys.get_mut(k));
        if let Some(k) = key_book.as_deref_mut()
            && let Some(limit) = k.limit
        {
            let available = limit - k.spent(now_ms) - k.held;
            if available <= Nanos::ZERO || available < amount {
                return Err(Shortfall::KeyLimit {
                    available,
                    reset: k.reset,
                });
            }
        }
        a.held += amount;
        if let Some(k) = key_book {
            k.held += amount;
        }
        Ok(Hold {
            bank: self.clone(),
            account: account.to_owned(),
            key: key.map(str::to_owned),
            amount,
            open: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    fn bank_with(credits: i64) -> Arc<Bank> {
        let bank = Arc::new(Bank::default());
        bank.credit("acme", Nanos(credits));
        bank
    }

    #[test]
    fn unmetered_accounts_never_refuse_and_still_record_usage() {
        let bank = Arc::new(Bank::default());
        bank.open_account("free");
        let hold = bank
            .hold("free", None, Nanos(1_000), NOW)
            .expect("unmetered");
        hold.settle(Nanos(700), NOW);
        let a = bank.account("free");
        assert_eq!(
            (a.usage, a.held, a.metered),
            (Nanos(700), Nanos::ZERO, false)
        );
    }

    #[test]
    fn holds_reserve_and_settle_charges_actual_cost() {
        let bank = bank_with(1_000);
        let h1 = bank.hold("acme", None, Nanos(600), NOW).expect("first");
        assert_eq!(
            bank.hold("acme", None, Nanos(600), NOW).map(|_| ()),
            Err(Shortfall::Credits {
                available: Nanos(400)
            })
        );
        h1.settle(Nanos(250), NOW);
        let a = bank.account("acme");
        assert_eq!(
            (a.usage, a.held, a.available()),
            (Nanos(250), Nanos::ZERO, Nanos(750))
        );
        // A dropped hold (failed request) costs nothing.
        drop(
            bank.hold("acme", None, Nanos(750), NOW)
                .expect("fits exactly"),
        );
        assert_eq!(bank.account("acme").available(), Nanos(750));
    }

    #[test]
    fn a_spent_balance_refuses_even_free_requests() {
        let bank = bank_with(100);
        bank.hold("acme", None, Nanos(0), NOW)
            .expect("free while positive")
            .settle(Nanos(150), NOW);
        assert_eq!(bank.account("acme").available(), Nanos(-50));
        assert!(matches!(
            bank.hold("acme", None, Nanos(0), NOW),
            Err(Shortfall::Credits { .. })
        ));
    }

    #[test]
    fn key_limits_apply_per_window_and_together_with_the_balance() {
        let bank = bank_with(1_000_000);
        bank.set_key_limit("k", Some(Nanos(100)), Some(LimitReset::Daily));
        bank.hold("acme", Some("k"), Nanos(80), NOW)
            .expect("within limit")
            .settle(Nanos(80), NOW);
        let refused = bank.hold("acme", Some("k"), Nanos(30), NOW);
        assert_eq!(
            refused.map(|_| ()),
            Err(Shortfall::KeyLimit {
                available: Nanos(20),
                reset: Some(LimitReset::Daily)
            })
        );
        // The account was not touched by the refused hold.
        assert_eq!(bank.account("acme").held, Nanos::ZERO);
        let tomorrow = NOW + 86_400_000;
        bank.hold("acme", Some("k"), Nanos(30), tomorrow)
            .expect("new day, new limit")
            .settle(Nanos(30), tomorrow);
        let spend = bank.key_spend("k", tomorrow);
        assert_eq!(spend.usage.total, Nanos(110));
        assert_eq!(spend.usage.daily, Nanos(30));
        assert_eq!(spend.limit_remaining, Some(Nanos(70)));
    }

    #[test]
    fn concurrent_holds_never_overdraw() {
        let bank = bank_with(10 * 7);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let bank = bank.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| {
                            bank.hold("acme", None, Nanos(7), NOW)
                                .map(|h| h.settle(Nanos(7), NOW))
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        let served: usize = threads.into_iter().map(|t| t.join().expect("join")).sum();
        assert_eq!(served, 10);
        assert_eq!(bank.account("acme").available(), Nanos::ZERO);
    }
}
