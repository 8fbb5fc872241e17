"""Batches for the trainer: a split stacked once into tensors on the device, or streamed by a DataLoader.

A dataset item is ``(input, {task: target})`` with a target for every task; a multi-input dataset
(``multi_input = True``, one dataset per task in ``domains``) becomes a :class:`MultiInputSplit`.
Resident splits (:class:`TensorSplit`) hold the whole split as device tensors; a batch is one
``index_select`` per tensor, with no per-sample Python work and no host-to-device copy per step.
Streamed splits (:class:`StreamSplit`) go through a ``DataLoader`` with the same batch order (for
datasets too large to hold, with per-item random augmentation, or with loader workers).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

Batch = tuple[Tensor, dict[str, Tensor]]

#: largest split (estimated from its first item) that ``in_memory: auto`` stacks into tensors
AUTO_LIMIT_BYTES = 1 << 30


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def epoch_order(n: int, batch_size: int, seed: int, epoch: int, limit: int | None) -> list[Tensor]:
    """The index batches of one epoch: a permutation drawn from (seed, epoch), cut into batches."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    order = torch.randperm(n, generator=g).split(batch_size)
    return list(order if limit is None else order[:limit])


def held_out(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A fixed split of ``range(n)`` drawn from ``seed``: (weight indices, architecture indices), the second
    ``round(fraction · n)`` long (an architecture search's held-out training batches)."""
    k = round(fraction * n)
    if not 0 < k < n:
        raise ValueError(
            f"config key 'search.arch_fraction': {fraction} of {n} training samples leaves "
            f"{k} for the architecture and {n - k} for the weights; both need at least one"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, -1)))
    return perm[k:].sort().values, perm[:k].sort().values


def search_order(
    parts: tuple[Tensor, Tensor], batch_size: int, seed: int, epoch: int, limit: int | None
) -> tuple[list[Tensor], list[Tensor]]:
    """One epoch of an alternating search: the weight part's batches, then the architecture part's, each
    a permutation of its part drawn from (seed, epoch), each cut to ``limit`` batches."""
    weights, arch = parts
    w = [weights[i] for i in epoch_order(len(weights), batch_size, seed, epoch, limit)]
    a = [arch[i] for i in epoch_order(len(arch), batch_size, seed + 7919, epoch, limit)]
    return w, a


def check_item(item: Any, task_names: Sequence[str], dataset: str, index: int) -> None:
    """An item must be ``(tensor, {task: target})`` with a target for every task (single-input data)."""
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], dict)):
        raise ValueError(
            f"dataset {dataset!r}: item {index} must be (input, {{task: target}}), got {type(item)}"
        )
    if sorted(item[1]) != sorted(task_names):
        raise ValueError(
            f"dataset {dataset!r}: item {index} has targets for {sorted(item[1])} but the tasks are "
            f"{sorted(task_names)}; the trainer needs every item to carry every task's target (a "
            "multi-input dataset, one input set per task, declares multi_input = True and domains)"
        )


def item_bytes(item: Batch) -> int:
    x, targets = item
    tensors = [torch.as_tensor(x), *(torch.as_tensor(t) for t in targets.values())]
    return sum(t.numel() * t.element_size() for t in tensors)


class TensorSplit:
    """A whole split as tensors on ``device``: ``x`` ``[N, ...]`` and ``targets[task]`` ``[N, ...]``."""

    def __init__(self, dataset: Dataset, task_names: Sequence[str], device: torch.device, name: str) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        xs: list[Tensor] = []
        ys: dict[str, list[Tensor]] = {t: [] for t in task_names}
        for i in range(n):
            item = dataset[i]
            if i == 0:
                check_item(item, task_names, name, i)
            elif item[1].keys() != ys.keys():
                check_item(item, task_names, name, i)
            xs.append(torch.as_tensor(item[0]))
            for t in task_names:
                ys[t].append(torch.as_tensor(item[1][t]))
        self.x = torch.stack(xs).to(device)
        self.targets = {t: torch.stack(v).to(device) for t, v in ys.items()}
        self.device = device

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, index: Tensor) -> Batch:
        index = index.to(self.device)
        return self.x.index_select(0, index), {t: y.index_select(0, index) for t, y in self.targets.items()}

    def batches(self, order: Sequence[Tensor], seed: int = 0) -> Iterator[Batch]:
        if not order:
            return
        # one host-to-device copy of the epoch's indices, not one per step
        on_device = torch.cat(list(order)).to(self.device).split([len(i) for i in order])
        for index in on_device:
            yield self.batch(index)

    def eval_batches(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, len(self), batch_size):
            sl = slice(start, start + batch_size)
            yield self.x[sl], {t: y[sl] for t, y in self.targets.items()}


class StreamSplit:
    """A split read through a ``DataLoader`` (default collate) in a given batch order, moved to ``device``."""

    def __init__(
        self, dataset: Dataset, task_names: Sequence[str], device: torch.device, name: str, num_workers: int
    ) -> None:
        check_item(dataset[0], task_names, name, 0)
        self.dataset, self.device, self.num_workers = dataset, device, num_workers

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def _load(self, batch_sampler: Any, seed: int) -> Iterator[Batch]:
        # its own generator: the loader's worker seeds do not draw from (and shift) the global RNG
        generator = torch.Generator().manual_seed(seed)
        loader = DataLoader(
            self.dataset, batch_sampler=batch_sampler, num_workers=self.num_workers, generator=generator
        )
        for x, targets in loader:
            yield x.to(self.device), {k: v.to(self.device) for k, v in targets.items()}

    def batches(self, order: Sequence[Tensor], seed: int = 0) -> Iterator[Batch]:
        return self._load([idx.tolist() for idx in order], seed)

    def eval_batches(self, batch_size: int) -> Iterator[Batch]:
        n = len(self)
        return self._load([list(range(s, min(n, s + batch_size))) for s in range(0, n, batch_size)], 0)


def make_split(
    dataset: Dataset,
    task_names: Sequence[str],
    device: torch.device,
    name: str,
    in_memory: str,
    num_workers: int,
    augment: bool,
) -> TensorSplit | StreamSplit:
    """Resident (``in_memory`` ``always``, or ``auto`` when small, unaugmented, no workers) or streamed."""
    if in_memory == "auto":
        n = len(dataset)  # type: ignore[arg-type]
        first = dataset[0]
        check_item(first, task_names, name, 0)
        small = n * item_bytes(first) <= AUTO_LIMIT_BYTES
        resident = small and num_workers == 0 and not augment
    else:
        resident = in_memory == "always"
    if resident:
        return TensorSplit(dataset, task_names, device, name)
    return StreamSplit(dataset, task_names, device, name, num_workers)


# ---- multi-input data (one dataset per task; issue 14) ------------------------------------------
def is_multi_input(dataset: Any) -> bool:
    """A multi-input dataset declares ``multi_input = True`` and ``domains = {task: single-task dataset}``."""
    return bool(getattr(dataset, "multi_input", False))


class MultiInputSplit:
    """One split of a multi-input dataset: one resident or streamed split per task (domain).

    Epoch: ``max_t ⌈N_t / B⌉`` steps (the largest domain is seen once; as in LibMTL), each step takes one
    batch of every domain; a domain with fewer batches cycles through its own epoch order again
    (``step mod its batch count``). Each domain's order is a permutation drawn from ``(seed + k, epoch)``,
    ``k`` the domain's position. A batch is ``({task: x_t}, {task: y_t}``): each task's input and target.
    """

    multi_input = True

    def __init__(self, dataset: Any, device: torch.device, name: str, in_memory: str, num_workers: int,
                 augment: bool) -> None:  # fmt: skip
        domains = getattr(dataset, "domains", None)
        names = [t.name for t in getattr(dataset, "tasks", [])]
        if not isinstance(domains, dict) or sorted(domains) != sorted(names):
            raise ValueError(
                f"dataset {name!r}: a multi-input dataset needs `domains`, a dict with one dataset per task "
                f"{names}, got {type(domains).__name__} with keys {sorted(domains or {})}"
            )
        self.task_names = names
        self.domains = {
            t: make_split(domains[t], [t], device, f"{name}/{t}", in_memory, num_workers, augment)
            for t in names
        }

    def __len__(self) -> int:
        return max(len(s) for s in self.domains.values())

    def orders(self, batch_size: int, seed: int, epoch: int, limit: int | None) -> list[dict[str, Tensor]]:
        per = {
            t: epoch_order(len(s), batch_size, seed + k, epoch, None)
            for k, (t, s) in enumerate(self.domains.items())
        }
        steps = max(len(o) for o in per.values())
        if limit is not None:
            steps = min(steps, limit)
        return [{t: o[i % len(o)] for t, o in per.items()} for i in range(steps)]

    def batches(self, order: Sequence[dict[str, Tensor]], seed: int = 0) -> Iterator[tuple[dict, dict]]:
        if not order:
            return
        streams = [self.domains[t].batches([step[t] for step in order], seed) for t in self.task_names]
        for parts in zip(*streams):
            yield (
                {t: x for t, (x, _) in zip(self.task_names, parts)},
                {t: y[t] for t, (_, y) in zip(self.task_names, parts)},
            )

    def eval_batches(self, batch_size: int) -> Iterator[tuple[dict, dict]]:
        """Each domain's batches in turn, as single-task batches ``({t: x}, {t: y})``."""
        for t in self.task_names:
            for x, y in self.domains[t].eval_batches(batch_size):
                yield {t: x}, {t: y[t]}
