// The `orders` read model's table (schema/005): its columns and row mapping, written once here
// and used by the live projection, the list query, the rebuild and the verifier.
#pragma once

#include <optional>
#include <pqxx/row>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/pg/copy_writer.hpp"
#include "adapters/pg/read_model_sink.hpp"
#include "projections/order_projection.hpp"

namespace order::pg {

// The live projection's subscription: its checkpoint says how far the read model has come.
inline constexpr const char* kOrdersProjector = "orders-projector";

// The read model's columns, as order_row_from() reads them.
extern const char* const kOrderRowColumns;
projections::OrderRow order_row_from(const pqxx::row& row);

// The columns of a COPY into the table, in write_copy_row()'s order, and its secondary indexes
// (name suffix, columns) as schema/005 creates them.
extern const std::vector<std::string> kOrderCopyColumns;
extern const std::vector<std::pair<std::string, std::string>> kOrderIndexes;
void write_copy_row(CopyWriter& out, const projections::OrderRow& row);

// Decodes one stored event and folds it into `row` through the shared pure projection. Returns
// whether the row changed; throws when the data does not decode or the order skips a version.
bool fold_order_event(std::optional<projections::OrderRow>& row, domain::OrderId order_id,
                      std::int64_t version, std::string_view type, std::string_view data_json,
                      const std::string& recorded_at, std::string_view event_id);

class OrdersTable final : public TableProjection {
 public:
  std::string name() const override { return "orders"; }
  std::string subscription() const override { return kOrdersProjector; }
  std::vector<TableShape> tables() const override {
    return {{"orders", "(order_id)", kOrderIndexes}};
  }
  // Loads the rows the events touch, applies the pure fold, upserts what changed; a row's
  // version guard makes a replayed batch change nothing. An order first seen at version 1 is
  // folded from its start: its row is neither read nor locked.
  void apply(pqxx::transaction_base& tx, const std::string& suffix,
             const std::vector<projections::LogEvent>& events, TableKind kind) const override;
};

}  // namespace order::pg
