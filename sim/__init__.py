"""Simulation of the RTL: cocotb testbenches, simulator builds (cached), Amaranth-sim replay."""
