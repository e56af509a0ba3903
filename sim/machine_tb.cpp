// Free-running Verilator testbench of the whole machine (hdl/machine.py, top module "top").
//
//   machine_sim IMEM N_DMA N_MXU DRAM_IN DRAM_OUT LOG MAX_CYCLES [WAVES]
//
// Loads the instruction words (64 bytes each: the DMA stream, then the matrix unit's, then the
// activation unit's) through the load port while in reset, releases reset and clocks the design
// until it reports HALT. DRAM is this program's byte array, served as a synchronous RAM: read
// data appear the cycle after the request, writes land at the clock edge (after the read).
// Writes DRAM_OUT, the event log (one line per instruction start/end: "cycle unit event") and,
// on stdout, "cycles <host count> dut_cycles <counter> overflows <n> wall_s <s>".
#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
typedef VerilatedFstC Trace;
#elif VM_TRACE
#include "verilated_vcd_c.h"
typedef VerilatedVcdC Trace;
#endif
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static std::vector<uint8_t> slurp(const char* path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path, "rb");
  if (!f) { std::fprintf(stderr, "cannot read %s\n", path); std::exit(2); }
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

// VlWide words are 32-bit, least significant first: the byte order of the bus lanes
template <typename W> static void put_bytes(W& wide, const uint8_t* src, size_t n) {
  uint32_t* w = reinterpret_cast<uint32_t*>(&wide);
  std::memset(w, 0, (n + 3) / 4 * 4);
  std::memcpy(w, src, n);
}
template <typename W> static void get_bytes(const W& wide, uint8_t* dst, size_t n) {
  std::memcpy(dst, reinterpret_cast<const uint32_t*>(&wide), n);
}
static void put_bytes(uint64_t& v, const uint8_t* src, size_t n) { v = 0; std::memcpy(&v, src, n); }
static void put_bytes(uint32_t& v, const uint8_t* src, size_t n) { v = 0; std::memcpy(&v, src, n); }
static void put_bytes(uint16_t& v, const uint8_t* src, size_t n) { v = 0; std::memcpy(&v, src, n); }
static void put_bytes(uint8_t& v, const uint8_t* src, size_t n) { v = 0; std::memcpy(&v, src, n); }
static void get_bytes(const uint64_t& v, uint8_t* dst, size_t n) { std::memcpy(dst, &v, n); }
static void get_bytes(const uint32_t& v, uint8_t* dst, size_t n) { std::memcpy(dst, &v, n); }
static void get_bytes(const uint16_t& v, uint8_t* dst, size_t n) { std::memcpy(dst, &v, n); }
static void get_bytes(const uint8_t& v, uint8_t* dst, size_t n) { std::memcpy(dst, &v, n); }

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s IMEM N_DMA N_MXU DRAM_IN DRAM_OUT LOG MAX_CYCLES [WAVES]\n", argv[0]);
    return 2;
  }
  const std::vector<uint8_t> imem = slurp(argv[1]);
  const uint32_t n_dma = std::strtoul(argv[2], nullptr, 10), n_mxu = std::strtoul(argv[3], nullptr, 10);
  std::vector<uint8_t> dram = slurp(argv[4]);
  const size_t dram_size = dram.size();
  const uint64_t max_cycles = std::strtoull(argv[7], nullptr, 10);
  const size_t bpc = BYTES_PER_CYCLE;
  dram.resize(dram_size + bpc, 0);  // a beat may read past the last byte

  VerilatedContext ctx;
  Vtop top(&ctx);
#if VM_TRACE
  Trace* tfp = nullptr;
  if (argc > 8) {
    ctx.traceEverOn(true);
    tfp = new Trace;
    top.trace(tfp, 99);
    tfp->open(argv[8]);
  }
#endif
  uint64_t stamp = 0;
  auto tick = [&](int clk) {
    top.clk = clk;
    top.eval();
#if VM_TRACE
    if (tfp) tfp->dump(stamp);
#endif
    stamp += 5;
  };
  top.rst = 1;
  tick(0);
  for (size_t i = 0; i * 64 < imem.size(); i++) {
    top.imem_we = 1;
    top.imem_addr = i;
    put_bytes(top.imem_data, &imem[i * 64], 64);
    tick(1);
    tick(0);
  }
  top.imem_we = 0;
  top.base_mxu = n_dma;
  top.base_act = n_dma + n_mxu;
  for (int i = 0; i < 2; i++) { tick(1); tick(0); }
  top.rst = 0;

  FILE* log = std::fopen(argv[6], "w");
  if (!log) { std::fprintf(stderr, "cannot write %s\n", argv[6]); return 2; }
  static const char* units[3] = {"dma", "mxu", "act"};
  auto t0 = std::chrono::steady_clock::now();
  uint64_t t = 0;
  uint8_t beat[64];
  while (true) {
    tick(0);  // cycle t: the outputs settle from the registers and inputs
    const bool rd = top.dram_rd_en, wr = top.dram_wr_en;
    const uint64_t raddr = top.dram_rd_addr, waddr = top.dram_wr_addr;
    const unsigned wlen = top.dram_wr_len;
    if (wr) get_bytes(top.dram_wr_data, beat, bpc);
    const unsigned es = top.ev_start, ee = top.ev_end;
    if (es | ee)
      for (int u = 0; u < 3; u++) {
        if (es >> u & 1) std::fprintf(log, "%llu %s start\n", (unsigned long long)t, units[u]);
        if (ee >> u & 1) std::fprintf(log, "%llu %s end\n", (unsigned long long)t, units[u]);
      }
    tick(1);  // the edge closing cycle t
    if (rd) {
      if (raddr + bpc > dram.size()) { std::fprintf(stderr, "DRAM read at %llu out of range\n", (unsigned long long)raddr); return 3; }
      put_bytes(top.dram_rd_data, &dram[raddr], bpc);
    }
    if (wr) {
      if (waddr + wlen > dram_size) { std::fprintf(stderr, "DRAM write at %llu out of range\n", (unsigned long long)waddr); return 3; }
      std::memcpy(&dram[waddr], beat, wlen);
    }
    t++;
    if (top.halted) break;
    if (t >= max_cycles) { std::fprintf(stderr, "no HALT after %llu cycles\n", (unsigned long long)t); return 4; }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fclose(log);
#if VM_TRACE
  if (tfp) { tfp->close(); delete tfp; }
#endif
  FILE* out = std::fopen(argv[5], "wb");
  if (!out) { std::fprintf(stderr, "cannot write %s\n", argv[5]); return 2; }
  std::fwrite(dram.data(), 1, dram_size, out);
  std::fclose(out);
  std::printf("cycles %llu dut_cycles %llu overflows %llu wall_s %.6f\n", (unsigned long long)t,
              (unsigned long long)top.cycles, (unsigned long long)top.overflows, wall);
  top.final();
  return 0;
}
