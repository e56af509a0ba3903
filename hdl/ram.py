"""On-chip SRAMs as small generated Verilog modules (``tpu_ram_<shape>``): any number of write
ports and combinational read ports, each a port of its own. Synthesis keeps them as macros (their
area comes from the SRAM model) and simulators start them without an initialisation pass, which
an Amaranth ``Memory`` of this size would need; separate ports (rather than packed buses) keep
Verilator's generated code free of wide-bus slicing.

A ``Ram`` collects the ports a design connects, becomes an ``Instance`` in ``elaborate`` and
writes its module's text with ``verilog()`` (the same text for every RAM of one shape).
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Signal


def addr_bits(depth: int) -> int:
    return max(1, (depth - 1).bit_length())


class Ram:
    """One RAM: ``write(en, addr, data)`` and ``read(addr) -> data`` add ports."""

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

    @property
    def module(self) -> str:
        return f"tpu_ram_{self.width}x{self.depth}_{len(self.writes)}w{len(self.reads)}r"

    def elaborate(self, m: Module) -> None:
        ports = {"i_clk": ClockSignal()}
        for k, (en, addr, data) in enumerate(self.writes):
            ports |= {f"i_wen{k}": en, f"i_waddr{k}": addr[:self.aw], f"i_wdata{k}": data[:self.width]}
        for k, (addr, data) in enumerate(self.reads):
            ports |= {f"i_raddr{k}": addr[:self.aw], f"o_rdata{k}": data}
        m.submodules[self.name] = Instance(self.module, **ports)

    def verilog(self, *, blackbox: bool = False) -> str:
        """The module: a ``reg`` array, one assign per read port, one if per write port (later
        ports win); no reset, no initial contents. ``blackbox``: ports only (synthesis)."""
        w, aw = self.width, self.aw
        ports = ["input clk"]
        for k in range(len(self.writes)):
            ports += [f"input wen{k}", f"input [{aw - 1}:0] waddr{k}", f"input [{w - 1}:0] wdata{k}"]
        for k in range(len(self.reads)):
            ports += [f"input [{aw - 1}:0] raddr{k}", f"output [{w - 1}:0] rdata{k}"]
        head = ("(* blackbox *)\n" if blackbox else "") + f"module {self.module}(\n  " + \
            ",\n  ".join(ports) + ");\n"
        if blackbox:
            return head + "endmodule\n"
        body = [f"  reg [{w - 1}:0] mem [0:{self.depth - 1}];"]
        body += [f"  assign rdata{k} = mem[raddr{k}];" for k in range(len(self.reads))]
        body += ["  always @(posedge clk) begin"]
        body += [f"    if (wen{k}) mem[waddr{k}] <= wdata{k};" for k in range(len(self.writes))]
        body += ["  end", "endmodule", ""]
        return head + "\n".join(body)


def ram_modules(rams, *, blackbox: bool = False) -> str:
    """The Verilog of every distinct RAM module among ``rams``."""
    texts = {}
    for ram in rams:
        texts.setdefault(ram.module, ram.verilog(blackbox=blackbox))
    return "".join(texts.values())
