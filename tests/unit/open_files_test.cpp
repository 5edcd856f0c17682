// The connection cap kept under the open-files limit, so that the one connection too many gets
// a 503 rather than an accept() that fails (and, in Pistache 0.0.5, spins a core).
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <limits>

#include "adapters/http/server.hpp"

using order::http::connections_that_fit;

TEST_CASE("the connection cap is what was asked when the open-files limit holds it") {
  CHECK(connections_that_fit(1'048'576, 1024, 152) == 1024);
  CHECK(connections_that_fit(1176, 1024, 152) == 1024);
  CHECK(connections_that_fit(std::numeric_limits<std::uint64_t>::max(), 1'000'000, 152) ==
        1'000'000);
}

TEST_CASE("under a lower limit the cap leaves the reserve its descriptors, and is never 0") {
  CHECK(connections_that_fit(1024, 1024, 152) == 872);  // the common default soft limit
  CHECK(connections_that_fit(256, 1024, 152) == 104);
  CHECK(connections_that_fit(152, 1024, 152) == 1);
  CHECK(connections_that_fit(0, 1024, 152) == 1);
}

TEST_CASE("the soft open-files limit is raised to the hard one") {
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  rlimit lowered = before;
  lowered.rlim_cur = std::min<rlim_t>(before.rlim_max, 64);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  const auto raised = order::http::raise_open_files_limit();
  rlimit after{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
  CHECK(after.rlim_cur == before.rlim_max);
  CHECK((before.rlim_max == RLIM_INFINITY || raised == before.rlim_max));
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
}
