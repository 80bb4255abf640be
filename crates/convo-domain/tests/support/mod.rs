//! A small given/when/then harness over `decide` and `evolve`, so each test reads like a row of
//! the spec's tables.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use convo_domain::command::{Action, Command, Direction, RecordMessage, StartConversation};
use convo_domain::state::{ClientInfo, Source, StaffRef};
use convo_domain::validate::validate_update;
use convo_domain::{Conversation, Event, EventBody, Rejection, decide};
use serde_json::Value;

pub const CONVERSATION: &str = "conv0000000001";
pub const BUSINESS: &str = "biz00000000001";
pub const STAFF: &str = "staff000000001";
pub const OTHER_STAFF: &str = "staff000000002";
pub const CLIENT: &str = "client00000001";

/// The instant every command is decided at, unless a test says otherwise.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

pub fn start_command() -> StartConversation {
    StartConversation {
        title: "Jane Smith".into(),
        client: ClientInfo {
            uid: CLIENT.into(),
            first_name: "Jane".into(),
            last_name: "Smith".into(),
            email: Some("jane@example.com".into()),
            phone: None,
            full: serde_json::Map::new(),
        },
        staff: StaffRef {
            uid: STAFF.into(),
            display_name: "Ram Almog".into(),
        },
        source: Source {
            source_type: Some("contact_form".into()),
            ..Source::default()
        },
        campaign: None,
        mobile: false,
        matter_searchable: true,
    }
}

/// The `ConversationStarted` event every scenario begins with.
pub fn started() -> Event {
    let start = start_command();
    Event {
        at: now() - chrono::Duration::days(2),
        staff_uid: Some(STAFF.into()),
        client_uid: CLIENT.into(),
        body: EventBody::ConversationStarted {
            business_uid: BUSINESS.into(),
            title: start.title,
            client: start.client,
            staff: start.staff,
            source: start.source,
            campaign: None,
            mobile: false,
            matter_searchable: true,
        },
    }
}

/// An event caused by `STAFF` at `now()`.
pub fn by_staff(body: EventBody) -> Event {
    by(STAFF, body)
}

pub fn by(staff: &str, body: EventBody) -> Event {
    Event {
        at: now(),
        staff_uid: Some(staff.into()),
        client_uid: CLIENT.into(),
        body,
    }
}

pub fn message(direction: Direction) -> RecordMessage {
    RecordMessage {
        message_id: "m1".into(),
        direction,
        title: "Re: Initial consultation".into(),
        text: "Sounds good, see you then.".into(),
        at: now(),
        staff_uid: None,
    }
}

pub struct Given {
    pub state: Conversation,
}

/// A conversation that has gone through `events`, `ConversationStarted` first.
pub fn given(events: impl IntoIterator<Item = EventBody>) -> Given {
    let mut all = vec![started()];
    all.extend(events.into_iter().map(by_staff));
    given_events(all)
}

/// A conversation that has gone through exactly `events` (none: it does not exist).
pub fn given_events(events: Vec<Event>) -> Given {
    Given {
        state: Conversation::fold(CONVERSATION, &events),
    }
}

pub struct Then {
    pub before: Conversation,
    pub result: Result<Vec<Event>, Rejection>,
}

impl Given {
    /// `STAFF` sends this PUT body (validated as HTTP would).
    pub fn when_update(self, body: Value) -> Then {
        self.when_update_by(STAFF, body)
    }

    pub fn when_update_by(self, staff: &str, body: Value) -> Then {
        let changes = validate_update(&body).expect("the body is valid");
        self.when(Action::Update {
            staff_uid: staff.into(),
            changes,
        })
    }

    pub fn when(self, action: Action) -> Then {
        self.when_in(BUSINESS, action)
    }

    pub fn when_in(self, business: &str, action: Action) -> Then {
        let command = Command {
            conversation_uid: CONVERSATION.into(),
            business_uid: business.into(),
            now: now(),
            action,
        };
        let result = decide(&self.state, &command);
        Then {
            before: self.state,
            result,
        }
    }
}

impl Then {
    /// The command is accepted with exactly these event bodies, in order.
    pub fn then(self, expected: impl IntoIterator<Item = EventBody>) -> Conversation {
        let events = self.result.clone().expect("the command is accepted");
        let bodies: Vec<EventBody> = events.iter().map(|e| e.body.clone()).collect();
        assert_eq!(bodies, expected.into_iter().collect::<Vec<_>>());
        self.after()
    }

    /// Accepted, and nothing changes: no event, same state.
    pub fn then_nothing(self) -> Conversation {
        self.then([])
    }

    /// The state after folding the accepted events into the state before.
    pub fn after(&self) -> Conversation {
        let events = self.result.as_ref().expect("the command is accepted");
        events
            .iter()
            .fold(self.before.clone(), |state, event| state.evolve(event))
    }

    pub fn events(&self) -> Vec<Event> {
        self.result.clone().expect("the command is accepted")
    }

    pub fn then_rejected(self, expected: Rejection) {
        assert_eq!(self.result, Err(expected));
    }

    /// Rejected with a single 422 on `field` saying `message`.
    pub fn then_invalid(self, field: &str, message: &str) {
        self.then_rejected(Rejection::invalid(field, message));
    }
}
