//! Logging: `RUST_LOG`-style filtering (default `info`), text or JSON lines on stderr. Lines
//! inside a traced span carry its `trace_id` (ADR 0015). With an OTLP endpoint in the
//! environment, traced spans are also exported ([`otlp`]).

mod otlp;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

pub use otlp::Exporter;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Installs the logger. The exporter, when there is one, sends its last spans when dropped: keep
/// it until the end of `main`.
pub fn init(format: Format) -> Option<Exporter> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,librdkafka=warn"));
    let (spans, exporter) = match otlp::Endpoint::from_env() {
        Some(endpoint) => {
            let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "convo".into());
            let (layer, exporter) = otlp::start(endpoint, service);
            (Some(layer), Some(exporter))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(spans)
        .with(matches!(format, Format::Text).then(|| fmt::layer().with_writer(std::io::stderr)))
        .with(
            matches!(format, Format::Json)
                .then(|| fmt::layer().json().with_writer(std::io::stderr)),
        )
        .init();
    exporter
}
