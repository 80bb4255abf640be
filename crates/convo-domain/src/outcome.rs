//! What became of an upstream command (`schemas/outcome.v1.json`): the record the Kafka intake
//! publishes on the outcomes topic and `convo command` prints.

use serde::{Deserialize, Serialize};

/// The outcome of one command. A redelivered `command_id` gets the first one again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Accepted {
        command_id: String,
        #[serde(rename = "type")]
        kind: String,
        /// The conversation written last (a merge answers with its target).
        conversation_uid: String,
        /// Its aggregate version after the command (unchanged when no event was needed).
        version: u64,
        /// The types of the events appended, in order.
        events: Vec<String>,
    },
    Rejected {
        command_id: String,
        #[serde(rename = "type")]
        kind: String,
        conversation_uid: String,
        /// What the HTTP API answers for the same refusal (500 for a command that kept failing).
        http_status: u16,
        /// vcita's error list.
        errors: Vec<serde_json::Value>,
    },
}

impl Outcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }

    /// The conversation the outcome is about: the record key on the outcomes topic.
    pub fn conversation_uid(&self) -> &str {
        match self {
            Self::Accepted {
                conversation_uid, ..
            }
            | Self::Rejected {
                conversation_uid, ..
            } => conversation_uid,
        }
    }
}
