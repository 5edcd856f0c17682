// The COPY writer against a real server: text of every kind, numbers at their limits and
// timestamps come back as they went in, across many sends; a row the server refuses fails the
// load, and a COPY abandoned or rolled back leaves nothing.
#include "adapters/pg/copy_writer.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "commands/rfc3339.hpp"
#include "fresh_database.hpp"

namespace {

using order::testing::FreshDatabase;

// A value per row with the bytes COPY's text format gives a meaning, an empty string, the text of
// its NULL marker, multi-byte UTF-8, and now and then a value longer than one send.
std::string awkward_text(int i) {
  static const std::vector<std::string> kParts = {
      "plain",       "tab\there",   "new\nline", "carriage\rreturn",
      "back\\slash", "\\N",         "",          "trailing\\",
      "\\\\double",  "é ünïcødé ✓", "\t\n\r\\",  "quote ' and \" and ,"};
  std::string text = kParts[static_cast<std::size_t>(i) % kParts.size()] + std::to_string(i);
  if (i % 997 == 0) text += std::string(100'000, i % 2 == 0 ? '\\' : 'x');
  return text;
}

}  // namespace

TEST_CASE("rows written through the COPY writer read back byte for byte") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  constexpr int kRows = 5000;  // several sends' worth
  {
    pqxx::work tx(connection);
    tx.exec("CREATE TABLE copied (id bigint NOT NULL, label text NOT NULL, n bigint NOT NULL)");
    order::pg::CopyWriter out(tx, "copied", {"id", "label", "n"});
    for (int i = 0; i < kRows; ++i) {
      out.field(std::int64_t{i}).field(awkward_text(i)).field(std::int64_t{-1} * i * i).end_row();
    }
    out.complete();
    tx.commit();
  }
  pqxx::work tx(connection);
  const pqxx::result rows = tx.exec("SELECT id, label, n FROM copied ORDER BY id");
  REQUIRE(rows.size() == kRows);
  int mismatches = 0;
  for (int i = 0; i < kRows; ++i) {
    const auto& row = rows[i];
    if (row[0].as<int>() != i || row[1].as<std::string>() != awkward_text(i) ||
        row[2].as<std::int64_t>() != std::int64_t{-1} * i * i) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
  CHECK(rows[5][1].as<std::string>() == "\\N5");
  CHECK_FALSE(rows[5][1].is_null());
}

TEST_CASE("a row the server refuses fails the COPY and writes nothing") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  {
    pqxx::work tx(connection);
    tx.exec("CREATE TABLE copied (id bigint NOT NULL, label text NOT NULL)");
    tx.commit();
  }
  pqxx::work tx(connection);
  order::pg::CopyWriter out(tx, "copied", {"id", "label"});
  out.field(std::int64_t{1}).field("fine").end_row();
  out.field("not a number").field("refused").end_row();
  CHECK_THROWS_AS(out.complete(), pqxx::sql_error);
  tx.abort();
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM copied") == 0);
}

TEST_CASE("numbers at their limits, timestamps and json columns arrive as sent") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  const auto at = [](std::string_view text) { return *order::commands::parse_rfc3339(text); };
  {
    pqxx::work tx(connection);
    tx.exec("CREATE TABLE copied (n bigint NOT NULL, at timestamptz NOT NULL, doc json NOT NULL)");
    order::pg::CopyWriter out(tx, "copied", {"n", "at", "doc"});
    out.field(std::numeric_limits<std::int64_t>::min())
        .field(at("1999-12-31T23:59:59.999999Z"))
        .field(R"({"a":[1,2.5,"x"]})")
        .end_row();
    out.field(std::numeric_limits<std::int64_t>::max())
        .field(at("2026-11-27T09:41:07.123456+02:00"))
        .field("[]")
        .end_row();
    out.field(std::int64_t{0}).field(at("2000-01-01T00:00:00Z")).field("{}").end_row();
    out.complete();
    tx.commit();
  }
  pqxx::work tx(connection);
  const pqxx::result rows = tx.exec(
      "SELECT n, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), doc::text "
      "FROM copied ORDER BY n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0][0].as<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(rows[0][1].as<std::string>() == "1999-12-31 23:59:59.999999");
  CHECK(rows[0][2].as<std::string>() == R"({"a":[1,2.5,"x"]})");
  CHECK(rows[1][1].as<std::string>() == "2000-01-01 00:00:00.000000");
  CHECK(rows[2][0].as<std::int64_t>() == std::numeric_limits<std::int64_t>::max());
  CHECK(rows[2][1].as<std::string>() == "2026-11-27 07:41:07.123456");
}

TEST_CASE("text that is not json fails a COPY into a json column") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  tx.exec("CREATE TABLE copied (doc json NOT NULL)");
  order::pg::CopyWriter out(tx, "copied", {"doc"});
  out.field("{\"unterminated\":").end_row();
  CHECK_THROWS_AS(out.complete(), pqxx::sql_error);
}

TEST_CASE("a COPY abandoned or rolled back leaves nothing, and the connection goes on") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  {
    pqxx::work tx(connection);
    tx.exec("CREATE TABLE copied (id bigint NOT NULL)");
    tx.commit();
  }
  {
    pqxx::work tx(connection);
    order::pg::CopyWriter out(tx, "copied", {"id"});
    out.field(std::int64_t{1}).end_row();
    // Left without complete(), as when folding the rows throws.
  }
  {
    pqxx::work tx(connection);
    order::pg::CopyWriter out(tx, "copied", {"id"});
    out.field(std::int64_t{2}).end_row();
    out.complete();
    tx.abort();
  }
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM copied") == 0);
  pqxx::work tx(connection);
  CHECK(tx.exec("SELECT 41 + 1")[0][0].as<int>() == 42);
}
