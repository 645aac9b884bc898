// Errors and always-on checks.
//
// Two kinds of failure:
//  - user errors (bad file, unknown flag, wrong shape): throw cnx::Error with one clear line; the CLI
//    catches it, prints "error: ..." and exits non-zero. Use cnx::fail(fmt, ...).
//  - programming errors (a broken invariant): CNX_CHECK prints file:line and aborts, in every build.
//    CNX_DCHECK is the same but compiled out under NDEBUG (hot loops only).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace cnx {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// printf-style formatting into a std::string.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Throws cnx::Error with the formatted message.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Index of the first NaN or infinite value of x[0..n), or -1 when all are finite.
int64_t find_non_finite(const float* x, int64_t n);

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const char* msg);

}  // namespace cnx

#define CNX_CHECK(cond, msg)                                            \
    do {                                                                \
        if (!(cond)) ::cnx::check_failed(__FILE__, __LINE__, #cond, msg); \
    } while (0)

#ifdef NDEBUG
// Unevaluated, but its operands count as used (no unused-parameter warnings).
#define CNX_DCHECK(cond, msg) ((void)sizeof(!(cond)))
#else
#define CNX_DCHECK(cond, msg) CNX_CHECK(cond, msg)
#endif
