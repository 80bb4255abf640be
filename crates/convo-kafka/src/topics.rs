//! The topics as the service needs them: created explicitly, with the partition count asked for
//! (a broker's auto-created topics may have another) and each topic's retention, and checked
//! against what exists (`convo topics check`).
//!
//! Retention (docs/adr/0007): the events topic is the system's published history and is kept
//! forever; commands and their outcomes matter while a command is retried and answered (7 days);
//! dead letters wait for a person to look at them (30 days).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaConfig;
use crate::context::LogContext;

/// Topic settings the service depends on, as `(key, value)`.
pub type Settings = &'static [(&'static str, &'static str)];

const FOREVER: Settings = &[
    ("cleanup.policy", "delete"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
];
const SEVEN_DAYS: Settings = &[
    ("cleanup.policy", "delete"),
    ("retention.ms", "604800000"),
    ("retention.bytes", "-1"),
];
const THIRTY_DAYS: Settings = &[
    ("cleanup.policy", "delete"),
    ("retention.ms", "2592000000"),
    ("retention.bytes", "-1"),
];

/// Every topic of `config` with the settings it is created with.
pub fn wanted(config: &KafkaConfig) -> [(&str, Settings); 4] {
    let topics = &config.topics;
    [
        (topics.events.as_str(), FOREVER),
        (topics.commands.as_str(), SEVEN_DAYS),
        (topics.outcomes.as_str(), SEVEN_DAYS),
        (topics.dead_letters.as_str(), THIRTY_DAYS),
    ]
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
}

/// Creates every topic of `config` that does not exist yet. Existing topics are left as they
/// are (`check` reports how they differ).
pub async fn ensure(config: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<LogContext> = config.base_config().create_with_context(LogContext)?;
    let topics: Vec<NewTopic<'_>> = wanted(config)
        .into_iter()
        .map(|(name, settings)| {
            let replication = TopicReplication::Fixed(config.replication_factor);
            settings.iter().fold(
                NewTopic::new(name, config.partitions, replication),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    for result in admin.create_topics(&topics, &options()).await? {
        match result {
            Ok(name) => {
                tracing::info!(topic = %name, partitions = config.partitions, "topic created")
            }
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(topic = %name, "topic exists");
            }
            Err((name, code)) => {
                tracing::error!(topic = %name, %code, "topic creation failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}

/// How an existing topic differs from what the service needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub topic: String,
    /// `"topic"` (it does not exist), `"partitions"`, or a setting's key.
    pub what: String,
    pub want: String,
    /// What the broker reports; `None` when it reports nothing (then the broker's default
    /// applies, which the service cannot rely on).
    pub found: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.what == "topic" {
            return write!(f, "{}: does not exist", self.topic);
        }
        let found = self
            .found
            .as_deref()
            .unwrap_or("not set (the broker's default)");
        write!(
            f,
            "{}: {} is {found}, want {}",
            self.topic, self.what, self.want
        )
    }
}

/// Compares the existing topics with [`wanted`] and `config.partitions`: an empty list when they
/// match.
pub async fn check(config: &KafkaConfig) -> Result<Vec<Difference>, KafkaError> {
    let partitions = partition_counts(config).await?;
    let admin: AdminClient<LogContext> = config.base_config().create_with_context(LogContext)?;
    let mut differences = Vec::new();
    for (topic, settings) in wanted(config) {
        let differ = |what: &str, want: String, found: Option<String>| Difference {
            topic: topic.to_owned(),
            what: what.to_owned(),
            want,
            found,
        };
        let Some(count) = partitions
            .iter()
            .find(|(name, _)| name == topic)
            .map(|p| p.1)
        else {
            differences.push(differ("topic", "present".into(), Some("missing".into())));
            continue;
        };
        if count != config.partitions {
            let (want, found) = (config.partitions.to_string(), count.to_string());
            differences.push(differ("partitions", want, Some(found)));
        }
        let described = admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &options())
            .await?;
        let resource = described
            .into_iter()
            .next()
            .ok_or(KafkaError::AdminOpCreation("no answer".into()))?
            .map_err(KafkaError::AdminOp)?;
        for (key, want) in settings.iter() {
            let found = resource.get(key).and_then(|e| e.value.clone());
            if found.as_deref() != Some(*want) {
                differences.push(differ(key, (*want).to_owned(), found));
            }
        }
    }
    Ok(differences)
}

/// Ok when a broker answers a metadata request within `timeout` (readiness: `/readyz`).
pub async fn reachable(config: &KafkaConfig, timeout: Duration) -> Result<(), KafkaError> {
    let client: BaseConsumer<LogContext> = config.base_config().create_with_context(LogContext)?;
    tokio::task::spawn_blocking(move || client.fetch_metadata(None, timeout))
        .await
        .map_err(|_| KafkaError::Canceled)??;
    Ok(())
}

/// `(topic, partition count)` of every existing topic.
async fn partition_counts(config: &KafkaConfig) -> Result<Vec<(String, i32)>, KafkaError> {
    let client: BaseConsumer<LogContext> = config.base_config().create_with_context(LogContext)?;
    let metadata =
        tokio::task::spawn_blocking(move || client.fetch_metadata(None, Duration::from_secs(10)))
            .await
            .map_err(|_| KafkaError::Canceled)??;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect())
}
