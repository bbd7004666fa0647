#include "symbolize/user_symbolizer.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

// Largest file we parse: bigger ones are not code anyone maps.
constexpr off_t kMaxElfBytes = off_t{2} << 30;

std::string Demangle(std::string_view name) {
  if (!absl::StartsWith(absl::string_view(name.data(), name.size()), "_Z")) {
    return std::string(name);
  }
  int status = 0;
  std::string mangled(name);
  char* demangled = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) return mangled;
  std::string out(demangled);
  free(demangled);
  return out;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

}  // namespace

absl::StatusOr<ElfSymbols> ReadElfSymbols(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > kMaxElfBytes) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file of a usable size"));
  }
  void* image = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (image == MAP_FAILED) return absl::ErrnoToStatus(errno, absl::StrCat("mmap ", path));
  absl::StatusOr<ElfSymbols> elf =
      ElfSymbols::Parse(std::string_view(static_cast<const char*>(image), st.st_size));
  munmap(image, static_cast<size_t>(st.st_size));
  return elf;
}

bool UserSymbolizer::Capture(uint32_t pid) {
  const std::string dir = absl::StrCat(paths_.procfs, "/", pid);
  absl::StatusOr<std::string> maps = ReadFileToString(dir + "/maps");
  if (maps.ok() && !maps->empty()) {
    Process& process = processes_[pid];
    process.mappings = ParseProcMaps(*maps);
    // A JIT in a container writes its map in its own /tmp: look there first.
    for (const std::string& path :
         {absl::StrCat(dir, "/root", paths_.tmp_dir, "/perf-", pid, ".map"),
          absl::StrCat(paths_.tmp_dir, "/perf-", pid, ".map")}) {
      if (absl::StatusOr<std::string> text = ReadFileToString(path); text.ok()) {
        process.perf_map = PerfMap::Parse(*text);
        break;
      }
    }
  }
  return processes_.count(pid) > 0;
}

std::unique_ptr<ElfSymbols> UserSymbolizer::LoadElf(uint32_t pid, const std::string& path) const {
  // The path is in the process's mount namespace: read it through
  // /proc/<pid>/root while the process lives (containers), else as is.
  for (const std::string& candidate :
       {absl::StrCat(paths_.procfs, "/", pid, "/root", path), path}) {
    absl::StatusOr<ElfSymbols> elf = ReadElfSymbols(candidate);
    if (elf.ok()) {
      auto loaded = std::make_unique<ElfSymbols>(*std::move(elf));
      AddDebugSymbols(path, *loaded);
      return loaded;
    }
  }
  return nullptr;
}

// Stripped distribution libraries keep their .symtab in a separate file under
// /usr/lib/debug (Debian's *-dbgsym packages), found as gdb finds it: by
// build id, else by the .gnu_debuglink name next to the file or below the
// debug directory.
void UserSymbolizer::AddDebugSymbols(const std::string& path, ElfSymbols& elf) const {
  std::vector<std::string> candidates;
  const std::string& id = elf.build_id();
  if (id.size() > 2) {
    candidates.push_back(absl::StrCat(paths_.debug_dir, "/.build-id/", id.substr(0, 2), "/",
                                      id.substr(2), ".debug"));
  }
  if (!elf.debuglink().empty()) {
    const std::string dir = DirName(path);
    candidates.push_back(absl::StrCat(paths_.debug_dir, dir, "/", elf.debuglink()));
    candidates.push_back(absl::StrCat(dir, "/.debug/", elf.debuglink()));
  }
  for (const std::string& candidate : candidates) {
    absl::StatusOr<ElfSymbols> debug = ReadElfSymbols(candidate);
    if (debug.ok() && debug->size() > 0) {
      elf.Merge(*debug);
      return;
    }
  }
}

const ElfSymbols* UserSymbolizer::Elf(uint32_t pid, const std::string& path) {
  auto it = elf_cache_.find(path);
  if (it == elf_cache_.end()) it = elf_cache_.emplace(path, LoadElf(pid, path)).first;
  return it->second.get();
}

std::string UserSymbolizer::Name(uint32_t pid, uint64_t address) {
  auto process = processes_.find(pid);
  if (process == processes_.end()) return "[unknown]";
  const Mapping* mapping = FindMapping(process->second.mappings, address);
  if (mapping == nullptr || mapping->path.empty() || mapping->path[0] != '/') {
    // JIT code lives in anonymous memory.
    if (auto name = process->second.perf_map.Name(address)) return std::string(*name);
    if (mapping == nullptr) return "[unknown]";
    return mapping->path.empty() ? "[anon]" : mapping->path;
  }
  const uint64_t file_offset = address - mapping->start + mapping->offset;
  const ElfSymbols* elf = Elf(pid, mapping->path);
  uint64_t vaddr = file_offset;
  if (elf != nullptr) {
    vaddr = elf->VaddrOfFileOffset(file_offset).value_or(file_offset);
    if (auto name = elf->Name(vaddr)) return Demangle(*name);
  }
  return absl::StrCat(BaseName(mapping->path), "+0x", absl::Hex(vaddr));
}

}  // namespace diskidle
