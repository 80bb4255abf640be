-- Partition ownership for the consumers of this service (the projector and the command intake),
-- without the broker's group coordinator (docs/adr/0006-partition-claims.md).
--
-- One row per (consumer, topic, partition): where that consumer resumes in the partition and who
-- holds it. A member owns a partition while `owner` names it; it extends `lease_expires_at` on
-- every heartbeat, and another member may take the partition only once the lease has expired or
-- was released. The projector updates `next_offset` in the same transaction as the read models,
-- and only while it still owns the row (the lock on the row fences a member that lost it).
CREATE TABLE partition_claims (
    consumer         TEXT        NOT NULL,
    topic            TEXT        NOT NULL,
    partition        INTEGER     NOT NULL CHECK (partition >= 0),
    -- The next offset to read. 0 on a new row: the broker resets an offset below the partition's
    -- start to its earliest record.
    next_offset      BIGINT      NOT NULL DEFAULT 0,
    owner            TEXT,
    lease_expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, topic, partition)
);

-- The projector's checkpoints become its claims' positions.
INSERT INTO partition_claims (consumer, topic, partition, next_offset)
SELECT projector, topic, partition, next_offset FROM projector_checkpoints;
DROP TABLE projector_checkpoints;

-- The live members of each consumer: partitions are spread over them by rank. A member that stops
-- heartbeating drops out when `expires_at` passes.
CREATE TABLE consumer_members (
    consumer   TEXT        NOT NULL,
    topic      TEXT        NOT NULL,
    member     TEXT        NOT NULL,
    joined_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, topic, member)
);

-- Conversations a projector could not apply after bounded retries. Their later events wait (they
-- are skipped while the row exists and refolded from the event store once it is retried), so the
-- order of each conversation is kept while the others go on.
CREATE TABLE parked_conversations (
    projector        TEXT        NOT NULL,
    conversation_uid TEXT        NOT NULL,
    -- The first version that could not be applied.
    version          BIGINT      NOT NULL,
    reason           TEXT        NOT NULL,
    attempts         INTEGER     NOT NULL,
    -- Where the failing record was read, to find it again.
    topic            TEXT        NOT NULL,
    partition        INTEGER     NOT NULL,
    "offset"         BIGINT      NOT NULL,
    -- Later events skipped while parked.
    skipped          BIGINT      NOT NULL DEFAULT 0,
    parked_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (projector, conversation_uid)
);
