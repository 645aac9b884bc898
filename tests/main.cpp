// doctest runner: `build/tests` runs every test and exits non-zero on any failure.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
