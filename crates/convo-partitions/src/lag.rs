//! How far a member's positions are behind the broker, asked at most every [`LAG_EVERY`] and in
//! the background (the member does not wait for the broker).

use std::collections::BTreeMap;
use std::time::Duration;

use convo_kafka::KafkaConfig;
use convo_kafka::offsets;
use tokio::time::Instant;

/// How often the broker is asked.
pub const LAG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct LagProbe {
    due: Instant,
}

impl Default for LagProbe {
    fn default() -> Self {
        Self {
            due: Instant::now(),
        }
    }
}

impl LagProbe {
    /// When due, asks the broker for the high watermarks of `positions` (partition, next offset)
    /// on `topic` and calls `record(partition, behind)` for each it can be believed about
    /// ([`offsets::Watermarks::behind`]).
    pub fn probe(
        &mut self,
        kafka: &KafkaConfig,
        topic: &str,
        positions: &BTreeMap<i32, i64>,
        record: impl Fn(i32, i64) + Send + 'static,
    ) {
        if Instant::now() < self.due || positions.is_empty() {
            return;
        }
        self.due = Instant::now() + LAG_EVERY;
        let (kafka, topic, positions) = (kafka.clone(), topic.to_owned(), positions.clone());
        tokio::spawn(async move {
            for (partition, behind) in offsets::behind(&kafka, &topic, &positions).await {
                record(partition, behind);
            }
        });
    }
}
