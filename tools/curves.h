// A picture of a run: DIR/curves.svg, redrawn from metrics.jsonl after every epoch. Panels: the
// train and test (held-out) loss, the test top-1 (raw and EMA weights; supervised runs), and the
// learning rate at each epoch's end, against epochs.
#pragma once

#include <string>

namespace cnx {

// Reads the metrics lines at metrics_path and writes the SVG to svg_path (atomically). Lines that do
// not parse are skipped.
void write_curves(const std::string& metrics_path, const std::string& svg_path);

}  // namespace cnx
