// Fills a consumer_records: the one place that writes its private parts.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "sluice/consumer/consumer.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::detail {

class records_builder {
  public:
    size_t size() const { return out_.records_.size(); }

    // Keeps `owner` (what the next records' views point into) alive as long as the result.
    void keep(std::shared_ptr<const void> owner);
    consumer_record_ref& add() { return out_.records_.emplace_back(); }
    // The headers of the record added last; they point into the kept owner.
    void set_headers(std::span<const header_view> headers);

    // The records, with their header spans set (the header storage no longer grows).
    consumer_records finish() &&;

  private:
    struct pending_headers {
        size_t record;
        size_t first;
        size_t count;
    };
    consumer_records out_;
    std::vector<pending_headers> pending_;
};

}  // namespace sluice::detail
