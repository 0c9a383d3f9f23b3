#pragma once
// Runs the FastAGI server's call actors on the server's io thread(s) instead of a CAF worker:
// the reply that the io thread parsed resumes the call's handler on that same thread, and the
// next command line it writes reaches the socket without a thread hop. Before, each command
// crossed threads twice (io -> CAF worker -> io), each crossing a futex or eventfd wake-up and
// a context switch.
//
// A CAF execution_unit: a message enqueued with it as context (connection -> call actor) or a
// spawn whose actor_config::host it is schedules the actor here. Actors scheduled by anyone else
// (a delayed_send, a message from another thread: agi::call::external completions, the
// shutdown's cut) run on CAF's workers as before; CAF's mailbox guarantees that an actor is
// resumed by one thread at a time, whichever unit runs it.
//
// Queue: the actors ready to run, drained on the io_context by one posted handler per batch.
// Bounded by the live calls (an actor is in it at most once: CAF schedules an actor again only
// after its resume returned). Each resume handles at most `messages_per_resume` messages, then
// the actor goes to the back of the queue (fairness between calls and the sockets).
//
// Contract for the actors run here: they never block (docs/writing-a-service.md: what a handler
// may block on: nothing), since a blocked handler stalls this io thread's sockets.
//
// detach(): from then on everything goes to CAF's scheduler, including the actors still queued.
// The server detaches at the start of its shutdown, so that the drain and the cut do not depend
// on the io_context still running. A posted drain destroyed unrun (its io_context destroyed)
// hands its actors to the scheduler too.
#include <utility>  // before Asio (see platform-facts)

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/execution_unit.hpp>
#include <caf/fwd.hpp>

namespace boost::asio {
class io_context;
}

namespace astra::agi::detail {

class io_execution_unit final : public caf::execution_unit, public std::enable_shared_from_this<io_execution_unit> {
 public:
  static constexpr std::size_t messages_per_resume = 64;

  io_execution_unit(caf::actor_system& system, boost::asio::io_context& io);
  ~io_execution_unit() override;

  // Thread-safe (any thread). Takes over the reference CAF added for the scheduling.
  void exec_later(caf::resumable* job) override;
  // Thread-safe, idempotent: CAF's scheduler runs every actor from now on.
  void detach();

  // Runs the queued actors (the posted drain; io thread).
  void drain();
  // The posted drain was destroyed without running: the queue goes to CAF's scheduler.
  void abandon() noexcept;

 private:
  void run_one(caf::resumable* job);

  boost::asio::io_context& io_;
  std::mutex mutex_;
  std::vector<caf::resumable*> queue_;  // guarded by mutex_
  bool drain_posted_ = false;           // guarded by mutex_
  bool detached_ = false;               // guarded by mutex_
};

}  // namespace astra::agi::detail
