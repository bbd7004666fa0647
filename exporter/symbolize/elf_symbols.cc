#include "symbolize/elf_symbols.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"

namespace diskidle {
namespace {

// A bounds-checked copy of a struct at `offset` of the image.
template <typename T>
bool ReadAt(std::string_view image, uint64_t offset, T* out) {
  if (offset > image.size() || image.size() - offset < sizeof(T)) return false;
  memcpy(out, image.data() + offset, sizeof(T));
  return true;
}

// The bytes of a section, or empty when it lies outside the image.
std::string_view SectionBytes(std::string_view image, const Elf64_Shdr& section) {
  if (section.sh_type == SHT_NOBITS) return {};
  if (section.sh_offset > image.size() || image.size() - section.sh_offset < section.sh_size) {
    return {};
  }
  return image.substr(section.sh_offset, section.sh_size);
}

// A NUL-terminated string at `offset` of a string table, or "" when it is not.
std::string_view StringAt(std::string_view table, uint64_t offset) {
  if (offset >= table.size()) return {};
  std::string_view rest = table.substr(offset);
  size_t end = rest.find('\0');
  return end == std::string_view::npos ? std::string_view() : rest.substr(0, end);
}

int BindingRank(unsigned char info) {
  switch (ELF64_ST_BIND(info)) {
    case STB_GLOBAL:
      return 0;
    case STB_WEAK:
      return 1;
    default:
      return 2;
  }
}

}  // namespace

absl::StatusOr<ElfSymbols> ElfSymbols::Parse(std::string_view image) {
  Elf64_Ehdr header;
  if (!ReadAt(image, 0, &header) || memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError("not an ELF file");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError("not a 64-bit little-endian ELF file");
  }
  ElfSymbols elf;
  for (uint64_t i = 0; i < header.e_phnum && header.e_phentsize >= sizeof(Elf64_Phdr); ++i) {
    Elf64_Phdr segment;
    if (!ReadAt(image, header.e_phoff + i * header.e_phentsize, &segment)) break;
    if (segment.p_type == PT_LOAD) {
      elf.segments_.push_back({segment.p_offset, segment.p_vaddr, segment.p_filesz});
    }
  }
  std::vector<Elf64_Shdr> sections;
  for (uint64_t i = 0; i < header.e_shnum && header.e_shentsize >= sizeof(Elf64_Shdr); ++i) {
    Elf64_Shdr section;
    if (!ReadAt(image, header.e_shoff + i * header.e_shentsize, &section)) break;
    sections.push_back(section);
  }
  std::string_view section_names;
  if (header.e_shstrndx < sections.size()) {
    section_names = SectionBytes(image, sections[header.e_shstrndx]);
  }
  for (const Elf64_Shdr& section : sections) {
    std::string_view bytes = SectionBytes(image, section);
    if (section.sh_type == SHT_SYMTAB || section.sh_type == SHT_DYNSYM) {
      if (section.sh_link >= sections.size()) continue;
      std::string_view strings = SectionBytes(image, sections[section.sh_link]);
      for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= bytes.size(); off += sizeof(Elf64_Sym)) {
        Elf64_Sym sym;
        memcpy(&sym, bytes.data() + off, sizeof(sym));
        const int type = ELF64_ST_TYPE(sym.st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
            sym.st_value == 0) {
          continue;
        }
        std::string_view name = StringAt(strings, sym.st_name);
        if (name.empty()) continue;
        elf.symbols_.push_back(
            {sym.st_value, sym.st_size, BindingRank(sym.st_info), std::string(name)});
      }
    } else if (StringAt(section_names, section.sh_name) == ".gnu_debuglink") {
      elf.debuglink_ = std::string(StringAt(bytes, 0));
    } else if (section.sh_type == SHT_NOTE) {
      // Notes: namesz, descsz, type, name (4-aligned), desc (4-aligned).
      uint64_t off = 0;
      Elf64_Nhdr note;
      while (ReadAt(bytes, off, &note)) {
        const uint64_t name_at = off + sizeof(note);
        const uint64_t desc_at = name_at + ((note.n_namesz + 3) & ~3ull);
        const uint64_t next = desc_at + ((note.n_descsz + 3) & ~3ull);
        if (next > bytes.size()) break;
        if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
            bytes.substr(name_at, 4) == std::string_view("GNU\0", 4)) {
          std::string_view id = bytes.substr(desc_at, note.n_descsz);
          elf.build_id_ = absl::BytesToHexString(absl::string_view(id.data(), id.size()));
        }
        off = next;
      }
    }
  }
  elf.Sort();
  return elf;
}

// Sorted by address, then preference; one symbol kept per address (a libc
// function has several names: fsync, __fsync, __libc_fsync).
void ElfSymbols::Sort() {
  std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    if (a.address != b.address) return a.address < b.address;
    if (a.rank != b.rank) return a.rank < b.rank;
    // Fewer leading underscores: the name people call (fsync, not __fsync).
    size_t ua = a.name.find_first_not_of('_'), ub = b.name.find_first_not_of('_');
    if (ua != ub) return ua < ub;
    return a.name < b.name;
  });
  symbols_.erase(
      std::unique(symbols_.begin(), symbols_.end(),
                  [](const Symbol& a, const Symbol& b) { return a.address == b.address; }),
      symbols_.end());
}

void ElfSymbols::Merge(const ElfSymbols& debug_file) {
  symbols_.insert(symbols_.end(), debug_file.symbols_.begin(), debug_file.symbols_.end());
  Sort();
}

std::optional<std::string_view> ElfSymbols::Name(uint64_t vaddr) const {
  auto above = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                                [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (above == symbols_.begin()) return std::nullopt;
  const Symbol& s = *std::prev(above);
  if (s.size != 0 && vaddr - s.address >= s.size) return std::nullopt;  // a gap (PLT, padding)
  return std::string_view(s.name);
}

std::optional<uint64_t> ElfSymbols::VaddrOfFileOffset(uint64_t offset) const {
  for (const Segment& segment : segments_) {
    if (offset >= segment.offset && offset - segment.offset < segment.size) {
      return segment.vaddr + (offset - segment.offset);
    }
  }
  return std::nullopt;
}

}  // namespace diskidle
