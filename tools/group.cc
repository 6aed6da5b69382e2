// `hermod group ...`: group administration: create, add and remove
// members (from arguments, or one name per line of stdin with `-`), list
// groups, show a group's members, delete a group. Publishing to a group is
// `hermod pub --group` (pub.cc). See docs/cli.md.
//
// Every command runs on the main thread and uses libhermod's blocking calls;
// lists are paged through until their end.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "json.h"

namespace hermod::cli {

namespace {

// Names asked for per page when listing groups or members.
constexpr uint32_t kGroupPage = 1000;
// Bounds a listing: the broker gives at most this many pages before the
// command gives up (far more than any real group needs).
constexpr uint64_t kMaxPages = 1u << 20;

struct GroupOptions {
  std::string group;
  std::vector<std::string> members;  // add/remove; "-" reads stdin
  std::string prefix;                // ls
  bool json = false;
};

std::unique_ptr<Client> Connect(const GlobalOptions& global) {
  return ConnectOrReport(global, CommandClientOptions("hermod group"));
}

// The member names: the arguments, with "-" replaced by stdin's lines
// (one name per line; a trailing CR is dropped, empty lines are skipped).
Result<std::vector<std::string>> MemberNames(const std::vector<std::string>& args) {
  std::vector<std::string> names;
  bool read_stdin = false;
  for (const std::string& arg : args) {
    if (arg != "-") {
      names.push_back(arg);
      continue;
    }
    if (read_stdin) return Status::InvalidArgument("'-' (read stdin) given twice");
    read_stdin = true;
    std::string line;
    char buffer[64 * 1024];
    for (;;) {
      size_t n = std::fread(buffer, 1, sizeof(buffer), stdin);
      for (size_t i = 0; i < n; ++i) {
        if (buffer[i] != '\n') {
          line.push_back(buffer[i]);
          continue;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) names.push_back(std::move(line));
        line.clear();
      }
      if (n < sizeof(buffer)) break;
    }
    if (std::ferror(stdin)) return Status::IoError("cannot read member names from stdin");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(std::move(line));
  }
  return names;
}

int GroupCreate(const GroupOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  Status s = client->CreateGroup(options.group);
  if (!s.ok()) return Fail("cannot create group '" + options.group + "': " + s.ToString());
  return kExitOk;
}

int GroupChange(bool add, const GroupOptions& options, const GlobalOptions& global) {
  Result<std::vector<std::string>> names = MemberNames(options.members);
  if (!names.ok()) return Fail(names.status().message());
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  Result<uint64_t> changed = add ? client->AddMembers(options.group, *names)
                                 : client->RemoveMembers(options.group, *names);
  if (!changed.ok()) {
    return Fail(std::string(add ? "cannot add members to" : "cannot remove members from") +
                " group '" + options.group + "': " + changed.status().ToString());
  }
  std::string line;
  if (options.json) {
    Json j;
    j["group"] = options.group;
    j["given"] = names->size();
    j["changed"] = *changed;
    line = DumpJson(j) + "\n";
  } else {
    const uint64_t unchanged = names->size() - std::min<uint64_t>(names->size(), *changed);
    line = (add ? "added " : "removed ") + std::to_string(*changed) +
           (*changed == 1 ? " member" : " members") + (add ? " to " : " from ") + options.group;
    if (unchanged > 0) {
      line += " (" + std::to_string(unchanged) + (add ? " already members)" : " not members)");
    }
    line += '\n';
  }
  return WriteOut(line) ? kExitOk : Fail("cannot write to stdout");
}

int GroupList(const GroupOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  Table table({"NAME", "MEMBERS", "CREATED"}, {false, true, false});
  std::string after;
  for (uint64_t page = 0; page < kMaxPages; ++page) {
    Result<GroupPage> groups = client->ListGroups(options.prefix, after, kGroupPage);
    if (!groups.ok()) return Fail("cannot list groups: " + groups.status().ToString());
    std::string out;
    for (const GroupSummary& g : groups->groups) {
      if (options.json) {
        Json j;
        j["name"] = g.name;
        j["members"] = g.members;
        j["created_ms"] = g.created_ms;
        out += DumpJson(j) + "\n";
      } else {
        table.AddRow({g.name, std::to_string(g.members), FormatTime(g.created_ms)});
      }
    }
    // JSON lines stream page by page; the table waits for its widths.
    if (options.json && !WriteOut(out)) return Fail("cannot write to stdout");
    // An empty page ends the listing too, so every page makes progress.
    if (groups->next.empty() || groups->groups.empty()) break;
    after = groups->next;
  }
  if (!options.json && !WriteOut(table.Format())) return Fail("cannot write to stdout");
  return kExitOk;
}

int GroupShow(const GroupOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  std::vector<std::string> members;
  std::string after;
  for (uint64_t page = 0; page < kMaxPages; ++page) {
    Result<MemberPage> got = client->ShowGroup(options.group, after, kGroupPage);
    if (!got.ok()) {
      return Fail("cannot show group '" + options.group + "': " + got.status().ToString());
    }
    const bool last = got->next.empty() || got->members.empty();
    for (std::string& m : got->members) members.push_back(std::move(m));
    // An empty page ends the listing too, so every page makes progress.
    if (last) break;
    after = got->next;
  }
  std::string out;
  if (options.json) {
    Json j;
    j["name"] = options.group;
    j["member_count"] = members.size();
    j["members"] = members;
    out = DumpJson(j) + "\n";
  } else {
    out = "group " + options.group + ": " + std::to_string(members.size()) +
          (members.size() == 1 ? " member\n" : " members\n");
    for (const std::string& m : members) out += "  " + m + "\n";
  }
  return WriteOut(out) ? kExitOk : Fail("cannot write to stdout");
}

int GroupRemove(const GroupOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  Result<uint64_t> members = client->DeleteGroup(options.group);
  if (!members.ok()) {
    return Fail("cannot delete group '" + options.group + "': " + members.status().ToString());
  }
  return kExitOk;
}

// Registers one `group` subcommand whose run function is `run`.
template <typename Run>
CLI::App* AddGroupSubcommand(CLI::App& group, GlobalOptions& global, const char* name,
                             const char* description, std::shared_ptr<GroupOptions> options,
                             Run run) {
  CLI::App* sub = group.add_subcommand(name, description);
  sub->callback([options, &global, run] {
    global.run = [options, &global, run] { return run(*options, global); };
  });
  return sub;
}

}  // namespace

void AddGroupCommand(CLI::App& app, GlobalOptions& global) {
  CLI::App* group = app.add_subcommand("group",
                                       "Manage groups (a publish to a group reaches "
                                       "every member queue)");
  group->require_subcommand(1);

  auto create = std::make_shared<GroupOptions>();
  AddGroupSubcommand(*group, global, "create", "Create an empty group", create, GroupCreate)
      ->add_option("NAME", create->group, "Group name")
      ->required();

  for (bool add : {true, false}) {
    auto options = std::make_shared<GroupOptions>();
    CLI::App* sub = AddGroupSubcommand(
        *group, global, add ? "add" : "remove",
        add ? "Add member queues (created if missing); '-' reads names from stdin, one per line"
            : "Remove member queues (the queues stay); '-' reads names from stdin, one per line",
        options,
        [add](const GroupOptions& o, const GlobalOptions& g) { return GroupChange(add, o, g); });
    sub->add_option("NAME", options->group, "Group name")->required();
    sub->add_option("QUEUE", options->members, "Member queues, or - for stdin")->required();
    sub->add_flag("--json", options->json, "Print JSON");
  }

  auto ls = std::make_shared<GroupOptions>();
  CLI::App* list = AddGroupSubcommand(*group, global, "ls", "List groups", ls, GroupList);
  list->add_option("--prefix", ls->prefix, "Only groups whose name starts with this");
  list->add_flag("--json", ls->json, "Print one JSON object per group");

  auto show = std::make_shared<GroupOptions>();
  CLI::App* show_cmd =
      AddGroupSubcommand(*group, global, "show", "Show a group's members", show, GroupShow);
  show_cmd->add_option("NAME", show->group, "Group name")->required();
  show_cmd->add_flag("--json", show->json, "Print JSON");

  auto rm = std::make_shared<GroupOptions>();
  AddGroupSubcommand(*group, global, "rm",
                     "Delete a group (member queues stay; fan-outs in progress finish)", rm,
                     GroupRemove)
      ->add_option("NAME", rm->group, "Group name")
      ->required();
}

}  // namespace hermod::cli
