-- Gap-safe readers wait for every transaction in flight that may append events (DESIGN.md,
-- guarantee 3), and not for a read model's: its batch of upserts runs for tens of milliseconds
-- under load, every 100 ms, and held every reader of the log back while it ran. A read model
-- writes in a session named 'order-service read model' (pg_stat_activity.application_name),
-- which the readers leave out of their horizon; the database makes the name a promise: a session
-- so named cannot append.
CREATE FUNCTION refuse_append_from_read_model() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('application_name') = 'order-service read model' THEN
    RAISE EXCEPTION 'a read model''s session cannot append events: readers of the log do not wait for it'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER events_not_from_read_models
  BEFORE INSERT ON events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_from_read_model();
