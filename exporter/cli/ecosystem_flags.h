// The flags every Prometheus exporter built on exporter-toolkit understands
// (--web.listen-address, --web.config.file, ...), and this exporter's older
// names for three of them (--listen_address, --web_config_file, --config),
// which keep working but are not shown in --help.
//
// abseil flag names cannot contain '.' or '-', so these are taken out of argv
// here, before absl::ParseCommandLine sees what is left (--check_config,
// --version, --help).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace diskidle {

struct EcosystemFlags {
  // Empty: not given (the config file or the built-in default applies).
  std::string config_file;
  std::string web_listen_address;
  std::string web_config_file;
  std::string web_telemetry_path;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  // argv[0] followed by every argument not consumed here, in order.
  std::vector<std::string> rest;
};

// Accepts --name=value, --name value, and the single-dash forms abseil
// accepts (-name=value); stops at "--". A flag given twice (under its name or
// an alias) with different values is an error naming both spellings, as is a
// missing value.
absl::StatusOr<EcosystemFlags> ExtractEcosystemFlags(const std::vector<std::string>& args);

// Checks what ExtractEcosystemFlags() left for abseil (`rest`), so that
// abseil's own messages, which are neither one line nor JSON, are never
// needed: an unknown flag is an error naming it; --check_config given twice
// with different values is a conflict, as for the flags above; abseil's
// --flagfile, --fromenv, --tryfromenv and --undefok are refused (they read
// files or the environment behind the conflict checks, and --flagfile echoes
// any file it cannot parse).
absl::Status CheckRemainingFlags(const std::vector<std::string>& rest);

// The "Flags:" lines of --help for these flags (aliases not shown).
std::string EcosystemFlagsHelp();

}  // namespace diskidle
