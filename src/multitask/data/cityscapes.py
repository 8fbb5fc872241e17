"""Cityscapes in the MTAN / LibMTL ``.npy`` layout: 7- or 19-class segmentation and depth (disparity)."""

from __future__ import annotations

import os
from pathlib import Path

from multitask.core.tasks import Task
from multitask.data._mtan import Field, MTANDense
from multitask.data.registry import register_dataset


@register_dataset("cityscapes")
class Cityscapes(MTANDense):
    """Cityscapes (Cordts et al., CVPR 2016) as pre-processed for MTAN (Liu, Johns & Davison, CVPR 2019):
    2975 train / 500 val images at 128 x 256.

    Layout: ``root/{train,val}/{image,label_7,depth}/{i}.npy`` (``label_19`` instead of ``label_7`` for
    ``num_classes=19``), stored H x W x C (labels H x W): image 3 channels in [0, 1], labels with -1 =
    ignore, depth 1 channel (0 = invalid). LibMTL's copy of the same data names the 7-class labels
    ``label/`` instead of ``label_7/``; it is used when ``label_7/`` is absent (or always, with
    ``label_folder="label"``). There is no test split: ``split="test"`` reads ``val`` (the MTAN protocol).

    The "depth" of this pre-processed set is a *disparity* map (inverse depth, rescaled; larger = nearer),
    not metric depth: MTAN, LibMTL, CAGrad, Nash-MTL all train and score it as "depth" with the L1 loss
    and abs/rel errors, and so do we (task name ``depth``, kind ``depth``); its numbers are comparable
    with those papers' Cityscapes depth columns, not with metric-depth results in metres.

    Items: ``(image [3, H, W] float32, {"segmentation": int64 [H, W], "depth": float32 [1, H, W]})``.

    Args:
        split: "train", "val" or "test" (= "val").
        root: the folder holding ``train/`` and ``val/`` (required; nothing is downloaded).
        num_classes: 7 (default, the MTAN setting) or 19, choosing ``label_7`` or ``label_19``.
        augment: MTAN's random scale crop (depth divided by the scale) and horizontal flip (default False).
        label_folder: the label folder's name; None (default) = ``label_{num_classes}``, or LibMTL's
            ``label`` when ``num_classes=7`` and only that exists.
    """

    name = "cityscapes"
    shape = (128, 256)
    layout_note = "  (LibMTL's copy: label/ instead of label_7/ is accepted too)"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 num_classes: int = 7, augment: bool = False, label_folder: str | None = None) -> None:
        if num_classes not in (7, 19):
            raise ValueError(f"cityscapes: num_classes must be 7 or 19, got {num_classes!r}")
        self.num_classes = num_classes
        if label_folder is None:
            label_folder = f"label_{num_classes}"
            if num_classes == 7 and root is not None:
                split_dir = Path(root) / ("val" if split == "test" else split)
                if not (split_dir / label_folder).is_dir() and (split_dir / "label").is_dir():
                    label_folder = "label"  # LibMTL's layout
        self.label_folder = label_folder
        self.fields = (Field("image", None, 3), Field(label_folder, "segmentation", 0),
                       Field("depth", "depth", 1))
        self.tasks = [Task("segmentation", "segmentation", num_classes), Task("depth", "depth", 1)]
        super().__init__(split, root, augment)
