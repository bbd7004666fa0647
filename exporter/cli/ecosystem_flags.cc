#include "cli/ecosystem_flags.h"

#include <map>

#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

struct Spec {
  const char* name;   // the exporter-toolkit name
  const char* alias;  // the older name of this exporter, or nullptr
  std::string EcosystemFlags::*field;
  const char* help;
};

const Spec kSpecs[] = {
    {"web.listen-address", "listen_address", &EcosystemFlags::web_listen_address,
     "Address to listen on: host:port, [ipv6]:port or :port (overrides web.listen_address of "
     "the config file; default :9436)."},
    {"web.config.file", "web_config_file", &EcosystemFlags::web_config_file,
     "Path of an exporter-toolkit web-config.yml enabling TLS and/or basic auth "
     "(see docs/security.md). /healthz stays unauthenticated."},
    {"web.telemetry-path", nullptr, &EcosystemFlags::web_telemetry_path,
     "Path under which to expose metrics (overrides web.telemetry_path of the config file; "
     "default /metrics)."},
    {"config.file", "config", &EcosystemFlags::config_file,
     "Path of the YAML config file (every key optional; built-in defaults when unset)."},
    {"log.level", nullptr, &EcosystemFlags::log_level,
     "Only log messages with the given severity or above: debug, info, warn, error "
     "(default info)."},
    {"log.format", nullptr, &EcosystemFlags::log_format,
     "Output format of log messages: logfmt or json (default logfmt)."},
};

// The spec named by `name` (either spelling), or nullptr.
const Spec* Find(absl::string_view name) {
  for (const Spec& spec : kSpecs) {
    if (name == spec.name || (spec.alias != nullptr && name == spec.alias)) return &spec;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<EcosystemFlags> ExtractEcosystemFlags(const std::vector<std::string>& args) {
  EcosystemFlags flags;
  // Spelling and value of each flag seen so far, to reject contradictions.
  std::map<const Spec*, std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (i == 0 || arg == "--" || arg.size() < 2 || arg[0] != '-') {
      if (arg == "--" && i > 0) {
        flags.rest.insert(flags.rest.end(), args.begin() + i, args.end());
        break;
      }
      flags.rest.push_back(arg);
      continue;
    }
    absl::string_view body = absl::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    absl::string_view name = body.substr(0, eq);
    const Spec* spec = Find(name);
    if (spec == nullptr) {
      flags.rest.push_back(arg);
      continue;
    }
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value"));
    }
    // An empty value would silently mean "not given": for --web.config.file
    // that is plain HTTP without auth, for --web.listen-address every
    // interface. Said once, clearly, instead.
    if (value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": empty value; leave the flag out for its default"));
    }
    auto [it, inserted] = seen.try_emplace(spec, std::string(name), value);
    if (!inserted && it->second.second != value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", it->second.first, "=", it->second.second, " and --", name, "=", value,
          " conflict: give --", spec->name, " once"));
    }
    flags.*(spec->field) = value;
  }
  return flags;
}

absl::Status CheckRemainingFlags(const std::vector<std::string>& rest) {
  std::string check_config;  // the value seen, "" if none yet
  for (size_t i = 1; i < rest.size(); ++i) {
    const std::string& arg = rest[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;  // positional: main.cc says so
    absl::string_view body = absl::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
    const size_t eq = body.find('=');
    const absl::string_view name = body.substr(0, eq);
    if (name == "flagfile" || name == "fromenv" || name == "tryfromenv" || name == "undefok") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, " is not supported: give flags on the command line, settings in --config.file"));
    }
    if (name == "check_config" || name == "nocheck_config") {
      std::string value = name == "nocheck_config" ? "false" : "true";
      if (eq != absl::string_view::npos) {
        const absl::string_view given = body.substr(eq + 1);
        if (given == "true" || given == "1" || given == "yes" || given == "t" || given == "y") {
          value = "true";
        } else if (given == "false" || given == "0" || given == "no" || given == "f" ||
                   given == "n") {
          value = "false";
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("--check_config=", given, ": give true or false, or the flag alone"));
        }
      }
      if (!check_config.empty() && check_config != value) {
        return absl::InvalidArgumentError(
            "--check_config given twice with different values: give it once");
      }
      check_config = value;
      continue;
    }
    if (name == "version" || name == "help" || name == "helpfull" || name == "helpshort" ||
        name == "helpmatch" || name == "helpon" || name == "helppackage" ||
        name == "only_check_args") {
      continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flag --", name, " (see --help for the flags there are)"));
  }
  return absl::OkStatus();
}

std::string EcosystemFlagsHelp() {
  std::string out;
  for (const Spec& spec : kSpecs) {
    absl::StrAppend(&out, "  --", spec.name, "\n      ", spec.help, "\n");
  }
  return out;
}

}  // namespace diskidle
