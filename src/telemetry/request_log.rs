//! The request id in the process log: every line logged while a request is served carries
//! it, and each answered request gets one access line.
//!
//! The id travels in a task-local ([`in_request`]) rather than in a `tracing` span: a span
//! per request costs the log layer an allocation and a formatting of its fields on every
//! request, whether or not anything is logged inside it, which was a tenth of a cached bearer
//! check. Here the id costs nothing until a line is written, and [`WithRequestId`] adds it to
//! that line. When traces are exported the HTTP layer opens a span as well, for the exporter.
//!
//! The access line is written straight to the log writer, formatted here in the shape of the
//! other lines (text or JSON), for the same reason: the general event machinery (dispatch,
//! filters, field visitors) cost three times what formatting one known line does.

use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::sync::OnceLock;

use axum::http::HeaderValue;
use tokio::task::futures::TaskLocalFuture;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::LogFormat;
use super::log_writer::BatchedStderr;

tokio::task_local! {
    static REQUEST_ID: HeaderValue;
}

/// Runs `future` (a request's handling) with `id` as the request id of its log lines.
pub fn in_request<F: Future>(id: HeaderValue, future: F) -> TaskLocalFuture<HeaderValue, F> {
    REQUEST_ID.scope(id, future)
}

/// The request id of the request being served on this task, if any.
fn with_current_id<R>(f: impl FnOnce(Option<&str>) -> R) -> R {
    let mut f = Some(f);
    let mut call = |id: Option<&str>| f.take().map(|f| f(id));
    match REQUEST_ID.try_with(|id| call(id.to_str().ok())) {
        Ok(Some(result)) => result,
        _ => call(None).expect("called once"),
    }
}

/// A log line format that adds the request id of the request being served, if any: at the
/// end of a text line (`request_id=…`), as the last member of a JSON line.
pub struct WithRequestId<F> {
    inner: F,
    json: bool,
}

impl<F> WithRequestId<F> {
    /// `inner`, writing lines of `format`.
    pub fn new(inner: F, format: LogFormat) -> Self {
        WithRequestId {
            inner,
            json: format == LogFormat::Json,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        with_current_id(|id| {
            let Some(id) = id else {
                return self.inner.format_event(ctx, writer, event);
            };
            let mut line = String::with_capacity(256);
            self.inner
                .format_event(ctx, Writer::new(&mut line), event)?;
            let body = line.trim_end_matches('\n');
            if self.json {
                let body = body.strip_suffix('}').unwrap_or(body);
                writer.write_str(body)?;
                writer.write_str(",\"request_id\":")?;
                writer.write_str(&json_string(id))?;
                writer.write_str("}\n")
            } else {
                writeln!(writer, "{body} request_id={id}")
            }
        })
    }
}

/// Where access lines go: the serving process's log writer, once logging is set up.
static ACCESS_SINK: OnceLock<(BatchedStderr, LogFormat)> = OnceLock::new();

/// Sends access lines to `sink`, in `format`.
pub(super) fn set_access_sink(sink: BatchedStderr, format: LogFormat) {
    let _ = ACCESS_SINK.set((sink, format));
}

/// One answered request, for its access line.
pub struct Access<'a> {
    /// The request method.
    pub method: &'a str,
    /// The route template (or `unmatched`).
    pub route: &'a str,
    /// The answer's status.
    pub status: u16,
    /// From the head to the answer, in microseconds.
    pub duration_us: u64,
    /// The request id.
    pub request_id: &'a str,
}

/// Writes the access line of one request, in the shape of the other log lines.
pub fn access_line(access: &Access<'_>) {
    let Some((sink, format)) = ACCESS_SINK.get() else {
        return;
    };
    let mut line = String::with_capacity(200);
    let now = now_utc();
    let Access {
        method,
        route,
        status,
        duration_us,
        request_id,
    } = access;
    let written = match format {
        LogFormat::Text => writeln!(
            line,
            "{now}  INFO {target}: answered method={method} route={route} status={status} \
             duration_us={duration_us} request_id={request_id}",
            target = super::ACCESS_TARGET,
        ),
        LogFormat::Json => writeln!(
            line,
            "{{\"timestamp\":\"{now}\",\"level\":\"INFO\",\"message\":\"answered\",\
             \"method\":{method},\"route\":{route},\"status\":{status},\
             \"duration_us\":{duration_us},\"target\":\"{target}\",\"request_id\":{id}}}",
            method = json_string(method),
            route = json_string(route),
            id = json_string(request_id),
            target = super::ACCESS_TARGET,
        ),
    };
    if written.is_ok() {
        let _ = sink.line().write_all(line.as_bytes());
    }
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Now, as the log lines write it: `2026-01-31T12:00:00.123456Z`.
pub(super) fn now_utc() -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_has_the_shape_of_the_other_lines() {
        let now = now_utc();
        assert_eq!(now.len(), "2026-01-31T12:00:00.123456Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }

    #[tokio::test]
    async fn the_id_is_there_inside_the_request_only() {
        assert_eq!(with_current_id(|id| id.map(str::to_owned)), None);
        let inside = in_request(HeaderValue::from_static("abc"), async {
            with_current_id(|id| id.map(str::to_owned))
        })
        .await;
        assert_eq!(inside.as_deref(), Some("abc"));
    }
}
