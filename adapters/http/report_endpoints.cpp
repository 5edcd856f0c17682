// GET /reports/product-sales: daily sales per product from the product_sales read model.
#include <charconv>
#include <cstdint>
#include <optional>

#include "adapters/http/api.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/http/query.hpp"
#include "adapters/json/http_bodies.hpp"
#include "adapters/json/json_writer.hpp"

namespace order::http {
namespace {

constexpr std::int64_t kMaxDays = 366;
constexpr int kMaxRows = 10'000;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// A calendar date written YYYY-MM-DD (years 1 to 9999), as days since 1970-01-01.
std::optional<std::int64_t> parse_day(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto number = [&](std::size_t at, std::size_t digits) -> std::optional<unsigned> {
    unsigned value = 0;
    const char* first = text.data() + at;
    const auto [end, error] = std::from_chars(first, first + digits, value);
    if (error != std::errc() || end != first + digits) return std::nullopt;
    return value;
  };
  const auto year = number(0, 4);
  const auto month = number(5, 2);
  const auto day = number(8, 2);
  if (!year || !month || !day || *year < 1 || *month < 1 || *month > 12 || *day < 1) {
    return std::nullopt;
  }
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (*day > kDays[*month - 1] + (*month == 2 && leap ? 1 : 0)) return std::nullopt;
  return days_from_civil(*year, *month, *day);
}

}  // namespace

HttpResponse product_sales_report(Services& services, Context& context) {
  const auto& query = context.request.query;
  projections::SalesQuery sales;
  const auto from = query.find("from");
  const auto to = query.find("to");
  const auto first = from == query.end() ? std::nullopt : parse_day(from->second);
  const auto last = to == query.end() ? std::nullopt : parse_day(to->second);
  if (!first.has_value() || !last.has_value()) {
    return problem(Problem::bad_request,
                   "from and to are required, each a calendar date written YYYY-MM-DD (UTC)");
  }
  const std::int64_t first_day = first.value();
  const std::int64_t last_day = last.value();
  if (last_day < first_day || last_day - first_day >= kMaxDays) {
    return problem(Problem::bad_request, "to must be on or after from, and at most " +
                                             std::to_string(kMaxDays) + " days after it");
  }
  sales.from = from->second;
  sales.to = to->second;
  if (query.contains("product_id")) {
    sales.product_id = query_int<std::int64_t>(context.request, "product_id", 1, INT64_MAX, 0);
    if (!sales.product_id) {
      return problem(Problem::bad_request,
                     query_int_refusal(context.request, "product_id", 1, INT64_MAX));
    }
  }
  const auto limit = query_int<int>(context.request, "limit", 1, kMaxRows, sales.limit);
  if (!limit) {
    return problem(Problem::bad_request, query_int_refusal(context.request, "limit", 1, kMaxRows));
  }
  sales.limit = *limit;

  const projections::SalesPage page = services.sales_report.sales(sales);
  json::JsonWriter w;
  w.begin_object();
  w.key("from").string(sales.from);
  w.key("to").string(sales.to);
  w.key("days").begin_array();
  for (const auto& [key, s] : page.rows) {
    w.begin_object();
    w.key("day").string(key.day);
    w.key("product_id").integer(key.product_id);
    w.key("units_ordered").integer(s.units_ordered);
    w.key("revenue_ordered").string(domain::format_money(s.revenue_ordered));
    w.key("units_cancelled").integer(s.units_cancelled);
    w.key("revenue_cancelled").string(domain::format_money(s.revenue_cancelled));
    w.end_object();
  }
  w.end_array();
  w.key("has_more").boolean(page.has_more);
  // Read from the projection, which trails the log: say by how much.
  json::write_projection_lag(w, page.lag);
  w.end_object();
  return HttpResponse{200, "application/json", {}, w.take()};
}

}  // namespace order::http
