//! Topics as the design says (issue 7, part 3): created with their retention, and
//! `convo topics check` reports how existing topics differ, against the real broker.

use std::collections::BTreeSet;
use std::time::Duration;

use convo_kafka::LogContext;
use convo_kafka::topics::{check, ensure};
use convo_tests::kafka::{brokers, unique_config};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};

#[tokio::test]
async fn topics_created_by_ensure_pass_the_check() {
    let kafka = unique_config(&brokers());
    ensure(&kafka).await.unwrap();
    assert_eq!(check(&kafka).await.unwrap(), []);
}

#[tokio::test]
async fn a_topic_created_otherwise_is_reported() {
    let kafka = unique_config(&brokers());
    // The events topic exists already, made by hand: 2 partitions, a week's retention.
    let admin: AdminClient<LogContext> =
        kafka.base_config().create_with_context(LogContext).unwrap();
    let events = NewTopic::new(&kafka.topics.events, 2, TopicReplication::Fixed(1))
        .set("retention.ms", "604800000");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&events], &options).await.unwrap() {
        result.unwrap();
    }
    ensure(&kafka).await.unwrap();

    let differences = check(&kafka).await.unwrap();
    let found: BTreeSet<(&str, &str)> = differences
        .iter()
        .map(|d| (d.topic.as_str(), d.what.as_str()))
        .collect();
    let events = kafka.topics.events.as_str();
    assert!(found.contains(&(events, "partitions")), "{differences:?}");
    assert!(found.contains(&(events, "retention.ms")), "{differences:?}");
    assert!(
        found.iter().all(|(topic, _)| *topic == events),
        "only the hand-made topic differs: {differences:?}"
    );
    let retention = differences
        .iter()
        .find(|d| d.what == "retention.ms")
        .unwrap();
    assert_eq!(retention.want, "-1");
    assert_eq!(retention.found.as_deref(), Some("604800000"));
    assert_eq!(
        retention.to_string(),
        format!("{events}: retention.ms is 604800000, want -1")
    );
}

#[tokio::test]
async fn missing_topics_are_reported() {
    let kafka = unique_config(&brokers());
    let differences = check(&kafka).await.unwrap();
    assert_eq!(differences.len(), 4, "{differences:?}");
    assert!(differences.iter().all(|d| d.what == "topic"));
    assert_eq!(
        differences[0].to_string(),
        format!("{}: does not exist", kafka.topics.events)
    );
}
