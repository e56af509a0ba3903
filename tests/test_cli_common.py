"""The command line's promise for bad input: one line naming the file, option or value, exit
status 2, no traceback, and nothing written — checked before any work is done."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format

import tpu
from tpu.cli import build_parser, main
from tpu.cli.common import OutputFile
from tpu.errors import InputError, LimitError
from tpu.files import load_inputs, load_npy


def cli(*args):
    """(status, stderr) of ``tpu ARGS`` run in a fresh interpreter, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "tpu.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)
    return proc.returncode, proc.stderr


def assert_one_line_error(status, err, *needles):
    assert status == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def npy_with_header(path, shape, descr="<i8", data=b""):
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(data)


@pytest.fixture
def a_npy(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 4), np.int8))
    return tmp_path / "a.npy"


def test_npy_files_that_are_not_numeric_arrays(tmp_path):
    cases = {
        "empty.npy": (lambda p: p.write_bytes(b""), "not a readable .npy"),
        "text.npy": (lambda p: p.write_text("1,2,3\n"), "not a readable .npy"),
        "huge.npy": (lambda p: npy_with_header(p, (10**7, 10**7)), "800,000,000,000,000 bytes"),
        "short.npy": (lambda p: npy_with_header(p, (4, 4), data=b"\0" * 8), "truncated"),
        "nothing.npy": (lambda p: np.save(p, np.zeros((0, 3))), "empty (shape (0, 3))"),
        "complex.npy": (lambda p: np.save(p, np.ones((2, 2), complex)), "complex128 values"),
        "strings.npy": (lambda p: np.save(p, np.array([["a", "b"]])), "<U1 values"),
        "objects.npy": (lambda p: np.save(p, np.array([[1, None]], dtype=object)), "object values"),
        "record.npy": (lambda p: np.save(p, np.zeros(2, [("x", "i4")])), "values; expected numbers"),
        "zip.npy": (lambda p: np.savez(str(p) + ".npz", x=np.ones(2)) or Path(str(p) + ".npz").rename(p),
                    "not a readable .npy"),
    }
    for name, (make, message) in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises((InputError, LimitError), match=message.replace("(", r"\(").replace(")", r"\)")):
            load_npy(str(path), "A")
    np.save(tmp_path / "good.npy", np.arange(6.0).reshape(2, 3))
    assert load_npy(str(tmp_path / "good.npy"), "A").shape == (2, 3)


def test_npz_holds_one_checked_array_per_input(tmp_path):
    np.savez(tmp_path / "x.npz", input_ids=np.ones((2, 4), np.int64), attention_mask=np.ones((2, 4)))
    got = load_inputs(str(tmp_path / "x.npz"), "input")
    assert sorted(got) == ["attention_mask", "input_ids"] and got["input_ids"].shape == (2, 4)
    np.savez(tmp_path / "s.npz", ids=np.array([["a"]]))
    np.savez(tmp_path / "e.npz")
    (tmp_path / "t.npz").write_text("not a zip")
    np.savez_compressed(tmp_path / "z.npz", ids=np.arange(4096))
    data = bytearray((tmp_path / "z.npz").read_bytes())
    data[200:204] = b"\xff\x00\xff\x00"  # inside the deflate stream: zlib.error
    (tmp_path / "z.npz").write_bytes(bytes(data))
    import zipfile

    with pytest.warns(UserWarning, match="Duplicate name"), \
            zipfile.ZipFile(tmp_path / "d.npz", "w") as z:  # a name twice: numpy.savez cannot
        for _ in range(2):
            with z.open("ids.npy", "w") as f:
                np.lib.format.write_array(f, np.ones(3))
    for name, message in (("d.npz", "two arrays named 'ids'"), ("z.npz", "not a readable .npz"),
                          ("s.npz", r"s\.npz:ids: input holds <U1 values"),
                          ("e.npz", "holds no array"), ("t.npz", "not a readable .npz")):
        with pytest.raises(InputError, match=message):
            load_inputs(str(tmp_path / name), "input")


def test_a_model_with_two_inputs_names_them(tmp_path):
    """A .npy for a two-input model, or a .npz missing an input: one line naming the inputs."""
    from tests.ort_models import real_model

    model = real_model("hf_distilbert_l2_d32_s16", tmp_path)
    np.save(tmp_path / "ids.npy", np.ones((2, 16), np.int64))
    np.savez(tmp_path / "ids.npz", input_ids=np.ones((2, 16), np.int64))
    for given, needle in (("ids.npy", "X.npz, one array per input name"),
                          ("ids.npz", "takes inputs input_ids, attention_mask; got input_ids")):
        assert_one_line_error(*cli("run", model, "--input", tmp_path / given, "--calib",
                                   tmp_path / given), needle)


def test_missing_npy_is_named(tmp_path):
    with pytest.raises(InputError, match=r"missing\.npy: A file not found"):
        load_npy(str(tmp_path / "missing.npy"), "A")


def test_huge_npy_header_is_refused_before_reading(tmp_path, a_npy):
    huge = tmp_path / "huge.npy"
    npy_with_header(huge, (10**14,))  # 728 TiB of int64 claimed by a 128-byte file
    status, err = cli("gemm", "--a", huge, "--b", a_npy, "--json", tmp_path / "r.json")
    assert_one_line_error(status, err, "huge.npy", "(727.6 TiB)", "TPU_MAX_BYTES")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("argv, needles", [
    (["gemm", "--a", "A", "--b", "A", "--json", "/proc/nope/r.json"], ["/proc/nope"]),
    (["gemm", "--a", "A", "--b", "A", "--json", "/proc/self/r.json"], ["cannot write in /proc/self"]),
    (["gemm", "--a", "A", "--b", "A", "--json", "TMP"], ["is a folder"]),
    (["gemm", "--a", "A", "--b", "A", "--output", "TMP/x/c.npy"], ["does not exist"]),
    (["gemm", "--a", "A", "--b", "A", "--output", "TMP/c.npy", "--json", "TMP/c.npy"],
     ["--json and --output both write"]),
])
def test_unwritable_outputs_fail_before_any_work(tmp_path, a_npy, argv, needles):
    argv = [str(a_npy) if a == "A" else a.replace("TMP", str(tmp_path)) for a in argv]
    before = set(tmp_path.iterdir())
    status, err = cli(*argv)
    assert_one_line_error(status, err, *needles)
    assert set(tmp_path.iterdir()) == before


def test_plots_naming_a_file_is_refused_before_the_json_is_written(tmp_path):
    (tmp_path / "plots").write_text("not a folder")
    status, err = cli("run", "--json", tmp_path / "R.json", "--plots", tmp_path / "plots")
    assert_one_line_error(status, err, "--plots", "exists and is not a folder")
    assert not (tmp_path / "R.json").exists()
    (tmp_path / "plots").unlink()
    (tmp_path / "plots" / "energy.png").mkdir(parents=True)
    status, err = cli("run", "--json", tmp_path / "R.json", "--plots", tmp_path / "plots")
    assert_one_line_error(status, err, "energy.png: is a folder")


def test_every_output_option_is_checked():
    """Each option that names a written path is typed OutputFile, so main() checks it."""
    parser = build_parser()
    unchecked = []

    def walk(p, prefix):
        for action in p._actions:
            if action.choices and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}")
            elif (action.dest in ("output", "json", "csv", "plot", "plots", "out_dir", "waves")
                  and action.nargs != 0
                  and not (isinstance(action.type, type) and issubclass(action.type, OutputFile))):
                unchecked.append(f"{prefix} {action.option_strings}")

    walk(parser, "tpu")
    assert not unchecked


@pytest.mark.parametrize("argv, needles", [
    (["run", "--act-bits", "0"], ["--act-bits", "2..16", "'0'"]),
    (["run", "--weight-bits", "0"], ["--weight-bits"]),
    (["compile", "MODEL", "--batch", "0"], ["--batch", "at least 1"]),
    (["compile", "MODEL", "--batch", "-3"], ["--batch"]),
    (["gemm", "--a"], ["--a: expected one argument"]),
    (["nosuch"], ["invalid choice"]),
    (["quant", "train"], ["--out-dir"]),
])
def test_argument_errors_are_one_line(argv, needles):
    assert_one_line_error(*cli(*argv), *needles)


def test_compile_with_a_bad_batch_writes_nothing(tmp_path):
    out = tmp_path / "p.asm"
    status, err = cli("compile", "model.onnx", "--batch", "0", "-o", out)
    assert_one_line_error(status, err, "--batch")
    assert not out.exists()


def test_infinite_clock_is_refused(tmp_path, a_npy):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[clock]\nhz = inf\n")
    assert_one_line_error(*cli("gemm", "--a", a_npy, "--b", a_npy, "--config", cfg), "clock.hz")


def test_binary_config_through_the_cli(tmp_path, a_npy):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert_one_line_error(*cli("gemm", "--a", a_npy, "--b", a_npy, "--config", cfg),
                          "c.toml: not a text file")


def test_work_too_large_is_refused_with_the_override(tmp_path):
    status, err = cli("roofline", "--gemm", "20000x20000x20000", "--json", tmp_path / "r.json")
    assert_one_line_error(status, err, "20000x20000x20000", "TPU_MAX_BYTES=", "--no-limits")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("argv", [["run", "--backend", "rtl", "--json", "{out}"],
                                  ["gemm", "--shape", "8x8x8", "--backend", "rtl", "--json", "{out}"],
                                  ["hdl", "verilog", "-o", "{out}"]])
def test_rtl_build_too_large_is_refused_up_front(tmp_path, argv):
    """tpu-v1's 256×256 array would spend hours generating and compiling Verilog."""
    out = tmp_path / "out"
    status, err = cli(*[a.format(out=out) for a in argv], "--config", "tpu-v1")
    assert_one_line_error(status, err, "256×256", "65,536 PEs", "TPU_MAX_RTL_PES=65536")
    assert not out.exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tpu {tpu.__version__}"
    assert tpu.__version__[0].isdigit()


_SLOW_WRITER = """
import signal, sys, time
from tpu.cli import _terminate
from tpu.files import write_atomic
signal.signal(signal.SIGTERM, _terminate)
def writer(path):
    path.write_bytes(b"partial" * 100)
    print("writing", flush=True)
    time.sleep(60)
write_atomic(sys.argv[1], writer)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_write_leaves_nothing(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path / "L.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file, being written
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert list(tmp_path.iterdir()) == []


_SLOW_COMMAND = """
import sys, time
import tpu.nn.model, tpu.nn.train
from tpu.cli import main
tpu.nn.train.train = lambda *args, **kwargs: None  # the writing is what this test interrupts
def to_onnx(self, path):
    open(path, "wb").write(b"partial")
    print("writing", flush=True)
    time.sleep(60)
tpu.nn.model.Sequential.to_onnx = to_onnx
sys.exit(main(["quant", "train", "--out-dir", sys.argv[1]]))
"""


def test_terminated_command_exits_143_and_leaves_nothing(tmp_path):
    """The CLI's own SIGTERM handler unwinds a real command through its atomic writer."""
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_COMMAND, str(tmp_path / "models")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()
    assert list((tmp_path / "models").iterdir()) == []
