#include "tools/curves.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"

namespace cnx {

namespace {

struct Series {
    const char* key;    // the metrics field
    const char* label;
    const char* color;
    std::vector<std::pair<double, double>> points;  // (epoch, value)
};

struct Panel {
    const char* title;
    double scale;  // values are drawn times this (100 for accuracies in %)
    std::vector<Series> series;
};

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
    const double span = hi > lo ? hi - lo : 1.0;
    const double raw = span / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    std::vector<double> t;
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
    return t;
}

std::string draw(const Panel& p, double ox, double oy, double w, double h, double max_epoch) {
    int shown = 0;  // legend lines, above the plot
    for (const Series& s : p.series) shown += !s.points.empty();
    const double left = ox + 58, right = ox + w - 12, top = oy + 30 + 15 * shown, bottom = oy + h - 40;
    double lo = INFINITY, hi = -INFINITY;
    for (const Series& s : p.series)
        for (const auto& pt : s.points) {
            lo = std::min(lo, pt.second * p.scale);
            hi = std::max(hi, pt.second * p.scale);
        }
    std::string svg = strfmt("<text x='%.0f' y='%.0f' font-size='15' font-weight='bold'>%s</text>\n", left, oy + 18, p.title);
    if (!(lo <= hi)) return svg + strfmt("<text x='%.0f' y='%.0f' font-size='13'>(no data yet)</text>\n", left, (top + bottom) / 2);
    const double pad = hi > lo ? 0.06 * (hi - lo) : std::max(std::fabs(hi) * 0.05, 1e-3);
    lo -= pad;
    hi += pad;
    auto X = [&](double e) { return left + (right - left) * e / max_epoch; };
    auto Y = [&](double v) { return bottom - (bottom - top) * (v - lo) / (hi - lo); };
    svg += strfmt("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n", left, top, right - left,
                  bottom - top);
    for (double v : ticks(lo, hi))
        svg += strfmt("<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='#ddd'/><text x='%.1f' y='%.1f' font-size='12' "
                      "text-anchor='end'>%.4g</text>\n", left, right, Y(v), Y(v), left - 5, Y(v) + 4, v);
    for (double e : ticks(0, max_epoch))
        svg += strfmt("<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>%.4g</text>\n", X(e), bottom + 16, e);
    svg += strfmt("<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>epoch</text>\n", (left + right) / 2, bottom + 32);
    double legend_y = oy + 36;
    for (const Series& s : p.series) {
        if (s.points.empty()) continue;
        std::string pts;
        for (const auto& pt : s.points) pts += strfmt("%.1f,%.1f ", X(pt.first), Y(pt.second * p.scale));
        svg += strfmt("<polyline fill='none' stroke='%s' stroke-width='2' points='%s'/>\n", s.color, pts.c_str());
        for (const auto& pt : s.points)
            svg += strfmt("<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n", X(pt.first), Y(pt.second * p.scale), s.color);
        svg += strfmt("<text x='%.1f' y='%.1f' font-size='12' fill='%s'>&#8212; %s (last %.4g)</text>\n", left, legend_y, s.color,
                      s.label, s.points.back().second * p.scale);
        legend_y += 16;
    }
    return svg;
}

}  // namespace

void write_curves(const std::string& metrics_path, const std::string& svg_path, const CurvesPicture& picture) {
    std::vector<Panel> panels = {
        {"loss", 1, {{"train_loss", "train", "#1f77b4", {}}, {"test_loss", "test", "#d62728", {}}, {"ema_test_loss", "test, EMA", "#ff7f0e", {}}}},
        {"test top-1 (%)", 100, {{"test_acc", "weights", "#2ca02c", {}}, {"ema_test_acc", "EMA weights", "#9467bd", {}}}},
        {"learning rate", 1, {{"lr", "at the epoch's end", "#444444", {}}}}};
    double max_epoch = 1;
    const std::string text = file_exists(metrics_path) ? read_file(metrics_path) : "";
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        try {
            const Json j = Json::parse(text.substr(start, end - start), metrics_path);
            const Json* e = j.find("epoch");
            if (e && e->is_number()) {
                max_epoch = std::max(max_epoch, e->as_number());
                for (Panel& p : panels)
                    for (Series& s : p.series)
                        if (const Json* v = j.find(s.key))
                            if (v->is_number() && std::isfinite(v->as_number())) s.points.push_back({e->as_number(), v->as_number()});
            }
        } catch (const Error&) {
        }
        start = end + 1;
    }
    if (panels[1].series[0].points.empty()) panels.erase(panels.begin() + 1);  // pre-training: no accuracy
    const double w = 420, h = 320;
    // the picture keeps its aspect ratio within the panel height
    const double pic_scale = picture.file.empty() ? 0 : std::min(1.0, (h - 40) / std::max(1, picture.h));
    const double pic_w = picture.file.empty() ? 0 : std::max(w, picture.w * pic_scale + 24);
    std::string svg = strfmt("<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink' width='%.0f' "
                             "height='%.0f' font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
                             w * (double)panels.size() + pic_w, h);
    for (size_t i = 0; i < panels.size(); i++) svg += draw(panels[i], w * (double)i, 0, w, h, max_epoch);
    if (!picture.file.empty()) {
        const double ox = w * (double)panels.size() + 12;
        svg += strfmt("<text x='%.0f' y='18' font-size='13' font-weight='bold'>%s</text>\n", ox, picture.title.c_str());
        svg += strfmt("<image x='%.0f' y='30' width='%.0f' height='%.0f' href='%s' xlink:href='%s'/>\n", ox, picture.w * pic_scale,
                      picture.h * pic_scale, picture.file.c_str(), picture.file.c_str());
    }
    write_file_atomic(svg_path, svg + "</svg>\n");
}

}  // namespace cnx
