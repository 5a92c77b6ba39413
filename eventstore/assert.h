// LEDGER_ASSERT: an invariant check that stays on in every build people run (RelWithDebInfo defines
// NDEBUG, which turns the standard assert() off). A broken invariant means the process cannot be trusted
// to go on, so it prints file, line and message to stderr and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>

#define LEDGER_ASSERT(condition, message)                                                         \
  do {                                                                                            \
    if (!(condition)) {                                                                           \
      std::fprintf(stderr, "%s:%d: assertion failed: %s: %s\n", __FILE__, __LINE__, #condition,   \
                   (message));                                                                    \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)
