//! Keys & credits: the account's keys (create — the secret shown once —, disable, enable,
//! delete), its balance with a form to add credits, and its low-balance alert threshold.
//! Settings are validated by the same code as `POST /api/v1/keys`.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use turnout_store::{KeyPatch, KeyRecord, Nanos, NewKey, RateLimit, clock};

use super::format;
use super::layout::{self, Col, Frame, Nav, TABLE_END, option, table};
use super::session::{NoFields, Posted, Session};
use crate::error::{ApiError, DashboardError};
use crate::state::AppState;
use crate::web::accounts::{
    change_key, credit, issue_key, limit_remaining, parse_expiry, parse_limit, parse_reset,
    remove_key,
};
use crate::web::html::escape;

const KEYS_LISTED: u32 = 1_000;

/// The outcome a redirect back to this page reports (fixed words: nothing from the request
/// is echoed).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

fn done_words(done: &str) -> Option<&'static str> {
    Some(match done {
        "disabled" => {
            "Key disabled: requests with it are refused from now on (on every instance within a second)."
        }
        "enabled" => "Key enabled again.",
        "updated" => {
            "Key settings saved: they apply from the next request (on every instance within a second)."
        }
        "deleted" => "Key deleted: requests with it are refused from now on.",
        "credits" => "Credits added.",
        "alert" => "Low-balance alert saved.",
        "alert-cleared" => "Low-balance alert removed.",
        _ => return None,
    })
}

/// What the create form held, kept to fill it again after a mistake.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    limit_reset: String,
    #[serde(default)]
    rpm: String,
    #[serde(default)]
    tpm: String,
    #[serde(default)]
    allowed_models: String,
    #[serde(default)]
    expires_at: String,
}

/// A message at the top of the page.
enum Notice {
    None,
    Done(&'static str),
    Problem(String),
    /// A key was just created (its name and secret, shown this once).
    Created {
        name: String,
        secret: String,
    },
}

/// A USD amount typed in a form (`""` is none).
fn amount(field: &str, text: &str) -> Result<Option<Nanos>, ApiError> {
    let text = text.trim().trim_start_matches('$');
    if text.is_empty() {
        return Ok(None);
    }
    let v: f64 = text
        .parse()
        .map_err(|_| ApiError::invalid(format!("{field}: {text:?} is not an amount of USD")))?;
    parse_limit(Some(v)).map_err(|e| ApiError::invalid(format!("{field}: {e}")))
}

fn whole<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::invalid(format!("{field}: {text:?} is not a whole number")))
}

impl CreateForm {
    fn new_key(&self, account: &str) -> Result<NewKey, ApiError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("Name: required"));
        }
        let reset = Some(self.limit_reset.trim().to_owned()).filter(|r| !r.is_empty());
        // `datetime-local` gives `2027-12-31T23:59`: read as UTC, as the form says.
        let expires = self.expires_at.trim();
        let expires = match expires.len() {
            0 => None,
            16 => Some(format!("{expires}:00Z")),
            19 => Some(format!("{expires}Z")),
            _ => Some(expires.to_owned()),
        };
        let expires_at_ms = parse_expiry(expires)?;
        if expires_at_ms.is_some_and(|e| e <= clock::now_ms()) {
            return Err(ApiError::invalid("Expires: must be in the future"));
        }
        let allowed: Vec<String> = self
            .allowed_models
            .split([',', '\n', ' '])
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(NewKey {
            account: account.to_owned(),
            name: name.to_owned(),
            is_management: false,
            limit: amount("Limit", &self.limit)?,
            limit_reset: parse_reset(reset)?,
            expires_at_ms,
            allowed_models: (!allowed.is_empty()).then_some(allowed),
            rate_limit: RateLimit {
                requests_per_minute: whole("Requests per minute", &self.rpm)?,
                tokens_per_minute: whole("Tokens per minute", &self.tpm)?,
            },
        })
    }
}

impl CreateForm {
    /// The form as a key's settings fill it (for editing).
    fn of(k: &KeyRecord) -> CreateForm {
        CreateForm {
            name: k.name.clone(),
            limit: k
                .limit
                .map(|l| l.usd().normalize().to_string())
                .unwrap_or_default(),
            limit_reset: k
                .limit_reset
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            rpm: k
                .rate_limit
                .requests_per_minute
                .map(|n| n.to_string())
                .unwrap_or_default(),
            tpm: k
                .rate_limit
                .tokens_per_minute
                .map(|n| n.to_string())
                .unwrap_or_default(),
            allowed_models: k
                .allowed_models
                .as_ref()
                .map(|m| m.join(", "))
                .unwrap_or_default(),
            // `datetime-local` takes `2027-12-31T23:59`.
            expires_at: k
                .expires_at_ms
                .map(|ms| clock::iso(ms).chars().take(16).collect())
                .unwrap_or_default(),
        }
    }
}

/// A key's settings as form fields, filled from `form`.
fn key_fields(form: &CreateForm) -> String {
    let reset_options = ["", "daily", "weekly", "monthly"]
        .iter()
        .map(|r| {
            let label = if r.is_empty() { "Never" } else { r };
            option(r, label, form.limit_reset.trim() == *r)
        })
        .collect::<String>();
    format!(
        "<div class=\"fields\"><label>Name<input name=\"name\" required maxlength=\"200\" value=\"{name}\"></label>\
<label>Spending limit (USD, optional)<input name=\"limit\" inputmode=\"decimal\" value=\"{limit}\"></label>\
<label>Limit resets<select name=\"limit_reset\">{reset_options}</select></label>\
<label>Requests per minute (optional)<input name=\"rpm\" inputmode=\"numeric\" value=\"{rpm}\"></label>\
<label>Tokens per minute (optional)<input name=\"tpm\" inputmode=\"numeric\" value=\"{tpm}\"></label>\
<label>Allowed models (globs, comma-separated; empty: any)<input name=\"allowed_models\" placeholder=\"openai/*, demo/fast\" value=\"{models}\"></label>\
<label>Expires (UTC, optional)<input name=\"expires_at\" type=\"datetime-local\" value=\"{expires}\"></label></div>",
        name = escape(&form.name),
        limit = escape(&form.limit),
        rpm = escape(&form.rpm),
        tpm = escape(&form.tpm),
        models = escape(&form.allowed_models),
        expires = escape(&form.expires_at),
    )
}

fn key_state(k: &KeyRecord, now: i64) -> (&'static str, &'static str) {
    if k.disabled {
        ("major", "Disabled")
    } else if k.expires_at_ms.is_some_and(|e| now >= e) {
        ("major", "Expired")
    } else {
        ("ok", "Enabled")
    }
}

fn action(hash: &str, verb: &str, label: &str, session: &Session, danger: bool) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/dashboard/keys/{}/{verb}\"{}>{}\
<button type=\"submit\"{}>{label}</button></form>",
        escape(hash),
        if danger {
            " data-confirm=\"Delete this key? Requests with it will be refused.\""
        } else {
            ""
        },
        session.csrf_field(),
        if danger { " class=\"danger\"" } else { "" },
    )
}

async fn render(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Notice,
    form: &CreateForm,
) -> Result<Response, DashboardError> {
    let accounts = state.accounts();
    let store = accounts.store();
    let account = session.account.as_str();
    let now = clock::now_ms();
    let mut out = String::with_capacity(32 * 1024);
    match &notice {
        Notice::None => {}
        Notice::Done(words) => out.push_str(&format!(
            "<p class=\"notice ok\" role=\"status\">{}</p>",
            escape(words)
        )),
        Notice::Problem(message) => out.push_str(&format!(
            "<p class=\"notice bad\" role=\"alert\">{}</p>",
            escape(message)
        )),
        Notice::Created { name, secret } => out.push_str(&format!(
            "<div class=\"notice ok\" role=\"status\" id=\"new-key\"><p><strong>Key “{}” created.</strong> \
Copy it now: it is shown only this once (Turnout keeps only its SHA-256).</p>\
<code class=\"secret\" id=\"new-key-secret\">{}</code></div>",
            escape(name),
            escape(secret)
        )),
    }

    let keys = store.list_keys(Some(account), true, 0, KEYS_LISTED).await?;
    out.push_str("<h2>Keys</h2>");
    if keys.is_empty() {
        out.push_str("<p class=\"notice\">This account has no keys yet.</p>");
    } else {
        out.push_str(&table(
            " id=\"keys\"",
            &[
                Col::Text("Name"),
                Col::Text("Label"),
                Col::Text("State"),
                Col::Num("Usage"),
                Col::Text("Limit"),
                Col::Text("Rate limits"),
                Col::Text("Models"),
                Col::Text("Expires"),
                Col::Text("Created"),
                Col::Text("Actions"),
            ],
        ));
        for k in &keys {
            let spend = accounts.key_spend(&k.hash, Some(k)).await?;
            let limit = match (k.limit, limit_remaining(k.limit, k.limit_reset, &spend)) {
                (Some(l), Some(left)) => format!(
                    "{} left of {}{}",
                    format::usd(left),
                    format::usd(l),
                    k.limit_reset
                        .map(|r| format!(", resets {}", r.as_str()))
                        .unwrap_or_default()
                ),
                _ => "No limit".to_owned(),
            };
            let rates = match (
                k.rate_limit.requests_per_minute,
                k.rate_limit.tokens_per_minute,
            ) {
                (None, None) => "None".to_owned(),
                (rpm, tpm) => [
                    rpm.map(|n| format!("{} requests/min", format::count(u64::from(n)))),
                    tpm.map(|n| format!("{} tokens/min", format::count(n))),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
            };
            let models = k
                .allowed_models
                .as_ref()
                .map_or_else(|| "Any".to_owned(), |m| escape(&m.join(", ")));
            let (class, words) = key_state(k, now);
            let mine = k.hash == session.key.hash;
            let actions = if mine {
                "<span class=\"muted\">The key you signed in with</span>".to_owned()
            } else {
                format!(
                    "<a href=\"/dashboard/keys/{}\">Edit</a> {} {}",
                    escape(&k.hash),
                    if k.disabled {
                        action(&k.hash, "enable", "Enable", session, false)
                    } else {
                        action(&k.hash, "disable", "Disable", session, false)
                    },
                    action(&k.hash, "delete", "Delete", session, true)
                )
            };
            out.push_str(&format!(
                "<tr data-hash=\"{hash}\" data-name=\"{name}\"><th scope=\"row\">{name}{}</th><td><code>{}</code></td>\
<td><span class=\"st {class}\">{words}</span></td><td class=\"num\">{}</td><td>{limit}</td><td>{rates}</td>\
<td>{models}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
                if k.is_management {
                    " <span class=\"muted\">(management)</span>"
                } else {
                    ""
                },
                escape(&k.label),
                format::usd(spend.usage.total),
                k.expires_at_ms.map_or_else(|| "Never".to_owned(), format::time),
                format::time(k.created_at_ms),
                hash = escape(&k.hash),
                name = escape(&k.name),
            ));
        }
        out.push_str(TABLE_END);
    }

    out.push_str(&format!(
        "<h2 id=\"create\">Create a key</h2><form method=\"post\" action=\"/dashboard/keys\">{}{}\
<p><button type=\"submit\">Create key</button></p></form>",
        session.csrf_field(),
        key_fields(form),
    ));

    let book = accounts.account_book(account).await?;
    let alert = store.low_balance_alert(account).await?;
    out.push_str(&format!(
        "<h2 id=\"credits\">Credits</h2><dl class=\"cards\"><div class=\"card\"><dt>Credits added</dt><dd>{}</dd></div>\
<div class=\"card\"><dt>Usage</dt><dd>{}</dd></div><div class=\"card\"><dt>Remaining</dt><dd id=\"remaining\">{}</dd></div></dl>\
<p class=\"muted\">{}</p>\
<form method=\"post\" action=\"/dashboard/credits\">{}<div class=\"fields\">\
<label>Amount (USD)<input name=\"amount\" inputmode=\"decimal\" required></label>\
<label>Note (optional)<input name=\"note\" maxlength=\"200\"></label>\
<div><button type=\"submit\">Add credits</button></div></div></form>",
        format::usd(book.credits),
        format::usd(book.usage),
        if book.metered {
            format::usd(book.credits - book.usage)
        } else {
            "Unmetered".to_owned()
        },
        if book.metered {
            "Requests are refused (402) when the balance cannot cover their maximum cost."
        } else {
            "Unmetered: usage is recorded but never refused, until credits are first added."
        },
        session.csrf_field(),
    ));
    out.push_str(&format!(
        "<h2 id=\"alert\">Low-balance alert</h2><p>The Overview warns when the remaining balance is \
below this amount. Currently: <strong>{}</strong>.</p>\
<form method=\"post\" action=\"/dashboard/alert\">{}<div class=\"fields\">\
<label>Warn below (USD; empty: no alert)<input name=\"threshold\" inputmode=\"decimal\" value=\"{}\"></label>\
<div><button type=\"submit\">Save alert</button></div></div></form>",
        alert.map_or_else(|| "no alert".to_owned(), format::usd),
        session.csrf_field(),
        alert.map(|a| a.usd().normalize().to_string()).unwrap_or_default(),
    ));
    Ok(layout::page_with_status(
        status,
        Frame {
            title: "Keys & credits",
            nav: Nav::Keys,
            session,
            charts: false,
        },
        &out,
    ))
}

/// `GET /dashboard/keys`.
pub(super) async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(done): Query<Done>,
) -> Result<Response, DashboardError> {
    let notice = done_words(&done.done).map_or(Notice::None, Notice::Done);
    render(
        &state,
        &session,
        StatusCode::OK,
        notice,
        &CreateForm::default(),
    )
    .await
}

/// A validation failure shown on the page (400), the form filled as it was sent.
async fn refuse(
    state: &AppState,
    session: &Session,
    e: ApiError,
    form: &CreateForm,
) -> Result<Response, DashboardError> {
    match e {
        ApiError::InvalidRequest { message } => {
            render(
                state,
                session,
                StatusCode::BAD_REQUEST,
                Notice::Problem(message),
                form,
            )
            .await
        }
        other => Err(other.into()),
    }
}

/// `POST /dashboard/keys`: creates an inference key and shows its secret once.
pub(super) async fn create(
    State(state): State<AppState>,
    posted: Posted<CreateForm>,
) -> Result<Response, DashboardError> {
    let Posted { session, form } = posted;
    let new = match form.new_key(&session.account) {
        Ok(new) => new,
        Err(e) => return refuse(&state, &session, e, &form).await,
    };
    let (record, secret) = issue_key(&state, &new).await?;
    tracing::info!(account = %session.account, key = %record.name, "key created from the dashboard");
    render(
        &state,
        &session,
        StatusCode::OK,
        Notice::Created {
            name: record.name,
            secret,
        },
        &CreateForm::default(),
    )
    .await
}

fn back(done: &str) -> Response {
    let to = format!("/dashboard/keys?done={done}");
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// A key of the session's account other than the one it signed in with.
async fn other_key(
    state: &AppState,
    session: &Session,
    hash: &str,
) -> Result<KeyRecord, DashboardError> {
    let key = state
        .accounts()
        .store()
        .key(hash)
        .await?
        .filter(|k| k.account == session.account && k.deleted_at_ms.is_none())
        .ok_or_else(|| ApiError::NotFound {
            message: "This account has no such key".to_owned(),
        })?;
    if key.hash == session.key.hash {
        return Err(DashboardError::BadForm(
            "This is the key you signed in with: change it from another management key or the CLI"
                .to_owned(),
        ));
    }
    Ok(key)
}

async fn set_disabled(
    state: &AppState,
    session: &Session,
    hash: &str,
    disabled: bool,
) -> Result<(), DashboardError> {
    let key = other_key(state, session, hash).await?;
    let patch = KeyPatch {
        disabled: Some(disabled),
        ..KeyPatch::default()
    };
    change_key(state, &key.hash, &patch).await?;
    Ok(())
}

/// `POST /dashboard/keys/{hash}/disable`.
pub(super) async fn disable(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    posted: Posted<NoFields>,
) -> Result<Response, DashboardError> {
    set_disabled(&state, &posted.session, &hash, true).await?;
    Ok(back("disabled"))
}

/// `POST /dashboard/keys/{hash}/enable`.
pub(super) async fn enable(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    posted: Posted<NoFields>,
) -> Result<Response, DashboardError> {
    set_disabled(&state, &posted.session, &hash, false).await?;
    Ok(back("enabled"))
}

/// `POST /dashboard/keys/{hash}/delete`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    posted: Posted<NoFields>,
) -> Result<Response, DashboardError> {
    let key = other_key(&state, &posted.session, &hash).await?;
    remove_key(&state, &key.hash).await?;
    Ok(back("deleted"))
}

fn edit_page_html(
    session: &Session,
    status: StatusCode,
    key: &KeyRecord,
    form: &CreateForm,
    problem: Option<&str>,
) -> Response {
    let mut out = String::with_capacity(4096);
    out.push_str("<p><a href=\"/dashboard/keys\">← Keys & credits</a></p>");
    if let Some(p) = problem {
        out.push_str(&format!(
            "<p class=\"notice bad\" role=\"alert\">{}</p>",
            escape(p)
        ));
    }
    out.push_str(&format!(
        "<p><code>{}</code> · created {}</p><form method=\"post\" action=\"/dashboard/keys/{}\">{}{}\
<p><button type=\"submit\">Save</button> <a href=\"/dashboard/keys\">Cancel</a></p></form>",
        escape(&key.label),
        format::time(key.created_at_ms),
        escape(&key.hash),
        session.csrf_field(),
        key_fields(form)
    ));
    layout::page_with_status(
        status,
        Frame {
            title: &format!("Key “{}”", key.name),
            nav: Nav::Keys,
            session,
            charts: false,
        },
        &out,
    )
}

/// `GET /dashboard/keys/{hash}`: a key's settings, to change.
pub(super) async fn edit_page(
    State(state): State<AppState>,
    session: Session,
    Path(hash): Path<String>,
) -> Result<Response, DashboardError> {
    let key = other_key(&state, &session, &hash).await?;
    let form = CreateForm::of(&key);
    Ok(edit_page_html(&session, StatusCode::OK, &key, &form, None))
}

/// `POST /dashboard/keys/{hash}`: new settings for a key (as `PATCH /api/v1/keys/{hash}`).
pub(super) async fn update(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    posted: Posted<CreateForm>,
) -> Result<Response, DashboardError> {
    let Posted { session, form } = posted;
    let key = other_key(&state, &session, &hash).await?;
    let new = match form.new_key(&session.account) {
        Ok(new) => new,
        Err(ApiError::InvalidRequest { message }) => {
            return Ok(edit_page_html(
                &session,
                StatusCode::BAD_REQUEST,
                &key,
                &form,
                Some(&message),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let patch = KeyPatch {
        name: Some(new.name),
        disabled: None,
        limit: Some(new.limit),
        limit_reset: Some(new.limit_reset),
        expires_at_ms: Some(new.expires_at_ms),
        allowed_models: Some(new.allowed_models),
        rate_limit: Some(new.rate_limit),
    };
    change_key(&state, &key.hash, &patch).await?;
    Ok(back("updated"))
}

#[derive(Debug, Deserialize)]
pub(super) struct CreditForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    note: String,
}

/// `POST /dashboard/credits`: credits for the session's account.
pub(super) async fn add_credits(
    State(state): State<AppState>,
    posted: Posted<CreditForm>,
) -> Result<Response, DashboardError> {
    let Posted { session, form } = posted;
    let value = match amount("Amount", &form.amount) {
        Ok(Some(v)) if v > Nanos::ZERO => v,
        Ok(_) => {
            let e = ApiError::invalid("Amount: enter more than $0 of credits");
            return refuse(&state, &session, e, &CreateForm::default()).await;
        }
        Err(e) => return refuse(&state, &session, e, &CreateForm::default()).await,
    };
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    credit(&state, &session.account, value, note).await?;
    tracing::info!(account = %session.account, amount = %value, "credits added from the dashboard");
    Ok(back("credits"))
}

#[derive(Debug, Deserialize)]
pub(super) struct AlertForm {
    #[serde(default)]
    threshold: String,
}

/// `POST /dashboard/alert`: sets or clears the account's low-balance alert.
pub(super) async fn set_alert(
    State(state): State<AppState>,
    posted: Posted<AlertForm>,
) -> Result<Response, DashboardError> {
    let Posted { session, form } = posted;
    let threshold = match amount("Warn below", &form.threshold) {
        Ok(t) => t,
        Err(e) => return refuse(&state, &session, e, &CreateForm::default()).await,
    };
    state
        .accounts()
        .store()
        .set_low_balance_alert(&session.account, threshold)
        .await?;
    Ok(back(if threshold.is_some() {
        "alert"
    } else {
        "alert-cleared"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_form_reads_like_the_api() {
        let form = CreateForm {
            name: " ci ".into(),
            limit: "$12.5".into(),
            limit_reset: "monthly".into(),
            rpm: "60".into(),
            tpm: "".into(),
            allowed_models: "openai/*, demo/fast".into(),
            expires_at: "2999-12-31T23:59".into(),
        };
        let new = form.new_key("acme").expect("valid");
        assert_eq!(new.name, "ci");
        assert_eq!(new.limit, Some(Nanos(12_500_000_000)));
        assert_eq!(new.limit_reset, Some(turnout_store::LimitReset::Monthly));
        assert_eq!(new.rate_limit.requests_per_minute, Some(60));
        assert_eq!(new.rate_limit.tokens_per_minute, None);
        assert_eq!(
            new.allowed_models,
            Some(vec!["openai/*".to_owned(), "demo/fast".to_owned()])
        );
        assert_eq!(new.expires_at_ms, clock::parse_iso("2999-12-31T23:59:00Z"));
        assert!(!new.is_management);
        for bad in [
            CreateForm::default(),
            CreateForm {
                name: "x".into(),
                limit: "lots".into(),
                ..CreateForm::default()
            },
            CreateForm {
                name: "x".into(),
                limit_reset: "hourly".into(),
                ..CreateForm::default()
            },
            CreateForm {
                name: "x".into(),
                rpm: "-1".into(),
                ..CreateForm::default()
            },
            CreateForm {
                name: "x".into(),
                expires_at: "2001-01-01T00:00".into(),
                ..CreateForm::default()
            },
        ] {
            assert!(
                matches!(form_error(&bad), Some(ApiError::InvalidRequest { .. })),
                "{bad:?}"
            );
        }
    }

    fn form_error(f: &CreateForm) -> Option<ApiError> {
        f.new_key("acme").err()
    }
}
