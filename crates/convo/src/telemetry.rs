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

/// What is logged when `RUST_LOG` / `--log-filter` does not say.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,librdkafka=warn";

/// The logging and tracing settings (global flags, or their environment variables).
#[derive(Debug)]
pub struct Settings<'a> {
    pub format: Format,
    pub filter: &'a str,
    pub otlp_endpoint: Option<&'a str>,
    pub service_name: &'a str,
}

/// Installs the logger. The exporter, when there is one, sends its last spans when dropped: keep
/// it until the end of `main`. A filter that does not parse is reported and the default used.
pub fn init(settings: &Settings<'_>) -> Option<Exporter> {
    let filter = EnvFilter::try_new(settings.filter).unwrap_or_else(|e| {
        eprintln!(
            "warning: log filter {:?} does not parse ({e}); using {DEFAULT_FILTER:?}",
            settings.filter
        );
        EnvFilter::new(DEFAULT_FILTER)
    });
    let format = settings.format;
    let (spans, exporter) = match otlp::Endpoint::from_settings(settings.otlp_endpoint) {
        Some(endpoint) => {
            let (layer, exporter) = otlp::start(endpoint, settings.service_name.to_owned());
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
