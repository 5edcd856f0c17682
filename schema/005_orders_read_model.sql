-- The orders read model: one row per order, folded from the log by the projector and served by
-- GET /orders. Derived data: order-admin rebuild orders replays it from the log at any time.
CREATE TABLE orders (
  order_id          bigint      PRIMARY KEY,
  user_id           bigint      NOT NULL,
  status            text        NOT NULL,
  total_cents       bigint      NOT NULL,
  items             jsonb       NOT NULL,
  version           bigint      NOT NULL,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  payment_reference text        NOT NULL DEFAULT '',
  carrier           text        NOT NULL DEFAULT '',
  tracking_number   text        NOT NULL DEFAULT '',
  cancel_reason     text        NOT NULL DEFAULT ''
);

-- Keyset pagination by order id under each filter of GET /orders.
CREATE INDEX orders_by_user ON orders (user_id, order_id);
CREATE INDEX orders_by_status ON orders (status, order_id);
CREATE INDEX orders_by_user_status ON orders (user_id, status, order_id);
