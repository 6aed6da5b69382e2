// HERMOD_CHECK: aborts with file and line when an invariant is broken (a bug,
// not a failure of the world; see docs/style: "Errors").
#ifndef HERMOD_SCHEMAS_CHECK_H_
#define HERMOD_SCHEMAS_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define HERMOD_CHECK(cond)                                                                 \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: HERMOD_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

#endif  // HERMOD_SCHEMAS_CHECK_H_
