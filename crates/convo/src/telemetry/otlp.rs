//! Span export to an OpenTelemetry collector, when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full
//! URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (its base; `/v1/traces` is appended) is set: OTLP over
//! HTTP with JSON encoding, plain `http://` only (a collector on the host or a sidecar).
//!
//! Exported are the spans that carry a trace (`trace_id` and `span_id` fields, ADR 0015:
//! `http_request`, `intake_message`, `command`, `projector_event`), with those very ids, so the
//! `traceparent` stored with an event names a span the backend knows. A span's parent is its
//! `parent_id` field, else the nearest enclosing span of the same trace. Spans are sent from a
//! thread of their own, in batches, at least once a second; when the collector is away or the
//! queue is full they are dropped (with one warning), and the service never waits for it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, warn};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Spans sent in one request, at most.
const BATCH: usize = 512;
/// Spans waiting to be sent, at most; more are dropped.
const QUEUE: usize = 8192;
const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where spans go: `http://host[:port]/path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    /// The endpoint to export to, if any: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a full URL), else
    /// `base` (`--otlp-endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT`) with `/v1/traces`. An endpoint
    /// this exporter cannot use (`https://`, no host) is reported and ignored.
    pub fn from_settings(base: Option<&str>) -> Option<Self> {
        let traces = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok();
        let url = traces.filter(|u| !u.is_empty()).or_else(|| {
            let base = base?;
            (!base.is_empty()).then(|| format!("{}/v1/traces", base.trim_end_matches('/')))
        })?;
        let parsed = Self::parse(&url);
        if parsed.is_none() {
            eprintln!(
                "warning: OTLP endpoint {url:?} is not an http://host[:port]/path URL; spans are not exported"
            );
        }
        parsed
    }

    fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, 4318),
        };
        (!host.is_empty()).then(|| Self {
            host: host.to_owned(),
            port,
            path: if path.is_empty() {
                "/v1/traces".to_owned()
            } else {
                path.to_owned()
            },
        })
    }
}

enum Message {
    Span(Value),
    /// Send what is queued, then answer.
    Flush(mpsc::Sender<()>),
}

/// The layer that turns closed spans into OTLP spans.
#[derive(Debug)]
pub struct SpanLayer {
    queue: mpsc::SyncSender<Message>,
}

/// The sending thread's handle: dropping it sends what is queued (waiting a few seconds at most).
#[derive(Debug)]
pub struct Exporter {
    queue: mpsc::SyncSender<Message>,
}

impl Exporter {
    /// Sends what is queued and waits until it went (or `timeout`).
    pub fn flush(&self, timeout: Duration) {
        let (done, sent) = mpsc::channel();
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = sent.recv_timeout(timeout);
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.flush(TIMEOUT);
    }
}

/// The layer and the thread sending to `endpoint` as `service`.
pub fn start(endpoint: Endpoint, service: String) -> (SpanLayer, Exporter) {
    let (queue, spans) = mpsc::sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || send_loop(&endpoint, &service, &spans))
        .expect("a thread can be started");
    (
        SpanLayer {
            queue: queue.clone(),
        },
        Exporter { queue },
    )
}

/// A span's fields and start, kept in its extensions until it closes.
struct Recorded {
    fields: BTreeMap<&'static str, String>,
    start: u128,
}

impl Visit for Recorded {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields.insert(field.name(), format!("{value:?}"));
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut recorded = Recorded {
            fields: BTreeMap::new(),
            start: now_nanos(),
        };
        attrs.record(&mut recorded);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(recorded);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(recorded) = span.extensions_mut().get_mut::<Recorded>()
        {
            values.record(recorded);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut recorded) = span.extensions_mut().remove::<Recorded>() else {
            return;
        };
        let (Some(trace_id), Some(span_id)) = (
            recorded.fields.remove("trace_id"),
            recorded.fields.remove("span_id"),
        ) else {
            return;
        };
        let parent_id = recorded.fields.remove("parent_id").or_else(|| {
            span.scope().skip(1).find_map(|ancestor| {
                let extensions = ancestor.extensions();
                let fields = &extensions.get::<Recorded>()?.fields;
                (fields.get("trace_id") == Some(&trace_id))
                    .then(|| fields.get("span_id").cloned())
                    .flatten()
            })
        });
        let name = span.name();
        let attributes: Vec<Value> = recorded
            .fields
            .iter()
            .map(|(key, value)| json!({"key": key, "value": {"stringValue": value}}))
            .collect();
        let mut otlp = json!({
            "traceId": trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind(name),
            "startTimeUnixNano": recorded.start.to_string(),
            "endTimeUnixNano": now_nanos().to_string(),
            "attributes": attributes,
        });
        if let Some(parent_id) = parent_id {
            otlp["parentSpanId"] = json!(parent_id);
        }
        // A full queue drops the span: the service never waits for the collector.
        let _ = self.queue.try_send(Message::Span(otlp));
    }
}

/// OTLP `SpanKind`: a request served (2), a record consumed (5), else internal (1).
fn kind(name: &str) -> u8 {
    match name {
        "http_request" => 2,
        "intake_message" | "projector_event" => 5,
        _ => 1,
    }
}

fn send_loop(endpoint: &Endpoint, service: &str, queue: &mpsc::Receiver<Message>) {
    let mut batch = Vec::new();
    let mut failing = false;
    loop {
        let message = queue.recv_timeout(INTERVAL);
        let flushed = match message {
            Ok(Message::Span(span)) => {
                batch.push(span);
                if batch.len() < BATCH {
                    continue;
                }
                None
            }
            Ok(Message::Flush(done)) => Some(done),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if !batch.is_empty() {
            let body = request_body(service, std::mem::take(&mut batch));
            match post(endpoint, &body) {
                Ok(status) if (200..300).contains(&status) => failing = false,
                outcome => {
                    if !failing {
                        let reason =
                            outcome.map_or_else(|e| e.to_string(), |s| format!("HTTP {s}"));
                        warn!(%reason, host = %endpoint.host, port = endpoint.port, "OTLP export failed; spans are dropped until it works again");
                    }
                    failing = true;
                }
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

fn request_body(service: &str, spans: Vec<Value>) -> Vec<u8> {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "convo"}, "spans": spans}],
    }]})
    .to_string()
    .into_bytes()
}

/// One HTTP/1.1 POST on a connection of its own; the response's status code.
fn post(endpoint: &Endpoint, body: &[u8]) -> std::io::Result<u16> {
    let address = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the host has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        endpoint.path,
        endpoint.host,
        endpoint.port,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut status = [0u8; 12];
    stream.read_exact(&mut status)?;
    std::str::from_utf8(&status[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn endpoints_are_http_urls() {
        let parsed = Endpoint::parse("http://collector:4318/v1/traces").unwrap();
        assert_eq!(
            (parsed.host.as_str(), parsed.port, parsed.path.as_str()),
            ("collector", 4318, "/v1/traces")
        );
        assert_eq!(Endpoint::parse("http://localhost").unwrap().port, 4318);
        assert_eq!(Endpoint::parse("https://collector:4318"), None);
        assert_eq!(Endpoint::parse("http://:4318/x"), None);
    }

    /// Spans with trace ids reach a collector (a local listener) with those ids; the command's
    /// parent is the request; spans without a trace are not sent.
    #[test]
    fn traced_spans_are_posted_with_their_ids() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let collector = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.ends_with(b"}") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(request).unwrap()
        });
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}/v1/traces")).unwrap();
        let (layer, exporter) = start(endpoint, "convo-test".into());
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let request = tracing::info_span!(
                "http_request",
                trace_id = trace,
                span_id = "00f067aa0ba902b7",
                parent_id = "1111111111111111",
                path = "/v2/x"
            );
            request.in_scope(|| {
                tracing::info_span!("http_update").in_scope(|| {
                    tracing::info_span!("command", trace_id = trace, span_id = "2222222222222222")
                        .in_scope(|| {});
                });
            });
        });
        exporter.flush(TIMEOUT);
        let request = collector.join().unwrap();
        assert!(
            request.starts_with("POST /v1/traces HTTP/1.1\r\n"),
            "{request}"
        );
        let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let spans = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
        let by_name = |name: &str| {
            spans
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .cloned()
        };
        let command = by_name("command").expect("the command span");
        let http = by_name("http_request").expect("the request span");
        assert!(by_name("http_update").is_none());
        assert_eq!(command["traceId"], trace);
        assert_eq!(command["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(http["parentSpanId"], "1111111111111111");
        assert_eq!(http["kind"], 2);
        assert_eq!(
            http["attributes"],
            json!([{"key": "path", "value": {"stringValue": "/v2/x"}}])
        );
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "convo-test"
        );
    }
}
