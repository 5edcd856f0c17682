-- Idempotency keys: a POST retried with the same Idempotency-Key returns the original answer.
-- A key is written in the same statement as the events its request appended, so a key exists
-- exactly when its events do. The answer is not stored: it is rendered again from the stream at
-- the recorded version, which is what it was the first time.
CREATE TABLE idempotency_keys (
  key            text        PRIMARY KEY,
  fingerprint    text        NOT NULL,  -- of method, path and body: the same key with another request is refused
  command        text        NOT NULL,  -- place, pay, ship, deliver, cancel
  order_id       bigint      NOT NULL,
  stream_version bigint      NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL
);

CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
