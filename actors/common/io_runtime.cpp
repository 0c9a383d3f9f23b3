#include "actors/common/io_runtime.hpp"

#include <utility>
#include <exception>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

namespace astra {

struct io_runtime::impl {
  boost::asio::io_context context;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{context.get_executor()};
  std::vector<std::thread> threads;
};

namespace {

// Runs `context` until it stops. A handler that let an exception escape is a bug of that
// handler (components catch their callbacks' exceptions where they run): it is logged and
// the thread goes back to running the other handlers instead of ending the process. Asio
// allows run() to be called again after a handler threw.
void run_contained(boost::asio::io_context& context) {
  for (;;) {
    try {
      context.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("io thread: a handler threw: {}; the io thread goes on", e.what());
    } catch (...) {
      spdlog::error("io thread: a handler threw an unknown exception; the io thread goes on");
    }
  }
}

}  // namespace

io_runtime::io_runtime(unsigned threads) : impl_(std::make_unique<impl>()) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { run_contained(impl_->context); });
}

io_runtime::~io_runtime() { stop(); }

boost::asio::io_context& io_runtime::context() noexcept { return impl_->context; }

void io_runtime::stop() {
  impl_->guard.reset();
  impl_->context.stop();
  for (auto& t : impl_->threads)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  impl_->threads.clear();
}

}  // namespace astra
