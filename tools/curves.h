// A picture of a run: DIR/curves.svg, redrawn from metrics.jsonl after every epoch. Panels: the
// train and test (held-out) loss, the test top-1 (raw and EMA weights; supervised runs), and the
// learning rate at each epoch's end, against epochs; pre-training adds its latest reconstructions.
#pragma once

#include <string>

namespace cnx {

// An image file beside the SVG (a name relative to it) to show in a panel of its own.
struct CurvesPicture {
    std::string file, title;
    int w = 0, h = 0;
};

// Reads the metrics lines at metrics_path and writes the SVG to svg_path (atomically). Lines that do
// not parse are skipped. A picture with a file name is linked into a last panel.
void write_curves(const std::string& metrics_path, const std::string& svg_path, const CurvesPicture& picture = {});

}  // namespace cnx
