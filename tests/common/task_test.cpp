#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "actors/common/task.hpp"

namespace {

// Stands in for an actor: completions are queued and delivered by run_one().
struct fake_owner {
  std::vector<std::function<void()>> queue;
  astra::callback_awaitable<int> later(int v) {
    return astra::callback_awaitable<int>([this, v](std::function<void(int)> done) {
      queue.push_back([done, v] { done(v); });
    });
  }
  void run_all() {
    while (!queue.empty()) {
      auto f = std::move(queue.front());
      queue.erase(queue.begin());
      f();
    }
  }
};

astra::task<int> add(fake_owner& o, int a, int b) {
  int x = co_await o.later(a);
  int y = co_await o.later(b);
  co_return x + y;
}

astra::task<void> body(fake_owner& o, std::vector<int>& out) {
  out.push_back(co_await add(o, 1, 2));
  out.push_back(co_await add(o, 10, 20));
}

astra::task<void> thrower(fake_owner& o) {
  co_await o.later(1);
  throw std::runtime_error("boom");
}

}  // namespace

TEST_CASE("task chains resume from owner-delivered completions") {
  fake_owner o;
  std::vector<int> out;
  bool done = false;
  astra::root_task root(body(o, out));
  root.start([&](std::exception_ptr e) { done = !e; });
  CHECK(root.running());
  CHECK(out.empty());
  o.run_all();
  CHECK(out == std::vector<int>{3, 30});
  CHECK(done);
  CHECK_FALSE(root.running());
}

TEST_CASE("an exception reaches the root's done handler") {
  fake_owner o;
  std::exception_ptr seen;
  astra::root_task root(thrower(o));
  root.start([&](std::exception_ptr e) { seen = e; });
  o.run_all();
  REQUIRE(seen);
  CHECK_THROWS_AS(std::rethrow_exception(seen), std::runtime_error);
}

TEST_CASE("destroying a suspended root frees the frames and ignores late completions") {
  fake_owner o;
  std::vector<int> out;
  {
    astra::root_task root(body(o, out));
    root.start(nullptr);
    CHECK(o.queue.size() == 1);
  }
  o.run_all();  // the completion targets a destroyed frame: must be a no-op
  CHECK(out.empty());
}

namespace {
astra::task<void> await_now(int& got) {
  got = co_await astra::callback_awaitable<int>([](std::function<void(int)> done) { done(5); });
}
}  // namespace

TEST_CASE("a synchronous completion does not suspend") {
  int got = 0;
  astra::root_task root(await_now(got));
  root.start(nullptr);
  CHECK(got == 5);
}
