// The binary COPY reader against a real server: each type the rebuild reads (bigint, uuid, text,
// timestamptz, jsonb, and NULL) arrives as the server's own text of it says, across pages of
// any size; a failing query throws, and a COPY left unread leaves the connection usable.
#include "adapters/pg/copy_reader.hpp"

#include <doctest/doctest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "adapters/pg/timestamps.hpp"
#include "fresh_database.hpp"

namespace {

using order::pg::BinaryRow;
using order::pg::BinaryRows;
using order::pg::CopyReader;
using order::testing::FreshDatabase;

constexpr const char* kValues =
    "SELECT i::bigint AS n, gen_random_uuid() AS id, repeat(chr(65 + i % 26), i % 300) AS text, "
    "timestamptz '2026-11-27 09:41:07.123456+00' - i * interval '1 day 37 microseconds' AS at, "
    "jsonb_build_object('i', i, 'name', 'é\"\\' || i) AS doc, "
    "CASE WHEN i % 7 = 0 THEN NULL ELSE i::bigint END AS maybe "
    "FROM generate_series(-5, 20000) AS i";

}  // namespace

TEST_CASE("rows read through the binary COPY are the rows the server prints") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  tx.exec("CREATE TEMPORARY TABLE v AS " + std::string(kValues));
  const pqxx::result expected = tx.exec(
      "SELECT n, id::text, text, to_char(at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), doc::text, maybe FROM v ORDER BY n");
  for (const std::size_t page_bytes : {std::size_t{1}, std::size_t{4096}, std::size_t{1} << 20}) {
    CAPTURE(page_bytes);
    CopyReader copy(tx, "SELECT * FROM v ORDER BY 1");
    std::vector<std::string> pages;
    for (bool more = true; more;) {
      std::string page;
      more = copy.read(page, page_bytes);
      if (!page.empty()) pages.push_back(std::move(page));
    }
    REQUIRE_FALSE(pages.empty());
    BinaryRows rows(pages.front());
    BinaryRow<6> row;
    std::size_t at = 0;
    int mismatches = 0;
    for (std::size_t p = 0; p < pages.size(); ++p) {
      if (p > 0) rows.next_chunk(pages[p]);
      while (rows.next(row)) {
        REQUIRE(at < expected.size());
        const auto& want = expected[static_cast<pqxx::result::size_type>(at++)];
        const bool same =
            row.count == 6 && BinaryRows::int64(*row.fields[0]) == want[0].as<std::int64_t>() &&
            order::pg::uuid_text(*row.fields[1]) == want[1].as<std::string>() &&
            *row.fields[2] == want[2].as<std::string>() &&
            order::pg::rfc3339_of_timestamptz(BinaryRows::int64(*row.fields[3])) ==
                want[3].as<std::string>() &&
            row.fields[4]->substr(1) == want[4].as<std::string>() &&
            row.fields[5].has_value() == !want[5].is_null() &&
            (want[5].is_null() || BinaryRows::int64(*row.fields[5]) == want[5].as<std::int64_t>());
        if (!same) ++mismatches;
      }
    }
    CHECK(rows.ended());
    CHECK(at == expected.size());
    CHECK(mismatches == 0);
  }
}

TEST_CASE("a query the server refuses throws, and so does one failing midway") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  {
    pqxx::work tx(connection);
    CHECK_THROWS_AS(CopyReader(tx, "SELECT no_such_column FROM events"), pqxx::sql_error);
  }
  pqxx::work tx(connection);
  CopyReader copy(tx, "SELECT 1 / (10000 - i) FROM generate_series(1, 20000) AS i");
  std::string page;
  CHECK_THROWS_AS(
      [&] {
        while (copy.read(page, 1 << 16)) page.clear();
      }(),
      pqxx::sql_error);
}

TEST_CASE("a COPY left unread is cancelled and the connection goes on") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  {
    pqxx::work tx(connection);
    CopyReader copy(tx, "SELECT i, repeat('x', 100) FROM generate_series(1, 10000000) AS i");
    std::string page;
    CHECK(copy.read(page, 1 << 16));
  }
  pqxx::work tx(connection);
  CHECK(tx.exec("SELECT 41 + 1")[0][0].as<int>() == 42);
}
