// The FastAGI call actors' execution unit on the io thread (detail/io_execution_unit.hpp).
#include <utility>  // before Asio (see platform-facts)

#include "actors/agi/detail/io_execution_unit.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/logger.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace astra::agi::detail {

namespace {

// The posted drain. Destroyed unrun (the io_context was destroyed first), it hands the queue to
// CAF's scheduler: the actors in it hold messages (a cut, a close) that must still run.
struct drain_task {
  std::shared_ptr<io_execution_unit> unit;
  explicit drain_task(std::shared_ptr<io_execution_unit> u) : unit(std::move(u)) {}
  drain_task(drain_task&&) noexcept = default;
  drain_task& operator=(drain_task&&) = delete;
  ~drain_task() {
    if (unit) unit->abandon();
  }
  void operator()() {
    const auto u = std::move(unit);
    u->drain();
  }
};

}  // namespace

io_execution_unit::io_execution_unit(caf::actor_system& system, boost::asio::io_context& io)
    : caf::execution_unit(&system), io_(io) {}

io_execution_unit::~io_execution_unit() {
  // Nothing can be queued here: a queued actor keeps a posted drain, which keeps this unit.
}

void io_execution_unit::exec_later(caf::resumable* job) {
  bool post = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!detached_) {
      queue_.push_back(job);
      post = !std::exchange(drain_posted_, true);
      job = nullptr;
    }
  }
  if (job) {
    system().scheduler().enqueue(job);
    return;
  }
  if (post) boost::asio::post(io_, drain_task{shared_from_this()});
}

void io_execution_unit::detach() {
  std::vector<caf::resumable*> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    detached_ = true;
    queued.swap(queue_);
  }
  for (auto* job : queued) system().scheduler().enqueue(job);
}

void io_execution_unit::abandon() noexcept {
  std::vector<caf::resumable*> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    drain_posted_ = false;
    queued.swap(queue_);
  }
  for (auto* job : queued) system().scheduler().enqueue(job);
}

void io_execution_unit::run_one(caf::resumable* job) {
  switch (job->resume(this, messages_per_resume)) {
    case caf::resumable::resume_later:
      exec_later(job);  // keeps CAF's reference
      return;
    case caf::resumable::awaiting_message:
    case caf::resumable::done:
    case caf::resumable::shutdown_execution_unit:
      caf::intrusive_ptr_release(job);
      return;
  }
}

void io_execution_unit::drain() {
  // One batch per posted drain: actors scheduled while it runs wait for the next one, so the
  // io thread serves its sockets in between.
  thread_local std::vector<caf::resumable*> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(queue_);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) run_one(batch[i]);
  // An actor that spawned one (user code may) pinned the system's logger in this thread's
  // thread_local (CAF 0.17's CAF_SET_LOGGER_SYS); ~actor_system waits for that reference, and an
  // io thread may outlive the actor system: drop it (see connection::spawn_call).
  caf::logger::set_current_actor_system(nullptr);
  batch.clear();
  if (batch.capacity() > 4096) batch.shrink_to_fit();  // keep what bursts need, not without bound
  bool repost = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty()) {
      drain_posted_ = false;
    } else {
      repost = true;  // drain_posted_ stays set
    }
  }
  if (repost) boost::asio::post(io_, drain_task{shared_from_this()});
}

}  // namespace astra::agi::detail
