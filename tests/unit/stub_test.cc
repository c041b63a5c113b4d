// The stub binary has the layout stub_layout.h promises: the entry points the platforms jump to
// hold the instructions they expect.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "platform/stub/stub_layout.h"

namespace moat {
namespace {

// The bytes of the stub's image that are loaded at `addr`.
const uint8_t* At(uint64_t addr) {
  const uint8_t* img = stub::Image();
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(img);
  for (int i = 0; i < eh->e_phnum; i++) {
    auto* ph = reinterpret_cast<const Elf64_Phdr*>(img + eh->e_phoff + i * eh->e_phentsize);
    if (ph->p_type == PT_LOAD && addr >= ph->p_vaddr && addr < ph->p_vaddr + ph->p_filesz)
      return img + ph->p_offset + (addr - ph->p_vaddr);
  }
  return nullptr;
}

TEST(Stub, IsAStaticExecutableAtItsBase) {
  ASSERT_GT(stub::ImageSize(), sizeof(Elf64_Ehdr));
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(stub::Image());
  EXPECT_EQ(std::memcmp(eh->e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(eh->e_type, ET_EXEC);
  EXPECT_EQ(eh->e_machine, EM_X86_64);
  EXPECT_EQ(eh->e_entry, stub::kEntry);
}

TEST(Stub, EntryPointsHoldTheirInstructions) {
  const uint8_t* gadget = At(stub::kSyscallGadget);
  ASSERT_NE(gadget, nullptr);
  const uint8_t expected[] = {0x4c, 0x89, 0xe0,  // mov %r12, %rax
                              0x0f, 0x05,        // syscall
                              0xcc};             // int3
  EXPECT_EQ(std::memcmp(gadget, expected, sizeof(expected)), 0);
  EXPECT_EQ(stub::kSyscallGadgetTrap, stub::kSyscallGadget + 5);
  const uint8_t* park = At(stub::kPark);
  ASSERT_NE(park, nullptr);
  EXPECT_EQ(park[0], 0xb8);  // mov $SYS_futex, %eax
  const uint8_t* park_syscall = At(stub::kParkSyscallEnd - 2);
  ASSERT_NE(park_syscall, nullptr);
  EXPECT_EQ(park_syscall[0], 0x0f);  // syscall
  EXPECT_EQ(park_syscall[1], 0x05);
  const uint8_t* empty = At(stub::kEmptyString);
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty[0], 0);
  uint64_t argv[2];
  const uint8_t* a = At(stub::kArgv);
  ASSERT_NE(a, nullptr);
  std::memcpy(argv, a, sizeof(argv));
  EXPECT_EQ(argv[0], stub::kEmptyString);
  EXPECT_EQ(argv[1], 0u);
  EXPECT_NE(At(stub::kScratch), nullptr);
}

}  // namespace
}  // namespace moat
