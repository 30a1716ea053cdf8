//! What the server-rendered pages (the status page, the dashboard) share: escaping, the
//! colour palette with its dark mode, and the headers every HTML answer carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Text for HTML content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Colours (light, and dark when the system asks for it), the base font, links, and the
/// colours of status words (`.st.ok`, `.st.major`, …).
pub const PALETTE: &str = "
:root{--bg:#fff;--fg:#1d2330;--muted:#5b6575;--line:#e3e6ec;--ok:#1f8a4c;--degraded:#b58105;
--partial:#c8570a;--major:#c62828;--maint:#1e63c4;--link:#1e63c4}
@media (prefers-color-scheme:dark){:root{--bg:#11151c;--fg:#e6e9ef;--muted:#9aa4b2;--line:#273040;--link:#7fb0ff}}
a{color:var(--link)}
body{margin:0;font:16px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
.st{white-space:nowrap;font-weight:600}.st.ok{color:var(--ok)}.st.degraded{color:var(--degraded)}
.st.partial{color:var(--partial)}.st.major{color:var(--major)}.st.maint{color:var(--maint)}
";

/// An HTML answer under `csp`: scripts only ever from this origin (the policies name no
/// inline script), no MIME sniffing.
pub fn page(status: StatusCode, body: String, csp: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }
}
