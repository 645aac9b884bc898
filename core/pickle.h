// A restricted unpickler for what torch.save writes around a state_dict. It reads the opcodes of
// pickle protocols 2-5 that such files use and builds plain values: nothing is ever constructed,
// imported or called. The globals a state_dict needs act as built-ins (collections.OrderedDict, the
// tensor rebuild functions, the storage types); a few harmless ones that training checkpoints carry
// beside the weights (argparse.Namespace, numpy scalars and dtypes) become inert placeholders; any
// other global is refused with an error naming it. Sizes are bounded: the stack, the memo, the
// nesting and the number of values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cnx {

// Values point at each other without owning: one arena per unpickle() owns them all, so a pickle
// that puts a list into itself (a cycle) frees like any other.
struct PyValue {
    enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor, Opaque };
    Kind kind = Kind::None;
    int64_t i = 0;                  // Bool, Int; Storage: element count
    double f = 0;                   // Float
    std::string s;                  // Str; Global, Opaque: "module.name"; Storage: its key (file name)
    std::string dtype;              // Storage: F32, F16, BF16, F64, I64, I32, U8, BOOL...
    std::vector<PyValue*> items;    // Tuple, List; Dict: key, value, key, value...
    PyValue* storage = nullptr;     // Tensor
    int64_t offset = 0;             // Tensor: storage offset, in elements
    std::vector<int64_t> size, stride;  // Tensor
    int depth = 0;                  // nesting below this value (bounded: deep chains would recurse)

    // Dict lookup by string key (null when absent or not a dict).
    const PyValue* get(const std::string& key) const;
};

// The value the pickle builds; the handle keeps every value it reaches alive. Throws cnx::Error
// naming `where` on anything malformed or refused.
std::shared_ptr<const PyValue> unpickle(const std::string& bytes, const std::string& where);

}  // namespace cnx
