//! The dashboard's frame: the header with the account, the navigation (the current page
//! marked), sign-out; the stylesheet; and the headers every dashboard answer carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::session::Session;
use crate::status::assets;
use crate::web::html::{self, PALETTE, escape};

/// Scripts only from this origin and no inline script; forms only to this origin; never in a
/// frame. Inline styles are allowed for the page's stylesheet and uPlot's element styles.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Activity,
    Providers,
    Keys,
    Playground,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/dashboard", "Overview"),
    (Nav::Activity, "/dashboard/activity", "Activity"),
    (Nav::Providers, "/dashboard/providers", "Providers"),
    (Nav::Keys, "/dashboard/keys", "Keys & credits"),
    (
        Nav::Playground,
        "/dashboard/playground",
        "Routing playground",
    ),
];

const STYLE: &str = "
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 20px;padding:8px 16px;border-bottom:1px solid var(--line)}
.brand{font-weight:600}.brand span{color:var(--muted);font-weight:400}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:4px;margin:0;padding:0}
nav a{display:block;padding:6px 10px;border-radius:6px;text-decoration:none;color:var(--fg)}
nav a:hover{background:var(--line)}
nav a[aria-current=page]{background:var(--line);font-weight:600;text-decoration:underline;text-underline-offset:4px}
header form{margin-left:auto}
main{max-width:1120px;margin:0 auto;padding:8px 16px 24px}
h1{font-size:1.4rem;margin:12px 0 16px}h2{font-size:1.1rem;margin:28px 0 8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{color:var(--muted);font-weight:600}tbody th{font-weight:600}
.kv th{width:14rem;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.nowrap{white-space:nowrap}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;margin:0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card dt{color:var(--muted);font-size:.85rem}.card dd{margin:0;font-size:1.3rem;font-weight:600}
.notice{padding:10px 14px;border-radius:8px;border:1px solid var(--line);border-left-width:6px;margin:12px 0}
.notice.warn{border-left-color:var(--degraded)}.notice.bad{border-left-color:var(--major)}
.notice.ok{border-left-color:var(--ok)}
button,input,select,textarea{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--muted);border-radius:6px;padding:4px 8px}
button{cursor:pointer}button.danger{border-color:var(--major);color:var(--major)}
label{display:block;font-size:.85rem;color:var(--muted)}label input,label select{display:block;width:100%;box-sizing:border-box;margin-top:2px}
.fields{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:10px;align-items:end;margin-bottom:10px}
form.inline{display:inline}
textarea{width:100%;min-height:240px;box-sizing:border-box}
code,textarea,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
.secret{display:block;padding:10px;margin:8px 0;border:1px dashed var(--ok);border-radius:6px;word-break:break-all;user-select:all}
.muted{color:var(--muted)}.narrow{max-width:560px}.wide{width:100%;box-sizing:border-box}
details.series summary{cursor:pointer;color:var(--muted);margin:6px 0}
.ranges{margin:8px 0}.ranges button[aria-pressed=true]{border-color:var(--link);font-weight:600}
.charts>div{margin-bottom:8px}
.u-legend,.u-title{color:var(--fg)}
footer{color:var(--muted);font-size:.85rem;max-width:1120px;margin:0 auto;padding:0 16px 24px}
";

/// A column of a data table: text (left) or a figure (right-aligned).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Col<'a> {
    Text(&'a str),
    Num(&'a str),
}

/// The opening of a data table up to its first row: `attrs` go on `<table>`, the headers are
/// column headers; close it with [`TABLE_END`].
pub(crate) fn table(attrs: &str, columns: &[Col<'_>]) -> String {
    let mut out = format!("<div class=\"scroll\"><table{attrs}><thead><tr>");
    for c in columns {
        match c {
            Col::Text(h) => out.push_str(&format!("<th scope=\"col\">{h}</th>")),
            Col::Num(h) => out.push_str(&format!("<th scope=\"col\" class=\"num\">{h}</th>")),
        }
    }
    out.push_str("</tr></thead><tbody>");
    out
}

pub(crate) const TABLE_END: &str = "</tbody></table></div>";

/// One `<option>` of a `<select>`.
pub(crate) fn option(value: &str, label: &str, selected: bool) -> String {
    format!(
        "<option value=\"{}\"{}>{}</option>",
        escape(value),
        if selected { " selected" } else { "" },
        escape(label)
    )
}

/// What a signed-in page is made of besides its content.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub title: &'a str,
    pub nav: Nav,
    pub session: &'a Session,
    /// Loads uPlot (the Overview's charts).
    pub charts: bool,
}

fn head(out: &mut String, title: &str, charts: bool) {
    out.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"same-origin\"><link rel=\"icon\" href=\"data:,\">",
    );
    if charts {
        out.push_str(&format!(
            "<link rel=\"stylesheet\" href=\"{}\"><script defer src=\"{}\"></script>",
            assets::path("uplot", "css"),
            assets::path("uplot", "js"),
        ));
    }
    out.push_str(&format!(
        "<script defer src=\"{}\"></script><title>{} · Turnout dashboard</title>\
<style>{PALETTE}{STYLE}</style></head><body>",
        assets::path("dashboard", "js"),
        escape(title),
    ));
}

fn finish(status: StatusCode, mut out: String) -> Response {
    out.push_str(
        "<footer>Turnout dashboard · figures from this gateway's generation records, live \
traffic and probes · times in UTC · <a href=\"/status\">status page</a></footer></body></html>",
    );
    let mut r = html::page(status, out, CSP);
    let h = r.headers_mut();
    // Pages show balances, keys and a secret once: never kept by a cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A signed-in page with `main` as its content.
pub(crate) fn page(frame: Frame<'_>, main: &str) -> Response {
    page_with_status(StatusCode::OK, frame, main)
}

pub(crate) fn page_with_status(status: StatusCode, frame: Frame<'_>, main: &str) -> Response {
    let mut out = String::with_capacity(main.len() + 8192);
    head(&mut out, frame.title, frame.charts);
    out.push_str(&format!(
        "<a class=\"skip\" href=\"#main\">Skip to content</a><header>\
<div class=\"brand\">Turnout <span>· account</span> {}</div><nav aria-label=\"Dashboard\"><ul>",
        escape(&frame.session.account)
    ));
    for (nav, href, label) in NAV {
        let current = if nav == frame.nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        out.push_str(&format!("<li><a href=\"{href}\"{current}>{label}</a></li>"));
    }
    out.push_str(&format!(
        "</ul></nav><form method=\"post\" action=\"/dashboard/sign-out\">{}\
<button type=\"submit\">Sign out</button></form></header><main id=\"main\"><h1>{}</h1>",
        frame.session.csrf_field(),
        escape(frame.title)
    ));
    out.push_str(main);
    out.push_str("</main>");
    finish(status, out)
}

/// The sign-in page, with a message when the last attempt failed.
pub(crate) fn sign_in(status: StatusCode, message: Option<&str>) -> Response {
    let mut out = String::with_capacity(4096);
    head(&mut out, "Sign in", false);
    out.push_str("<header><div class=\"brand\">Turnout <span>· dashboard</span></div></header><main id=\"main\"><h1>Sign in</h1>");
    if let Some(m) = message {
        out.push_str(&format!(
            "<p class=\"notice bad\" role=\"alert\">{}</p>",
            escape(m)
        ));
    }
    out.push_str(
        "<form method=\"post\" action=\"/dashboard/sign-in\" class=\"narrow\">\
<p>Sign in with a <strong>management key</strong> (made with <code class=\"nowrap\">turnout keys create \
--management</code>). The key is exchanged for a session of 12 hours; it is not kept in the \
browser.</p>\
<label for=\"key\">Management key</label>\
<p><input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"off\" required \
spellcheck=\"false\" class=\"wide\"></p>\
<p><button type=\"submit\">Sign in</button></p></form></main>",
    );
    finish(status, out)
}

/// A failed dashboard request, explained (the sign-in form again when it was a sign-in).
pub fn problem(status: StatusCode, message: &str, sign_in_again: bool) -> Response {
    if sign_in_again {
        return sign_in(status, Some(message));
    }
    let mut out = String::with_capacity(2048);
    head(&mut out, "Problem", false);
    out.push_str(&format!(
        "<header><div class=\"brand\">Turnout <span>· dashboard</span></div></header>\
<main id=\"main\"><h1>{} {}</h1><p class=\"notice bad\" role=\"alert\">{}</p>\
<p><a href=\"/dashboard\">Back to the dashboard</a></p></main>",
        status.as_u16(),
        escape(status.canonical_reason().unwrap_or("Error")),
        escape(message)
    ));
    finish(status, out)
}
