-- Relay guards (docs/adr/0007-bounded-events-and-relay-guards.md).

-- The cluster a stored position belongs to: transaction ids mean nothing in another cluster (a
-- database restored or moved elsewhere starts them again, lower). NULL until a relay has checked.
-- A relay that cannot publish says so here, for other processes (`convo verify`, health checks):
-- since when, and why (the event it is stuck on and the refusal, or the guard that stopped it).
ALTER TABLE relay_positions
    ADD COLUMN system_identifier BIGINT,
    ADD COLUMN stalled_since     TIMESTAMPTZ,
    ADD COLUMN stalled_reason    TEXT;
