-- The product_sales read model: units and revenue per product and day, ordered (on the day the
-- order was placed) and cancelled (on the day it was cancelled), folded from the log by its
-- projection and served by GET /reports/product-sales. Derived data: order-admin rebuild
-- product-sales replays it from the log at any time.
CREATE TABLE product_sales (
  day                     date   NOT NULL,
  product_id              bigint NOT NULL,
  units_ordered           bigint NOT NULL DEFAULT 0,
  revenue_ordered_cents   bigint NOT NULL DEFAULT 0,
  units_cancelled         bigint NOT NULL DEFAULT 0,
  revenue_cancelled_cents bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, product_id)
);

-- One product's days.
CREATE INDEX product_sales_by_product ON product_sales (product_id, day);

-- What the projection remembers of each order: the last version applied (so an event applied
-- twice changes nothing) and its lines (a cancellation's event names none).
CREATE TABLE product_sales_orders (
  order_id bigint PRIMARY KEY,
  version  bigint NOT NULL,
  items    jsonb  NOT NULL
);
