#!/usr/bin/env python3
"""Cuts the kernel's own BTF out of an arm64 boot image.

extract_btf.py VMLINUZ OUT

Debian's arm64 vmlinuz is the raw `Image` (not an ELF file, so no .BTF section
header to look up), optionally gzip-compressed. The BTF blob sits in it
unchanged: a header (magic 0xeB9F, version 1, header length 24) followed by the
type and string sections it describes. The kernel's BTF is by far the largest
such blob; smaller matches are rejected by size. The result is a raw BTF file
that `bpftool btf dump file` and libbpf read.
"""
import gzip
import struct
import sys

HEADER = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, type_off/len, str_off/len
MAGIC_BYTES = b"\x9f\xeb\x01\x00\x18\x00\x00\x00"  # magic, version 1, flags 0, hdr_len 24
MIN_TYPES = 1 << 20  # a kernel's type section is megabytes; anything smaller is not it


def main() -> int:
    source, out = sys.argv[1], sys.argv[2]
    with open(source, "rb") as f:
        image = f.read()
    if image[:2] == b"\x1f\x8b":
        image = gzip.decompress(image)
    best = None
    at = image.find(MAGIC_BYTES)
    while at >= 0:
        _, _, _, hdr_len, type_off, type_len, str_off, str_len = HEADER.unpack_from(image, at)
        end = at + hdr_len + max(type_off + type_len, str_off + str_len)
        # Sections in the order the kernel writes them; the string section
        # starts with the empty string.
        plausible = (type_off == 0 and str_off == type_len and end <= len(image)
                     and image[at + hdr_len + str_off] == 0)
        if plausible and type_len >= MIN_TYPES and (best is None or type_len > best[1]):
            best = (at, type_len, end)
        at = image.find(MAGIC_BYTES, at + 1)
    if best is None:
        print(f"extract_btf: no kernel BTF found in {source}", file=sys.stderr)
        return 1
    with open(out, "wb") as f:
        f.write(image[best[0]:best[2]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
