// The integration test runner: needs DB_URL (a PostgreSQL server where it may create databases).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  if (std::getenv("DB_URL") == nullptr) {
    std::cerr << "order_integration_tests: DB_URL is not set; start the dev stack "
                 "(tools/stack/stack.sh up) and eval its env\n";
    return 2;
  }
  // Line by line, so that a failure's report lands among the logs of the moment it happened
  // (stderr is unbuffered), not after every other test's lines, where a shortened copy of the
  // output cuts it off.
  std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
  doctest::Context context(argc, argv);
  return context.run();
}
