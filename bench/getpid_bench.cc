// The trap round trip: a syscall that does nothing but return, so what is measured is the cost of
// getting into the kernel (or the sentry) and back.
#include <sys/syscall.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

static void BM_Getpid(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(syscall(SYS_getpid));
}
BENCHMARK(BM_Getpid)->MinTime(0.5);

BENCHMARK_MAIN();
