#include <catch2/catch.hpp>

#include "actors/common/inflight_bound.hpp"

TEST_CASE("inflight_bound drops and counts past its capacity") {
  astra::inflight_bound q("test", 3);
  CHECK(q.try_acquire());
  CHECK(q.try_acquire());
  CHECK(q.try_acquire());
  CHECK_FALSE(q.try_acquire());
  CHECK_FALSE(q.try_acquire());
  CHECK(q.dropped() == 2);
  CHECK(q.in_flight() == 3);
  q.release();
  CHECK(q.try_acquire());
  CHECK(q.delivered() == 4);
  CHECK(q.dropped() == 2);
}
