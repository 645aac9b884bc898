#include "core/pickle.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/check.h"

namespace cnx {

const PyValue* PyValue::get(const std::string& key) const {
    if (kind != Kind::Dict) return nullptr;
    for (size_t k = 0; k + 1 < items.size(); k += 2)
        if (items[k]->kind == Kind::Str && items[k]->s == key) return items[k + 1];
    return nullptr;
}

namespace {

using Kind = PyValue::Kind;
using PyRef = PyValue*;
using Arena = std::vector<std::unique_ptr<PyValue>>;

// Values built: a training checkpoint of ConvNeXt V2-huge with its optimizer state needs a few
// hundred thousand; the bound keeps a hostile pickle under ~0.5 GB.
constexpr int64_t kMaxValues = 1 << 21;
constexpr size_t kMaxStack = 1 << 20;
constexpr int kMaxDepth = 100;

const char* storage_dtype(const std::string& name) {
    static const char* const kTypes[][2] = {
        {"torch.FloatStorage", "F32"}, {"torch.HalfStorage", "F16"},   {"torch.BFloat16Storage", "BF16"},
        {"torch.DoubleStorage", "F64"}, {"torch.LongStorage", "I64"},  {"torch.IntStorage", "I32"},
        {"torch.ShortStorage", "I16"},  {"torch.CharStorage", "I8"},   {"torch.ByteStorage", "U8"},
        {"torch.BoolStorage", "BOOL"}};
    for (const auto& t : kTypes)
        if (name == t[0]) return t[1];
    return nullptr;
}

bool builtin_global(const std::string& name) {
    return name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor_v2" ||
           name == "torch._utils._rebuild_tensor" || name == "torch._utils._rebuild_parameter" ||
           storage_dtype(name) != nullptr;
}

// Carried beside the weights by training checkpoints; never used here.
bool inert_global(const std::string& name) {
    return name == "argparse.Namespace" || name == "numpy.core.multiarray.scalar" || name == "numpy.dtype" ||
           name == "numpy.core.multiarray._reconstruct" || name == "numpy.ndarray" || name == "torch.device" ||
           name == "builtins.set" || name == "builtins.slice" || name == "__builtin__.set";
}

class Unpickler {
public:
    Unpickler(const std::string& b, const std::string& where) : b_(b), where_(where), arena_(std::make_shared<Arena>()) {}
    const std::shared_ptr<Arena>& arena() const { return arena_; }

    PyRef run() {
        for (;;) {
            const int op = byte();
            switch (op) {
            case 0x80: byte(); break;                 // PROTO
            case 0x95: take(8); break;                // FRAME (its length: the opcodes follow inline)
            case '}': push(make(Kind::Dict)); break;  // EMPTY_DICT
            case ']': push(make(Kind::List)); break;
            case ')': push(make(Kind::Tuple)); break;
            case '(': marks_.push_back(stack_.size()); break;
            case 'N': push(make(Kind::None)); break;
            case 0x88: push(boolean(true)); break;
            case 0x89: push(boolean(false)); break;
            case 'J': push(integer((int32_t)le(4))); break;
            case 'K': push(integer((int64_t)le(1))); break;
            case 'M': push(integer((int64_t)le(2))); break;
            case 0x8a: push(long1()); break;
            case 'G': push(float64()); break;
            case 'X': push(str(take(le(4)))); break;           // BINUNICODE
            case 0x8c: push(str(take(le(1)))); break;          // SHORT_BINUNICODE
            case 0x8d: push(str(take(le(8)))); break;          // BINUNICODE8
            case 'T': push(str(take(le(4)))); break;           // BINSTRING
            case 'U': push(str(take(le(1)))); break;           // SHORT_BINSTRING
            case 'B': push(str(take(le(4)))); break;           // BINBYTES
            case 'C': push(str(take(le(1)))); break;           // SHORT_BINBYTES
            case 0x8e: push(str(take(le(8)))); break;          // BINBYTES8
            case 't': push(tuple(pop_mark())); break;
            case 0x85: push(tuple(pop_n(1))); break;
            case 0x86: push(tuple(pop_n(2))); break;
            case 0x87: push(tuple(pop_n(3))); break;
            case 'c': {                                        // GLOBAL "module\nname\n"
                const std::string module = line(), name = line();
                push(global(module + "." + name));
                break;
            }
            case 0x93: {                                       // STACK_GLOBAL
                PyRef name = pop(), module = pop();
                if (module->kind != Kind::Str || name->kind != Kind::Str) bad("STACK_GLOBAL of a non-string");
                push(global(module->s + "." + name->s));
                break;
            }
            case 'R': {
                PyRef args = pop(), fn = pop();
                push(reduce(fn, args));
                break;
            }
            case 0x81: {                                       // NEWOBJ cls args
                pop();
                PyRef cls = pop();
                push(reduce(cls, make(Kind::Tuple)));
                break;
            }
            case 'b': pop(); top(); break;                     // BUILD: the state is not applied
            case 's': {
                PyRef v = pop(), k = pop();
                dict_add(top(), k, v);
                break;
            }
            case 'u': {
                std::vector<PyRef> kv = pop_mark();
                if (kv.size() % 2) bad("SETITEMS with an odd count");
                for (size_t i = 0; i < kv.size(); i += 2) dict_add(top(), kv[i], kv[i + 1]);
                break;
            }
            case 'a': {
                PyRef v = pop();
                list_add(top(), {v});
                break;
            }
            case 'e': list_add(top(), pop_mark()); break;
            case 'q': memo_put(le(1)); break;
            case 'r': memo_put(le(4)); break;
            case 0x94: memo_put(memo_.size()); break;          // MEMOIZE
            case 'h': push(memo_get(le(1))); break;
            case 'j': push(memo_get(le(4))); break;
            case 'Q': push(persistent(pop())); break;          // BINPERSID
            case '0': pop(); break;                            // POP
            case '1': pop_mark(); break;                       // POP_MARK
            case '2': push(top()); break;                      // DUP
            case '.': {
                PyRef v = pop();
                return v;
            }
            default: fail("%s: unsupported pickle opcode 0x%02x at byte %zu", where_.c_str(), op, at_ - 1);
            }
        }
    }

private:
    const std::string& b_;
    const std::string& where_;
    size_t at_ = 0;
    int64_t made_ = 0;
    std::vector<PyRef> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, PyRef> memo_;
    std::shared_ptr<Arena> arena_;

    [[noreturn]] void bad(const char* what) const { fail("%s: malformed pickle: %s (byte %zu)", where_.c_str(), what, at_); }
    int byte() {
        if (at_ >= b_.size()) bad("ends before STOP");
        return (unsigned char)b_[at_++];
    }
    uint64_t le(int n) {
        uint64_t v = 0;
        for (int i = 0; i < n; i++) v |= (uint64_t)byte() << (8 * i);
        return v;
    }
    std::string take(uint64_t n) {
        if (n > b_.size() - at_) bad("a string runs past the end");
        std::string s = b_.substr(at_, (size_t)n);
        at_ += (size_t)n;
        return s;
    }
    std::string line() {
        const size_t end = b_.find('\n', at_);
        if (end == std::string::npos || end - at_ > 256) bad("GLOBAL without its line");
        std::string s = b_.substr(at_, end - at_);
        at_ = end + 1;
        return s;
    }
    PyRef make(Kind k) {
        if (++made_ > kMaxValues) bad("more values than any checkpoint holds");
        arena_->push_back(std::unique_ptr<PyValue>(new PyValue()));
        PyRef v = arena_->back().get();
        v->kind = k;
        return v;
    }
    PyRef boolean(bool x) {
        PyRef v = make(Kind::Bool);
        v->i = x;
        return v;
    }
    PyRef integer(int64_t x) {
        PyRef v = make(Kind::Int);
        v->i = x;
        return v;
    }
    PyRef str(std::string s) {
        PyRef v = make(Kind::Str);
        v->s = std::move(s);
        return v;
    }
    PyRef long1() {
        const int n = byte();
        if (n > 8) bad("an integer wider than 64 bits");
        uint64_t u = le(n);
        if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~0ull << (8 * n);  // sign-extend
        return integer((int64_t)u);
    }
    PyRef float64() {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | (uint64_t)byte();  // big-endian
        PyRef v = make(Kind::Float);
        std::memcpy(&v->f, &u, sizeof u);
        return v;
    }
    PyRef tuple(std::vector<PyRef> items) {
        PyRef v = make(Kind::Tuple);
        for (const PyRef& x : items) deepen(v, x);
        v->items = std::move(items);
        return v;
    }
    void deepen(const PyRef& parent, const PyRef& child) {
        parent->depth = std::max(parent->depth, child->depth + 1);
        if (parent->depth > kMaxDepth) bad("values nested too deep");
    }
    void push(PyRef v) {
        if (stack_.size() >= kMaxStack) bad("stack too deep");
        stack_.push_back(std::move(v));
    }
    PyRef pop() {
        if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) bad("stack underflow");
        PyRef v = stack_.back();
        stack_.pop_back();
        return v;
    }
    PyRef& top() {
        if (stack_.empty()) bad("stack underflow");
        return stack_.back();
    }
    std::vector<PyRef> pop_n(size_t n) {
        std::vector<PyRef> v(n);
        for (size_t i = n; i-- > 0;) v[i] = pop();
        return v;
    }
    std::vector<PyRef> pop_mark() {
        if (marks_.empty()) bad("no MARK");
        const size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PyRef> v(stack_.begin() + (std::ptrdiff_t)m, stack_.end());
        stack_.resize(m);
        return v;
    }
    void memo_put(uint64_t k) {
        if (memo_.size() >= (size_t)kMaxValues) bad("memo too large");
        memo_[k] = top();
    }
    PyRef memo_get(uint64_t k) {
        auto it = memo_.find(k);
        if (it == memo_.end()) bad("a memo key that was never stored");
        return it->second;
    }
    void dict_add(const PyRef& d, const PyRef& k, const PyRef& v) {
        if (d->kind == Kind::Opaque) return;
        if (d->kind != Kind::Dict) bad("SETITEM on a non-dict");
        if (d->items.size() >= (size_t)kMaxValues) bad("dict too large");
        deepen(d, k);
        deepen(d, v);
        d->items.push_back(k);
        d->items.push_back(v);
    }
    void list_add(const PyRef& l, const std::vector<PyRef>& items) {
        if (l->kind == Kind::Opaque) return;
        if (l->kind != Kind::List) bad("APPEND on a non-list");
        for (const PyRef& x : items) deepen(l, x);
        l->items.insert(l->items.end(), items.begin(), items.end());
    }
    PyRef global(const std::string& name) {
        if (!builtin_global(name) && !inert_global(name))
            fail("%s: refuses the pickled global %s (only what a state_dict needs is read; nothing is ever executed)",
                 where_.c_str(), name.c_str());
        PyRef v = make(builtin_global(name) ? Kind::Global : Kind::Opaque);
        v->s = name;
        return v;
    }
    static int64_t as_int(const PyRef& v, const char* what, const Unpickler& u) {
        if (v->kind != Kind::Int && v->kind != Kind::Bool) u.bad(what);
        return v->i;
    }
    std::vector<int64_t> ints(const PyRef& t, const char* what) {
        if (t->kind != Kind::Tuple && t->kind != Kind::List) bad(what);
        std::vector<int64_t> v;
        for (const PyRef& x : t->items) v.push_back(as_int(x, what, *this));
        return v;
    }
    PyRef reduce(const PyRef& fn, const PyRef& args) {
        if (fn->kind == Kind::Opaque) {
            PyRef v = make(Kind::Opaque);
            v->s = fn->s;
            return v;
        }
        if (fn->kind != Kind::Global || args->kind != Kind::Tuple) bad("REDUCE of something not callable");
        const std::string& name = fn->s;
        const std::vector<PyRef>& a = args->items;
        if (name == "collections.OrderedDict") return make(Kind::Dict);
        if (name == "torch._utils._rebuild_parameter") {
            if (a.empty()) bad("_rebuild_parameter without its tensor");
            return a[0];
        }
        if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
            if (a.size() < 4 || a[0]->kind != Kind::Storage) bad("a tensor without its storage, offset, size and stride");
            PyRef t = make(Kind::Tensor);
            t->storage = a[0];
            t->offset = as_int(a[1], "a tensor offset that is not an integer", *this);
            t->size = ints(a[2], "a tensor size that is not a tuple of integers");
            t->stride = ints(a[3], "a tensor stride that is not a tuple of integers");
            if (t->size.size() != t->stride.size()) bad("a tensor whose size and stride differ in rank");
            return t;
        }
        fail("%s: refuses to call the pickled global %s", where_.c_str(), name.c_str());
    }
    PyRef persistent(const PyRef& pid) {
        // ('storage', <storage type>, key, location, numel)
        if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::Str ||
            pid->items[0]->s != "storage" || pid->items[1]->kind != Kind::Global || pid->items[2]->kind != Kind::Str)
            bad("a persistent id that is not a tensor storage");
        const char* dtype = storage_dtype(pid->items[1]->s);
        if (!dtype) bad("a storage of an unknown type");
        PyRef s = make(Kind::Storage);
        s->dtype = dtype;
        s->s = pid->items[2]->s;
        s->i = as_int(pid->items[4], "a storage size that is not an integer", *this);
        if (s->i < 0) bad("a negative storage size");
        return s;
    }
};

}  // namespace

std::shared_ptr<const PyValue> unpickle(const std::string& bytes, const std::string& where) {
    Unpickler u(bytes, where);
    const PyValue* root = u.run();
    return std::shared_ptr<const PyValue>(u.arena(), root);  // shares the arena's ownership
}

}  // namespace cnx
