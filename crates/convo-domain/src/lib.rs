//! The conversation aggregate of vcita's "Update a conversation" endpoint, as pure functions.
//!
//! - [`validate`] turns a raw JSON body into a [`command::UpdateChanges`] (spec §3), for HTTP and
//!   Kafka alike.
//! - [`decide`] checks a [`Command`] against the [`Conversation`] state and returns the events it
//!   causes, or a [`Rejection`] (spec §5–§7, §10).
//! - [`Conversation::evolve`] folds one [`Event`] into the state.
//! - [`upcast`] turns an event payload of an older schema version into the current shape;
//!   [`Event::decode`] is the one way to read a stored or published payload.
//! - [`summary`] says what one event changed, in one line (`convo history`).
//! - [`render`] produces vcita's `Conversation` JSON object (spec §8).
//!
//! Nothing here does IO, reads a clock or draws randomness: the caller passes `now` in the command.

pub mod command;
pub mod decide;
pub mod event;
pub mod follow_up_date;
pub mod outcome;
pub mod rejection;
pub mod render;
pub mod state;
pub mod summary;
pub mod uid;
pub mod upcast;
pub mod validate;
pub mod wire;

pub use command::{Command, UpdateChanges};
pub use decide::decide;
pub use event::{Event, EventBody};
pub use outcome::Outcome;
pub use rejection::{FieldError, Rejection};
pub use state::Conversation;
pub use uid::Uid;
