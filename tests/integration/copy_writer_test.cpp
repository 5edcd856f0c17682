// The COPY writer against a real server: every byte COPY's text format gives a meaning comes back
// as it went in, across many sends, and a row the server refuses fails the load.
#include "adapters/pg/copy_writer.hpp"

#include <doctest/doctest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "fresh_database.hpp"

namespace {

using order::testing::FreshDatabase;

// A value per row that exercises the escapes, an empty string, the text of COPY's NULL marker,
// multi-byte UTF-8, and now and then a value longer than one send.
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

TEST_CASE("escaping touches exactly backslash, newline, carriage return and tab") {
  std::string out;
  order::pg::append_copy_escaped(out, "a\tb\nc\rd\\e\x01\"f");
  CHECK(out == "a\\tb\\nc\\rd\\\\e\x01\"f");
  out.clear();
  order::pg::append_copy_escaped(out, "");
  CHECK(out.empty());
}
