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
