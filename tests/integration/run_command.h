// RunCommand: runs a program to completion with given stdin, capturing its
// stdout and stderr, bounded by a timeout (then it is killed). For tests of
// command-line tools (build/bin/hermod).
//
// Call from one thread at a time per invocation; it forks, so the usual
// fork caveats of a multi-threaded test process apply (nothing but exec runs
// in the child).
#ifndef HERMOD_TESTS_INTEGRATION_RUN_COMMAND_H_
#define HERMOD_TESTS_INTEGRATION_RUN_COMMAND_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "broker_process.h"
#include "hermod/status.h"

namespace hermod::test {

struct CommandResult {
  ExitStatus exit;
  std::string out;  // everything the program wrote to stdout
  std::string err;  // and to stderr
};

struct CommandOptions {
  std::string stdin_data;  // written to the program's stdin, which is then closed
  // Environment variables to set (name, value) on top of the test's own.
  std::vector<std::pair<std::string, std::string>> env;
  // Environment variables to remove.
  std::vector<std::string> unset_env;
  std::chrono::milliseconds timeout{20000};
};

// Runs argv[0] (a path) with argv. Fails only when the program could not be
// run or did not finish within options.timeout (it is then killed).
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options = {});

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_RUN_COMMAND_H_
