//! The projector's gauges: positions after each batch; lag and parked conversations at
//! heartbeats (the lag at most every [`convo_partitions::lag::LAG_EVERY`]).

use std::collections::BTreeMap;

use convo_kafka::KafkaConfig;
use convo_partitions::lag::LagProbe;
use sqlx::PgPool;

use crate::parked;
use crate::read_models::ReadModel;

#[derive(Debug)]
pub(crate) struct Report {
    model: ReadModel,
    /// Next offset per partition, as the last batches left them.
    positions: BTreeMap<i32, i64>,
    lag: LagProbe,
}

impl Report {
    pub(crate) fn new(model: ReadModel) -> Self {
        Self {
            model,
            positions: BTreeMap::new(),
            lag: LagProbe::default(),
        }
    }

    /// A batch moved these positions, through `events` records.
    pub(crate) fn applied(&mut self, checkpoints: &BTreeMap<i32, i64>, events: usize) {
        let model = self.model.name();
        convo_metrics::projector_events(model, events);
        for (partition, position) in checkpoints {
            convo_metrics::projector_position(model, *partition, *position);
            self.positions.insert(*partition, *position);
        }
    }

    /// At a heartbeat: the parked conversations of `projector` and, when due, the lag of the
    /// partitions it still owns.
    pub(crate) async fn heartbeat(
        &mut self,
        projector: &str,
        pool: &PgPool,
        kafka: &KafkaConfig,
        owned: impl Fn(i32) -> bool,
    ) {
        let model = self.model.name();
        match parked::counts(pool).await {
            Ok(counts) => convo_metrics::projector_parked(model, counts.total(projector)),
            Err(e) => tracing::debug!(error = %e, "cannot count parked conversations"),
        }
        self.positions.retain(|partition, _| owned(*partition));
        let topic = &kafka.topics.events;
        self.lag
            .probe(kafka, topic, &self.positions, move |partition, behind| {
                convo_metrics::projector_lag(model, partition, behind);
            });
    }
}
