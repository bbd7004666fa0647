// A fixed pool of threads running tasks from a bounded queue. TryPush refuses
// when the queue is full, so a burst is answered at once (429/503) instead of
// queueing without bound.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace diskidle::http {

class WorkQueue {
 public:
  WorkQueue(int threads, size_t capacity);
  ~WorkQueue();  // drops queued tasks, waits for running ones
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  bool TryPush(std::function<void()> task);

 private:
  void Run();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace diskidle::http
