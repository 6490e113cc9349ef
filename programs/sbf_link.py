"""Post-link step: a clang `-target bpfel` relocatable object -> an SBPF v0 shared object.

Upstream lld cannot link BPF objects into the shape the Solana loader wants, so this does the
little a one-object program needs:

- `.text` is copied; calls between functions of the object are made pc-relative
  (`imm = target - pc - 1`); calls to undefined symbols (the runtime's syscalls) become
  `call -1` with a dynamic `R_BPF_64_32` relocation naming the symbol (the loader replaces the
  immediate by the murmur3 hash of the name).
- every `.rodata*` section is laid out in one `.rodata`; a `lddw` of a read-only address gets
  the address in its immediate and an `R_BPF_64_64` relocation against a `.rodata` dynamic
  symbol (the loader rebases it to the program region, 0x1_0000_0000); an absolute 64-bit
  pointer inside `.rodata` becomes `R_BPF_64_RELATIVE` (v0: the address in the upper word).
- sections `.text .rodata .dynsym .dynstr .rel.dyn .dynamic .shstrtab`, each with `sh_addr`
  equal to its file offset, one `PT_DYNAMIC` program header, `e_entry` = `entrypoint`.

Writable data (`.data`, `.bss`) is refused: SBPF v0 programs have none. The output depends only
on the object's bytes (no timestamps, no paths), so the same object always links to the same
file.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path

EM_BPF = 247
ET_REL, ET_DYN = 1, 3
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_REL, SHT_NOBITS = 1, 2, 3, 9, 8
SHT_DYNAMIC, SHT_DYNSYM = 6, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
STT_NOTYPE, STT_SECTION, STT_FUNC = 0, 3, 2
STB_LOCAL, STB_GLOBAL = 0, 1
R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_RELATIVE, R_BPF_64_32 = 1, 2, 8, 10
DT_NULL, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_REL, DT_RELSZ, DT_RELENT = (
    0,
    5,
    6,
    10,
    11,
    17,
    18,
    19,
)
PT_DYNAMIC = 2
CALL_OPCODE = 0x85
LDDW_OPCODE = 0x18


class LinkError(Exception):
    """The object uses something this post-linker does not support."""


@dataclass
class Section:
    index: int
    name: str
    type: int
    flags: int
    size: int
    link: int
    info: int
    align: int
    data: bytes


@dataclass
class Symbol:
    name: str
    kind: int
    bind: int
    shndx: int
    value: int


def _cstr(blob: bytes, offset: int) -> str:
    return blob[offset : blob.index(b"\0", offset)].decode()


def read_object(blob: bytes) -> tuple[list[Section], list[Symbol]]:
    """The sections and symbols of a little-endian ELF64 relocatable BPF object."""
    if blob[:4] != b"\x7fELF" or blob[4] != 2 or blob[5] != 1:
        raise LinkError("not a little-endian ELF64 file")
    e_type, e_machine = struct.unpack_from("<HH", blob, 16)
    if e_type != ET_REL or e_machine != EM_BPF:
        raise LinkError("not a BPF relocatable object")
    (shoff,) = struct.unpack_from("<Q", blob, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", blob, 0x3C)
    raw = [struct.unpack_from("<IIQQQQIIQQ", blob, shoff + 64 * i) for i in range(shnum)]
    names_off = raw[shstrndx][4]
    sections = []
    for i, (name, typ, flags, _addr, off, size, link, info, align, _es) in enumerate(raw):
        data = b"" if typ == SHT_NOBITS else blob[off : off + size]
        sections.append(
            Section(i, _cstr(blob, names_off + name), typ, flags, size, link, info, align, data)
        )
    symtabs = [s for s in sections if s.type == SHT_SYMTAB]
    if len(symtabs) != 1:
        raise LinkError("expected one symbol table")
    strtab = sections[symtabs[0].link].data
    symbols = []
    for k in range(len(symtabs[0].data) // 24):
        st_name, st_info, _other, shndx, value, _size = struct.unpack_from(
            "<IBBHQQ", symtabs[0].data, 24 * k
        )
        symbols.append(Symbol(_cstr(strtab, st_name), st_info & 0xF, st_info >> 4, shndx, value))
    return sections, symbols


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


class _DynamicSymbols:
    """`.dynsym` and `.dynstr` under construction, one entry per distinct key."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.entries = [bytes(24)]
        self.index: dict[str, int] = {}

    def add(self, name: str, info: int, shndx: int, value: int) -> int:
        if name not in self.index:
            offset = len(self.strings)
            self.strings += name.encode() + b"\0"
            self.entries.append(struct.pack("<IBBHQQ", offset, info, 0, shndx, value, 0))
            self.index[name] = len(self.entries) - 1
        return self.index[name]


def link(obj: bytes) -> bytes:
    """The SBPF v0 shared object for one relocatable object (see the module docstring)."""
    sections, symbols = read_object(obj)
    for s in sections:
        if s.flags & SHF_ALLOC and s.flags & SHF_WRITE and s.size:
            raise LinkError(f"writable section {s.name}: SBPF v0 programs have no writable data")
    texts = [s for s in sections if s.name == ".text"]
    if len(texts) != 1 or any(
        s.flags & SHF_EXECINSTR and s.name != ".text" and s.size for s in sections
    ):
        raise LinkError("expected exactly one executable section, .text")
    text_section = texts[0]
    text = bytearray(text_section.data)
    rodata_in = [
        s for s in sections if s.name.startswith(".rodata") and s.type == SHT_PROGBITS and s.size
    ]

    # Layout: ELF header, one program header, .text, .rodata, then the dynamic tables.
    offset = 64 + 56
    text_off = offset = _align(offset, 8)
    offset += len(text)
    rodata_off = offset = _align(offset, 8)
    placed: dict[int, int] = {}  # input section index -> file offset (== its address)
    rodata = bytearray()
    for s in rodata_in:
        pad = _align(len(rodata), max(s.align, 1)) - len(rodata)
        rodata += bytes(pad)
        placed[s.index] = rodata_off + len(rodata)
        rodata += s.data
    offset += len(rodata)

    dynsyms = _DynamicSymbols()
    relocations: list[tuple[int, int, int]] = []  # (offset in the file, dynsym index, type)
    rodata_pointers: list[tuple[int, int]] = []  # (offset in the file, address)

    def address_of(sym: Symbol, addend: int) -> int:
        if sym.shndx not in placed:
            where = sections[sym.shndx].name if sym.shndx < len(sections) else sym.shndx
            raise LinkError(f"address of {sym.name or 'a symbol'} in unsupported section {where}")
        return placed[sym.shndx] + (0 if sym.kind == STT_SECTION else sym.value) + addend

    for rel in sections:
        if rel.type != SHT_REL or not sections[rel.info].flags & SHF_ALLOC:
            continue
        target = sections[rel.info]
        for k in range(len(rel.data) // 16):
            r_offset, r_info = struct.unpack_from("<QQ", rel.data, 16 * k)
            sym, rtype = symbols[r_info >> 32], r_info & 0xFFFFFFFF
            if target is text_section and rtype == R_BPF_64_32:
                if text[r_offset] != CALL_OPCODE:
                    raise LinkError(f"R_BPF_64_32 at {r_offset:#x} is not on a call")
                if sym.shndx == 0:  # undefined: a syscall, resolved by the loader by name
                    index = dynsyms.add(sym.name, (STB_GLOBAL << 4) | STT_NOTYPE, 0, 0)
                    struct.pack_into("<i", text, r_offset + 4, -1)
                    relocations.append((text_off + r_offset, index, R_BPF_64_32))
                elif sym.shndx == text_section.index and sym.kind == STT_FUNC:
                    struct.pack_into("<i", text, r_offset + 4, (sym.value - r_offset) // 8 - 1)
                else:
                    raise LinkError(f"call to {sym.name} outside .text")
            elif target is text_section and rtype == R_BPF_64_64:
                if text[r_offset] != LDDW_OPCODE:
                    raise LinkError(f"R_BPF_64_64 at {r_offset:#x} is not on a lddw")
                (addend,) = struct.unpack_from("<i", text, r_offset + 4)
                address = address_of(sym, addend)
                index = dynsyms.add(".rodata", (STB_LOCAL << 4) | STT_SECTION, 2, rodata_off)
                struct.pack_into("<I", text, r_offset + 4, address - rodata_off)
                struct.pack_into("<I", text, r_offset + 12, 0)
                relocations.append((text_off + r_offset, index, R_BPF_64_64))
            elif target.index in placed and rtype == R_BPF_64_ABS64:
                (addend,) = struct.unpack_from("<q", target.data, r_offset)
                at = placed[target.index] + r_offset
                rodata_pointers.append((at, address_of(sym, addend)))
                relocations.append((at, 0, R_BPF_64_RELATIVE))
            else:
                raise LinkError(f"relocation type {rtype} in {target.name} is not supported")

    entry = [s for s in symbols if s.name == "entrypoint" and s.bind == STB_GLOBAL]
    if len(entry) != 1 or entry[0].shndx != text_section.index:
        raise LinkError("no global function `entrypoint` in .text")
    for at, address in rodata_pointers:  # v0: the address in the upper 32-bit word
        struct.pack_into("<II", rodata, at - rodata_off, 0, address)

    dynsym = b"".join(dynsyms.entries)
    dynsym_off = offset = _align(offset, 8)
    offset += len(dynsym)
    dynstr_off = offset
    offset += len(dynsyms.strings)
    rel_dyn = b"".join(struct.pack("<QQ", o, (i << 32) | t) for o, i, t in relocations)
    rel_off = offset = _align(offset, 8)
    offset += len(rel_dyn)
    dynamic = b"".join(
        struct.pack("<QQ", tag, value)
        for tag, value in (
            (DT_REL, rel_off),
            (DT_RELSZ, len(rel_dyn)),
            (DT_RELENT, 16),
            (DT_SYMTAB, dynsym_off),
            (DT_SYMENT, 24),
            (DT_STRTAB, dynstr_off),
            (DT_STRSZ, len(dynsyms.strings)),
            (DT_NULL, 0),
        )
    )
    dynamic_off = offset = _align(offset, 8)
    offset += len(dynamic)

    names = [".text", ".rodata", ".dynsym", ".dynstr", ".rel.dyn", ".dynamic", ".shstrtab"]
    if not rodata:
        names.remove(".rodata")
    shstrtab = bytearray(b"\0")
    name_at = {}
    for n in names:
        name_at[n] = len(shstrtab)
        shstrtab += n.encode() + b"\0"
    shstrtab_off = offset
    offset += len(shstrtab)
    shoff = _align(offset, 8)
    index_of = {n: i + 1 for i, n in enumerate(names)}
    headers = {
        ".text": (SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text_off, len(text), 0, 0, 8, 0),
        ".rodata": (SHT_PROGBITS, SHF_ALLOC, rodata_off, len(rodata), 0, 0, 8, 0),
        ".dynsym": (SHT_DYNSYM, SHF_ALLOC, dynsym_off, len(dynsym), index_of[".dynstr"], 1, 8, 24),
        ".dynstr": (SHT_STRTAB, SHF_ALLOC, dynstr_off, len(dynsyms.strings), 0, 0, 1, 0),
        ".rel.dyn": (SHT_REL, SHF_ALLOC, rel_off, len(rel_dyn), index_of[".dynsym"], 0, 8, 16),
        ".dynamic": (
            SHT_DYNAMIC,
            SHF_ALLOC | SHF_WRITE,
            dynamic_off,
            len(dynamic),
            index_of[".dynstr"],
            0,
            8,
            16,
        ),
        ".shstrtab": (SHT_STRTAB, 0, shstrtab_off, len(shstrtab), 0, 0, 1, 0),
    }

    out = bytearray(shoff + 64 * (len(names) + 1))
    struct.pack_into(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        out,
        0,
        b"\x7fELF",
        2,  # ELFCLASS64
        1,  # little endian
        1,  # EV_CURRENT
        0,  # OSABI none
        0,
        bytes(7),
        ET_DYN,
        EM_BPF,
        1,
        text_off + entry[0].value,
        64,  # program headers right after the ELF header
        shoff,
        0,  # e_flags 0: SBPF v0
        64,
        56,
        1,
        64,
        len(names) + 1,
        index_of[".shstrtab"],
    )
    struct.pack_into(
        "<IIQQQQQQ",
        out,
        64,
        PT_DYNAMIC,
        6,  # PF_R | PF_W
        dynamic_off,
        dynamic_off,
        dynamic_off,
        len(dynamic),
        len(dynamic),
        8,
    )
    for at, blob in (
        (text_off, text),
        (rodata_off, rodata),
        (dynsym_off, dynsym),
        (dynstr_off, dynsyms.strings),
        (rel_off, rel_dyn),
        (dynamic_off, dynamic),
        (shstrtab_off, shstrtab),
    ):
        out[at : at + len(blob)] = blob
    for k, n in enumerate(names, start=1):
        typ, flags, off, size, lnk, info, align, entsize = headers[n]
        addr = off if flags & SHF_ALLOC else 0
        struct.pack_into(
            "<IIQQQQIIQQ",
            out,
            shoff + 64 * k,
            name_at[n],
            typ,
            flags,
            addr,
            off,
            size,
            lnk,
            info,
            align,
            entsize,
        )
    return bytes(out)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: sbf_link.py <input.o> <output.so>", file=sys.stderr)
        return 2
    try:
        Path(argv[2]).write_bytes(link(Path(argv[1]).read_bytes()))
    except LinkError as e:
        print(f"sbf_link: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
