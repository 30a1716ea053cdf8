//! The same behaviour on both backends: SQLite always, PostgreSQL on the local server (always
//! under CI, skipped with a reason elsewhere when it is unreachable).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use turnout_store::{
    AttemptRecord, Generation, KeyPatch, LimitReset, Nanos, NewKey, RateLimit, Store, clock, keys,
    scratch,
};

async fn backends(dir: &tempfile::TempDir) -> Vec<Store> {
    let mut stores = vec![
        Store::open(&scratch::sqlite(dir.path()))
            .await
            .expect("sqlite"),
    ];
    if let Some(url) = scratch::postgres().await {
        stores.push(Store::open(&url).await.expect("postgres"));
    }
    stores
}

fn generation(id: &str, account: &str, key: Option<&str>, cost: i64) -> Generation {
    Generation {
        id: id.to_owned(),
        account: account.to_owned(),
        key_hash: key.map(str::to_owned),
        created_at_ms: clock::now_ms(),
        model: "acme/chat".to_owned(),
        provider_name: "Acme".to_owned(),
        provider_slug: "acme".to_owned(),
        upstream_model: "chat-1".to_owned(),
        upstream_id: Some("chatcmpl-1".to_owned()),
        streamed: true,
        cancelled: false,
        finish_reason: Some("stop".to_owned()),
        native_finish_reason: Some("stop".to_owned()),
        tokens_prompt: 10,
        tokens_completion: 20,
        tokens_cached: 2,
        tokens_reasoning: 3,
        cost: Nanos(cost),
        latency_ms: Some(120),
        generation_time_ms: Some(900),
        session_id: None,
        http_referer: Some("https://example.test".to_owned()),
        app_title: None,
        user_agent: Some("test".to_owned()),
        attempts: vec![AttemptRecord {
            provider_name: "Acme".to_owned(),
            model: "acme/chat".to_owned(),
            status: 200,
        }],
    }
}

#[tokio::test]
async fn keys_round_trip_and_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    for store in backends(&dir).await {
        let b = store.backend();
        store.ensure_account("acme").await.unwrap();
        store.ensure_account("acme").await.unwrap();
        let secret = keys::generate();
        let created = store
            .create_key(
                &secret,
                &NewKey {
                    account: "acme".into(),
                    name: "ci".into(),
                    limit: Some(Nanos(5_000_000_000)),
                    limit_reset: Some(LimitReset::Monthly),
                    allowed_models: Some(vec!["acme/*".into()]),
                    rate_limit: RateLimit {
                        requests_per_minute: Some(60),
                        tokens_per_minute: None,
                    },
                    ..NewKey::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(created.hash, keys::hash(&secret), "{b:?}");
        assert!(!created.label.contains(&secret[12..50]));
        let fetched = store.key(&created.hash).await.unwrap().unwrap();
        assert_eq!(fetched, created, "{b:?}");
        assert!(
            store
                .create_key(
                    &keys::generate(),
                    &NewKey {
                        account: "nobody".into(),
                        ..NewKey::default()
                    }
                )
                .await
                .is_err(),
            "{b:?}: a key for an unknown account"
        );

        let before = clock::now_ms();
        let patched = store
            .update_key(
                &created.hash,
                &KeyPatch {
                    disabled: Some(true),
                    limit: Some(None),
                    ..KeyPatch::default()
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert!(patched.disabled && patched.limit.is_none());
        assert!(patched.updated_at_ms.is_some());
        let changed = store.keys_changed_since(before).await.unwrap();
        assert_eq!(changed.len(), 1, "{b:?}");
        assert!(changed[0].disabled);

        assert_eq!(
            store
                .list_keys(Some("acme"), false, 0, 100)
                .await
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            store
                .list_keys(Some("acme"), true, 0, 100)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store.delete_key(&created.hash).await.unwrap());
        assert!(!store.delete_key(&created.hash).await.unwrap());
        assert_eq!(store.list_keys(None, true, 0, 100).await.unwrap().len(), 0);
        let gone = store.key(&created.hash).await.unwrap().unwrap();
        assert!(!gone.usable_at(clock::now_ms()), "{b:?}");
        assert!(
            store
                .update_key(&created.hash, &KeyPatch::default())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn ledger_sums_are_exact_and_generations_are_charged_once() {
    let dir = tempfile::tempdir().unwrap();
    for store in backends(&dir).await {
        let b = store.backend();
        store.ensure_account("acme").await.unwrap();
        store.ensure_account("idle").await.unwrap();
        let (totals, _) = store.account_totals(0).await.unwrap();
        assert!(
            totals.iter().all(|t| !t.metered),
            "{b:?}: unmetered until credited"
        );

        let seq = store
            .add_credits("acme", Nanos(10_000_000_000), Some("test"))
            .await
            .unwrap();
        assert!(store.add_credits("nobody", Nanos(1), None).await.is_err());
        let key = keys::hash("k");
        let batch = vec![
            generation("gen-1", "acme", Some(&key), 1_500),
            generation("gen-2", "acme", Some(&key), 2_500),
            generation("gen-3", "acme", None, 0),
        ];
        assert_eq!(store.write_generations(&batch).await.unwrap(), 3);
        // A retried batch (say, after a timeout whose commit did land) changes nothing.
        assert_eq!(store.write_generations(&batch).await.unwrap(), 0, "{b:?}");

        let (totals, recent) = store
            .account_totals(clock::now_ms() - 60_000)
            .await
            .unwrap();
        let acme = totals.iter().find(|t| t.account == "acme").unwrap();
        assert_eq!(acme.credits, Nanos(10_000_000_000), "{b:?}");
        assert_eq!(acme.usage, Nanos(4_000), "{b:?}");
        assert!(acme.metered);
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].seq, seq);
        assert_eq!(store.credits_since(0).await.unwrap().len(), 1);
        let later = clock::now_ms() + 60_000;
        assert_eq!(store.credits_since(later).await.unwrap().len(), 0);

        let day = LimitReset::Daily.window_start(clock::now_ms());
        let usage = store.key_usage(day, day, day).await.unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!(usage[0].1.total, Nanos(4_000));
        assert_eq!(usage[0].1.daily, Nanos(4_000));

        let g = store.generation("gen-2").await.unwrap().unwrap();
        assert_eq!(g, batch[1], "{b:?}");
        assert!(store.generation("gen-404").await.unwrap().is_none());
        assert_eq!(store.recent_generations("acme", 2).await.unwrap().len(), 2);

        let activity = store.activity("acme", 0, None).await.unwrap();
        assert_eq!(activity.len(), 1, "{b:?}");
        assert_eq!(activity[0].requests, 3);
        assert_eq!(activity[0].usage, Nanos(4_000));
        assert_eq!(activity[0].date, clock::day(clock::now_ms()));
        assert_eq!(
            store.activity("acme", 0, Some(&key)).await.unwrap()[0].requests,
            2
        );
    }
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_data() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.ensure_account("default").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(store.account_exists("default").await.unwrap());
}

#[tokio::test]
async fn status_history_round_trips_and_prunes() {
    use turnout_store::{DayCounts, StatusTransition, StoredIncident};
    let dir = tempfile::tempdir().unwrap();
    for store in backends(&dir).await {
        let t = |c: &str, at: i64, old: &str, new: &str| StatusTransition {
            component_id: c.to_owned(),
            at_ms: at,
            old_status: old.to_owned(),
            new_status: new.to_owned(),
            reason: "test".to_owned(),
        };
        store
            .record_transitions(&[
                t("a", 1_000, "operational", "major_outage"),
                t("a", 5_000, "major_outage", "operational"),
                t("a", 9_000, "operational", "degraded_performance"),
                t("b", 2_000, "operational", "partial_outage"),
            ])
            .await
            .unwrap();
        // Recording the same transition again changes nothing.
        store
            .record_transitions(&[t("a", 9_000, "operational", "degraded_performance")])
            .await
            .unwrap();
        let since: Vec<(String, i64)> = store
            .transitions_since(6_000)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.component_id, t.at_ms))
            .collect();
        // a's window starts operational (its 5 000 transition); b is still in partial outage.
        assert_eq!(
            since,
            [
                ("b".to_owned(), 2_000),
                ("a".to_owned(), 5_000),
                ("a".to_owned(), 9_000)
            ]
        );

        let c = |ok, errors| DayCounts {
            ok,
            errors,
            rate_limited: 1,
        };
        store
            .add_day_counts(&[("a".into(), 100, c(5, 1)), ("a".into(), 101, c(2, 0))])
            .await
            .unwrap();
        store
            .add_day_counts(&[("a".into(), 101, c(3, 4))])
            .await
            .unwrap();
        let days = store.day_counts_since(101).await.unwrap();
        assert_eq!(
            days,
            [(
                "a".to_owned(),
                101,
                DayCounts {
                    ok: 5,
                    errors: 4,
                    rate_limited: 2
                }
            )]
        );

        let incident = |id: &str, created: i64, resolved: Option<i64>| StoredIncident {
            id: id.to_owned(),
            created_at_ms: created,
            updated_at_ms: created,
            resolved_at_ms: resolved,
            doc: format!("{{\"id\":\"{id}\"}}"),
        };
        store
            .save_incidents(&[
                incident("old", 1_000, Some(2_000)),
                incident("new", 8_000, None),
            ])
            .await
            .unwrap();
        store
            .save_incidents(&[incident("new", 8_000, Some(9_500))])
            .await
            .unwrap();
        let kept = store.recent_incidents(10).await.unwrap();
        assert_eq!(
            kept.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["new", "old"]
        );
        assert_eq!(kept[0].resolved_at_ms, Some(9_500));

        store.prune_status_history(6_000).await.unwrap();
        let left: Vec<i64> = store
            .transitions_since(0)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.at_ms)
            .collect();
        assert_eq!(
            left,
            [2_000, 5_000, 9_000],
            "each component keeps its last status"
        );
        let kept = store.recent_incidents(10).await.unwrap();
        assert_eq!(kept.len(), 1, "resolved before the cut-off: pruned");

        store
            .save_maintenance("m1", 5, "{\"name\":\"a\"}")
            .await
            .unwrap();
        store
            .save_maintenance("m2", 6, "{\"name\":\"b\"}")
            .await
            .unwrap();
        store.delete_maintenance("m1").await.unwrap();
        let windows = store.maintenances().await.unwrap();
        assert_eq!(
            windows,
            [("m2".to_owned(), 6, "{\"name\":\"b\"}".to_owned())]
        );
    }
}

#[tokio::test]
async fn dashboard_sessions_settings_and_generation_views() {
    use turnout_store::{DashboardSession, GenerationFilter};
    let dir = tempfile::tempdir().unwrap();
    for store in backends(&dir).await {
        let b = store.backend();
        store.ensure_account("acme").await.unwrap();
        let now = clock::now_ms();
        let session = DashboardSession {
            token_hash: keys::hash("token"),
            account: "acme".into(),
            key_hash: "k".into(),
            csrf_token: "csrf".into(),
            created_at_ms: now,
            expires_at_ms: now + 1_000,
        };
        store.create_session(&session).await.unwrap();
        assert_eq!(
            store.session(&session.token_hash, now).await.unwrap(),
            Some(session.clone()),
            "{b:?}"
        );
        assert_eq!(
            store
                .session(&session.token_hash, now + 1_000)
                .await
                .unwrap(),
            None,
            "expired at expires_at_ms"
        );
        assert_eq!(store.delete_expired_sessions(now).await.unwrap(), 0);
        assert!(store.delete_session(&session.token_hash).await.unwrap());
        assert_eq!(store.session(&session.token_hash, now).await.unwrap(), None);
        store.create_session(&session).await.unwrap();
        assert_eq!(store.delete_expired_sessions(now + 1_000).await.unwrap(), 1);

        assert_eq!(store.low_balance_alert("acme").await.unwrap(), None);
        store
            .set_low_balance_alert("acme", Some(Nanos(5)))
            .await
            .unwrap();
        store
            .set_low_balance_alert("acme", Some(Nanos(7)))
            .await
            .unwrap();
        assert_eq!(
            store.low_balance_alert("acme").await.unwrap(),
            Some(Nanos(7))
        );
        store.set_low_balance_alert("acme", None).await.unwrap();
        assert_eq!(store.low_balance_alert("acme").await.unwrap(), None);

        let mut rows = Vec::new();
        for i in 0..5i64 {
            let mut g = generation(&format!("gen-d{i}"), "acme", Some("k1"), 10 + i);
            g.created_at_ms = now - 10 * 60_000 + i * 60_000;
            if i % 2 == 1 {
                g.provider_slug = "other".into();
                g.model = "mock/tiny".into();
                g.key_hash = Some("k2".into());
                g.attempts.insert(
                    0,
                    AttemptRecord {
                        provider_name: "Acme".into(),
                        model: "acme/chat".into(),
                        status: 503,
                    },
                );
            }
            rows.push(g);
        }
        store.write_generations(&rows).await.unwrap();
        let all = store
            .find_generations("acme", &GenerationFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            ["gen-d4", "gen-d3", "gen-d2", "gen-d1", "gen-d0"]
        );
        let other = GenerationFilter {
            provider_slug: Some("other".into()),
            ..GenerationFilter::default()
        };
        let found = store.find_generations("acme", &other, 10).await.unwrap();
        assert_eq!(found.len(), 2);
        let by_key = GenerationFilter {
            key_hash: Some("k1".into()),
            model: Some("acme/chat".into()),
            ..GenerationFilter::default()
        };
        assert_eq!(
            store
                .find_generations("acme", &by_key, 10)
                .await
                .unwrap()
                .len(),
            3
        );
        let page = GenerationFilter {
            before: Some((all[1].created_at_ms, all[1].id.clone())),
            ..GenerationFilter::default()
        };
        let older = store.find_generations("acme", &page, 2).await.unwrap();
        assert_eq!(
            older.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            ["gen-d2", "gen-d1"]
        );
        assert!(
            store
                .find_generations("nobody", &GenerationFilter::default(), 10)
                .await
                .unwrap()
                .is_empty()
        );

        let buckets = store
            .spend_buckets("acme", now - 3_600_000, 3_600_000)
            .await
            .unwrap();
        assert_eq!(buckets.iter().map(|b| b.requests).sum::<u64>(), 5);
        assert_eq!(buckets.iter().map(|b| b.cost).sum::<Nanos>(), Nanos(60));
        assert!(buckets.iter().all(|b| b.start_ms % 3_600_000 == 0));

        let samples = store
            .generation_samples("acme", now - 3_600_000, 3)
            .await
            .unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].created_at_ms, rows[4].created_at_ms);
        assert_eq!(samples[1].attempts.len(), 2);

        assert_eq!(
            store.last_served("acme", "acme/chat").await.unwrap(),
            Some(rows[4].created_at_ms)
        );
        assert_eq!(
            store.last_served("other", "mock/tiny").await.unwrap(),
            Some(rows[3].created_at_ms)
        );
        assert_eq!(store.last_served("acme", "nope").await.unwrap(), None);
    }
}
