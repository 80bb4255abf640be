//! Client configuration. Every setting the code depends on is set here, explicitly.

use rdkafka::ClientConfig;

/// Topic names. Versioned, so a breaking change of a record format gets a new topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Events, keyed by conversation uid. Infinite retention.
    pub events: String,
    /// Commands from upstream services, keyed by conversation uid.
    pub commands: String,
    /// One outcome per command, keyed by conversation uid.
    pub outcomes: String,
    /// Command messages that cannot be parsed, with the reason in headers.
    pub dead_letters: String,
}

impl Topics {
    /// The standard names, behind `prefix` (empty in production; tests use a unique one).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            events: format!("{prefix}conversations.events.v1"),
            commands: format!("{prefix}conversations.commands.v1"),
            outcomes: format!("{prefix}conversations.outcomes.v1"),
            dead_letters: format!("{prefix}conversations.deadletter.v1"),
        }
    }

    pub fn all(&self) -> [&str; 4] {
        [
            &self.events,
            &self.commands,
            &self.outcomes,
            &self.dead_letters,
        ]
    }
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    pub topics: Topics,
    /// Partitions of each topic created by [`crate::topics::ensure`].
    pub partitions: i32,
    pub replication_factor: i32,
    /// Consumer group session timeout. 6 s is the smallest Apache Kafka allows by default and
    /// keeps group joins quick.
    pub session_timeout_ms: u32,
    /// Longest a consumer's fetch waits at the broker for new records. Apache Kafka answers a
    /// waiting fetch as soon as records arrive; a broker that does not (tansu) adds up to this
    /// much latency to every record: the read models' lag (E1). 10 ms keeps it within E1's goal
    /// there, at the cost of up to 100 empty fetches per second per idle consumer
    /// (docs/benchmarks.md: 50 ms gave a read-model lag of 51 ms at the median).
    pub fetch_wait_max_ms: u32,
    /// How long a producer keeps trying to deliver a message before reporting it failed.
    pub message_timeout_ms: u32,
    /// Largest record a producer sends (librdkafka's `message.max.bytes`; its default, and
    /// about Apache Kafka's default broker limit). Events are far smaller (`MAX_EVENT_BYTES`).
    pub message_max_bytes: u32,
    pub client_id: String,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>, topics: Topics) -> Self {
        Self {
            brokers: brokers.into(),
            topics,
            partitions: 8,
            replication_factor: 1,
            session_timeout_ms: 6000,
            message_timeout_ms: 30_000,
            message_max_bytes: 1_000_000,
            fetch_wait_max_ms: 10,
            client_id: "convo".to_owned(),
        }
    }

    /// Settings every client shares.
    pub fn base_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        config
    }

    /// An idempotent producer that waits for every in-sync replica, compresses, and gives up on
    /// a message after `message_timeout_ms` (the caller retries; nothing is skipped).
    pub fn producer(&self) -> ClientConfig {
        let mut config = self.base_config();
        config
            // Java clients hash keys with murmur2: so must we, to agree on partitions.
            .set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "200000")
            .set("message.timeout.ms", self.message_timeout_ms.to_string())
            .set("message.max.bytes", self.message_max_bytes.to_string());
        config
    }

    /// A group member that reads from the start of a partition with no committed offset and
    /// commits only offsets the application stored after its work was durable.
    pub fn consumer(&self, group_id: &str) -> ClientConfig {
        let mut config = self.base_config();
        config
            .set("group.id", group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", self.fetch_wait_max_ms.to_string())
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout_ms / 6).max(500).to_string(),
            );
        config
    }
}
