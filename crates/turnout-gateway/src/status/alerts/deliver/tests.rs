#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::sync::Mutex;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::*;
use crate::status::alerts::payload::Email;
use crate::upstream::client::build_webhook_client;

/// A local receiver answering the scripted statuses in order (then 200), after `delay`.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    script: Arc<Mutex<Vec<u16>>>,
    delay: Duration,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.hits.lock().unwrap().push((headers, body));
    tokio::time::sleep(r.delay).await;
    let mut script = r.script.lock().unwrap();
    let code = if script.is_empty() {
        200
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(code).unwrap()
}

async fn receiver(script: &[u16], delay: Duration) -> (Receiver, String) {
    let r = Receiver {
        script: Arc::new(Mutex::new(script.to_vec())),
        delay,
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        timeout: Duration::from_millis(300),
        max_attempts,
        backoff: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
    }
}

fn job(url: &str, max_attempts: u32) -> Job {
    Job {
        delivery_id: "d1".into(),
        event: "incident.created",
        channel: "ops".into(),
        kind: ChannelKind::Webhook,
        content: Content::Http {
            url: SecretString::from(url.to_owned()),
            body: Bytes::from_static(br#"{"version":1}"#),
            secret: Some(SecretString::from("s3cret".to_owned())),
        },
        policy: policy(max_attempts),
    }
}

fn client() -> HttpClient {
    build_webhook_client(Duration::from_secs(1)).unwrap()
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter() {
    let p = RetryPolicy {
        timeout: Duration::from_secs(10),
        max_attempts: 5,
        backoff: Duration::from_secs(5),
        backoff_max: Duration::from_secs(120),
    };
    assert_eq!(backoff(&p, 1, 0.0), Duration::from_secs(5));
    assert_eq!(backoff(&p, 2, 0.0), Duration::from_secs(10));
    assert_eq!(backoff(&p, 4, 0.0), Duration::from_secs(40));
    assert_eq!(backoff(&p, 6, 0.0), Duration::from_secs(120), "capped");
    assert_eq!(
        backoff(&p, 40, 0.0),
        Duration::from_secs(120),
        "no overflow"
    );
    assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(6));
    assert_eq!(backoff(&p, 1, -1.0), Duration::from_secs(4));
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_delivery_id_and_fresh_signatures() {
    let (r, url) = receiver(&[503, 500], Duration::ZERO).await;
    assert!(deliver(&client(), &job(&url, 3)).await);
    let hits = r.hits.lock().unwrap();
    assert_eq!(hits.len(), 3);
    for (headers, body) in hits.iter() {
        assert_eq!(headers["x-turnout-delivery"], "d1");
        assert_eq!(headers["x-turnout-event"], "incident.created");
        assert_eq!(headers["content-type"], "application/json");
        let t: u64 = headers[sign::TIMESTAMP_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let sig = headers[sign::SIGNATURE_HEADER].to_str().unwrap();
        assert!(sign::verify(b"s3cret", t, body, sig, now_s()), "{sig}");
    }
}

#[tokio::test]
async fn attempts_are_bounded() {
    let (r, url) = receiver(&[500, 502, 503, 504], Duration::ZERO).await;
    assert!(!deliver(&client(), &job(&url, 3)).await);
    assert_eq!(r.hits.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn client_errors_and_redirects_are_final() {
    for code in [400, 404, 302] {
        let (r, url) = receiver(&[code], Duration::ZERO).await;
        assert!(!deliver(&client(), &job(&url, 3)).await, "{code}");
        assert_eq!(r.hits.lock().unwrap().len(), 1, "{code} is not retried");
    }
    let (r, url) = receiver(&[429], Duration::ZERO).await;
    assert!(deliver(&client(), &job(&url, 3)).await, "429 is retried");
    assert_eq!(r.hits.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_receiver_too_slow_to_answer_is_retried() {
    let (r, url) = receiver(&[], Duration::from_millis(600)).await;
    let started = std::time::Instant::now();
    assert!(!deliver(&client(), &job(&url, 2)).await);
    assert_eq!(r.hits.lock().unwrap().len(), 2);
    assert!(
        started.elapsed() < Duration::from_millis(1_200),
        "each attempt timed out"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_given_up() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let outcome = attempt(&client(), &job(&url, 1)).await;
    assert!(matches!(outcome, Err(Failure::Retryable(_))), "{outcome:?}");
}

#[tokio::test]
async fn unsigned_channels_send_no_signature() {
    let (r, url) = receiver(&[], Duration::ZERO).await;
    let mut j = job(&url, 1);
    j.kind = ChannelKind::Slack;
    if let Content::Http { secret, .. } = &mut j.content {
        *secret = None;
    }
    assert!(deliver(&client(), &j).await);
    let hits = r.hits.lock().unwrap();
    assert!(!hits[0].0.contains_key(sign::SIGNATURE_HEADER));
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_instead_of_waiting() {
    // On a current-thread runtime the worker cannot take a job before the test yields.
    let q = Queue::start(1, client());
    assert!(q.push(job("http://127.0.0.1:9/", 1)));
    assert!(!q.push(job("http://127.0.0.1:9/", 1)), "dropped");
}

#[tokio::test]
async fn a_bad_smtp_url_fails_without_echoing_it() {
    let j = Job {
        kind: ChannelKind::Email,
        content: Content::Email {
            smtp_url: SecretString::from("ftp://user:hunter2@x".to_owned()),
            from: "status@acme.example".into(),
            to: vec!["oncall@acme.example".into()],
            email: Email {
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
                message_id: "m@acme.example".into(),
                in_reply_to: None,
            },
        },
        ..job("http://127.0.0.1:9/", 1)
    };
    match attempt(&client(), &j).await {
        Err(Failure::Permanent(why)) => assert!(!why.contains("hunter2"), "{why}"),
        other => panic!("{other:?}"),
    }
}
