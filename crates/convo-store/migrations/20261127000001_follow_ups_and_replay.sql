-- Read models get one projector each (docs/adr/0011-replay.md): the conversation rows' projector
-- is now named after its model, "conversations", and a second model, the follow-ups, is added.
UPDATE partition_claims SET consumer = 'conversations' WHERE consumer = 'read-models';
UPDATE consumer_members SET consumer = 'conversations' WHERE consumer = 'read-models';
UPDATE parked_conversations SET projector = 'conversations' WHERE projector = 'read-models';

-- The follow-ups model (crates/convo-projector/src/read_models/follow_ups.rs).
CREATE TABLE rm_follow_up_conversations (
    conversation_uid TEXT    PRIMARY KEY,
    business_uid     TEXT    NOT NULL,
    -- The last applied aggregate version.
    version          BIGINT  NOT NULL,
    -- In the trash: its follow-ups do not count until it is restored.
    trashed          BOOLEAN NOT NULL,
    -- Merged into another conversation, or deleted.
    gone             BOOLEAN NOT NULL
);

CREATE INDEX rm_follow_up_conversations_business ON rm_follow_up_conversations (business_uid);

CREATE TABLE rm_follow_ups (
    conversation_uid TEXT        NOT NULL,
    staff_uid        TEXT        NOT NULL,
    open             BOOLEAN     NOT NULL,
    due_at           TIMESTAMPTZ,
    completed_at     TIMESTAMPTZ,
    version          BIGINT      NOT NULL,
    PRIMARY KEY (conversation_uid, staff_uid)
);

CREATE INDEX rm_follow_ups_open ON rm_follow_ups (staff_uid) WHERE open;

CREATE TABLE rm_follow_up_completions (
    conversation_uid TEXT        NOT NULL,
    version          BIGINT      NOT NULL,
    staff_uid        TEXT        NOT NULL,
    completed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_uid, version)
);

CREATE INDEX rm_follow_up_completions_staff ON rm_follow_up_completions (staff_uid, completed_at);

-- When each read model was last built from the whole history (`convo replay`; a model never
-- built is built from the event store when its projector first starts). The conversation rows
-- have been kept by their projector from the first event on.
CREATE TABLE read_model_builds (
    read_model TEXT        PRIMARY KEY,
    built_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- Events the build applied, and where they were read from ('store' or 'topic').
    events     BIGINT      NOT NULL,
    source     TEXT        NOT NULL
);

INSERT INTO read_model_builds (read_model, events, source) VALUES ('conversations', 0, 'projector');
