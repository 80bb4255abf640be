//! Partition ownership without the broker's group coordinator (ADR 0006): the members of a
//! consumer (the projector, the command intake) claim the partitions of their topic through leases
//! in PostgreSQL, spread them evenly over the live members, keep their positions there, and take
//! over the partitions of a member that died once its lease expires.
//!
//! - [`claims`] is the PostgreSQL side: membership, leases, positions, and the lock that fences a
//!   member that lost a partition.
//! - [`member`] is the Kafka side: a consumer that assigns exactly the claimed partitions.
//! - [`positions`] is the operators' view: every consumer's positions on a topic, and moving a
//!   stopped consumer's positions.

pub mod claims;
pub mod lag;
pub mod member;
pub mod positions;

pub use claims::{Claims, Rebalance};

/// How long a partition claim lasts without a heartbeat (members beat every third of it): the
/// longest a killed member's partitions wait before the others take them over.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(4);
pub use member::{Member, MemberError};
