-- An order's items in the read model are written whole and read whole, never queried inside:
-- json keeps the text as the projector wrote it, so neither the projector's upserts nor a
-- rebuild's COPY build jsonb from it, and GET /orders does not print it back out of jsonb.
ALTER TABLE orders ALTER COLUMN items TYPE json USING items::json;
