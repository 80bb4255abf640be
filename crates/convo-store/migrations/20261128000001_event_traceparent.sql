-- One trace from request to read model (issue 10, ADR 0015): the W3C `traceparent` of the command
-- that wrote the event, which the relay puts on the Kafka record as the `traceparent` header.
-- NULL for events written before this column existed (the relay then derives one from the
-- correlation id, as it did before). Nullable without a default: adding it rewrites nothing.
ALTER TABLE events ADD COLUMN traceparent TEXT;
