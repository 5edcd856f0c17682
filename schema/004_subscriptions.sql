-- Catch-up subscriptions over the global log (the Kafka publisher, the read-model projector).
-- A subscriber's position is the (transaction id, global position) of the last event it has
-- fully handled; it reads only events of transactions older than every transaction still in
-- flight, in (transaction id, global position) order, so an event committed late by a
-- concurrent writer is never behind a position already passed.
CREATE TABLE subscriptions (
  name            text        PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT '0'::xid8,
  global_position bigint      NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Wakes subscribers at once instead of at their next poll. One notification per statement:
-- PostgreSQL folds identical notifications of one transaction into one.
CREATE FUNCTION notify_events_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('events_appended', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER events_appended
  AFTER INSERT ON events
  FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();
