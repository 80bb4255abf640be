//! Creates the topics explicitly, with the partition count asked for (a broker's auto-created
//! topics may have another).

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaConfig;
use crate::context::LogContext;

/// Creates every topic of `config` that does not exist yet. Existing topics are left as they are.
pub async fn ensure(config: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<LogContext> = config.base_config().create_with_context(LogContext)?;
    let topics: Vec<NewTopic<'_>> = config
        .topics
        .all()
        .into_iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
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
