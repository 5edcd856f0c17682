// Events of one small order (user 101, one line of 2 x 4.99), for tests of the store.
#pragma once

#include "domain/order.hpp"

namespace order::testing {

inline domain::Event placed(domain::OrderId id) {
  return domain::OrderPlaced{id, 101, {{1001, 2, domain::Money{499}}}, domain::Money{998}};
}

inline domain::Event paid(domain::OrderId id) {
  return domain::OrderPaid{
      {id, 101, domain::Money{998}, domain::OrderStatus::pending}, "p-1", domain::Money{998}};
}

}  // namespace order::testing
