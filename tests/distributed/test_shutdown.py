"""``multitask.distributed.shutdown``: leaves the default process group (the CLI calls it after a run)."""

from __future__ import annotations

from pathlib import Path

import torch.distributed as dist

from multitask.distributed import is_distributed, shutdown


def test_without_a_group_it_does_nothing() -> None:
    assert not dist.is_initialized()
    shutdown()
    shutdown(wait=False)
    assert not dist.is_initialized()


def test_it_destroys_the_group(tmp_path: Path) -> None:
    for wait in (True, False):
        store = tmp_path / f"store{wait}"
        dist.init_process_group("gloo", init_method=store.resolve().as_uri(), rank=0, world_size=1)
        try:
            assert dist.is_initialized() and is_distributed() is False  # one process: not data parallel
            shutdown(wait=wait)
            assert not dist.is_initialized()
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
