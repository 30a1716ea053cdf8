//! A local OTLP/HTTP trace receiver for the tracing tests: `POST /v1/traces` with an
//! `ExportTraceServiceRequest` protobuf, as a collector takes it; every span is kept.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// SERVER and CLIENT in OTLP's `SpanKind`.
pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;
/// `Status.code` ERROR.
pub const STATUS_ERROR: i32 = 2;

/// A received span with the `service.name` of its resource.
#[derive(Debug, Clone)]
pub struct Received {
    pub span: Span,
    pub service: Option<String>,
}

/// The `Content-Type` and `Authorization` headers of one export.
#[derive(Debug, Clone)]
pub struct Export {
    pub content_type: String,
    pub authorization: Option<String>,
}

#[derive(Clone, Default)]
pub struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    /// Every export's headers, in order.
    pub exports: Arc<Mutex<Vec<Export>>>,
}

impl Collector {
    /// Listens on a port of 127.0.0.1 chosen by the OS; serves for as long as the runtime.
    pub async fn start() -> (Collector, SocketAddr) {
        let collector = Collector::default();
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(receive))
            .with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (collector, addr)
    }

    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

async fn receive(
    State(collector): State<Collector>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    collector.exports.lock().unwrap().push(Export {
        content_type: text(header::CONTENT_TYPE).unwrap_or_default(),
        authorization: text(header::AUTHORIZATION),
    });
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut spans = collector.spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .and_then(|v| match v {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
        });
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    span,
                    service: service.clone(),
                });
            }
        }
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

pub fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

pub fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

pub fn int_attr(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

pub fn f64_attr(span: &Span, key: &str) -> Option<f64> {
    match attr(span, key)? {
        Value::DoubleValue(f) => Some(*f),
        _ => None,
    }
}

pub fn bool_attr(span: &Span, key: &str) -> Option<bool> {
    match attr(span, key)? {
        Value::BoolValue(b) => Some(*b),
        _ => None,
    }
}

/// A string-array attribute, e.g. `gen_ai.response.finish_reasons`.
pub fn strings_attr(span: &Span, key: &str) -> Option<Vec<String>> {
    match attr(span, key)? {
        Value::ArrayValue(a) => Some(
            a.values
                .iter()
                .filter_map(|v| match v.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

pub fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
