// Manifest datasets (JSON or CSV, see data/datasets.h). Opening parses the manifest and checks
// every sample from the image headers alone: the files exist and decode as images, channel counts
// suit the modalities, the modalities and the label map of a sample have one size, class labels
// lie in [0, num_classes). get() then decodes the pixels (and checks label-map values).
#include <algorithm>
#include <cctype>
#include <climits>
#include <nlohmann/json.hpp>

#include "data/datasets.h"
#include "data/reader_support.h"

namespace xmkd::data {
namespace {

using nlohmann::json;

struct ModalityColumn {
  ModalitySpec spec;
  float scale = 0.0f;   // 0: chosen from the file's bit depth (default_scale)
};

// Without an explicit "scale": a 16-bit "depth" image holds millimetres (-> metres); anything else
// maps its full stored range to [0, 1].
float scale_for(const ModalityColumn& m, int bit_depth) {
  if (m.scale > 0.0f) return m.scale;
  if (m.spec.name == "depth" && bit_depth == 16) return 0.001f;
  return unit_scale(bit_depth);
}

int64_t default_channels(const std::string& modality) { return modality == "rgb" ? 3 : 1; }

struct Entry {
  std::vector<std::string> images;   // resolved paths, one per modality
  int64_t label = -1;
  std::string label_map;             // resolved path (segmentation)
};

class ManifestDataset : public Dataset {
 public:
  ManifestDataset(std::string path, Task task, int64_t num_classes, std::vector<ModalityColumn> columns,
                  std::vector<Entry> entries)
      : path_(std::move(path)), task_(task), num_classes_(num_classes), columns_(std::move(columns)),
        entries_(std::move(entries)) {
    for (auto& c : columns_) specs_.push_back(c.spec);
    validate();
  }

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  const std::vector<ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return num_classes_; }
  Task task() const override { return task_; }

  std::vector<int64_t> labels() const override {
    if (task_ != Task::Classification) return {};
    std::vector<int64_t> out;
    out.reserve(entries_.size());
    for (auto& e : entries_) out.push_back(e.label);
    return out;
  }

  std::string describe() const override {
    std::string mods;
    for (size_t m = 0; m < specs_.size(); ++m) mods += str_cat(m ? ", " : "", specs_[m].name, " (", specs_[m].channels, ")");
    return str_cat("manifest ", path_, ": ", task_name(task_), ", ", entries_.size(), " samples, ", num_classes_,
                   " classes, modalities ", mods);
  }

  Sample get(int64_t index) const override {
    XMKD_CHECK(index >= 0 && index < size(), path_, ": sample index ", index, " is outside [0, ", size(), ")");
    const Entry& e = entries_[static_cast<size_t>(index)];
    Sample s;
    s.label = task_ == Task::Classification ? e.label : -1;
    int64_t h = 0, w = 0;
    for (size_t m = 0; m < columns_.size(); ++m) {
      const Image image = read_image(e.images[m]);
      const ModalitySpec& spec = columns_[m].spec;
      XMKD_CHECK(channels_compatible(image.channels, spec.channels), e.images[m], ": has ", image.channels,
                 " channel(s), modality '", spec.name, "' of ", path_, " expects ", spec.channels);
      if (m == 0) {
        h = image.height;
        w = image.width;
      }
      XMKD_CHECK(image.height == h && image.width == w, e.images[m], ": is ", image.width, "x", image.height, " but ",
                 e.images[0], " (same sample of ", path_, ") is ", w, "x", h);
      s.images.push_back(image_to_tensor(image, scale_for(columns_[m], image.bit_depth), spec.channels));
    }
    if (task_ == Task::Segmentation) {
      const Tensor map = read_label_map(e.label_map, num_classes_);
      XMKD_CHECK(map.dim(0) == h && map.dim(1) == w, e.label_map, ": label map is ", map.dim(1), "x", map.dim(0),
                 " but the images of this sample are ", w, "x", h);
      s.label_maps.assign(columns_.size(), map);
    }
    return s;
  }

 private:
  // Header-only checks of every sample (see the top of this file).
  void validate() const {
    for (size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      std::string where;
      try {
        ImageHeader first;
        for (size_t m = 0; m < columns_.size(); ++m) {
          const ModalitySpec& spec = columns_[m].spec;
          where = str_cat("modality '", spec.name, "'");
          const ImageHeader h = read_image_header(e.images[m]);
          XMKD_CHECK(channels_compatible(h.channels, spec.channels), e.images[m], ": has ", h.channels,
                     " channel(s) but modality '", spec.name, "' expects ", spec.channels);
          if (m == 0) first = h;
          XMKD_CHECK(h.height == first.height && h.width == first.width, e.images[m], ": is ", h.width, "x", h.height,
                     " but ", e.images[0], " (modality '", columns_[0].spec.name, "') is ", first.width, "x", first.height,
                     "; the modalities of a sample must have one size");
        }
        if (task_ == Task::Segmentation) {
          where = "label_map";
          const ImageHeader h = check_label_map_header(e.label_map);
          XMKD_CHECK(h.height == first.height && h.width == first.width, e.label_map, ": label map is ", h.width, "x",
                     h.height, " but the images of the sample are ", first.width, "x", first.height);
        } else {
          where = "label";
          XMKD_CHECK(e.label >= 0 && e.label < num_classes_, "label ", e.label, " is outside [0, ", num_classes_,
                     ") (num_classes = ", num_classes_, ")");
        }
      } catch (const Error& err) {
        fail(path_, ": sample ", i, ", ", where, ": ", err.what());
      }
    }
  }

  std::string path_;
  Task task_;
  int64_t num_classes_;
  std::vector<ModalityColumn> columns_;
  std::vector<ModalitySpec> specs_;
  std::vector<Entry> entries_;
};

// --- JSON -------------------------------------------------------------------------------------

class JsonReader {
 public:
  explicit JsonReader(const std::string& path) : path_(path) {}

  const json& key(const json& object, const std::string& name, const std::string& where) const {
    auto it = object.find(name);
    XMKD_CHECK(it != object.end(), path_, ": missing key \"", where, "\"");
    return *it;
  }
  [[noreturn]] void wrong_type(const std::string& where, const char* expected, const json& value) const {
    std::string text = value.dump();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    fail(path_, ": key \"", where, "\" must be ", expected, ", got ", value.type_name(), " ", text);
  }
  int64_t integer(const json& v, const std::string& where, int64_t lo, int64_t hi) const {
    // nlohmann keeps non-negative integers as uint64: compare those without a signed cast.
    bool ok = false;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      ok = u <= static_cast<uint64_t>(hi) && (lo <= 0 || u >= static_cast<uint64_t>(lo));
    } else if (v.is_number_integer()) {
      ok = v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
    }
    if (!ok) wrong_type(where, str_cat("an integer in [", lo, ", ", hi, "]").c_str(), v);
    return v.get<int64_t>();
  }
  std::string string(const json& v, const std::string& where) const {
    if (!v.is_string() || v.get<std::string>().empty()) wrong_type(where, "a non-empty string", v);
    return v.get<std::string>();
  }
  const json& array(const json& v, const std::string& where) const {
    if (!v.is_array() || v.empty()) wrong_type(where, "a non-empty array", v);
    return v;
  }
  const json& object(const json& v, const std::string& where) const {
    if (!v.is_object()) wrong_type(where, "an object", v);
    return v;
  }

 private:
  const std::string& path_;
};

std::shared_ptr<Dataset> open_json_manifest(const std::string& path, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, ": the manifest is not valid JSON: ", e.what());
  }
  const JsonReader r(path);
  XMKD_CHECK(doc.is_object(), path, ": the manifest must be a JSON object with keys \"task\", \"num_classes\", ",
             "\"modalities\" and \"samples\", got ", doc.type_name());

  const json& task_value = r.key(doc, "task", "task");
  const std::string task_text = r.string(task_value, "task");
  if (task_text != "classification" && task_text != "segmentation")
    r.wrong_type("task", "\"classification\" or \"segmentation\"", task_value);
  const Task task = parse_task(task_text);
  // 8-bit label maps keep 255 for "ignore", so a segmentation has at most 255 classes.
  const int64_t num_classes =
      r.integer(r.key(doc, "num_classes", "num_classes"), "num_classes", 1, task == Task::Segmentation ? kIgnoreLabel : INT32_MAX);

  std::vector<ModalityColumn> columns;
  const json& mods = r.array(r.key(doc, "modalities", "modalities"), "modalities");
  for (size_t m = 0; m < mods.size(); ++m) {
    const std::string where = str_cat("modalities[", m, "]");
    const json& mod = r.object(mods[m], where);
    ModalityColumn col;
    col.spec.name = r.string(r.key(mod, "name", where + ".name"), where + ".name");
    XMKD_CHECK(col.spec.name != "label" && col.spec.name != "label_map", path, ": key \"", where,
               ".name\": \"label\" and \"label_map\" are reserved sample keys, not modality names");
    for (auto& other : columns)
      XMKD_CHECK(other.spec.name != col.spec.name, path, ": key \"", where, ".name\": modality '", col.spec.name,
                 "' is listed twice");
    col.spec.channels = mod.contains("channels") ? r.integer(mod["channels"], where + ".channels", 1, 4)
                                                 : default_channels(col.spec.name);
    if (mod.contains("scale")) {
      const json& s = mod["scale"];
      // Kept inside float's range, where the factor is applied.
      if (!s.is_number() || !(s.get<double>() >= 1e-30 && s.get<double>() <= 1e30))
        r.wrong_type(where + ".scale", "a positive number in [1e-30, 1e30]", s);
      col.scale = static_cast<float>(s.get<double>());
    }
    columns.push_back(col);
  }

  std::vector<Entry> entries;
  const json& samples = r.array(r.key(doc, "samples", "samples"), "samples");
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string where = str_cat("samples[", i, "]");
    const json& s = r.object(samples[i], where);
    for (auto& item : s.items()) {
      const std::string& k = item.key();
      const bool known = k == "label" || k == "label_map" ||
                         std::any_of(columns.begin(), columns.end(), [&](const ModalityColumn& c) { return c.spec.name == k; });
      XMKD_CHECK(known, path, ": key \"", where, ".", k, "\" is neither a modality listed in \"modalities\" nor ",
                 "\"label\" / \"label_map\"");
    }
    Entry e;
    for (auto& col : columns) {
      const std::string key = where + "." + col.spec.name;
      e.images.push_back(resolve_relative(path, r.string(r.key(s, col.spec.name, key), key)));
    }
    if (task == Task::Classification) {
      e.label = r.integer(r.key(s, "label", where + ".label"), where + ".label", 0, num_classes - 1);
    } else {
      const std::string key = where + ".label_map";
      e.label_map = resolve_relative(path, r.string(r.key(s, "label_map", key), key));
    }
    entries.push_back(std::move(e));
  }
  return std::make_shared<ManifestDataset>(path, task, num_classes, std::move(columns), std::move(entries));
}

// --- CSV --------------------------------------------------------------------------------------

// Comma-separated fields, trimmed; a field may be double-quoted ("" inside for one quote).
std::vector<std::string> split_csv_line(const std::string& line, const std::string& path, size_t line_number) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') field += c;
      else if (i + 1 < line.size() && line[i + 1] == '"') field += line[++i];
      else quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(trim(field));
      field.clear();
    } else {
      field += c;
    }
  }
  XMKD_CHECK(!quoted, path, ": line ", line_number, ": unterminated quoted field");
  fields.push_back(trim(field));
  return fields;
}

std::shared_ptr<Dataset> open_csv_manifest(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path, "manifest");
  std::vector<std::string> header;
  size_t header_line = 0;
  std::vector<std::pair<size_t, std::vector<std::string>>> rows;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string t = trim(lines[n]);
    if (t.empty() || t[0] == '#') continue;
    auto fields = split_csv_line(lines[n], path, n + 1);
    if (header.empty()) {
      header = std::move(fields);
      header_line = n + 1;
    } else {
      rows.emplace_back(n + 1, std::move(fields));
    }
  }
  XMKD_CHECK(!header.empty(), path, ": empty CSV manifest; expected a header row naming the modality columns and ",
             "\"label\" or \"label_map\"");

  std::vector<ModalityColumn> columns;
  std::vector<size_t> image_cols;
  int64_t label_col = -1, label_map_col = -1;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string& name = header[c];
    XMKD_CHECK(!name.empty(), path, ": line ", header_line, ": column ", c + 1, " of the header has no name");
    for (size_t d = 0; d < c; ++d)
      XMKD_CHECK(header[d] != name, path, ": line ", header_line, ": column \"", name, "\" appears twice in the header");
    if (name == "label") {
      label_col = static_cast<int64_t>(c);
    } else if (name == "label_map") {
      label_map_col = static_cast<int64_t>(c);
    } else {
      ModalityColumn col;
      col.spec = {name, default_channels(name)};
      columns.push_back(col);
      image_cols.push_back(c);
    }
  }
  XMKD_CHECK(!columns.empty(), path, ": the header names no modality column (only \"label\" / \"label_map\")");
  XMKD_CHECK(label_col >= 0 || label_map_col >= 0, path, ": missing key \"label\" (classification) or \"label_map\" ",
             "(segmentation) in the header row");
  const Task task = label_map_col >= 0 ? Task::Segmentation : Task::Classification;
  XMKD_CHECK(!rows.empty(), path, ": the manifest lists no samples (only a header row)");

  std::vector<Entry> entries;
  int64_t max_class = -1;
  for (auto& [line, fields] : rows) {
    XMKD_CHECK(fields.size() == header.size(), path, ": line ", line, " has ", fields.size(), " fields, the header has ",
               header.size());
    Entry e;
    for (size_t m = 0; m < columns.size(); ++m) {
      const std::string& p = fields[image_cols[m]];
      XMKD_CHECK(!p.empty(), path, ": line ", line, ", column \"", columns[m].spec.name, "\": empty path");
      e.images.push_back(resolve_relative(path, p));
    }
    if (task == Task::Classification) {
      const std::string& text = fields[static_cast<size_t>(label_col)];
      XMKD_CHECK(parse_int64(text, &e.label) && e.label >= 0 && e.label < INT32_MAX, path, ": line ", line,
                 ", column \"label\": expected a non-negative integer class, got '", text, "'");
      max_class = std::max(max_class, e.label);
    } else {
      const std::string& p = fields[static_cast<size_t>(label_map_col)];
      XMKD_CHECK(!p.empty(), path, ": line ", line, ", column \"label_map\": empty path");
      e.label_map = resolve_relative(path, p);
    }
    entries.push_back(std::move(e));
  }
  if (task == Task::Segmentation) {
    // A CSV carries no class count: every label map is decoded once to find it.
    for (auto& e : entries) {
      const Tensor map = read_label_map(e.label_map, kIgnoreLabel);
      const int64_t* v = map.data<int64_t>();
      for (int64_t i = 0; i < map.numel(); ++i)
        if (v[i] != kIgnoreLabel) max_class = std::max(max_class, v[i]);
    }
    XMKD_CHECK(max_class >= 0, path, ": every label map holds only the ignore value ", kIgnoreLabel,
               "; no class to learn");
  }
  return std::make_shared<ManifestDataset>(path, task, max_class + 1, std::move(columns), std::move(entries));
}

std::string lowercase_extension(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

std::shared_ptr<Dataset> open_manifest(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  if (ext == "csv") return open_csv_manifest(path);
  XMKD_CHECK(ext == "json", path, ": unknown manifest type '.", ext, "'; expected a .json or .csv file");
  const std::vector<std::string> lines = read_lines(path, "manifest");
  std::string text;
  for (auto& l : lines) text += l + "\n";
  return open_json_manifest(path, text);
}

}  // namespace xmkd::data
