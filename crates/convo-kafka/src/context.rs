//! Routes librdkafka's log lines and errors into `tracing` (target `librdkafka`).

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

#[derive(Debug, Clone, Copy, Default)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // The relay sets `enable.gapless.guarantee` on purpose (docs/adr/0007); librdkafka calls
        // it experimental each time a producer starts, which would be a warning per relay term.
        if facility == "CONFWARN" && message.contains("enable.gapless.guarantee is experimental") {
            tracing::debug!(target: "librdkafka", facility, "{message}");
            return;
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // The end of a partition is news only to whole-topic readers, which handle it.
        if matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        {
            tracing::debug!(target: "librdkafka", %error, "{reason}");
            return;
        }
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for LogContext {}
