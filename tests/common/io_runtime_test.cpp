// io_runtime: a handler that lets an exception escape does not end its thread (nor the process).
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "actors/common/io_runtime.hpp"
#include "tests/support/eventually.hpp"

TEST_CASE("io_runtime: a handler that throws is contained; the io thread goes on", "[common][io_runtime]") {
  astra::io_runtime io{1};  // one thread: the later handlers run on the thread that saw the throws
  std::atomic<int> ran{0};
  boost::asio::post(io.context(), [] { throw std::runtime_error("handler bug"); });
  boost::asio::post(io.context(), [] { throw 3; });  // not a std::exception
  boost::asio::post(io.context(), [&] { ++ran; });
  CHECK(astra::test::eventually([&] { return ran == 1; }));
  boost::asio::post(io.context(), [&] { ++ran; });
  CHECK(astra::test::eventually([&] { return ran == 2; }));
}
