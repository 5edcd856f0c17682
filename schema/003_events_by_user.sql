-- A user's orders' events, for the audit of one user (order-admin history --user).
CREATE INDEX events_by_user ON events (((data->>'userid')::bigint), global_position);
