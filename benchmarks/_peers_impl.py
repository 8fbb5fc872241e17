"""Runners for ``benchmarks/peers.py``: one training step of ours, torchjd's, LibMTL's, the naive loop's.

Each runner owns an identical model (same seed), batch and SGD optimizer, and exposes ``step()`` (forward,
the method's backward, ``optimizer.step()``, zero the gradients) and ``first_update()`` (forward and
backward only; the shared parameters' gradient as one vector) for the agreement check.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import multitask as mt
from multitask.train.build import build_method

BATCH, FEATURES, CLASSES = 64, 128, 10


@dataclass(frozen=True)
class Spec:
    """A method the peers share: our registry name, torchjd's constructor, LibMTL's weighting class."""

    key: str
    ours: str
    modes: tuple[str, ...]
    ours_kwargs: dict[str, Any] = field(default_factory=dict)
    torchjd: str | None = None  # "aggregation.UPGrad" / "scalarization.UW"
    torchjd_kwargs: dict[str, Any] = field(default_factory=dict)
    torchjd_needs_tasks: str | None = None  # the constructor argument that takes T
    libmtl: str | None = None  # class name in LibMTL.weighting
    libmtl_kwargs: dict[str, Any] = field(default_factory=dict)
    random: bool = False  # the update is random: the cosine need not be 1


_GRAD = ("parameters", "features")
SPECS: tuple[Spec, ...] = (
    # loss weightings (one backward of a weighted sum)
    Spec("ew", "ew", ("loss",), torchjd="scalarization.Sum", libmtl="EW"),
    Spec("uw", "uw", ("loss",), torchjd="scalarization.UW", torchjd_needs_tasks="shape", libmtl="UW"),
    Spec("dwa", "dwa", ("loss",), torchjd="scalarization.DWA", libmtl="DWA", libmtl_kwargs={"T": 2.0}),
    Spec(
        "rlw",
        "rlw",
        ("loss",),
        torchjd="scalarization.Random",
        libmtl="RLW",
        libmtl_kwargs={"dist": "Normal"},
        random=True,
    ),  # fmt: skip
    Spec("gls", "gls", ("loss",), torchjd="scalarization.GeometricMean", libmtl="GLS"),
    Spec("imtl_l", "imtl_l", ("loss",), torchjd="scalarization.IMTLL", torchjd_needs_tasks="shape"),
    Spec("famo", "famo", ("loss",), torchjd="scalarization.FAMO", torchjd_needs_tasks="shape"),
    Spec("gradnorm", "gradnorm", ("loss",), libmtl="GradNorm", libmtl_kwargs={"alpha": 1.5}),
    # gradient methods (Jacobian of the shared parameters or of the features)
    Spec("upgrad", "upgrad", _GRAD, torchjd="aggregation.UPGrad"),
    Spec("dualproj", "dualproj", _GRAD, torchjd="aggregation.DualProj"),
    Spec("mgda", "mgda", _GRAD, torchjd="aggregation.MGDA", libmtl="MGDA", libmtl_kwargs={"mgda_gn": "none"}),
    Spec(
        "cagrad",
        "cagrad",
        _GRAD,
        {"c": 0.4},
        torchjd="aggregation.CAGrad",
        torchjd_kwargs={"c": 0.4},
        libmtl="CAGrad",
        libmtl_kwargs={"calpha": 0.4, "rescale": 1},
    ),  # fmt: skip
    Spec("imtl_g", "imtl_g", _GRAD, torchjd="aggregation.IMTLG", libmtl="IMTL"),
    Spec("pcgrad", "pcgrad", _GRAD, torchjd="aggregation.PCGrad", libmtl="PCGrad", random=True),
    Spec(
        "gradvac",
        "gradvac",
        _GRAD,
        {"beta": 0.01},
        torchjd="aggregation.GradVac",
        torchjd_kwargs={"beta": 0.01},
        libmtl="GradVac",
        libmtl_kwargs={"beta": 0.01},
        random=True,
    ),  # fmt: skip
    Spec(
        "graddrop",
        "graddrop",
        _GRAD,
        torchjd="aggregation.GradDrop",
        libmtl="GradDrop",
        libmtl_kwargs={"leak": 0.0},
        random=True,
    ),  # fmt: skip
    Spec("aligned_mtl", "aligned_mtl", _GRAD, torchjd="aggregation.AlignedMTL"),
    Spec("nash_mtl", "nash_mtl", _GRAD, torchjd="aggregation.NashMTL", torchjd_needs_tasks="n_tasks"),
    Spec(
        "fairgrad",
        "fairgrad",
        _GRAD,
        {"alpha": 2.0},
        torchjd="aggregation.FairGrad",
        torchjd_kwargs={"alpha": 2.0},
    ),  # fmt: skip
    Spec(
        "excess_mtl",
        "excess_mtl",
        ("parameters",),
        {"robust_step_size": 0.01},
        torchjd="aggregation.ExcessMTL",
        torchjd_kwargs={"robust_step_size": 0.01},
    ),  # fmt: skip
    Spec("config", "config", _GRAD, torchjd="aggregation.ConFIG"),
)


def build_model(tasks: int, device: torch.device, seed: int = 0):
    """The 3-conv + linear encoder of ``benchmarks/step_time.py``, T linear heads, one fixed batch."""
    torch.manual_seed(seed)
    enc = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, FEATURES), nn.ReLU(),
    )  # fmt: skip
    heads = nn.ModuleList([nn.Linear(FEATURES, CLASSES) for _ in range(tasks)])
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(BATCH, 3, 32, 32, generator=g)
    ys = [torch.randint(0, CLASSES, (BATCH,), generator=g) for _ in range(tasks)]
    return enc.to(device), heads.to(device), x.to(device), [y.to(device) for y in ys]


class _Runner:
    """One implementation on its own copy of the model; subclasses define ``setup`` and ``backward``."""

    def __init__(self, spec: Spec, mode: str, tasks: int, device: torch.device) -> None:
        self.spec, self.mode, self.tasks, self.device = spec, mode, tasks, device
        self.enc, self.heads, self.x, self.ys = build_model(tasks, device)
        self.shared = list(self.enc.parameters())
        self.head_params = [list(h.parameters()) for h in self.heads]
        extra = self.setup()
        params = self.shared + [p for ps in self.head_params for p in ps] + list(extra)
        self.opt = torch.optim.SGD(params, lr=1e-3)

    def setup(self) -> list[Tensor]:
        return []

    def head_input(self, z: Tensor, i: int) -> Tensor:
        return z

    def forward(self) -> tuple[Tensor, list[Tensor]]:
        z = self.enc(self.x)
        losses = [
            nn.functional.cross_entropy(h(self.head_input(z, i)), y)
            for i, (h, y) in enumerate(zip(self.heads, self.ys))
        ]
        return z, losses

    def backward(self, z: Tensor, losses: list[Tensor]) -> None:
        raise NotImplementedError

    def zero(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        z, losses = self.forward()
        self.backward(z, losses)
        self.opt.step()
        self.zero()

    def first_update(self) -> Tensor:
        z, losses = self.forward()
        self.backward(z, losses)
        vec = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.shared]
        ).detach().clone()  # fmt: skip
        self.zero()
        return vec


class Ours(_Runner):
    def setup(self) -> list[Tensor]:
        self.method = build_method(self.spec.ours, self.spec.ours_kwargs, self.tasks).to(self.device)
        return list(self.method.parameters())

    def backward(self, z: Tensor, losses: list[Tensor]) -> None:
        feats = z if self.mode == "features" else None
        mt.backward(losses, self.method, shared=self.shared, features=feats)


class Naive(_Runner):
    """T ``loss_t.backward(retain_graph=True)``, the shared gradients copied after each, their mean."""

    def backward(self, z: Tensor, losses: list[Tensor]) -> None:
        rows = []
        for loss in losses:
            loss.backward(retain_graph=True)
            rows.append([p.grad.clone() for p in self.shared])
            for p in self.shared:
                p.grad = None
        for k, p in enumerate(self.shared):
            p.grad = torch.stack([r[k] for r in rows]).mean(0)


def _torchjd_object(spec: Spec, tasks: int):
    if spec.torchjd is None:
        raise NotImplementedError(f"torchjd has no {spec.key}")
    module, name = spec.torchjd.split(".")
    cls = getattr(importlib.import_module(f"torchjd.{module}"), name)
    kwargs = dict(spec.torchjd_kwargs)
    if spec.torchjd_needs_tasks:
        kwargs[spec.torchjd_needs_tasks] = tasks
    return cls(**kwargs)


class TorchJD(_Runner):
    """torchjd's autojac (aggregators) or a scalarizer (loss weightings)."""

    def setup(self) -> list[Tensor]:
        self.obj = _torchjd_object(self.spec, self.tasks)
        if hasattr(self.obj, "to"):
            self.obj.to(self.device)
        self.is_famo = type(self.obj).__name__ == "FAMO"
        self.called = False
        # FAMO's logits are stepped by its own Adam in ``update``; the other scalarizers' parameters
        # (UW's, IMTL-L's log-scales) learn through the model's optimizer as ours do
        if self.is_famo or not isinstance(self.obj, nn.Module):
            return []
        return list(self.obj.parameters())

    def backward(self, z: Tensor, losses: list[Tensor]) -> None:
        from torchjd import autojac

        if self.mode == "loss":
            vec = torch.stack(losses)
            if self.is_famo and self.called:  # the decrease since the last step, as our FAMO's default
                self.obj.update(vec)
            self.obj(vec).backward()
            self.called = True
        elif self.mode == "parameters":
            autojac.mtl_backward(losses, features=z)
            autojac.jac_to_grad(self.shared, self.obj)
        else:  # features: the Jacobian w.r.t. the features, aggregated, then back through the encoder
            (jz,) = autojac.jac(losses, [z], retain_graph=True)
            g = self.obj(jz.reshape(len(losses), -1))
            heads = [p for ps in self.head_params for p in ps]
            torch.autograd.backward(losses, inputs=heads, retain_graph=True)
            z.backward(g.reshape(z.shape))


class Autogram(_Runner):
    """torchjd's Gramian engine (parameters mode): Gramian, weights, ``losses.backward(weights)``."""

    def setup(self) -> list[Tensor]:
        from torchjd.aggregation import GramianWeightedAggregator
        from torchjd.autogram import Engine

        agg = _torchjd_object(self.spec, self.tasks)
        if not isinstance(agg, GramianWeightedAggregator) or self.mode != "parameters":
            raise NotImplementedError("autogram: Gramian-weighted aggregators in parameters mode only")
        self.weighting = agg.gramian_weighting
        self.engine = Engine(self.enc, batch_dim=None)
        return []

    def backward(self, z: Tensor, losses: list[Tensor]) -> None:
        vec = torch.stack(losses)
        weights = self.weighting(self.engine.compute_gramian(vec))
        vec.backward(weights)


def load_libmtl(name: str):
    """``LibMTL.weighting.<name>.<name>`` without running ``LibMTL/__init__.py`` (it imports torchvision).

    Stub modules for ``LibMTL`` and ``LibMTL.weighting`` whose ``__path__`` is the installed folders go
    into ``sys.modules`` first, so ``import LibMTL.weighting.MGDA`` (and its own ``from
    LibMTL.weighting.abstract_weighting import AbsWeighting``) load single files."""
    pkg = sys.modules.get("LibMTL")
    if pkg is None or not getattr(pkg, "_peers_stub", False):
        spec = importlib.util.find_spec("LibMTL")  # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("LibMTL is not installed (pip install --no-deps LibMTL)")
        root = Path(list(spec.submodule_search_locations)[0])
        pkg = types.ModuleType("LibMTL")
        pkg.__path__ = [str(root)]
        pkg._peers_stub = True
        sub = types.ModuleType("LibMTL.weighting")
        sub.__path__ = [str(root / "weighting")]
        pkg.weighting = sub
        sys.modules["LibMTL"], sys.modules["LibMTL.weighting"] = pkg, sub
    return getattr(importlib.import_module(f"LibMTL.weighting.{name}"), name)


class LibMTL(_Runner):
    """A ``LibMTL.weighting`` class mixed into a model as LibMTL's ``Trainer`` builds it."""

    def setup(self) -> list[Tensor]:
        if self.spec.libmtl is None:
            raise NotImplementedError(f"LibMTL has no {self.spec.key}")
        cls = load_libmtl(self.spec.libmtl)
        enc = self.enc

        class Adapted(cls):  # the architecture's share-parameter hooks (AbsArchitecture)
            def get_share_params(self):
                return enc.parameters()

            def zero_grad_share_params(self):
                enc.zero_grad(set_to_none=False)  # torch 1.x semantics, which LibMTL 1.1.5 relies on

        w = Adapted()
        w.task_num, w.task_name, w.device = self.tasks, [f"t{i}" for i in range(self.tasks)], self.device
        w.rep_grad = self.mode == "features"
        if w.rep_grad:
            w.rep, w.rep_tasks = {}, {}
        # past the first epochs, so DWA and GradNorm run their real weighting (their first epoch is EW)
        w.epoch, w.train_loss_buffer = 2, np.full((self.tasks, 3), 2.3)
        w.init_param()
        self.w = w.to(self.device)
        return list(self.w.parameters())

    def head_input(self, z: Tensor, i: int) -> Tensor:
        if not self.w.rep_grad:
            return z
        task = self.w.task_name[i]  # AbsArchitecture._prepare_rep, one tensor representation
        self.w.rep[task] = z
        self.w.rep_tasks[task] = z.detach().clone().requires_grad_(True)
        return self.w.rep_tasks[task]

    def backward(self, z: Tensor, losses: list[Tensor]) -> None:
        self.w.backward(torch.stack(losses), **self.spec.libmtl_kwargs)

    def zero(self) -> None:
        self.opt.zero_grad(set_to_none=False)


_RUNNERS = {"ours": Ours, "torchjd": TorchJD, "autogram": Autogram, "libmtl": LibMTL, "naive": Naive}


def make_runner(impl: str, spec: Spec, mode: str, tasks: int, device: torch.device) -> _Runner | None:
    """A runner of ``impl`` for one cell; ``None`` when the peer lacks the method (or the mode)."""
    if impl == "ew":
        return Ours(SPECS[0], "loss", tasks, device)
    if impl == "naive":
        return Naive(spec, mode, tasks, device)
    if impl == "torchjd" and spec.torchjd is None:
        return None
    if impl == "autogram" and (
        spec.torchjd is None or mode != "parameters" or spec.torchjd.startswith("scal")
    ):
        return None
    if impl == "libmtl" and spec.libmtl is None:
        return None
    if impl == "libmtl" and mode == "features" and spec.libmtl in ("PCGrad", "GradVac", "CAGrad"):
        return None  # LibMTL raises: "No support method ... with representation gradients"
    if impl == "libmtl" and mode == "parameters" and spec.libmtl == "GradDrop":
        return None  # LibMTL's GradDrop works on representation gradients only
    try:
        return _RUNNERS[impl](spec, mode, tasks, device)
    except NotImplementedError:
        return None


def peer_status() -> dict[str, tuple[bool, str]]:
    """Which peers import here: ``{peer: (available, version or the reason)}``."""
    out: dict[str, tuple[bool, str]] = {}
    try:
        importlib.import_module("torchjd.aggregation")
        importlib.import_module("torchjd.scalarization")
        version = importlib.metadata.version("torchjd")
        out["torchjd"] = (True, f"torchjd {version} (autojac)")
        importlib.import_module("torchjd.autogram")
        out["autogram"] = (True, f"torchjd {version} (autogram engine)")
    except Exception as err:  # not installed, or an incompatible version
        msg = f"torchjd not importable: {type(err).__name__}: {err}; pip install 'multitask[peers]'"
        out["torchjd"] = out["autogram"] = (False, msg)
    try:
        load_libmtl("EW")
        out["libmtl"] = (True, f"LibMTL {importlib.metadata.version('LibMTL')} (weighting modules only)")
    except Exception as err:
        out["libmtl"] = (
            False,
            f"LibMTL not loadable: {type(err).__name__}: {err}; pip install --no-deps LibMTL",
        )
    return out
