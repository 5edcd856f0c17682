-- The event log: append-only per-order streams, the only source of truth.

-- Order ids, as the seed's integer ids: handed out before the first event of a stream.
CREATE SEQUENCE order_ids AS bigint START 1;

-- One row per stream with its current version: the append's optimistic check is an UPDATE of
-- this row guarded by the expected version, so a stale writer changes nothing and is told so.
CREATE TABLE streams (
  stream_id bigint PRIMARY KEY,
  version   bigint NOT NULL CHECK (version > 0)
);

CREATE TABLE events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id       bigint      NOT NULL,
  stream_version  bigint      NOT NULL CHECK (stream_version > 0),
  event_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
  event_type      text        NOT NULL,
  schema_version  integer     NOT NULL DEFAULT 1,
  data            jsonb       NOT NULL,
  -- correlation id, causation id, request id, actor, idempotency key
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  -- The writing transaction: readers of the global log read only below the oldest transaction
  -- still in flight, so an event committed late is never skipped (DESIGN.md, guarantee 3).
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version),
  CONSTRAINT events_event_id_unique UNIQUE (event_id)
);

CREATE INDEX events_by_transaction ON events (transaction_id, global_position);

-- The log is immutable: the database itself refuses UPDATE, DELETE and TRUNCATE.
CREATE FUNCTION refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_are_immutable
  BEFORE UPDATE OR DELETE OR TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();
