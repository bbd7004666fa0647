/* A shared library for the symbolizer's unit tests. The build strips it into
 * libdiskidle_elf_fixture_stripped.so (only .dynsym left) and keeps its full
 * symbol table in a separate debug file, as distributions ship libraries. */

/* Local: in .symtab only, so only the separate debug file names it. */
__attribute__((noinline)) static int elf_fixture_local(int x) { return x * 3 + 1; }

/* Exported: in .dynsym, named even in the stripped library. */
__attribute__((noinline)) int elf_fixture_exported(int x) { return elf_fixture_local(x) + 2; }

/* Lets the test find the local function's loaded address. */
void *elf_fixture_local_address(void) { return (void *)&elf_fixture_local; }
