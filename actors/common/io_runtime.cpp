#include "actors/common/io_runtime.hpp"

#include <utility>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace astra {

struct io_runtime::impl {
  boost::asio::io_context context;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{context.get_executor()};
  std::vector<std::thread> threads;
};

io_runtime::io_runtime(unsigned threads) : impl_(std::make_unique<impl>()) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->context.run(); });
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
