#include <catch2/catch.hpp>

#include <set>

#include "actors/common/backoff.hpp"

using namespace std::chrono_literals;

TEST_CASE("backoff grows geometrically and stays under the cap") {
  astra::backoff b({100ms, 2000ms, 2.0, 0.0}, 42);
  CHECK(b.next() == 100ms);
  CHECK(b.next() == 200ms);
  CHECK(b.next() == 400ms);
  CHECK(b.next() == 800ms);
  CHECK(b.next() == 1600ms);
  CHECK(b.next() == 2000ms);
  CHECK(b.next() == 2000ms);
  CHECK(b.attempts() == 7);
  b.reset();
  CHECK(b.next() == 100ms);
}

TEST_CASE("backoff jitter stays within its band and varies") {
  astra::backoff b({1000ms, 60000ms, 2.0, 0.25}, 7);
  std::set<long> seen;
  for (int i = 0; i < 50; ++i) {
    b.reset();
    auto d = b.next();
    CHECK(d >= 750ms);
    CHECK(d <= 1250ms);
    seen.insert(d.count());
  }
  CHECK(seen.size() > 10);
  astra::backoff capped({1000ms, 1500ms, 10.0, 0.5}, 9);
  capped.next();
  for (int i = 0; i < 20; ++i) CHECK(capped.next() <= 1500ms);
}
