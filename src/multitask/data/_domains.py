"""The flat view of a multi-input dataset (one dataset per task, ``multi_input = True``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

__all__ = ["DomainsView"]


class DomainsView(Dataset):
    """Index ``i`` runs through the domains of ``self.domains`` (``{task: dataset}``) in their order; the
    trainer iterates ``self.domains`` itself, this view is for inspection and generic code. A subclass
    fills ``self.domains`` and then calls :meth:`_index_domains`."""

    name = "domains"
    multi_input = True
    domains: dict[str, Any]

    def _index_domains(self) -> None:
        self._domain_names = list(self.domains)
        self._offsets = np.cumsum([0] + [len(ds) for ds in self.domains.values()])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name}: index {i} out of range for {len(self)} samples")
        d = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self.domains[self._domain_names[d]][i - int(self._offsets[d])]
