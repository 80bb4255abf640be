-- Operating tools (issue 9): `convo projector status` and `convo dead-letters`.

-- When a consumer last moved its position in the partition (the projector's batches, the intake's
-- acknowledged replies); heartbeats leave it alone. NULL until the first move.
ALTER TABLE partition_claims ADD COLUMN applied_at TIMESTAMPTZ;

-- What became of a dead letter (a record of the dead-letter topic, identified by where it is):
-- `retried` (republished to the commands topic) or `dropped`. The latest action counts.
CREATE TABLE dead_letter_dispositions (
    topic     TEXT        NOT NULL,
    partition INTEGER     NOT NULL,
    "offset"  BIGINT      NOT NULL,
    action    TEXT        NOT NULL CHECK (action IN ('retried', 'dropped')),
    at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (topic, partition, "offset")
);
