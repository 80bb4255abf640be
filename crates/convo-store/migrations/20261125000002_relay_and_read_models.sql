-- The relay's published position, and the read models the projectors keep.

-- How far each relay has published: everything at or before (tx_id, position) is on the topic.
CREATE TABLE relay_positions (
    relay      TEXT        PRIMARY KEY,
    tx_id      XID8        NOT NULL,
    position   BIGINT      NOT NULL,
    published  BIGINT      NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- The conversation, as folded from its events. `state` is the aggregate's JSON (the API renders
-- it); the columns beside it are what lists filter and sort on. A hard-deleted conversation keeps
-- a tombstone row (lifecycle 'deleted', no data) so that redelivered events stay no-ops.
CREATE TABLE rm_conversations (
    uid                   TEXT        PRIMARY KEY,
    business_uid          TEXT        NOT NULL,
    -- The last applied aggregate version: an event applies only as version + 1.
    version               BIGINT      NOT NULL,
    lifecycle             TEXT        NOT NULL,
    title                 TEXT        NOT NULL,
    client_uid            TEXT        NOT NULL,
    staff_uid             TEXT        NOT NULL,
    archived              BOOLEAN     NOT NULL,
    spam                  BOOLEAN     NOT NULL,
    business_unread       BOOLEAN     NOT NULL,
    sent                  BOOLEAN     NOT NULL,
    deleted_at            TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    -- When the last event happened: the list order.
    updated_at            TIMESTAMPTZ NOT NULL,
    last_user_action_at   TIMESTAMPTZ,
    last_client_action_at TIMESTAMPTZ,
    state                 JSONB       NOT NULL
);

CREATE INDEX rm_conversations_business_recent ON rm_conversations (business_uid, updated_at DESC, uid);

-- Each staff's record on a conversation: follow-up and read state.
CREATE TABLE rm_collaborators (
    conversation_uid       TEXT        NOT NULL,
    staff_uid              TEXT        NOT NULL,
    follow_up              BOOLEAN     NOT NULL,
    follow_up_date         TIMESTAMPTZ,
    follow_up_message      TEXT        NOT NULL,
    follow_up_completed_at TIMESTAMPTZ,
    unread                 BOOLEAN     NOT NULL,
    version                BIGINT      NOT NULL,
    PRIMARY KEY (conversation_uid, staff_uid)
);

CREATE INDEX rm_collaborators_active_follow_ups ON rm_collaborators (staff_uid) WHERE follow_up;

-- Messages and internal notes, one row per event that added one.
CREATE TABLE rm_messages (
    conversation_uid TEXT        NOT NULL,
    version          BIGINT      NOT NULL,
    message_id       TEXT,
    kind             TEXT        NOT NULL CHECK (kind IN ('incoming', 'outgoing', 'internal_note')),
    title            TEXT        NOT NULL,
    text             TEXT        NOT NULL,
    staff_uid        TEXT,
    at               TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_uid, version)
);

-- Clients, with the spam flag applied through their conversations (the latest change wins).
CREATE TABLE rm_clients (
    uid             TEXT        PRIMARY KEY,
    business_uid    TEXT        NOT NULL,
    first_name      TEXT        NOT NULL,
    last_name       TEXT        NOT NULL,
    email           TEXT,
    phone           TEXT,
    spam            BOOLEAN     NOT NULL DEFAULT false,
    spam_changed_at TIMESTAMPTZ,
    record          JSONB       NOT NULL
);

-- Where each projector is in each partition, committed with the read-model rows it covers.
CREATE TABLE projector_checkpoints (
    projector   TEXT        NOT NULL,
    topic       TEXT        NOT NULL,
    partition   INTEGER     NOT NULL,
    next_offset BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (projector, topic, partition)
);
