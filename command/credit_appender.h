// CreditAppender: group commit for credit commands. The HTTP side hands validated commands to a bounded
// queue; appender threads drain it into batches, execute each batch in one transaction (one read, one
// append, one NOTIFY, one commit) and only then complete each command. Amortises the commit fsync and the
// NOTIFY lock over many commands.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "command/credit_commands.h"
#include "eventstore/database.h"

namespace ledger {

struct AppenderOptions {
  std::size_t threads = 2;              // each with its own connection; two overlap one's commit with the next batch
  std::size_t queue_length_max = 4096;  // commands waiting; beyond, submit() refuses (the server answers 503)
  std::size_t batch_size_max = 256;     // commands per transaction
  int batch_wait_us = 0;                // after the first command, wait this long for more (0: take what is queued)
};

inline constexpr std::size_t kAppenderBatchSizeMax = 4096;

class CreditAppender {
 public:
  using Completion = std::function<void(CreditCommandResult)>;

  CreditAppender(const std::string& database_url, const DatabaseLimits& limits, const AppenderOptions& options);
  ~CreditAppender();  // completes everything queued, then joins

  CreditAppender(const CreditAppender&) = delete;
  CreditAppender& operator=(const CreditAppender&) = delete;

  // Queues a command; `done` runs on an appender thread once its batch committed (or failed). Returns
  // false, without queueing or calling `done`, when the queue is full or the appender is stopping.
  bool submit(CreditCommandRequest request, Completion done);

  // Stops taking commands; queued ones are still executed. Idempotent.
  void stop();

 private:
  struct Pending {
    CreditCommandRequest request;
    Completion done;
  };

  void run(std::size_t index);

  const AppenderOptions options_;
  std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<WorkerConnection>> connections_;
  std::vector<std::thread> threads_;
};

}  // namespace ledger
