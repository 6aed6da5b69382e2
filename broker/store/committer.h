// Committer: where the loop sends its storage batches to be committed, and
// where it collects them back. The StorageThread is the real one (a thread,
// group commit, two-stage durability); unit tests of the core commit inline
// on the in-memory store (tests/unit/broker/core/core_harness.h), and can hold
// commits back to see what happens before a batch is durable.
//
// Loop thread only (implementations hand batches to other threads inside).
#ifndef HERMOD_BROKER_STORE_COMMITTER_H_
#define HERMOD_BROKER_STORE_COMMITTER_H_

#include <memory>
#include <vector>

#include "keys.h"
#include "write_batch.h"

namespace hermod::store {

class Committer {
 public:
  // What happened to a submitted batch. With two-stage durability a batch is
  // reported kCommitted (the next one may be submitted) and then kDurable
  // (its confirms may go out); otherwise once, kDurable, after its commit.
  struct Report {
    enum Stage { kCommitted, kDurable };
    Stage stage = kDurable;
    BatchNo batch_no = 0;
    std::unique_ptr<WriteBatch> batch;  // kDurable: the batch, with its status
  };

  virtual ~Committer() = default;
  // Whether batches are reported committed before durable.
  virtual bool two_stage() const = 0;
  // Queues a batch for commit.
  virtual void Submit(std::unique_ptr<WriteBatch> batch) = 0;
  // Asks for a flush that makes the last committed batch durable (when no
  // next batch is coming to do it).
  virtual void RequestSync() = 0;
  // The reports since the last call, in order.
  virtual std::vector<Report> TakeDone() = 0;
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_COMMITTER_H_
