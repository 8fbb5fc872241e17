"""NYUv2 in the MTAN ``.npy`` layout: 13-class segmentation, depth and surface normals."""

from __future__ import annotations

import os

from multitask.core.tasks import Task
from multitask.data._mtan import Field, MTANDense
from multitask.data.registry import register_dataset


@register_dataset("nyuv2")
class NYUv2(MTANDense):
    """NYUv2 (Silberman, Hoiem, Kohli & Fergus, ECCV 2012) as pre-processed for MTAN (Liu, Johns &
    Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019): 795 train / 654 val images at
    288 x 384.

    Layout: ``root/{train,val}/{image,label,depth,normal}/{i}.npy``, each stored H x W x C (``label``
    H x W): image 3 channels in [0, 1], label the 13 classes with -1 = ignore, depth 1 channel (0 =
    invalid), normal 3 channels (all-0 = invalid). There is no test split: ``split="test"`` reads
    ``val`` (the MTAN protocol, also used by LibMTL, CAGrad and Nash-MTL).

    Items: ``(image [3, H, W] float32, {"segmentation": int64 [H, W], "depth": float32 [1, H, W],
    "normals": float32 [3, H, W]})``.

    Args:
        split: "train", "val" or "test" (= "val").
        root: the folder holding ``train/`` and ``val/`` (required; nothing is downloaded).
        augment: MTAN's training augmentation: random scale in {1.0, 1.2, 1.5} (crop + resize, depth
            divided by the scale) and a horizontal flip that negates the normals' x channel (default False;
            see :class:`~multitask.data._mtan.MTANDense`).
    """

    name = "nyuv2"
    fields = (Field("image", None, 3), Field("label", "segmentation", 0), Field("depth", "depth", 1),
              Field("normal", "normals", 3))
    shape = (288, 384)

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 augment: bool = False) -> None:
        self.tasks = [Task("segmentation", "segmentation", 13), Task("depth", "depth", 1),
                      Task("normals", "normals", 3)]
        super().__init__(split, root, augment)
