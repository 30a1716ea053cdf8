//! Low-credit alerts (spec/status.md §5.7): every [`CHECK_EVERY`], each account with a
//! low-balance alert set (the dashboard's Keys & credits page) is compared with its balance,
//! and an `account.low_credit` event goes to the alert rules when it falls below, and again
//! when credits bring it back. The rules engine does the rest: dedup, reminders, resolution.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use super::super::board::StatusBoard;
use super::super::events::{CreditInfo, EventKind, StatusEvent};
use crate::accounting::Accounts;

/// How often balances are compared with their alerts.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Which accounts were last seen below their alert.
#[derive(Debug, Default)]
pub struct CreditWatch {
    low: HashMap<String, bool>,
}

impl CreditWatch {
    /// One comparison: an event for every account that went low (first sight included) or
    /// came back. Unmetered accounts (no credits ever added) have no balance to watch.
    pub async fn check(&mut self, accounts: &Accounts, now_ms: u64) -> Vec<StatusEvent> {
        let thresholds = match accounts.store().low_balance_alerts().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "low-balance alerts not read");
                return Vec::new();
            }
        };
        let mut events = Vec::new();
        let mut seen = HashMap::with_capacity(thresholds.len());
        for (account, threshold) in thresholds {
            let Ok(book) = accounts.account_book(&account).await else {
                continue;
            };
            if !book.metered {
                continue;
            }
            let balance = book.credits - book.usage;
            let low = balance < threshold;
            let was = self.low.get(&account).copied();
            seen.insert(account.clone(), low);
            if was == Some(low) || (was.is_none() && !low) {
                continue;
            }
            tracing::info!(%account, balance_usd = balance.as_f64(), threshold_usd = threshold.as_f64(),
                low, "credit balance crossed its alert");
            let mut e = StatusEvent::new(EventKind::AccountLowCredit, now_ms);
            e.credit = Some(CreditInfo {
                account,
                balance_usd: balance.as_f64(),
                threshold_usd: threshold.as_f64(),
                low,
            });
            events.push(e);
        }
        // An account whose alert was cleared is no longer watched.
        self.low = seen;
        events
    }
}

/// Checks every [`CHECK_EVERY`] while the board lives.
pub async fn run(
    watch: std::sync::Arc<tokio::sync::Mutex<CreditWatch>>,
    board: Weak<StatusBoard>,
    accounts: std::sync::Arc<Accounts>,
) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(b) = board.upgrade() else { return };
        let now = super::now_ms();
        let events = watch.lock().await.check(&accounts, now).await;
        b.send(events, now);
    }
}
