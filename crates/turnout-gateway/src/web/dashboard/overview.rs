//! The Overview: the account's balance and burn rate, and its traffic — requests, error
//! rate, spend, latency and time to first token — over the last hour, day and 30 days, from
//! its generation records. Tables always; charts drawn from the same tables when JavaScript
//! runs.

use axum::extract::State;
use axum::response::Response;
use turnout_store::{GenerationSample, Nanos, clock};

use super::format::{self, NONE};
use super::layout::{self, Col, Frame, Nav, TABLE_END, table};
use super::session::Session;
use crate::error::DashboardError;
use crate::state::AppState;

/// Percentiles and error rates are computed from at most this many of the newest records
/// (sums of requests and spend are always exact).
const SAMPLE_CAP: u32 = 100_000;

struct Range {
    id: &'static str,
    title: &'static str,
    per: &'static str,
    bucket_ms: i64,
    buckets: i64,
}

const RANGES: [Range; 3] = [
    Range {
        id: "1h",
        title: "Last hour",
        per: "per 5 minutes",
        bucket_ms: 300_000,
        buckets: 12,
    },
    Range {
        id: "24h",
        title: "Last 24 hours",
        per: "per hour",
        bucket_ms: 3_600_000,
        buckets: 24,
    },
    Range {
        id: "30d",
        title: "Last 30 days",
        per: "per UTC day",
        bucket_ms: 86_400_000,
        buckets: 30,
    },
];

/// One bucket's (or a whole range's) figures.
#[derive(Debug, Default, Clone)]
struct Figures {
    requests: u64,
    spend: Nanos,
    attempts: u64,
    failed_attempts: u64,
    ended_in_error: u64,
    latency_ms: Vec<f64>,
    ttft_ms: Vec<f64>,
}

impl Figures {
    fn add_sample(&mut self, s: &GenerationSample) {
        self.attempts += s.attempts.len() as u64;
        self.failed_attempts += s.attempts.iter().filter(|a| a.status != 200).count() as u64;
        self.ended_in_error += u64::from(s.finish_reason.as_deref() == Some("error"));
        // A stream's recorded latency is its time to first token; a complete answer's is
        // the whole request (its first token arrives with the rest).
        if let Some(ttft) = s.latency_ms {
            let total = if s.streamed {
                ttft + s.generation_time_ms.unwrap_or(0)
            } else {
                ttft
            };
            self.ttft_ms.push(ttft as f64);
            self.latency_ms.push(total as f64);
        }
    }

    fn merge(&mut self, other: &Figures) {
        self.requests += other.requests;
        self.spend += other.spend;
        self.attempts += other.attempts;
        self.failed_attempts += other.failed_attempts;
        self.ended_in_error += other.ended_in_error;
        self.latency_ms.extend_from_slice(&other.latency_ms);
        self.ttft_ms.extend_from_slice(&other.ttft_ms);
    }

    fn error_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.failed_attempts as f64 / self.attempts as f64)
    }

    fn sort(&mut self) {
        self.latency_ms.sort_by(f64::total_cmp);
        self.ttft_ms.sort_by(f64::total_cmp);
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

struct RangeFigures {
    start_ms: i64,
    buckets: Vec<Figures>,
    total: Figures,
    /// Every record of the range was in the sample.
    complete: bool,
}

async fn range_figures(
    state: &AppState,
    account: &str,
    range: &Range,
    samples: &[GenerationSample],
    sample_full: bool,
    now: i64,
) -> Result<RangeFigures, DashboardError> {
    let b = range.bucket_ms;
    let start_ms = (now / b - (range.buckets - 1)) * b;
    let mut buckets = vec![Figures::default(); range.buckets as usize];
    let index = |at: i64| usize::try_from((at - start_ms) / b).ok();
    for sum in state
        .accounts()
        .store()
        .spend_buckets(account, start_ms, b)
        .await?
    {
        if let Some(f) = index(sum.start_ms).and_then(|i| buckets.get_mut(i)) {
            f.requests = sum.requests;
            f.spend = sum.cost;
        }
    }
    for s in samples.iter().filter(|s| s.created_at_ms >= start_ms) {
        if let Some(f) = index(s.created_at_ms).and_then(|i| buckets.get_mut(i)) {
            f.add_sample(s);
        }
    }
    let mut total = Figures::default();
    for f in &mut buckets {
        total.merge(f);
        f.sort();
    }
    total.sort();
    let complete = !sample_full || samples.last().is_some_and(|s| s.created_at_ms < start_ms);
    Ok(RangeFigures {
        start_ms,
        buckets,
        total,
        complete,
    })
}

fn p(sorted: &[f64], q: f64) -> String {
    format::ms(percentile(sorted, q))
}

fn data_attr(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// `GET /dashboard`.
pub(super) async fn page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, DashboardError> {
    let now = clock::now_ms();
    let account = session.account.as_str();
    let store = state.accounts().store();
    let book = state.accounts().account_book(account).await?;
    let alert = store.low_balance_alert(account).await?;
    let oldest = (now / 86_400_000 - 29) * 86_400_000;
    let samples = store
        .generation_samples(account, oldest, SAMPLE_CAP)
        .await?;
    let sample_full = samples.len() >= SAMPLE_CAP as usize;
    let mut ranges = Vec::with_capacity(RANGES.len());
    for r in &RANGES {
        ranges.push(range_figures(&state, account, r, &samples, sample_full, now).await?);
    }

    let mut out = String::with_capacity(32 * 1024);
    let remaining = book.credits - book.usage;
    if book.metered {
        if let Some(threshold) = alert.filter(|t| remaining < *t) {
            out.push_str(&format!(
                "<p class=\"notice warn\" role=\"alert\"><strong>Low balance:</strong> {} \
remaining is below this account's alert threshold of {}. \
<a href=\"/dashboard/keys#credits\">Add credits</a>.</p>",
                format::usd(remaining),
                format::usd(threshold)
            ));
        } else if remaining <= Nanos::ZERO {
            out.push_str(
                "<p class=\"notice bad\" role=\"alert\"><strong>No credit left:</strong> \
requests of this account are refused (402) until credits are added. \
<a href=\"/dashboard/keys#credits\">Add credits</a>.</p>",
            );
        }
    } else {
        out.push_str(
            "<p class=\"notice\">This account is <strong>unmetered</strong>: usage is recorded \
but never refused, until credits are first added.</p>",
        );
    }
    let (hour, day) = (&ranges[0].total, &ranges[1].total);
    let days_left = (book.metered && day.spend > Nanos::ZERO && remaining > Nanos::ZERO)
        .then(|| remaining.0 as f64 / day.spend.0 as f64);
    out.push_str("<h2>Balance</h2><dl class=\"cards\">");
    for (term, value) in [
        ("Credits added", format::usd(book.credits)),
        ("Usage", format::usd(book.usage)),
        (
            "Remaining",
            if book.metered {
                format::usd(remaining)
            } else {
                "Unmetered".to_owned()
            },
        ),
        ("Spent, last hour", format::usd(hour.spend)),
        ("Spent, last 24 hours", format::usd(day.spend)),
        (
            "Credit lasts, at the last 24 hours' rate",
            match days_left {
                Some(d) if d >= 1.0 => format!("{d:.1} days"),
                Some(d) => format!("{:.1} hours", d * 24.0),
                None => NONE.to_owned(),
            },
        ),
    ] {
        out.push_str(&format!(
            "<div class=\"card\"><dt>{term}</dt><dd>{value}</dd></div>"
        ));
    }
    out.push_str("</dl>");
    if let Some(t) = alert {
        out.push_str(&format!(
            "<p class=\"muted\">Low-balance alert below {} (<a href=\"/dashboard/keys#alert\">change</a>).</p>",
            format::usd(t)
        ));
    }

    out.push_str("<h2>Traffic</h2>");
    let mut columns = vec![Col::Text("Figure")];
    columns.extend(RANGES.iter().map(|r| Col::Num(r.title)));
    out.push_str(&table(" id=\"traffic\"", &columns));
    type Row = fn(&Figures) -> String;
    let rows: [(&str, Row); 8] = [
        ("Requests", |f| format::count(f.requests)),
        ("Error rate (failed upstream attempts)", |f| {
            format::opt_pct(f.error_rate())
        }),
        ("Ended with an error after content", |f| {
            format::count(f.ended_in_error)
        }),
        ("Spend", |f| format::usd(f.spend)),
        ("Latency p50", |f| p(&f.latency_ms, 50.0)),
        ("Latency p95", |f| p(&f.latency_ms, 95.0)),
        ("Time to first token p50", |f| p(&f.ttft_ms, 50.0)),
        ("Time to first token p95", |f| p(&f.ttft_ms, 95.0)),
    ];
    for (name, cell) in rows {
        out.push_str(&format!("<tr><th scope=\"row\">{name}</th>"));
        for r in &ranges {
            out.push_str(&format!("<td class=\"num\">{}</td>", cell(&r.total)));
        }
        out.push_str("</tr>");
    }
    out.push_str(TABLE_END);
    out.push_str(
        "<p class=\"muted\">From this account's generation records. The error rate counts \
upstream attempts that failed (and were retried or fell over) among all attempts of served \
requests; a request no provider could serve costs nothing and leaves no record (it is counted \
in <code>/metrics</code>). Latency is the whole request; time to first token is the first \
streamed chunk (a complete answer's first token is the answer).</p>",
    );
    if ranges.iter().any(|r| !r.complete) {
        out.push_str(&format!(
            "<p class=\"muted\">Percentiles and error rates over the longer ranges come from \
the newest {} requests; requests and spend count every record.</p>",
            format::count(u64::from(SAMPLE_CAP))
        ));
    }

    // The charts (dashboard.js) read the same tables the page shows without JavaScript.
    out.push_str(
        "<div class=\"charts\" id=\"charts\" hidden><div class=\"ranges\" role=\"group\" aria-label=\"Chart range\">",
    );
    for (i, r) in RANGES.iter().enumerate() {
        out.push_str(&format!(
            "<button type=\"button\" data-range=\"{}\" aria-pressed=\"{}\">{}</button> ",
            r.id,
            i == 1,
            r.title
        ));
    }
    out.push_str("</div><div class=\"plots\"></div></div>");
    for (r, f) in RANGES.iter().zip(&ranges) {
        out.push_str(&format!(
            "<details class=\"series\"><summary>{}, {}</summary>",
            r.title, r.per
        ));
        out.push_str(&table(
            &format!(" data-range=\"{}\"", r.id),
            &[
                Col::Text("From (UTC)"),
                Col::Num("Requests"),
                Col::Num("Error rate"),
                Col::Num("Spend"),
                Col::Num("Latency p50"),
                Col::Num("p95"),
                Col::Num("TTFT p50"),
                Col::Num("p95"),
            ],
        ));
        for (i, b) in f.buckets.iter().enumerate() {
            let at = f.start_ms + i as i64 * r.bucket_ms;
            let stats = [
                percentile(&b.latency_ms, 50.0),
                percentile(&b.latency_ms, 95.0),
                percentile(&b.ttft_ms, 50.0),
                percentile(&b.ttft_ms, 95.0),
            ];
            out.push_str(&format!(
                "<tr data-t=\"{}\" data-requests=\"{}\" data-errors=\"{}\" data-spend=\"{}\" \
data-lat50=\"{}\" data-lat95=\"{}\" data-ttft50=\"{}\" data-ttft95=\"{}\"><td>{}</td>\
<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                at / 1000,
                b.requests,
                data_attr(b.error_rate()),
                b.spend.usd().normalize(),
                data_attr(stats[0]),
                data_attr(stats[1]),
                data_attr(stats[2]),
                data_attr(stats[3]),
                format::time(at),
                format::count(b.requests),
                format::opt_pct(b.error_rate()),
                format::usd(b.spend),
                format::ms(stats[0]),
                format::ms(stats[1]),
                format::ms(stats[2]),
                format::ms(stats[3]),
            ));
        }
        out.push_str(TABLE_END);
        out.push_str("</details>");
    }
    Ok(layout::page(
        Frame {
            title: "Overview",
            nav: Nav::Overview,
            session: &session,
            charts: true,
        },
        &out,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_store::AttemptRecord;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn streams_add_generation_time_to_latency_and_failed_attempts_count() {
        let attempt = |status| AttemptRecord {
            provider_name: "p".into(),
            model: "m".into(),
            status,
        };
        let mut f = Figures::default();
        f.add_sample(&GenerationSample {
            created_at_ms: 0,
            streamed: true,
            finish_reason: Some("error".into()),
            latency_ms: Some(100),
            generation_time_ms: Some(400),
            attempts: vec![attempt(503), attempt(200)],
        });
        f.add_sample(&GenerationSample {
            created_at_ms: 0,
            streamed: false,
            finish_reason: Some("stop".into()),
            latency_ms: Some(300),
            generation_time_ms: Some(250),
            attempts: vec![attempt(200)],
        });
        assert_eq!(f.latency_ms, [500.0, 300.0]);
        assert_eq!(f.ttft_ms, [100.0, 300.0]);
        assert_eq!(f.error_rate(), Some(1.0 / 3.0));
        assert_eq!(f.ended_in_error, 1);
    }
}
