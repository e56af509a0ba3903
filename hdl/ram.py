"""On-chip SRAMs as instances of one small Verilog module, ``tpu_ram`` (``RAM_VERILOG``): any
number of write ports and combinational read ports. Synthesis keeps them as macros (their area
comes from the SRAM model) and simulators start them without an initialisation pass, which an
Amaranth ``Memory`` of this size would need."""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal


def addr_bits(depth: int) -> int:
    return max(1, (depth - 1).bit_length())


RAM_VERILOG = """\
// A RAM with WP write ports and RP combinational read ports (one per byte lane); no reset,
// no initial contents. Writes land at the rising edge, later ports winning.
module tpu_ram #(parameter WIDTH = 8, parameter DEPTH = 16, parameter AW = 4,
                 parameter WP = 1, parameter RP = 1) (
  input clk,
  input [WP-1:0] wen, input [WP*AW-1:0] waddr, input [WP*WIDTH-1:0] wdata,
  input [RP*AW-1:0] raddr, output [RP*WIDTH-1:0] rdata);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  genvar r;
  generate for (r = 0; r < RP; r = r + 1) begin : rd
    assign rdata[r*WIDTH +: WIDTH] = mem[raddr[r*AW +: AW]];
  end endgenerate
  integer w;
  always @(posedge clk)
    for (w = 0; w < WP; w = w + 1)
      if (wen[w]) mem[waddr[w*AW +: AW]] <= wdata[w*WIDTH +: WIDTH];
endmodule
"""

class Ram:
    """Collects the ports of one ``tpu_ram`` instance."""

    def __init__(self, name: str, width: int, depth: int):
        self.name, self.width, self.depth, self.aw = name, width, depth, addr_bits(depth)
        self.writes: list = []
        self.reads: list = []

    def write(self, en, addr, data) -> None:
        self.writes.append((en, addr, data))

    def read(self, addr) -> Signal:
        data = Signal(self.width, name=f"{self.name}_rd{len(self.reads)}")
        self.reads.append((addr, data))
        return data

    def elaborate(self, m: Module) -> None:
        aw, w = self.aw, self.width
        writes = self.writes or [(Const(0), Const(0, aw), Const(0, w))]
        reads = self.reads or [(Const(0, aw), Signal(w))]
        m.submodules[self.name] = Instance(
            "tpu_ram", p_WIDTH=w, p_DEPTH=self.depth, p_AW=aw, p_WP=len(writes), p_RP=len(reads),
            i_clk=ClockSignal(),
            i_wen=Cat(en for en, _, _ in writes),
            i_waddr=Cat(a[:aw] for _, a, _ in writes),
            i_wdata=Cat(d[:w] for _, _, d in writes),
            i_raddr=Cat(a[:aw] for a, _ in reads),
            o_rdata=Cat(d for _, d in reads))
