// Queries of the product_sales read model (eventually consistent: it says how far behind it is).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "projections/order_read_model.hpp"
#include "projections/product_sales.hpp"

namespace order::projections {

struct SalesQuery {
  std::string from;  // first day, YYYY-MM-DD (UTC), inclusive
  std::string to;    // last day, inclusive
  std::optional<domain::ProductId> product_id;
  int limit = 1000;
};

struct SalesRow {
  SalesKey key;
  Sales sales;
};

struct SalesPage {
  std::vector<SalesRow> rows;  // by day, then product id
  bool has_more = false;       // more rows than `limit` in the range
  ProjectionLag lag;
};

class ProductSalesReport {
 public:
  virtual ~ProductSalesReport() = default;
  virtual SalesPage sales(const SalesQuery& query) = 0;
  virtual ProjectionLag lag() = 0;
};

}  // namespace order::projections
