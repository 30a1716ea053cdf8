//! The operator's dashboard as a browser meets it: sign-in with a management key only, an
//! HttpOnly SameSite=Strict session cookie, redirects without a session, CSRF and origin
//! checks on every change (a refused change changes nothing), throttled sign-in, sign-out;
//! and pages that show the account's real traffic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, RETRY_AFTER, SET_COOKIE};
use turnout_store::{KeyPatch, keys};

const SIGN_IN: &str = "/dashboard/sign-in";

struct Dash {
    gw: Gateway,
    http: reqwest::Client,
    admin: String,
    _mock: turnout_mock::MockServer,
}

async fn dashboard() -> Dash {
    let mock = mock(fast()).await;
    let toml = format!(
        "[auth]\nrequire_key = true\n{}{}",
        provider("fast", "Fast Mock", &mock.base_url(), ""),
        model("demo/fast", &[("fast", "mock-fast")])
    );
    let gw = Gateway::start(&toml).await;
    let admin = key(&gw, "operator", true).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Dash {
        gw,
        http,
        admin,
        _mock: mock,
    }
}

/// A key of the `default` account, made as `turnout keys create` makes it.
async fn key(gw: &Gateway, name: &str, management: bool) -> String {
    db_key(gw, "default", name, management).await
}

async fn disable(gw: &Gateway, secret: &str) {
    let patch = KeyPatch {
        disabled: Some(true),
        ..KeyPatch::default()
    };
    patch_key(gw, secret, patch).await;
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The `csrf` hidden field of a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("page has a CSRF field")
        + 19;
    html[at..at + 64].to_owned()
}

impl Dash {
    fn url(&self, path: &str) -> String {
        self.gw.url(path)
    }

    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        pairs: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    /// Signs in; returns the `name=value` cookie to send back.
    async fn sign_in(&self, key: &str) -> String {
        let r = self.post(SIGN_IN, None, &[("key", key)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/dashboard");
        let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        set.split(';').next().unwrap().to_owned()
    }

    /// A page's text, which must be 200.
    async fn page(&self, path: &str, cookie: &str) -> String {
        let r = self.get(path, Some(cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.text().await.unwrap()
    }

    async fn chat(&self, key: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/chat/completions"))
            .bearer_auth(key)
            .json(&chat("demo/fast"))
            .send()
            .await
            .unwrap()
    }
}

fn redirects_to_sign_in(r: &reqwest::Response, what: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
    assert_eq!(r.headers()[LOCATION], SIGN_IN, "{what}");
}

const PAGES: [&str; 7] = [
    "/dashboard",
    "/dashboard/activity",
    "/dashboard/activity/gen-0-x",
    "/dashboard/providers",
    "/dashboard/keys",
    "/dashboard/keys/abc",
    "/dashboard/playground",
];

const CHANGES: [&str; 9] = [
    "/dashboard/sign-out",
    "/dashboard/keys",
    "/dashboard/keys/abc",
    "/dashboard/keys/abc/disable",
    "/dashboard/keys/abc/enable",
    "/dashboard/keys/abc/delete",
    "/dashboard/credits",
    "/dashboard/alert",
    "/dashboard/playground",
];

#[tokio::test]
async fn every_route_without_a_session_redirects_to_sign_in() {
    let d = dashboard().await;
    let forged = format!("turnout_session={}", "ab".repeat(32));
    for cookie in [None, Some(forged.as_str()), Some("turnout_session=junk")] {
        for path in PAGES {
            let r = d.get(path, cookie).await;
            redirects_to_sign_in(&r, &format!("GET {path} with {cookie:?}"));
        }
        for path in CHANGES {
            let r = d.post(path, cookie, &[("csrf", &"0".repeat(64))]).await;
            redirects_to_sign_in(&r, &format!("POST {path} with {cookie:?}"));
        }
    }
    let r = d.get(SIGN_IN, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
    assert!(r.text().await.unwrap().contains("management key"));
}

#[tokio::test]
async fn only_a_usable_management_key_signs_in() {
    let d = dashboard().await;
    let inference = key(&d.gw, "app", false).await;
    let r = d.post(SIGN_IN, None, &[("key", &inference)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("not a management key"));

    for (bad, words) in [
        ("sk-tn-v1-nope", "Invalid API key"),
        ("", "No auth credentials"),
        ("bad\nkey", "Invalid API key"),
    ] {
        let r = d.post(SIGN_IN, None, &[("key", bad)]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert!(r.headers().get(SET_COOKIE).is_none());
        assert!(r.text().await.unwrap().contains(words), "{bad:?}");
    }

    let disabled = key(&d.gw, "old-ops", true).await;
    disable(&d.gw, &disabled).await;
    let r = d.post(SIGN_IN, None, &[("key", &disabled)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("disabled"));

    let expired = key(&d.gw, "temp-ops", true).await;
    patch_key(
        &d.gw,
        &expired,
        KeyPatch {
            expires_at_ms: Some(Some(1_000)),
            ..KeyPatch::default()
        },
    )
    .await;
    let r = d.post(SIGN_IN, None, &[("key", &expired)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_only_its_hash_is_stored() {
    let d = dashboard().await;
    let r = d.post(SIGN_IN, None, &[("key", &d.admin)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attrs[0].starts_with("turnout_session="), "{set}");
    for a in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=43200",
    ] {
        assert!(attrs.contains(&a), "{a} in {set}");
    }
    assert!(!attrs.contains(&"Secure"), "plain http: {set}");
    let token = attrs[0].trim_start_matches("turnout_session=");
    assert_eq!(token.len(), 64);
    let store = d.gw.state.accounts().store();
    let now = turnout_store::clock::now_ms();
    assert!(
        store
            .session(&keys::hash(token), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.session(token, now).await.unwrap().is_none());

    // Behind a TLS-terminating proxy the cookie is Secure.
    let r = d
        .http
        .post(d.url(SIGN_IN))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(form(&[("key", &d.admin)]))
        .send()
        .await
        .unwrap();
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set.split(';').any(|a| a.trim() == "Secure"), "{set}");

    let cookie = attrs[0];
    for path in PAGES
        .iter()
        .filter(|p| !p.ends_with("gen-0-x") && !p.ends_with("abc"))
    {
        let r = d.get(path, Some(cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("aria-current=\"page\""),
            "{path} marks its nav entry"
        );
        assert!(!html.contains("<script>"), "no inline script on {path}");
    }
    // Signed in, the sign-in page sends the operator on.
    let r = d.get(SIGN_IN, Some(cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/dashboard");
}

#[tokio::test]
async fn a_change_without_the_right_csrf_token_or_origin_is_refused_and_changes_nothing() {
    let d = dashboard().await;
    let cookie = d.sign_in(&d.admin).await;
    let csrf = csrf_of(&d.page("/dashboard/keys", &cookie).await);
    let app = key(&d.gw, "app", false).await;
    let hash = keys::hash(&app);
    let disable = format!("/dashboard/keys/{hash}/disable");
    let store = d.gw.state.accounts().store();
    let keys_before = store
        .list_keys(Some("default"), true, 0, 100)
        .await
        .unwrap();

    let wrong = "f".repeat(64);
    for token in [None, Some(wrong.as_str()), Some(""), Some(&csrf[..63])] {
        let mut fields = vec![];
        if let Some(t) = token {
            fields.push(("csrf", t));
        }
        let r = d.post(&disable, Some(&cookie), &fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "disable with {token:?}");
        assert!(r.text().await.unwrap().contains("Refused"));
        let mut create = fields.clone();
        create.push(("name", "sneaky"));
        let r = d.post("/dashboard/keys", Some(&cookie), &create).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "create with {token:?}");
        let mut credits = fields.clone();
        credits.push(("amount", "1000"));
        let r = d.post("/dashboard/credits", Some(&cookie), &credits).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "credits with {token:?}");
        let r = d.post("/dashboard/sign-out", Some(&cookie), &fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "sign-out with {token:?}");
    }
    // The right token from another site's page is refused too.
    let r = d
        .http
        .post(d.url(&disable))
        .header(COOKIE, &cookie)
        .header(ORIGIN, "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Nothing changed: the same keys, the key still works, no credits, still signed in.
    let keys_after = store
        .list_keys(Some("default"), true, 0, 100)
        .await
        .unwrap();
    assert_eq!(keys_before, keys_after);
    assert_eq!(d.chat(&app).await.status(), StatusCode::OK);
    let book = d.gw.state.accounts().account_book("default").await.unwrap();
    assert!(!book.metered);
    assert_eq!(
        d.get("/dashboard", Some(&cookie)).await.status(),
        StatusCode::OK
    );

    // With the token, from this origin, the change happens.
    let origin = format!("http://{}", d.gw.addr);
    let r = d
        .http
        .post(d.url(&disable))
        .header(COOKIE, &cookie)
        .header(ORIGIN, origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/dashboard/keys?done=disabled");
    assert_eq!(d.chat(&app).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_is_throttled_after_ten_failures_per_client() {
    let d = dashboard().await;
    let attempt = |key: String, client: &'static str| {
        d.http
            .post(d.url(SIGN_IN))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", client)
            .body(form(&[("key", &key)]))
            .send()
    };
    for i in 0..10 {
        let r = attempt(format!("sk-tn-v1-guess{i}"), "198.51.100.1")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for key in ["sk-tn-v1-guess10".to_owned(), d.admin.clone()] {
        let r = attempt(key, "198.51.100.1").await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = r.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=300).contains(&wait), "{wait}");
        assert!(r.headers().get(SET_COOKIE).is_none());
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Too many failed sign-in attempts")
        );
    }
    // Another client is not held back.
    let r = attempt(d.admin.clone(), "198.51.100.2").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_so_does_disabling_its_key() {
    let d = dashboard().await;
    let cookie = d.sign_in(&d.admin).await;
    let csrf = csrf_of(&d.page("/dashboard", &cookie).await);
    let r = d
        .post("/dashboard/sign-out", Some(&cookie), &[("csrf", &csrf)])
        .await;
    redirects_to_sign_in(&r, "sign-out");
    let cleared = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    for path in PAGES {
        redirects_to_sign_in(&d.get(path, Some(&cookie)).await, path);
    }

    // Signing in again from the same browser replaces its session.
    let first = d.sign_in(&d.admin).await;
    let r = d.post(SIGN_IN, Some(&first), &[("key", &d.admin)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    redirects_to_sign_in(&d.get("/dashboard", Some(&first)).await, "replaced");

    // A session ends with its management key.
    let second = key(&d.gw, "ops-2", true).await;
    let cookie = d.sign_in(&second).await;
    assert_eq!(
        d.get("/dashboard", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    disable(&d.gw, &second).await;
    redirects_to_sign_in(&d.get("/dashboard", Some(&cookie)).await, "disabled key");
}

#[tokio::test]
async fn the_pages_show_the_accounts_keys_traffic_and_plans() {
    let d = dashboard().await;
    let cookie = d.sign_in(&d.admin).await;
    let keys_page = d.page("/dashboard/keys", &cookie).await;
    let csrf = csrf_of(&keys_page);

    // Create a key: its secret is shown once and works.
    let r = d
        .post(
            "/dashboard/keys",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "web <app>"),
                ("limit", "5"),
                ("limit_reset", "monthly"),
                ("rpm", "100"),
                ("allowed_models", "demo/*"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("web &lt;app&gt;"), "names are escaped");
    let at = html.find("id=\"new-key-secret\">").unwrap() + 20;
    let secret = html[at..].split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("sk-tn-v1-"), "{secret}");
    assert!(
        !d.page("/dashboard/keys", &cookie).await.contains(&secret),
        "shown once"
    );
    let r = d.chat(&secret).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    d.gw.state.accounts().flush().await;

    // Its settings can be changed: the edit form shows them and saves new ones.
    let hash = keys::hash(&secret);
    let edit = d.page(&format!("/dashboard/keys/{hash}"), &cookie).await;
    assert!(edit.contains("value=\"demo/*\"") && edit.contains("value=\"100\""));
    let r = d
        .post(
            &format!("/dashboard/keys/{hash}"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "web app"),
                ("limit", "7.25"),
                ("rpm", ""),
            ],
        )
        .await;
    assert_eq!(r.headers()[LOCATION], "/dashboard/keys?done=updated");
    let k =
        d.gw.state
            .accounts()
            .store()
            .key(&hash)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(k.name, "web app");
    assert_eq!(k.limit, Some(turnout_store::Nanos(7_250_000_000)));
    assert_eq!(k.limit_reset, None);
    assert_eq!(k.rate_limit.requests_per_minute, None);
    assert_eq!(k.allowed_models, None);
    // The key the session signed in with is not changed from its own session.
    let own = keys::hash(&d.admin);
    let r = d
        .get(&format!("/dashboard/keys/{own}"), Some(&cookie))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A bad form is explained, filled as sent.
    let r = d
        .post(
            "/dashboard/keys",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "x"), ("limit", "lots")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not an amount"));

    let activity = d.page("/dashboard/activity", &cookie).await;
    assert!(activity.contains(&id) && activity.contains("Fast Mock"));
    assert!(activity.contains("web app"));
    let filtered = d.page("/dashboard/activity?provider=nobody", &cookie).await;
    assert!(!filtered.contains(&id));
    let detail = d.page(&format!("/dashboard/activity/{id}"), &cookie).await;
    assert!(detail.contains("Served") && detail.contains("mock-fast"));

    let providers = d.page("/dashboard/providers", &cookie).await;
    assert!(
        providers.contains("data-request-share=\"1\""),
        "one provider, all traffic"
    );
    assert!(providers.contains("concentration-warning"));
    assert!(
        providers.contains("just now"),
        "the endpoint served just now"
    );

    let overview = d.page("/dashboard", &cookie).await;
    assert!(overview.contains("unmetered"));
    assert!(overview.contains("data-requests=\"1\""));

    // Credits, then an alert above the balance: the Overview warns.
    let r = d
        .post(
            "/dashboard/credits",
            Some(&cookie),
            &[("csrf", &csrf), ("amount", "2.5")],
        )
        .await;
    assert_eq!(r.headers()[LOCATION], "/dashboard/keys?done=credits");
    let book = d.gw.state.accounts().account_book("default").await.unwrap();
    assert!(book.metered && book.credits.0 == 2_500_000_000);
    let r = d
        .post(
            "/dashboard/alert",
            Some(&cookie),
            &[("csrf", &csrf), ("threshold", "10")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(d.page("/dashboard", &cookie).await.contains("Low balance"));

    // The playground shows routing/explain's plan.
    let r = d
        .post(
            "/dashboard/playground",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                (
                    "request",
                    r#"{"model":"demo/fast","messages":[{"role":"user","content":"hi"}]}"#,
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let plan = r.text().await.unwrap();
    assert!(plan.contains("id=\"candidates\"") && plan.contains("mock-fast"));
    let r = d
        .post(
            "/dashboard/playground",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                (
                    "request",
                    r#"{"model":"demo/fast","messages":[{"role":"user","content":"hi"}],"provider":{"ignore":["fast"]}}"#,
                ),
            ],
        )
        .await;
    let plan = r.text().await.unwrap();
    assert!(plan.contains("id=\"excluded\"") && plan.contains("provider.ignore"));
}
