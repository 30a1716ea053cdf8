//! Signing in and out of the dashboard. A management key is exchanged for a random session
//! token held in an HttpOnly, SameSite=Strict cookie; the database keeps only the token's
//! SHA-256, with the session's CSRF token and the key that opened it. Every change is a POST
//! that must come from this origin and carry the CSRF token; failed sign-ins are throttled
//! per client.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use turnout_store::{DashboardSession, KeyRecord, clock, keys};

use super::layout;
use crate::error::DashboardError;
use crate::ingress::auth::Principal;
use crate::state::AppState;
use crate::web::html::escape;

pub(super) const COOKIE_NAME: &str = "turnout_session";
/// How long a session lasts from sign-in (the cookie's Max-Age too).
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins allowed per client within [`THROTTLE_WINDOW`].
const MAX_FAILURES: usize = 10;
const THROTTLE_WINDOW: Duration = Duration::from_secs(300);
/// Clients remembered at once; beyond it, clients with no recent failure are forgotten.
const MAX_CLIENTS: usize = 10_000;

/// A signed-in operator: the account they see and the management key they used.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub account: String,
    pub key: Arc<KeyRecord>,
    csrf: String,
    token_hash: String,
}

impl Session {
    /// The hidden field every form of this session carries.
    pub(crate) fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape(&self.csrf)
        )
    }

    /// The principal the session acts as (the playground plans as it).
    pub(crate) fn principal(&self) -> Principal {
        Principal {
            account: self.account.clone(),
            key_hash: Some(self.key.hash.clone()),
            key: Some(self.key.clone()),
        }
    }

    fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// The live session whose token the browser presented. A session ends with its management
/// key: once the key is disabled, deleted or expired, the session is deleted too.
async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, DashboardError> {
    let Some(token) = cookie(headers, COOKIE_NAME)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(None);
    };
    let token_hash = keys::hash(token);
    let now = clock::now_ms();
    let store = state.accounts().store();
    let Some(stored) = store.session(&token_hash, now).await? else {
        return Ok(None);
    };
    match state.accounts().key(&stored.key_hash).await? {
        Some(key) if key.is_management && key.usable_at(now) && key.account == stored.account => {
            Ok(Some(Session {
                account: stored.account,
                key,
                csrf: stored.csrf_token,
                token_hash,
            }))
        }
        _ => {
            store.delete_session(&token_hash).await?;
            Ok(None)
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = DashboardError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current(state, &parts.headers)
            .await?
            .ok_or(DashboardError::SignInRequired)
    }
}

/// Refuses a request another site made the browser send: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is not this host (`Host` — the URI's authority in HTTP/2 —, or
/// `X-Forwarded-Host` behind a proxy; a page of another site can set none of them).
fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> Result<(), DashboardError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err(DashboardError::CrossSite);
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let from = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .ok_or(DashboardError::CrossSite)?;
    let forwarded = text(header::HeaderName::from_static("x-forwarded-host"))
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    if [text(HOST), authority, forwarded]
        .into_iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(from))
    {
        Ok(())
    } else {
        Err(DashboardError::CrossSite)
    }
}

/// A change: a form POSTed from this origin by a signed-in operator with the session's CSRF
/// token, then parsed as `T`. Checked in that order: another site's post is refused (403)
/// before anything else, no session redirects to sign-in, a missing or wrong token is 403.
#[derive(Debug)]
pub(crate) struct Posted<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = DashboardError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, parts.uri.authority().map(|a| a.as_str()))?;
        let session = Session::from_request_parts(&mut parts, state).await?;
        let limit = state.runtime().max_body_bytes;
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| DashboardError::BadForm(format!("The form is over {limit} bytes")))?;
        let token = url::form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "csrf")
            .map(|(_, v)| v.into_owned());
        if !session.csrf_matches(token.as_deref()) {
            return Err(DashboardError::Csrf);
        }
        let Form(form) =
            Form::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state)
                .await
                .map_err(|e| DashboardError::BadForm(e.body_text()))?;
        Ok(Posted { session, form })
    }
}

/// Failed sign-ins per client in the last [`THROTTLE_WINDOW`] (this instance's).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<i64>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `client` must wait before trying again, once it used up its failures.
    fn wait(&self, client: &str, now_ms: i64) -> Option<Duration> {
        let window = THROTTLE_WINDOW.as_millis() as i64;
        let mut map = self.lock();
        let failures = map.get_mut(client)?;
        while failures.front().is_some_and(|t| *t <= now_ms - window) {
            failures.pop_front();
        }
        if failures.len() < MAX_FAILURES {
            return None;
        }
        let oldest = failures.front().copied().unwrap_or(now_ms);
        Some(Duration::from_millis(
            u64::try_from(oldest + window - now_ms).unwrap_or(1).max(1),
        ))
    }

    fn fail(&self, client: &str, now_ms: i64) {
        let window = THROTTLE_WINDOW.as_millis() as i64;
        let mut map = self.lock();
        if map.len() >= MAX_CLIENTS && !map.contains_key(client) {
            map.retain(|_, f| f.back().is_some_and(|t| *t > now_ms - window));
        }
        let failures = map.entry(client.to_owned()).or_default();
        failures.push_back(now_ms);
        while failures.len() > MAX_FAILURES {
            failures.pop_front();
        }
    }

    fn forget(&self, client: &str) {
        self.lock().remove(client);
    }
}

/// Who is signing in, for throttling: the peer address, unless the peer is a proxy on this
/// machine or a private network (then the first hop of its `X-Forwarded-For`, which a client
/// on the internet cannot set past such a proxy); without either, everyone shares one bucket.
fn client(extensions: &Extensions, headers: &HeaderMap) -> String {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(ip) = peer
        && !is_local(ip)
    {
        return ip.to_string();
    }
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|ip| format!("forwarded:{ip}"));
    forwarded
        .or_else(|| peer.map(|ip| ip.to_string()))
        .unwrap_or_else(|| "shared".to_owned())
}

/// Loopback or private addresses: where a reverse proxy in front of the gateway would be.
fn is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || v6.is_unicast_link_local()
        }
    }
}

fn see_other(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// `GET /dashboard/sign-in`: the form, or the Overview for a browser already signed in.
pub(super) async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, DashboardError> {
    if current(&state, &headers).await?.is_some() {
        return Ok(see_other("/dashboard"));
    }
    Ok(layout::sign_in(StatusCode::OK, None))
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    key: String,
}

/// The management key `key` names, or why it cannot open the dashboard, in the operator's
/// words.
async fn verdict(
    state: &AppState,
    key: &str,
) -> Result<Result<Arc<KeyRecord>, (StatusCode, String)>, DashboardError> {
    let mut headers = HeaderMap::new();
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {key}")) else {
        return Ok(Err((
            StatusCode::UNAUTHORIZED,
            "Invalid API key.".to_owned(),
        )));
    };
    headers.insert(AUTHORIZATION, bearer);
    let principal = state
        .runtime()
        .auth
        .authenticate(&headers, state.accounts())
        .await;
    Ok(match principal {
        Err(e @ crate::error::ApiError::Internal { .. }) => return Err(e.into()),
        Err(e) => Err((StatusCode::UNAUTHORIZED, format!("{e}."))),
        Ok(Principal { key: Some(k), .. }) if k.is_management => Ok(k),
        // An open gateway lets unknown keys through as anonymous callers.
        Ok(Principal { key_hash: None, .. }) => {
            Err((StatusCode::UNAUTHORIZED, "Invalid API key.".to_owned()))
        }
        Ok(_) => Err((
            StatusCode::FORBIDDEN,
            "This is not a management key. The dashboard needs a management key: make one \
             with `turnout keys create --management`."
                .to_owned(),
        )),
    })
}

/// `POST /dashboard/sign-in`: a management key in, a session cookie out.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    Extension(throttle): Extension<Arc<Throttle>>,
    extensions: Extensions,
    req: Request,
) -> Result<Response, DashboardError> {
    same_origin(req.headers(), req.uri().authority().map(|a| a.as_str()))?;
    let headers = req.headers().clone();
    let who = client(&extensions, &headers);
    let now = clock::now_ms();
    if let Some(retry_after) = throttle.wait(&who, now) {
        return Err(DashboardError::Throttled { retry_after });
    }
    let Form(form) = Form::<SignInForm>::from_request(req, &state)
        .await
        .map_err(|e| DashboardError::BadForm(e.body_text()))?;
    let record = match verdict(&state, form.key.trim()).await? {
        Ok(record) => record,
        Err((status, message)) => {
            throttle.fail(&who, now);
            tracing::warn!(client = %who, status = status.as_u16(), "dashboard sign-in refused");
            return Ok(layout::sign_in(status, Some(&message)));
        }
    };
    throttle.forget(&who);
    let store = state.accounts().store();
    // Expired sessions go whenever someone signs in: no sweeper needed. A session this
    // browser still held is replaced, not left behind.
    store.delete_expired_sessions(now).await?;
    if let Some(old) = cookie(&headers, COOKIE_NAME) {
        store.delete_session(&keys::hash(old)).await?;
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let session = DashboardSession {
        token_hash: keys::hash(&token),
        account: record.account.clone(),
        key_hash: record.hash.clone(),
        csrf_token: hex::encode(rand::random::<[u8; 32]>()),
        created_at_ms: now,
        expires_at_ms: now + LIFETIME.as_millis() as i64,
    };
    store.create_session(&session).await?;
    tracing::info!(account = %record.account, key = %record.name, "dashboard sign-in");
    let mut response = see_other("/dashboard");
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/dashboard; Max-Age={}; HttpOnly; SameSite=Strict{}",
        LIFETIME.as_secs(),
        if came_over_https(&headers) {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(response)
}

/// Behind a TLS-terminating proxy the request says so in `X-Forwarded-Proto`.
fn came_over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct NoFields {}

/// `POST /dashboard/sign-out`: the session is deleted here and the cookie cleared.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    posted: Posted<NoFields>,
) -> Result<Response, DashboardError> {
    state
        .accounts()
        .store()
        .delete_session(&posted.session.token_hash)
        .await?;
    let mut response = see_other(super::SIGN_IN);
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "turnout_session=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict",
        ),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_allows_ten_failures_per_five_minutes() {
        let t = Throttle::default();
        for i in 0..10 {
            assert_eq!(t.wait("a", i), None, "failure {i}");
            t.fail("a", i);
        }
        let wait = t.wait("a", 10).expect("throttled");
        assert_eq!(wait, Duration::from_millis(300_000 - 10));
        assert_eq!(t.wait("b", 10), None, "per client");
        assert_eq!(t.wait("a", 300_000), None, "the oldest failure aged out");
        t.forget("a");
        assert_eq!(t.wait("a", 11), None);
    }

    #[test]
    fn clients_are_peers_then_forwarded_then_shared() {
        let mut headers = HeaderMap::new();
        let mut ext = Extensions::new();
        assert_eq!(client(&ext, &headers), "shared");
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.1"),
        );
        assert_eq!(client(&ext, &headers), "forwarded:203.0.113.7");
        // A peer on the internet is itself the client, whatever it claims.
        ext.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
        assert_eq!(client(&ext, &headers), "192.0.2.1");
        // A proxy on this machine or a private network speaks for its client.
        ext.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 5], 4000))));
        assert_eq!(client(&ext, &headers), "forwarded:203.0.113.7");
        ext.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        headers.remove("x-forwarded-for");
        assert_eq!(client(&ext, &headers), "127.0.0.1");
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("gw.example:8080"));
        assert!(
            same_origin(&h, None).is_ok(),
            "no Origin: not a browser's cross-site post"
        );
        h.insert(ORIGIN, HeaderValue::from_static("http://gw.example:8080"));
        assert!(same_origin(&h, None).is_ok());
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(matches!(
            same_origin(&h, None),
            Err(DashboardError::CrossSite)
        ));
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(matches!(
            same_origin(&h, None),
            Err(DashboardError::CrossSite)
        ));
        h.insert(ORIGIN, HeaderValue::from_static("https://gw.example.com"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("gw.example.com"),
        );
        assert!(same_origin(&h, None).is_ok(), "behind a proxy");
        h.remove(HOST);
        h.remove("x-forwarded-host");
        h.insert(ORIGIN, HeaderValue::from_static("https://gw.example"));
        assert!(
            same_origin(&h, Some("gw.example")).is_ok(),
            "HTTP/2: the URI's authority"
        );
        assert!(same_origin(&h, Some("other.example")).is_err());
        h.remove(ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(matches!(
            same_origin(&h, None),
            Err(DashboardError::CrossSite)
        ));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; turnout_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE_NAME), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
