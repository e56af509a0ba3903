"""Export real architectures from torch/torchvision to ONNX and commit them as weight-free skeletons
(tests/data/models/*.skel.onnx; see tpu/frontend/skeleton.py): small variants for the tests, full
size ones for the benchmarks. ``tpu.frontend.skeleton.materialize`` turns a skeleton back into a
runnable model with random weights of the recorded statistics.

torch is not a project dependency: run this in a scratch environment outside the repo
(torch 2.14.1 still has both exporters: the TorchScript one, ``dynamo=False``, deprecated but
working, and the default dynamo one; the wheels lie on this machine's disk):

    python3 -m venv /work/scratch-torch
    /work/scratch-torch/bin/pip install torch==2.14.1 torchvision==0.29.1 transformers==5.24.0 \
        onnx onnxscript onnxruntime numpy
    /work/scratch-torch/bin/python scripts/export_models.py            # all models
    /work/scratch-torch/bin/python scripts/export_models.py resnet18_w025_64 --keep out/models

Seen with onnx 1.23.2, onnxscript 0.7.2, onnxruntime 1.32.0, numpy 2.4.6, transformers 5.24.0:
2 min 12 s for all twenty-three (most of it the full-size ViT-B/16 and BERT-base), and the
skeletons come out byte for byte the same on a rerun (the exporters' per-node metadata, stack
traces that differ between runs, is dropped). Every model has random weights (torch's default
initialisation, ``torch.manual_seed(0)``) with BatchNorm statistics taken from random inputs (see
``calibrate_batchnorm``), is in eval mode, has a dynamic batch dimension (``batch``; input
``input``, or ``input_ids`` and ``attention_mask`` for the transformers models, output
``logits``), and is checked with onnx.checker and against torch in onnxruntime at a batch size
other than the one it was exported with (torch's warning about LSTM and batch sizes other than 1
is answered by that check). ``--keep DIR`` also writes the float exports there (out/ is
git-ignored).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from torch import nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.densenet import DenseNet
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.models.vision_transformer import VisionTransformer

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "data" / "models"
MAX_BYTES = 2_000_000  # the repo's per-file limit


def _load_skeleton():
    # By path, so the scratch environment needs neither the project installed nor its dependencies.
    sys.path.insert(0, str(REPO))  # skeleton.py imports tpu.errors
    spec = importlib.util.spec_from_file_location("skeleton", REPO / "tpu" / "frontend" / "skeleton.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


skeleton = _load_skeleton()


# --- architectures not available as one torchvision call ---------------------------------------

def resnet18_quarter(num_classes: int = 10) -> ResNet:
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) at quarter width: 16/32/64/128 channels."""
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.inplanes = 16  # _make_layer reads and advances it
    model.conv1 = nn.Conv2d(3, 16, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(16)
    model.layer1 = model._make_layer(BasicBlock, 16, 2)
    model.layer2 = model._make_layer(BasicBlock, 32, 2, stride=2)
    model.layer3 = model._make_layer(BasicBlock, 64, 2, stride=2)
    model.layer4 = model._make_layer(BasicBlock, 128, 2, stride=2)
    model.fc = nn.Linear(128, num_classes)
    for m in model.modules():  # ResNet.__init__'s initialisation, for the replaced layers
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


def efficientnet_b0_reduced(width_mult: float, depth_mult: float, num_classes: int = 10) -> EfficientNet:
    """EfficientNet-B0 from torchvision's own builders with fewer channels and blocks (SiLU,
    squeeze-excitation and its Sigmoid·Mul gate as in B0)."""
    setting, last_channel = _efficientnet_conf("efficientnet_b0", width_mult=width_mult,
                                               depth_mult=depth_mult)
    return EfficientNet(setting, dropout=0.2, num_classes=num_classes, last_channel=last_channel)


def convnext_reduced(num_classes: int = 10) -> ConvNeXt:
    """torchvision ConvNeXt (7×7 depthwise conv, channels-last LayerNorm, GELU MLP, layer scale)
    with three one-block stages of 16/32/64 channels."""
    stages = [CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1), CNBlockConfig(64, None, 1)]
    # layer scale 1 (torchvision starts it at 1e-6 for training), so every block shapes the output
    return ConvNeXt(stages, stochastic_depth_prob=0.0, layer_scale=1.0, num_classes=num_classes)


def densenet_reduced(num_classes: int = 10) -> DenseNet:
    """torchvision DenseNet (BN-ReLU-Conv dense layers concatenated, transitions with average
    pooling) with growth 8, three blocks of two layers, 16 initial features."""
    return DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, bn_size=2,
                    num_classes=num_classes)


def vit_b_16() -> VisionTransformer:
    """torchvision vit_b_16 (224×224, 16×16 patches, 12 layers, width 768, 1000 classes)."""
    model = TV.vit_b_16()
    nn.init.trunc_normal_(model.heads.head.weight, std=0.02)  # torchvision zeroes it: logits ≡ 0
    return model


def vit_tiny(num_classes: int = 10) -> VisionTransformer:
    """torchvision VisionTransformer (patch conv, class token, learned positions, pre-LN encoder
    with nn.MultiheadAttention and GELU MLP) on 32×32 images: 8×8 patches, 2 layers, width 64."""
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                              mlp_dim=128, num_classes=num_classes)
    nn.init.trunc_normal_(model.heads.head.weight, std=0.02)  # torchvision zeroes it: logits ≡ 0
    return model


class EncoderClassifier(nn.Module):
    """Token ids → embedding + learned positions → post-LN GELU transformer encoder → mean over
    the sequence → linear: the shape of a BERT classifier without token types or pooler."""

    def __init__(self, *, vocab: int, seq: int, d_model: int, heads: int, ff: int, layers: int,
                 classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(1, seq, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        for block in self.encoder.layers:
            # TransformerEncoder deep-copies one layer: redraw each so the layers differ (the
            # TorchScript exporter would otherwise share their weights through Identity nodes).
            block.self_attn.out_proj.reset_parameters()
            block.self_attn._reset_parameters()  # after: it zeroes out_proj.bias, as MHA does
            block.linear1.reset_parameters()
            block.linear2.reset_parameters()
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens) + self.pos).mean(dim=1))


class RecurrentClassifier(nn.Module):
    """A float sequence → one-layer LSTM or GRU (batch first) → linear on the last step."""

    def __init__(self, cell: type[nn.RNNBase], *, features: int, hidden: int, classes: int):
        super().__init__()
        self.rnn = cell(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def hf_bert_base(num_labels: int = 2) -> nn.Module:
    """transformers BertForSequenceClassification at bert-base-uncased's size (vocab 30522,
    hidden 768, 12 layers, 12 heads, intermediate 3072), input_ids and attention_mask."""
    import transformers as tf

    cfg = tf.BertConfig(num_labels=num_labels, attn_implementation="eager")
    return _SequenceLogits(tf.BertForSequenceClassification(cfg))


def hf_classifier(kind: str, num_labels: int = 3) -> nn.Module:
    """A Hugging Face transformers model at toy size (vocab 100, width 32, 2 layers, 4 heads):
    BERT and DistilBERT sequence classifiers taking ``input_ids`` and ``attention_mask``, GPT-2's
    language-model head taking ``input_ids`` (its logits over the vocabulary). Eager attention,
    as the ONNX export records it."""
    import transformers as tf

    common = {"vocab_size": 100, "max_position_embeddings": 64, "attn_implementation": "eager"}
    if kind == "bert":
        cfg = tf.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, num_labels=num_labels, **common)
        return tf.BertForSequenceClassification(cfg)
    if kind == "distilbert":
        cfg = tf.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=num_labels,
                                  **common)
        return tf.DistilBertForSequenceClassification(cfg)
    cfg = tf.GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=4, use_cache=False,
                        bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    return _Logits(tf.GPT2LMHeadModel(cfg))


class _Logits(nn.Module):
    """The ``logits`` of a transformers model's output, without its cache."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


class _SequenceLogits(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def hf_model(kind: str) -> nn.Module:
    model = hf_classifier(kind)
    return model if kind == "gpt2" else _SequenceLogits(model)


# --- the catalogue -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    name: str                        # file stem: tests/data/models/<name>.skel.onnx
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]     # without the batch dimension
    what: str                        # one line for the model's doc_string
    vocab: int = 0                   # > 0: the input is int64 token ids in [0, vocab)
    dynamo: bool = False             # the default (dynamo) exporter at opset 18, else TorchScript at 17
    full: bool = False               # full size, for benchmarks (else small, for tests)
    inputs: tuple[str, ...] = ("input",)  # token ids first; "attention_mask": 1 = token, 0 = padding


TV = torchvision.models
SPECS = [
    Spec("mobilenet_v2_w035_64", partial(TV.mobilenet_v2, width_mult=0.35, num_classes=10), (3, 64, 64),
         "torchvision mobilenet_v2(width_mult=0.35, num_classes=10), 64x64"),
    Spec("squeezenet1_1_64", partial(TV.squeezenet1_1, num_classes=10), (3, 64, 64),
         "torchvision squeezenet1_1(num_classes=10), 64x64"),
    Spec("shufflenet_v2_x0_5_64", partial(TV.shufflenet_v2_x0_5, num_classes=10), (3, 64, 64),
         "torchvision shufflenet_v2_x0_5(num_classes=10), 64x64"),
    Spec("efficientnet_b0_w050_d050_64", partial(efficientnet_b0_reduced, 0.5, 0.5), (3, 64, 64),
         "torchvision EfficientNet(_efficientnet_conf('efficientnet_b0', width_mult=0.5, depth_mult=0.5), "
         "num_classes=10), 64x64"),
    Spec("resnet18_w025_64", resnet18_quarter, (3, 64, 64),
         "torchvision ResNet(BasicBlock, [2, 2, 2, 2]) at 16/32/64/128 channels, num_classes=10, 64x64"),
    Spec("resnet18_w025_64_dynamo", resnet18_quarter, (3, 64, 64),
         "torchvision ResNet(BasicBlock, [2, 2, 2, 2]) at 16/32/64/128 channels, num_classes=10, 64x64",
         dynamo=True),
    Spec("transformer_d32_l2_s16", partial(EncoderClassifier, vocab=100, seq=16, d_model=32, heads=4, ff=128,
                                           layers=2, classes=10), (16,),
         "token ids (vocab 100, seq 16) -> Embedding + positions -> 2-layer nn.TransformerEncoder "
         "(d_model 32, 4 heads, ff 128, GELU, post-LN) -> mean over seq -> Linear(10)", vocab=100),
    Spec("lstm_h32_s16", partial(RecurrentClassifier, nn.LSTM, features=8, hidden=32, classes=10), (16, 8),
         "float sequence (seq 16, 8 features) -> nn.LSTM(hidden 32) -> Linear(10) on the last step"),
    Spec("gru_h32_s16", partial(RecurrentClassifier, nn.GRU, features=8, hidden=32, classes=10), (16, 8),
         "float sequence (seq 16, 8 features) -> nn.GRU(hidden 32) -> Linear(10) on the last step"),
    Spec("mobilenet_v3_small_64", partial(TV.mobilenet_v3_small, num_classes=10), (3, 64, 64),
         "torchvision mobilenet_v3_small(num_classes=10), 64x64"),
    Spec("googlenet_64", partial(TV.googlenet, num_classes=10, aux_logits=False, init_weights=True),
         (3, 64, 64), "torchvision googlenet(num_classes=10, aux_logits=False), 64x64"),
    Spec("regnet_y_400mf_64", partial(TV.regnet_y_400mf, num_classes=10), (3, 64, 64),
         "torchvision regnet_y_400mf(num_classes=10), 64x64"),
    Spec("densenet_g8_64", densenet_reduced, (3, 64, 64),
         "torchvision DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, "
         "bn_size=2, num_classes=10), 64x64"),
    Spec("convnext_s3_64", convnext_reduced, (3, 64, 64),
         "torchvision ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1), "
         "CNBlockConfig(64, None, 1)], layer_scale=1.0, num_classes=10), 64x64"),
    Spec("vit_p8_d64_l2_32", vit_tiny, (3, 32, 32),
         "torchvision VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, "
         "hidden_dim=64, mlp_dim=128, num_classes=10), head weights N(0, 0.02), 32x32"),
    Spec("hf_bert_l2_d32_s16", partial(hf_model, "bert"), (16,),
         "transformers BertForSequenceClassification (vocab 100, hidden 32, 2 layers, 4 heads, "
         "intermediate 64, 3 labels), input_ids and attention_mask of 16 tokens", vocab=100,
         dynamo=True, inputs=("input_ids", "attention_mask")),
    Spec("hf_distilbert_l2_d32_s16", partial(hf_model, "distilbert"), (16,),
         "transformers DistilBertForSequenceClassification (vocab 100, dim 32, 2 layers, 4 heads, "
         "hidden 64, 3 labels), input_ids and attention_mask of 16 tokens", vocab=100,
         dynamo=True, inputs=("input_ids", "attention_mask")),
    Spec("hf_gpt2_l2_d32_s16", partial(hf_model, "gpt2"), (16,),
         "transformers GPT2LMHeadModel (vocab 100, n_embd 32, 2 layers, 4 heads), input_ids of 16 "
         "tokens -> logits over the vocabulary at every position", vocab=100, dynamo=True,
         inputs=("input_ids",)),
    Spec("vit_b_16_224", vit_b_16, (3, 224, 224),
         "torchvision vit_b_16() with head weights N(0, 0.02), 224x224, 1000 classes", full=True),
    Spec("hf_bert_base_s128", hf_bert_base, (128,),
         "transformers BertForSequenceClassification at bert-base size (vocab 30522, hidden 768, "
         "12 layers, 12 heads, intermediate 3072, 2 labels), input_ids and attention_mask of 128 "
         "tokens", vocab=30522, dynamo=True, full=True, inputs=("input_ids", "attention_mask")),
    Spec("mobilenet_v2_224", TV.mobilenet_v2, (3, 224, 224),
         "torchvision mobilenet_v2(), 224x224, 1000 classes", full=True),
    Spec("resnet18_224", TV.resnet18, (3, 224, 224),
         "torchvision resnet18(), 224x224, 1000 classes", full=True),
    Spec("bert_tiny_s128", partial(EncoderClassifier, vocab=30522, seq=128, d_model=128, heads=2, ff=512,
                                   layers=2, classes=2), (128,),
         "BERT-tiny-sized: token ids (vocab 30522, seq 128) -> Embedding + positions -> 2-layer "
         "nn.TransformerEncoder (d_model 128, 2 heads, ff 512, GELU, post-LN) -> mean over seq -> Linear(2)",
         vocab=30522, full=True),
]


# --- export and check ----------------------------------------------------------------------------

def example(spec: Spec, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    if not spec.vocab:
        return (torch.randn((batch, *spec.input_shape), generator=g),)
    ids = torch.randint(0, spec.vocab, (batch, *spec.input_shape), generator=g)
    if "attention_mask" not in spec.inputs:
        return (ids,)
    length = torch.randint(1, spec.input_shape[-1] + 1, (batch, 1), generator=g)
    return ids, (torch.arange(spec.input_shape[-1]) < length).long()  # ones, then padding


# Deprecated since torch 2.9 but still the exporter most users' models come from.
warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")


def export(spec: Spec, model: nn.Module, path: Path) -> None:
    # Batch 2 in the example: torch.export specialises a dimension of size 1 to a constant.
    x = example(spec, 2, seed=1)
    names = {"input_names": list(spec.inputs), "output_names": ["logits"]}
    if spec.dynamo:
        batch = torch.export.Dim("batch")
        torch.onnx.export(model, x, str(path), dynamo=True, opset_version=18, external_data=False,
                          dynamic_shapes=tuple({0: batch} for _ in x), **names)
    else:
        torch.onnx.export(model, x, str(path), dynamo=False, opset_version=17,
                          dynamic_axes={n: {0: "batch"} for n in [*spec.inputs, "logits"]},
                          **names)


def check(spec: Spec, model: nn.Module, proto: onnx.ModelProto) -> float:
    """onnx.checker, then onnxruntime against torch at batch 3; the largest difference."""
    onnx.checker.check_model(proto, full_check=True)
    x = example(spec, 3, seed=2)
    with torch.no_grad():
        ref = model(*x).numpy()
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {n: t.numpy() for n, t in zip(spec.inputs, x, strict=True)})
    np.testing.assert_allclose(y, ref, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(ref).max())),
                               err_msg=spec.name)
    return float(np.abs(y - ref).max())


def calibrate_batchnorm(spec: Spec, model: nn.Module, batches: int = 4, batch: int = 16) -> int:
    """Set every BatchNorm's running statistics to those of random inputs, as training would.

    Freshly initialised BatchNorm is the identity in eval mode, so activations shrink layer by layer:
    MobileNetV2's and EfficientNet's logits come out near 1e-9 and ShuffleNet's equal the classifier
    bias for every input, which would make a useless test. With the statistics set, each BatchNorm
    normalises its output as in a trained network (and folds into a non-zero bias).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches
        m.train()  # only the norms: dropout and stochastic depth stay off
    with torch.no_grad():
        for i in range(batches):
            model(*example(spec, batch, seed=100 + i))
    model.eval()
    return len(norms)


def make(spec: Spec, keep: Path | None) -> str:
    torch.manual_seed(0)
    model = spec.build().eval()
    norms = calibrate_batchnorm(spec, model)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{spec.name}.onnx"
        export(spec, model, path)
        proto = onnx.load(str(path))
    exporter = "dynamo, opset 18" if spec.dynamo else "TorchScript (dynamo=False), opset 17"
    stats = "; BatchNorm statistics of 64 random inputs" if norms else ""
    proto.doc_string = (f"{spec.what}; random weights (torch.manual_seed(0)){stats}; eval mode; "
                        f"batch dynamic; exported by torch {torch.__version__.split('+')[0]} ({exporter}); "
                        f"scripts/export_models.py")
    diff = check(spec, model, proto)
    skel = skeleton.strip(proto)
    # The skeleton must come back as a valid, runnable model.
    onnx.checker.check_model(skeleton.materialize(skel), full_check=True)
    dst = OUT / f"{spec.name}.skel.onnx"
    data = skel.SerializeToString()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{dst.name}: {len(data)} bytes, over the {MAX_BYTES}-byte limit")
    dst.write_bytes(data)
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        onnx.save(proto, str(keep / f"{spec.name}.onnx"))
    params = sum(p.numel() for p in model.parameters())
    return (f"{spec.name:30s} {'full' if spec.full else 'small':5s} {params:>10,d} params  "
            f"float {proto.ByteSize() / 1e6:6.2f} MB  skeleton {len(data) / 1e3:6.1f} kB  "
            f"max |ort - torch| {diff:.2e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*",
                        help=f"models to export (default: all): {[s.name for s in SPECS]}")
    parser.add_argument("--keep", type=Path, help="also write the float exports to this directory")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {s.name for s in SPECS}
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}")
    OUT.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        if not args.names or spec.name in args.names:
            print(make(spec, args.keep), flush=True)


if __name__ == "__main__":
    main()
