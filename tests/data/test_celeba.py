from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from multitask.data import create_dataset

ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


@pytest.fixture
def celeba_root(tmp_path: Path) -> tuple[Path, np.ndarray, list[int]]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 6
    values = rng.choice([-1, 1], size=(n, 40))
    partition = [0, 0, 0, 1, 2, 2]
    (tmp_path / "img_align_celeba").mkdir()
    lines = [str(n), " ".join(ATTRS)]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        colour = (40 * i, 255 - 40 * i, 100)
        Image.new("RGB", (178, 218), colour).save(tmp_path / "img_align_celeba" / name, quality=95)
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values[i]))  # the file's padded columns
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "list_eval_partition.txt").write_text(
        "\n".join(f"{i + 1:06d}.jpg {p}" for i, p in enumerate(partition)) + "\n")
    return tmp_path, values, partition


def test_celeba_round_trip(celeba_root) -> None:
    root, values, partition = celeba_root
    train = create_dataset("celeba", split="train", root=str(root))
    assert len(train) == 3 and len(create_dataset("celeba", split="test", root=str(root))) == 2
    assert [t.name for t in train.tasks] == ATTRS and all(t.kind == "binary" for t in train.tasks)
    x, y = train[1]
    assert x.dtype == torch.float32 and x.shape == (3, 64, 64)
    # a constant-colour JPEG decodes to (about) that colour after the resize
    np.testing.assert_allclose(x.mean(dim=(1, 2)).numpy(), np.array([40, 215, 100]) / 255, atol=3 / 255)
    assert set(y) == set(ATTRS) and y["Young"].dtype == torch.float32 and y["Young"].shape == ()
    np.testing.assert_array_equal([float(y[a]) for a in ATTRS], (values[1] > 0).astype(np.float32))
    val = create_dataset("celeba", split="val", root=str(root), size=32, attributes=["Smiling", "Male"])
    x, y = val[0]
    assert x.shape == (3, 32, 32) and list(y) == ["Smiling", "Male"]
    assert float(y["Male"]) == float(values[3, ATTRS.index("Male")] > 0)
    xb, yb = next(iter(DataLoader(train, batch_size=3)))
    assert xb.shape == (3, 3, 64, 64) and yb["Bald"].shape == (3,)


def test_celeba_errors(celeba_root) -> None:
    root, _, _ = celeba_root
    with pytest.raises(ValueError, match="unknown attributes"):
        create_dataset("celeba", root=str(root), attributes=["Smiling", "Happy"])
    with pytest.raises(ValueError, match="'validation'"):
        create_dataset("celeba", split="validation", root=str(root))
    (root / "img_align_celeba" / "000002.jpg").unlink()
    ds = create_dataset("celeba", root=str(root))
    with pytest.raises(FileNotFoundError, match="(?s)000002.jpg.*list_attr_celeba.txt"):
        ds[1]
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt"):
        create_dataset("celeba", root=str(root))
    attr = root / "list_attr_celeba.txt"
    attr.write_text(attr.read_text().replace("000003.jpg", "000003.jpg 1", 1))
    with pytest.raises(ValueError, match="line 5 has 41 values"):
        create_dataset("celeba", root=str(root))


def _as_official_archive(flat: Path, zipped: bool) -> Path:
    """Move the flat fixture into the official archive layout: Anno/, Eval/, Img/ (folder or zip)."""
    import shutil
    import zipfile

    root = flat / "CelebA"
    (root / "Anno").mkdir(parents=True)
    (root / "Eval").mkdir()
    (root / "Img").mkdir()
    (flat / "list_attr_celeba.txt").rename(root / "Anno" / "list_attr_celeba.txt")
    (flat / "list_eval_partition.txt").rename(root / "Eval" / "list_eval_partition.txt")
    if zipped:
        with zipfile.ZipFile(root / "Img" / "img_align_celeba.zip", "w") as z:
            for p in sorted((flat / "img_align_celeba").iterdir()):
                z.write(p, f"img_align_celeba/{p.name}")
        shutil.rmtree(flat / "img_align_celeba")
    else:
        (flat / "img_align_celeba").rename(root / "Img" / "img_align_celeba")
    return root


@pytest.mark.parametrize("zipped", [False, True])
def test_celeba_official_archive_layout(celeba_root, zipped: bool) -> None:
    import pickle

    flat, values, _ = celeba_root
    reference = create_dataset("celeba", split="train", root=str(flat))[1]
    root = _as_official_archive(flat, zipped)
    train = create_dataset("celeba", split="train", root=str(root))
    assert len(train) == 3 and len(create_dataset("celeba", split="test", root=str(root))) == 2
    x, y = train[1]
    torch.testing.assert_close(x, reference[0])  # the same decoded image as from the flat layout
    np.testing.assert_array_equal([float(y[a]) for a in ATTRS], (values[1] > 0).astype(np.float32))
    x2, _ = pickle.loads(pickle.dumps(train))[1]  # as a DataLoader worker receives it
    torch.testing.assert_close(x2, x)
    if zipped:
        (root / "Img" / "img_align_celeba.zip").unlink()
    else:
        (root / "Img" / "img_align_celeba").rename(root / "Img" / "elsewhere")
    with pytest.raises(FileNotFoundError, match="(?s)Img/img_align_celeba.zip.*Anno/"):
        create_dataset("celeba", root=str(root))
