// A plain-text table with left-aligned columns, for `sluice topic describe`.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace sluice::cli {

class table {
  public:
    explicit table(std::vector<std::string> header) : rows_{std::move(header)} {}

    // A row with as many cells as the header.
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

    // Every row on its own line, each starting with `indent`, cells padded to the widest cell of
    // their column and separated by two spaces; no trailing spaces.
    std::string render(const std::string& indent) const {
        std::vector<size_t> width;
        for (const auto& row : rows_) {
            width.resize(std::max(width.size(), row.size()), 0);
            for (size_t i = 0; i < row.size(); ++i) {
                width[i] = std::max(width[i], row[i].size());
            }
        }
        std::string out;
        for (const auto& row : rows_) {
            std::string line = indent;
            for (size_t i = 0; i < row.size(); ++i) {
                line += row[i];
                if (i + 1 < row.size()) {
                    line.append(width[i] - row[i].size() + 2, ' ');
                }
            }
            out += line;
            out += '\n';
        }
        return out;
    }

  private:
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace sluice::cli
