// Instances handed out one at a time to a few threads, for the measurements that score every instance of a
// run on fresh samples (evaluate_loss, adversarial_vulnerability): each instance is computed whole by one
// thread in a fixed order, so the result does not depend on the thread count. The first exception a worker
// throws is rethrown once all have stopped.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tms {

// Runs body(next) on min(threads, K) threads (threads <= 0: the hardware's), the calling one included; each
// body keeps its own scratch and takes instances with `for (k; (k = next.fetch_add(1)) < K;)`.
template <class Body>
void run_instance_workers(std::int64_t K, int threads, Body&& body) {
  std::atomic<std::int64_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto worker = [&]() {
    try {
      body(next);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(K);  // the others stop at their next instance
    }
  };
  int count = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  count = static_cast<int>(std::clamp<std::int64_t>(count, 1, std::max<std::int64_t>(K, 1)));
  std::vector<std::thread> pool;
  for (int w = 1; w < count; ++w) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace tms
