// File operations on host files reached through the sandbox's file layer: open+close, stat, a
// 1-byte read and a 64 MiB sequential read. The files are made beforehand (bench/fs_compare.sh)
// in the directory named by $MOAT_BENCH_DIR: `small` (4 KiB) and `big` (64 MiB).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

std::string FilePath(const char* name) {
  const char* dir = std::getenv("MOAT_BENCH_DIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

void BM_OpenClose(benchmark::State& state) {
  std::string path = FilePath("small");
  for (auto _ : state) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) {
      state.SkipWithError("open failed");
      break;
    }
    close(fd);
  }
}
BENCHMARK(BM_OpenClose)->MinTime(0.5)->UseRealTime();

void BM_Stat(benchmark::State& state) {
  std::string path = FilePath("small");
  struct stat st;
  for (auto _ : state) {
    if (stat(path.c_str(), &st) < 0) {
      state.SkipWithError("stat failed");
      break;
    }
  }
}
BENCHMARK(BM_Stat)->MinTime(0.5)->UseRealTime();

void BM_Read1(benchmark::State& state) {
  int fd = open(FilePath("small").c_str(), O_RDONLY);
  char c;
  for (auto _ : state) {
    if (pread(fd, &c, 1, 0) != 1) {
      state.SkipWithError("pread failed");
      break;
    }
  }
  close(fd);
}
BENCHMARK(BM_Read1)->MinTime(0.5)->UseRealTime();

// Reads the whole 64 MiB file in 1 MiB reads, from the start each time.
void BM_SeqRead64M(benchmark::State& state) {
  int fd = open(FilePath("big").c_str(), O_RDONLY);
  std::vector<char> buf(1 << 20);
  int64_t total = 0;
  for (auto _ : state) {
    off_t off = 0;
    for (;;) {
      ssize_t n = pread(fd, buf.data(), buf.size(), off);
      if (n <= 0) break;
      off += n;
    }
    if (off != 64 << 20) {
      state.SkipWithError("short read");
      break;
    }
    total += off;
  }
  state.SetBytesProcessed(total);
  close(fd);
}
BENCHMARK(BM_SeqRead64M)->MinTime(1.0)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
