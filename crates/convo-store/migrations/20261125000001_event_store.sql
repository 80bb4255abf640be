-- The write side: the event store (also the relay's outbox), command outcomes, snapshots and
-- merge routing. PostgreSQL is the single commit point (docs/architecture.md).

-- Append-only. One row per event; (conversation_uid, version) is the optimistic-concurrency key.
CREATE TABLE events (
    -- Allocation order within a transaction; with tx_id, the relay's reading order.
    position         BIGINT GENERATED ALWAYS AS IDENTITY,
    -- The writing transaction. Transactions below pg_snapshot_xmin(pg_current_snapshot()) have all
    -- ended, so a relay that reads (tx_id, position) in order below that mark never skips a late
    -- commit (the "known trap" of sequence order vs commit order).
    tx_id            XID8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Deterministic: UUIDv5 of (conversation_uid, version), so republishing yields the same id.
    event_id         UUID        NOT NULL PRIMARY KEY,
    conversation_uid TEXT        NOT NULL,
    version          BIGINT      NOT NULL CHECK (version > 0),
    event_type       TEXT        NOT NULL,
    schema_version   INTEGER     NOT NULL,
    payload          JSONB       NOT NULL,
    business_uid     TEXT        NOT NULL,
    actor_staff_uid  TEXT,
    command_id       TEXT        NOT NULL,
    correlation_id   TEXT        NOT NULL,
    causation_id     TEXT        NOT NULL,
    occurred_at      TIMESTAMPTZ NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_stream_version UNIQUE (conversation_uid, version)
);

CREATE INDEX events_relay_order ON events (tx_id, position);

-- One row per command that carried an idempotency key (HTTP Idempotency-Key, Kafka command_id):
-- a retry returns this outcome instead of running again.
CREATE TABLE command_outcomes (
    command_id       TEXT        PRIMARY KEY,
    -- Hash of what was asked; the same key with another request is a conflict.
    request_hash     TEXT        NOT NULL,
    conversation_uid TEXT        NOT NULL,
    status           SMALLINT    NOT NULL,
    version          BIGINT,
    outcome          JSONB       NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- The latest state of each conversation, so loading reads one row plus the events after it.
CREATE TABLE snapshots (
    conversation_uid TEXT        PRIMARY KEY,
    version          BIGINT      NOT NULL,
    -- The shape of `state`; a snapshot of another shape is ignored and the events are folded.
    state_schema     INTEGER     NOT NULL,
    state            JSONB       NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- A merged conversation's uid routes to its target (follow the chain).
CREATE TABLE merge_routes (
    source_uid TEXT        PRIMARY KEY,
    target_uid TEXT        NOT NULL,
    merged_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
