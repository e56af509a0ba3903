// Free-running Icarus testbench of the whole machine: the same protocol as machine_tb.cpp.
//
//   vvp machine.vvp +imem=F +n_dma=N +n_mxu=N +dram=F +dram_out=F +dram_bytes=N +log=F [+waves=F]
//
// The instruction words (64 bytes each, little-endian) go in through the load port during
// reset; DRAM is a byte array here, served as a synchronous RAM (read data the cycle after the
// request; writes at the clock edge, after the read). DRAM_MAX bounds the program's DRAM.
`timescale 1ns/1ps
`ifndef DRAM_MAX
`define DRAM_MAX (1 << 22)
`endif
module machine_tb;
  localparam B = `BYTES_PER_CYCLE;
  reg clk = 0, rst = 0;  // raised at #1: a change wakes every always @* block of the design
  reg imem_we = 0;
  reg [31:0] imem_addr = 0, base_mxu = 0, base_act = 0;
  reg [511:0] imem_data = 0;
  reg [8*B-1:0] dram_rd_data = 0;
  wire dram_rd_en, dram_wr_en, halted;
  wire [31:0] dram_rd_addr, dram_wr_addr, overflows;
  wire [8*B-1:0] dram_wr_data;
  wire [15:0] dram_wr_len;
  wire [47:0] cycles;
  wire [2:0] ev_start, ev_end;
  top dut(.clk(clk), .rst(rst), .imem_we(imem_we), .imem_addr(imem_addr), .imem_data(imem_data),
          .base_mxu(base_mxu), .base_act(base_act), .dram_rd_en(dram_rd_en),
          .dram_rd_addr(dram_rd_addr), .dram_rd_data(dram_rd_data), .dram_wr_en(dram_wr_en),
          .dram_wr_addr(dram_wr_addr), .dram_wr_data(dram_wr_data), .dram_wr_len(dram_wr_len),
          .halted(halted), .cycles(cycles), .overflows(overflows), .ev_start(ev_start),
          .ev_end(ev_end));

  reg [7:0] dram [0:`DRAM_MAX + B];
  reg [7:0] ibytes [0:(1 << 20) - 1];
  reg [1023:0] path;
  integer fd, n, i, j, nwords, n_dma, n_mxu, dram_bytes, logf, t, u;
  reg [63:0] max_cycles;
  reg rd, wr;
  reg [31:0] raddr, waddr, wlen;
  reg [8*B-1:0] wdata;
  reg [2:0] es, ee;

  initial begin
    if (!$value$plusargs("imem=%s", path)) $fatal(1, "+imem missing");
    fd = $fopen(path, "rb");
    n = $fread(ibytes, fd);
    $fclose(fd);
    nwords = n / 64;
    if (!$value$plusargs("n_dma=%d", n_dma) || !$value$plusargs("n_mxu=%d", n_mxu) ||
        !$value$plusargs("dram_bytes=%d", dram_bytes)) $fatal(1, "+n_dma/+n_mxu/+dram_bytes missing");
    if (dram_bytes > `DRAM_MAX) $fatal(1, "DRAM image larger than DRAM_MAX");
    if (!$value$plusargs("max_cycles=%d", max_cycles)) max_cycles = 64'd100000000000;
    for (i = 0; i < dram_bytes + B; i = i + 1) dram[i] = 0;
    if (!$value$plusargs("dram=%s", path)) $fatal(1, "+dram missing");
    fd = $fopen(path, "rb");
    n = $fread(dram, fd);
    $fclose(fd);
    if ($value$plusargs("waves=%s", path)) begin
      $dumpfile(path);
      $dumpvars(0, machine_tb);
    end
    #1 rst = 1;
    #1;
    for (i = 0; i < nwords; i = i + 1) begin
      imem_we = 1;
      imem_addr = i;
      for (j = 0; j < 64; j = j + 1) imem_data[8*j +: 8] = ibytes[64*i + j];
      #5 clk = 1; #5 clk = 0;
    end
    imem_we = 0;
    base_mxu = n_dma;
    base_act = n_dma + n_mxu;
    repeat (2) begin #5 clk = 1; #5 clk = 0; end
    rst = 0;
    if (!$value$plusargs("log=%s", path)) $fatal(1, "+log missing");
    logf = $fopen(path, "w");
    t = 0;
    while (1) begin
      #1;  // cycle t settles
      rd = dram_rd_en; wr = dram_wr_en; raddr = dram_rd_addr; waddr = dram_wr_addr;
      wlen = dram_wr_len; wdata = dram_wr_data; es = ev_start; ee = ev_end;
      for (u = 0; u < 3; u = u + 1) begin
        if (es[u]) $fdisplay(logf, "%0d %s start", t, u == 0 ? "dma" : u == 1 ? "mxu" : "act");
        if (ee[u]) $fdisplay(logf, "%0d %s end", t, u == 0 ? "dma" : u == 1 ? "mxu" : "act");
      end
      #4 clk = 1;  // the edge closing cycle t
      #1;
      if (rd) for (j = 0; j < B; j = j + 1) dram_rd_data[8*j +: 8] = dram[raddr + j];
      if (wr) for (j = 0; j < wlen; j = j + 1) dram[waddr + j] = wdata[8*j +: 8];
      #4 clk = 0;
      t = t + 1;
      if (t >= max_cycles) $fatal(1, "no HALT after %0d cycles", t);
      if (halted) begin
        $fclose(logf);
        if (!$value$plusargs("dram_out=%s", path)) $fatal(1, "+dram_out missing");
        fd = $fopen(path, "wb");
        for (i = 0; i < dram_bytes; i = i + 1) $fwrite(fd, "%c", dram[i]);
        $fclose(fd);
        $display("cycles %0d dut_cycles %0d overflows %0d wall_s 0", t, cycles, overflows);
        $finish;
      end
    end
  end
endmodule
