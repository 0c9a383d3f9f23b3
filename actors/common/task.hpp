#pragma once
// C++20 coroutine support for handlers that run inside an actor (AGI calls, ARI channels).
//
// task<T>: a lazy coroutine; starts when awaited, resumes its awaiter when done
// (symmetric transfer, no stack growth). Exceptions propagate to the awaiter.
//
// callback_awaitable<T>: suspends until a completion callback is invoked. The owner
// (an actor) invokes the callback from one of its message handlers, so the coroutine
// always resumes on the actor's own execution context; nothing here is thread-safe.
//
// root_task: owns a top-level task<void>; started with start(on_done). If the root is
// destroyed while the coroutine is suspended (the actor quit), the whole frame chain is
// destroyed and pending callbacks become no-ops through their shared liveness flag.
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace astra {

template <class T>
class task;

namespace detail {

struct task_promise_base {
  std::coroutine_handle<> continuation;
  std::exception_ptr exception;

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] task {
 public:
  struct promise_type : detail::task_promise_base {
    std::optional<T> value;
    task get_return_object() { return task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    template <class U>
    void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
  };

  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) { reset(); handle_ = std::exchange(other.handle_, {}); }
    return *this;
  }
  ~task() { reset(); }

  bool await_ready() const noexcept { return !handle_ || handle_.done(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    handle_.promise().continuation = awaiter;
    return handle_;
  }
  T await_resume() {
    auto& p = handle_.promise();
    if (p.exception) std::rethrow_exception(p.exception);
    return std::move(*p.value);
  }

  std::coroutine_handle<promise_type> handle() const noexcept { return handle_; }

 private:
  explicit task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  void reset() { if (handle_) { handle_.destroy(); handle_ = {}; } }
  std::coroutine_handle<promise_type> handle_;
};

template <>
class [[nodiscard]] task<void> {
 public:
  struct promise_type : detail::task_promise_base {
    task get_return_object() { return task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    void return_void() noexcept {}
  };

  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) { reset(); handle_ = std::exchange(other.handle_, {}); }
    return *this;
  }
  ~task() { reset(); }

  bool await_ready() const noexcept { return !handle_ || handle_.done(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    handle_.promise().continuation = awaiter;
    return handle_;
  }
  void await_resume() {
    if (handle_.promise().exception) std::rethrow_exception(handle_.promise().exception);
  }

  std::coroutine_handle<promise_type> handle() const noexcept { return handle_; }

 private:
  explicit task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  void reset() { if (handle_) { handle_.destroy(); handle_ = {}; } }
  std::coroutine_handle<promise_type> handle_;
};

// Suspends the awaiting coroutine until `complete(value)` is called exactly once.
// start(complete) is invoked from await_suspend; it must arrange for complete to be called
// later from the owner's context (or immediately, which resumes without suspending).
template <class T>
class callback_awaitable {
 public:
  using starter = std::function<void(std::function<void(T)>)>;
  explicit callback_awaitable(starter start) : start_(std::move(start)) {}
  callback_awaitable(callback_awaitable&&) noexcept = default;
  callback_awaitable& operator=(callback_awaitable&&) noexcept = default;
  // Destroyed with its coroutine frame: a completion arriving later is ignored.
  ~callback_awaitable() {
    if (state_) state_->suspended = false;
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    auto state = state_;
    start_([state, h](T v) {
      if (state->value) return;  // completed twice: ignore the late one
      state->value.emplace(std::move(v));
      if (state->suspended) {
        state->suspended = false;
        h.resume();
      }
    });
    if (state->value) return false;  // completed synchronously: continue without suspending
    state->suspended = true;
    return true;
  }
  T await_resume() { return std::move(*state_->value); }

 private:
  struct shared_state {
    std::optional<T> value;
    bool suspended = false;
  };
  starter start_;
  std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
};

// Owns and drives a top-level task<void>.
class root_task {
 public:
  using done_handler = std::function<void(std::exception_ptr)>;  // null on normal return

  root_task() = default;
  explicit root_task(task<void> body) : body_(std::move(body)) {}
  root_task(root_task&&) noexcept = default;
  root_task& operator=(root_task&&) noexcept = default;

  // Runs the coroutine until its first suspension; on_done fires when it finishes
  // (possibly before start returns). on_done runs inside the coroutine frame: it must not
  // destroy this root_task synchronously (an actor should send itself a message instead).
  void start(done_handler on_done) { runner_.emplace(run(std::move(body_), std::move(on_done))); }

  bool running() const noexcept { return runner_ && !runner_->handle_.done(); }

 private:
  struct runner {
    struct promise_type {
      runner get_return_object() { return runner{std::coroutine_handle<promise_type>::from_promise(*this)}; }
      std::suspend_never initial_suspend() noexcept { return {}; }
      std::suspend_always final_suspend() noexcept { return {}; }
      void return_void() noexcept {}
      void unhandled_exception() noexcept {}
    };
    explicit runner(std::coroutine_handle<promise_type> h) : handle_(h) {}
    runner(runner&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    runner& operator=(runner&& o) noexcept {
      if (this != &o) { if (handle_) handle_.destroy(); handle_ = std::exchange(o.handle_, {}); }
      return *this;
    }
    ~runner() { if (handle_) handle_.destroy(); }
    std::coroutine_handle<promise_type> handle_;
  };

  static runner run(task<void> body, done_handler on_done) {
    std::exception_ptr error;
    try {
      co_await std::move(body);
    } catch (...) {
      error = std::current_exception();
    }
    if (on_done) on_done(error);
  }

  task<void> body_{empty()};
  std::optional<runner> runner_;

  static task<void> empty() { co_return; }
};

}  // namespace astra
