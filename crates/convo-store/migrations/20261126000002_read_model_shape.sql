-- The shape version of each read-model row's `state` (the aggregate's JSON), checked like the
-- snapshots' `state_schema`: a row of another shape is refolded from the event store by the
-- projector instead of failing to decode.
ALTER TABLE rm_conversations ADD COLUMN state_schema INTEGER NOT NULL DEFAULT 1;
