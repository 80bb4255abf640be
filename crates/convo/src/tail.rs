//! `convo events tail`, `convo outcomes tail`, `convo dead-letters tail`: print what arrives on
//! a topic, with its key and headers.

use clap::Args;
use convo_kafka::{EventRecord, LogContext};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};

use crate::KafkaArgs;

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Start at the beginning of the topic instead of at new events.
    #[arg(long)]
    from_beginning: bool,
    /// One JSON line per record: events as CloudEvents in structured mode, other records as
    /// their value.
    #[arg(long)]
    json: bool,
    /// Stop after this many events.
    #[arg(long)]
    count: Option<u64>,
}

/// Which topic to tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Events,
    Outcomes,
    DeadLetters,
}

pub async fn run(stream: Stream, args: TailArgs) -> anyhow::Result<()> {
    let kafka = args.kafka.config();
    let topic = match stream {
        Stream::Events => &kafka.topics.events,
        Stream::Outcomes => &kafka.topics.outcomes,
        Stream::DeadLetters => &kafka.topics.dead_letters,
    };
    // A private group: tailing never moves anyone else's offsets, and commits nothing.
    let group = format!("convo-tail-{}", uuid::Uuid::new_v4().simple());
    let mut config = kafka.consumer(&group);
    config.set("enable.auto.commit", "false").set(
        "auto.offset.reset",
        if args.from_beginning {
            "earliest"
        } else {
            "latest"
        },
    );
    let consumer: StreamConsumer<LogContext> = config.create_with_context(LogContext)?;
    consumer.subscribe(&[topic.as_str()])?;
    eprintln!("tailing {topic} (Ctrl-C to stop)");
    let mut seen = 0;
    while args.count.is_none_or(|n| seen < n) {
        let message = tokio::select! {
            message = consumer.recv() => message?,
            _ = tokio::signal::ctrl_c() => break,
        };
        seen += 1;
        if args.json {
            if stream == Stream::Events {
                match EventRecord::from_message(&message) {
                    Ok(record) => println!("{}", record.structured()),
                    Err(e) => eprintln!("not an event record at {}: {e}", message.offset()),
                }
            } else {
                println!(
                    "{}",
                    String::from_utf8_lossy(message.payload().unwrap_or_default())
                );
            }
            continue;
        }
        println!(
            "{}/{}@{} key={}",
            message.topic(),
            message.partition(),
            message.offset(),
            String::from_utf8_lossy(message.key().unwrap_or_default())
        );
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                let value = header
                    .value
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                println!("  {}: {value}", header.key);
            }
        }
        println!(
            "  {}",
            String::from_utf8_lossy(message.payload().unwrap_or_default())
        );
    }
    Ok(())
}
