-- The running instances, for sharing the subscriptions' shards without a coordinator: each
-- instance beats here about twice a second; an instance whose last beat is older than a few
-- seconds is gone, and the others deal its shards among themselves. Leadership itself is each
-- shard's advisory lock; this table only says who is there to take one.
CREATE TABLE subscription_members (
  instance_id  text        PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
