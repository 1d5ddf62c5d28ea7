// The workers behind `tracker serve`'s HTTP server (cli/serve.cpp): cpp-httplib
// gives each connection a worker for as long as it lasts, so this pool is what
// bounds how many connections are served at once.
#pragma once

#include <httplib.h>
#include <malloc.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace tracker::cli {

constexpr std::size_t kMaxWorkers = 128;         ///< connections served at once; more wait their turn
constexpr std::size_t kKeptWorkers = 8;          ///< idle workers kept; more end after kWorkerIdle
constexpr auto kWorkerIdle = std::chrono::seconds(2);

/// The workers behind the HTTP server: a pool that grows while every worker is busy
/// (up to kMaxWorkers) and lets idle workers beyond kKeptWorkers go. The library's
/// own pool has a fixed size (8 here): eight event streams, or eight slow clients,
/// took every worker and the server stopped answering.
class WorkerPool : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    reap();
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && threads_.size() < kMaxWorkers) {
      threads_.emplace_back();
      threads_.back() = std::thread([this] { work(); });
    } else {
      wake_.notify_one();
    }
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ++idle_;
      bool woken = wake_.wait_for(lock, kWorkerIdle, [&] { return stop_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) {
        if (stop_ || (!woken && threads_.size() - ended_.size() > kKeptWorkers)) {
          ended_.push_back(std::this_thread::get_id());
          bool last_extra = !stop_ && threads_.size() - ended_.size() == kKeptWorkers;
          lock.unlock();
          // The burst is over: what its requests freed goes back to the system
          // instead of staying in malloc's arenas.
          if (last_extra) malloc_trim(0);
          return;
        }
        continue;
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      try {
        job();
      } catch (...) {
        // the library answers what it can; a worker never ends the server
      }
      lock.lock();
    }
  }

  /// Joins the workers that ended (each let go of the mutex on its way out).
  void reap() {
    if (stop_) return;
    for (auto id : ended_)
      for (auto it = threads_.begin(); it != threads_.end(); ++it)
        if (it->get_id() == id) {
          it->join();
          threads_.erase(it);
          break;
        }
    ended_.clear();
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::list<std::thread> threads_;
  std::vector<std::thread::id> ended_;
  std::deque<std::function<void()>> jobs_;
  std::size_t idle_ = 0;
  bool stop_ = false;
};

}  // namespace tracker::cli
