// Makes this broker's partitions follow the metadata image (docs/controller.md, "Brokers"): for
// each new image it opens the partitions this broker is a replica of, sets each one's leadership
// and leader epoch, and removes the partitions of deleted topics. Images come from the
// controller's thread (offer); they are applied one at a time, in order, on a strand of the
// broker's io_context, the latest one winning when several wait. Opening and removing logs runs
// on the blocking pool.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "sluice/broker/config.h"
#include "sluice/controller/metadata_image.h"
#include "sluice/core/async.h"
#include "sluice/core/replica_manager.h"
#include "sluice/replication/fetcher_manager.h"

namespace sluice::broker {

class image_applier {
  public:
    using image_ptr = std::shared_ptr<const controller::metadata_image>;

    // `fetchers` (may be null) is told after each image which partitions this broker follows.
    image_applier(boost::asio::io_context& io, const broker_config& config,
                  replica_manager& replicas, executor blocking,
                  replication::fetcher_manager* fetchers = nullptr);

    // Any thread: the image to apply next (a later offer replaces one not yet started).
    void offer(image_ptr image);

    // Any thread: the image applied last (null before the first), and its end offset.
    image_ptr applied() const;
    offset_t applied_offset() const;

    // From a coroutine: waits until an image at or past `offset` is applied, or `timeout` passed
    // (false), or the applier was stopped (false).
    awaitable<bool> wait_applied_async(offset_t offset, std::chrono::milliseconds timeout);

    // Removes the partition directories in log.dirs that no topic of the applied image places on
    // this broker (left by a deletion this broker missed, or an interrupted one). Call once the
    // image is known complete: this broker was unfenced. With `keep`, only logs them.
    awaitable<void> remove_strays(bool keep);

    // Stops applying (later offers are dropped) and wakes waiters.
    void stop();
    // From a coroutine: returns once no image is being applied (after stop(): for good).
    awaitable<void> wait_idle();

    // The strand images are applied on (remove_strays runs there too).
    const executor& strand() const { return strand_; }

  private:
    awaitable<void> run();
    awaitable<void> sweep(bool keep);
    awaitable<void> apply(const controller::metadata_image* before,
                          const controller::metadata_image& after);
    // The partitions `image` has this broker follow, with their leaders' endpoints.
    std::vector<replication::follow_spec> follows(const controller::metadata_image& image) const;

    const broker_config& config_;
    replica_manager& replicas_;
    replication::fetcher_manager* fetchers_;
    executor strand_;
    executor blocking_;

    std::mutex mutex_;  // guards next_, running_, stopped_
    image_ptr next_;
    bool running_ = false;
    bool stopped_ = false;
    // Under its own mutex, not std::atomic<shared_ptr>: libstdc++ 12's atomic load unlocks
    // with a relaxed store, so a load does not happen-before the next store (ThreadSanitizer
    // reports it). Held only to copy the pointer.
    mutable std::mutex applied_mutex_;
    image_ptr applied_;
    std::set<std::string, std::less<>> failed_;  // on strand_: topics whose partitions did not open
};

}  // namespace sluice::broker
