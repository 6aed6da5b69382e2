// The incarnation id of a node's data directory (docs/cluster.md, "Disk
// loss"): a random id kept in the file `incarnation` in the data dir. A
// node that comes back with an empty or foreign data dir has another one,
// so the controller knows that it holds nothing and must catch up before it
// may lead. Runs at startup, before the loop serves anything (it reads and
// fsyncs one small file). Any thread.
#ifndef HERMOD_CLUSTER_INCARNATION_H_
#define HERMOD_CLUSTER_INCARNATION_H_

#include <string>

#include "hermod/status.h"

namespace hermod::cluster {

// Reads data_dir/incarnation, or creates it with a new random id (written
// to a temporary file, fsynced, renamed, and the directory fsynced, so a
// crash leaves either no file or a whole one). kIoError when the file
// cannot be read or written; kInvalidArgument when it holds garbage.
Result<std::string> LoadOrCreateIncarnation(const std::string& data_dir);

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_INCARNATION_H_
