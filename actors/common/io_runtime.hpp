#pragma once
// The Asio side of the process: one io_context run by a fixed pool of threads. Sockets
// live here; handlers only parse bytes and anon_send whole messages to actors. A handler that
// lets an exception escape is logged and its thread keeps running the io_context (last line of
// defence: components contain their callbacks' exceptions themselves).
#include <memory>

namespace boost::asio {
class io_context;
}

namespace astra {

class io_runtime {
 public:
  // Starts `threads` threads running the context until stop() or destruction.
  explicit io_runtime(unsigned threads = 1);
  ~io_runtime();
  io_runtime(const io_runtime&) = delete;
  io_runtime& operator=(const io_runtime&) = delete;

  boost::asio::io_context& context() noexcept;
  // Stops the context and joins the threads; idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace astra
