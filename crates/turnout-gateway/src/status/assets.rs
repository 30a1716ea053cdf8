//! The status page's static files, embedded in the binary and served under names that carry
//! their content hash, so they can be cached forever (spec/status.md §5.9): uPlot 1.6.32
//! (MIT, its licence served beside it), the page's own script and the dashboard's.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

struct Asset {
    name: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

fn hashed(stem: &str, ext: &str, bytes: &[u8]) -> String {
    format!("{stem}.{}.{ext}", &hex::encode(Sha256::digest(bytes))[..12])
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let uplot_js: &[u8] = include_bytes!("../../assets/uplot/uPlot.iife.min.js");
    let uplot_css: &[u8] = include_bytes!("../../assets/uplot/uPlot.min.css");
    let status_js: &[u8] = include_bytes!("../../assets/status.js");
    let dashboard_js: &[u8] = include_bytes!("../../assets/dashboard.js");
    vec![
        Asset {
            name: hashed("uplot", "js", uplot_js),
            content_type: "text/javascript; charset=utf-8",
            bytes: uplot_js,
        },
        Asset {
            name: hashed("uplot", "css", uplot_css),
            content_type: "text/css; charset=utf-8",
            bytes: uplot_css,
        },
        Asset {
            name: hashed("status", "js", status_js),
            content_type: "text/javascript; charset=utf-8",
            bytes: status_js,
        },
        Asset {
            name: hashed("dashboard", "js", dashboard_js),
            content_type: "text/javascript; charset=utf-8",
            bytes: dashboard_js,
        },
        Asset {
            name: "uplot-LICENSE.txt".to_owned(),
            content_type: "text/plain; charset=utf-8",
            bytes: include_bytes!("../../assets/uplot/LICENSE"),
        },
    ]
});

/// The URL path of an asset by its stem and extension (`("uplot", "js")`).
pub fn path(stem: &str, ext: &str) -> String {
    let prefix = format!("{stem}.");
    let suffix = format!(".{ext}");
    ASSETS
        .iter()
        .find(|a| a.name.starts_with(&prefix) && a.name.ends_with(&suffix))
        .map(|a| format!("/status/assets/{}", a.name))
        .unwrap_or_default()
}

/// `GET /status/assets/{name}`
pub async fn serve(Path(name): Path<String>) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::NotFound {
            message: format!("No status asset {name:?}"),
        })?;
    let mut r = asset.bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}
