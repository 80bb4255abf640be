//! An event on the events topic: CloudEvents 1.0 in Kafka binary mode. The record key is the
//! conversation uid, the value is the event payload (JSON, `schemas/events/`), and the headers
//! carry the envelope (`schemas/envelope.v1.json` describes the same envelope in structured form).

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use serde_json::{Value, json};
use uuid::Uuid;

/// `ce_source` of every event.
pub const SOURCE: &str = "urn:convo:conversations";
/// `ce_type` is this prefix and the event type.
pub const TYPE_PREFIX: &str = "com.vcita.conversations.";

/// An event with everything the envelope carries.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub event_id: Uuid,
    pub conversation_uid: String,
    pub version: u64,
    pub event_type: String,
    pub schema_version: i32,
    pub business_uid: String,
    pub actor_staff_uid: Option<String>,
    pub command_id: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The W3C `traceparent` header: the span of the command that wrote the event.
    pub traceparent: String,
    /// The payload as JSON text.
    pub payload: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} is not valid: {1}")]
    BadHeader(&'static str, String),
    #[error("record has no value")]
    NoPayload,
}

/// The `traceparent` of an event stored before the store kept the command's (or of a record
/// without the header), derived deterministically: the trace is the correlation id (every event of
/// one request shares it), the span is the event.
pub fn derived_traceparent(correlation_id: &str, event_id: Uuid) -> String {
    let trace = Uuid::new_v5(&Uuid::NAMESPACE_OID, correlation_id.as_bytes());
    let span = &event_id.simple().to_string()[..16];
    format!("00-{}-{span}-01", trace.simple())
}

impl EventRecord {
    /// The trace the event belongs to, when its `traceparent` is valid.
    pub fn trace(&self) -> Option<convo_trace::TraceContext> {
        convo_trace::TraceContext::parse(&self.traceparent)
    }

    pub fn ce_type(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.event_type)
    }

    /// The binary-mode headers, in one header list built in place (librdkafka copies each key
    /// and value as it is added).
    pub fn headers(&self) -> OwnedHeaders {
        fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
            Header {
                key,
                value: Some(value),
            }
        }
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = self.event_id.hyphenated().encode_lower(&mut id);
        let time = self
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut headers = OwnedHeaders::new_with_capacity(15)
            .insert(header("ce_specversion", "1.0"))
            .insert(header("ce_id", id))
            .insert(header("ce_source", SOURCE))
            .insert(header("ce_type", &self.ce_type()))
            .insert(header("ce_subject", &self.conversation_uid))
            .insert(header("ce_time", &time))
            .insert(header("content-type", "application/json"))
            .insert(header("ce_aggregateversion", &self.version.to_string()))
            .insert(header("ce_schemaversion", &self.schema_version.to_string()))
            .insert(header("ce_businessuid", &self.business_uid));
        if let Some(actor) = &self.actor_staff_uid {
            headers = headers.insert(header("ce_actorstaffuid", actor));
        }
        headers
            .insert(header("ce_commandid", &self.command_id))
            .insert(header("ce_correlationid", &self.correlation_id))
            .insert(header("ce_causationid", &self.causation_id))
            .insert(header(convo_trace::HEADER, &self.traceparent))
    }

    /// Reads an event back from a consumed record. Header values are read in place (as text,
    /// invalid UTF-8 replaced); a repeated header counts with its last value.
    pub fn from_message(message: &impl Message) -> Result<Self, RecordError> {
        let mut found: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(16);
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                if let Some(value) = header.value {
                    found.push((header.key, String::from_utf8_lossy(value)));
                }
            }
        }
        let text = |key: &str| {
            found
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_ref())
        };
        let field = |key: &'static str| text(key).ok_or(RecordError::MissingHeader(key));
        let get = |key: &'static str| field(key).map(str::to_owned);
        let parse_err = |key: &'static str| {
            move |e: &dyn std::fmt::Display| RecordError::BadHeader(key, e.to_string())
        };
        let ce_type = field("ce_type")?;
        let event_type = ce_type
            .strip_prefix(TYPE_PREFIX)
            .ok_or_else(|| RecordError::BadHeader("ce_type", ce_type.to_owned()))?
            .to_owned();
        let payload = message
            .payload()
            .ok_or(RecordError::NoPayload)
            .map(|p| String::from_utf8_lossy(p).into_owned())?;
        let event_id: Uuid = field("ce_id")?
            .parse()
            .map_err(|e| parse_err("ce_id")(&e))?;
        let correlation_id = get("ce_correlationid")?;
        let traceparent = text(convo_trace::HEADER).map_or_else(
            || derived_traceparent(&correlation_id, event_id),
            str::to_owned,
        );
        Ok(Self {
            event_id,
            conversation_uid: get("ce_subject")?,
            version: field("ce_aggregateversion")?
                .parse()
                .map_err(|e| parse_err("ce_aggregateversion")(&e))?,
            event_type,
            schema_version: field("ce_schemaversion")?
                .parse()
                .map_err(|e| parse_err("ce_schemaversion")(&e))?,
            business_uid: get("ce_businessuid")?,
            actor_staff_uid: text("ce_actorstaffuid").map(str::to_owned),
            command_id: get("ce_commandid")?,
            correlation_id,
            causation_id: get("ce_causationid")?,
            occurred_at: DateTime::parse_from_rfc3339(field("ce_time")?)
                .map_err(|e| parse_err("ce_time")(&e))?
                .to_utc(),
            traceparent,
            payload,
        })
    }

    /// The same event in CloudEvents structured mode (`schemas/envelope.v1.json`).
    pub fn structured(&self) -> Value {
        let data: Value = serde_json::from_str(&self.payload).unwrap_or(Value::Null);
        let mut out = json!({
            "specversion": "1.0",
            "id": self.event_id.to_string(),
            "source": SOURCE,
            "type": self.ce_type(),
            "subject": self.conversation_uid,
            "time": self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "datacontenttype": "application/json",
            "aggregateversion": self.version,
            "schemaversion": self.schema_version,
            "businessuid": self.business_uid,
            "commandid": self.command_id,
            "correlationid": self.correlation_id,
            "causationid": self.causation_id,
            "traceparent": self.traceparent,
            "data": data,
        });
        if let Some(actor) = &self.actor_staff_uid {
            out["actorstaffuid"] = json!(actor);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp};

    fn record() -> EventRecord {
        EventRecord {
            event_id: Uuid::from_u128(42),
            conversation_uid: "conv1".into(),
            version: 7,
            event_type: "Archived".into(),
            schema_version: 1,
            business_uid: "biz".into(),
            actor_staff_uid: Some("staff".into()),
            command_id: "cmd".into(),
            correlation_id: "corr".into(),
            causation_id: "cause".into(),
            occurred_at: DateTime::parse_from_rfc3339("2026-05-06T10:31:21.123456Z")
                .unwrap()
                .to_utc(),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            payload: r#"{"type":"Archived"}"#.into(),
        }
    }

    #[test]
    fn a_record_survives_the_headers() {
        let original = record();
        let message = OwnedMessage::new(
            Some(original.payload.clone().into_bytes()),
            Some(b"conv1".to_vec()),
            "events".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(original.headers()),
        );
        assert_eq!(EventRecord::from_message(&message).unwrap(), original);
    }

    #[test]
    fn a_derived_traceparent_is_w3c_and_stable() {
        // Event ids are UUIDv5 (the store's `event_id`).
        let event_id = Uuid::new_v5(&Uuid::NAMESPACE_OID, b"conv1/7");
        let tp = derived_traceparent("corr", event_id);
        assert!(convo_trace::TraceContext::parse(&tp).is_some(), "{tp}");
        assert_eq!(tp, derived_traceparent("corr", event_id));
    }

    #[test]
    fn missing_headers_are_reported() {
        let message = OwnedMessage::new(
            Some(b"{}".to_vec()),
            None,
            "events".into(),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert!(matches!(
            EventRecord::from_message(&message),
            Err(RecordError::MissingHeader(_))
        ));
    }
}
