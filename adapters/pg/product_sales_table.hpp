// The product_sales read model's tables (schema/006): a batch's upsert through the pure fold of
// projections/product_sales, and the report's query.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "adapters/pg/read_model_sink.hpp"
#include "adapters/pg/session.hpp"
#include "projections/product_sales.hpp"
#include "projections/product_sales_report.hpp"

namespace order::pg {

inline constexpr const char* kProductSalesProjector = "product-sales-projector";

class ProductSalesTable final : public TableProjection {
 public:
  std::string name() const override { return "product-sales"; }
  std::string subscription() const override { return kProductSalesProjector; }
  std::vector<TableShape> tables() const override {
    return {{"product_sales", "(day, product_id)", {{"by_product", "(product_id, day)"}}},
            {"product_sales_orders", "(order_id)", {}}};
  }
  // Loads the lines of the orders the events touch, folds, adds each day's and product's sales
  // to its row, and stores each order's new version and lines; an event at or below an
  // order's stored version changes nothing.
  void apply(pqxx::transaction_base& tx, const std::string& suffix,
             const std::vector<projections::LogEvent>& events, TableKind kind) const override;
};

// GET /reports/product-sales, over the worker's session.
class PgProductSalesReport final : public projections::ProductSalesReport {
 public:
  explicit PgProductSalesReport(Session& session) : session_(session) {}
  projections::SalesPage sales(const projections::SalesQuery& query) override;
  projections::ProjectionLag lag() override;

 private:
  Session& session_;
};

}  // namespace order::pg
