import json

import pytest
import torch

from multitask.train import Trainer
from multitask.train.checkpoint import load_checkpoint
from multitask.train.trainer import NonFiniteLossError


@pytest.mark.parametrize(("accuracies", "best"), [((0.5, 0.9, 0.7), 1), ((0.9, 0.5, 0.7), 0)])
def test_selects_the_best_validation_epoch_and_tests_its_weights(tiny_config, accuracies, best):
    """Scripted validation accuracies: the middle (or first) epoch is best; always-last or always-first
    selection, or selecting on anything but the validation Δm, picks another epoch."""
    trainer = Trainer(tiny_config(epochs=3))
    real = trainer.evaluate
    template = real("val")
    scripted = iter(accuracies)
    snapshots = []

    def evaluate(split):
        if split != "val":
            return real(split)
        snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
        a = next(scripted)
        return {task: {metric: a for metric in values} for task, values in template.items()}

    trainer.evaluate = evaluate
    result = trainer.fit()
    assert result["best_epoch"] == best
    # Δm against the first epoch's validation results (no baseline given), in percent
    assert result["val_delta_m"] == pytest.approx(100 * (accuracies[best] - accuracies[0]) / accuracies[0])
    chosen = load_checkpoint(trainer.out_dir / "best.pt")
    assert chosen["epoch"] == best
    for key, value in snapshots[best].items():
        assert torch.equal(chosen["model"][key], value), key
    trainer.model.load_state_dict(snapshots[best])
    assert result["test"] == real("test")  # the test split is evaluated with the selected weights


def test_a_first_epoch_metric_of_zero_counts_its_absolute_change(tiny_config):
    """Against its own first epoch a run whose validation metric was exactly 0 there still selects an epoch
    (the relative change is undefined; the absolute one, in points, counts instead)."""
    trainer = Trainer(tiny_config(epochs=3))
    real = trainer.evaluate
    template = real("val")
    scripted = iter((0.0, 0.4, 0.2))

    def evaluate(split):
        if split != "val":
            return real(split)
        a = next(scripted)
        return {task: {metric: a for metric in values} for task, values in template.items()}

    trainer.evaluate = evaluate
    result = trainer.fit()
    assert result["best_epoch"] == 1
    assert result["val_delta_m"] == pytest.approx(100 * 0.4)


def test_fit_writes_outputs(tiny_config, tmp_path):
    cfg = tiny_config()
    result = Trainer(cfg).fit()
    out = tmp_path / "run"
    for name in ("config.yaml", "checkpoint.pt", "best.pt", "steps.csv", "epochs.csv", "result.json"):
        assert (out / name).is_file(), name
    assert not (out / "run.lock").exists()  # released
    saved = json.loads((out / "result.json").read_text())
    assert saved["best_epoch"] == result["best_epoch"]
    assert set(saved["test"]) == {"left", "right"} and "accuracy" in saved["test"]["left"]
    epochs = (out / "epochs.csv").read_text().splitlines()
    assert len(epochs) == 3 and "val_delta_m" in epochs[0]
    steps = (out / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2 * 4 and "loss/left" in steps[0]
    state = load_checkpoint(out / "checkpoint.pt")  # weights_only=True inside
    assert state["epoch"] == 2 and state["global_step"] == 8


def test_gradient_method_in_features_mode_logs_cosines(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    cfg.method.name = "ew"
    trainer = Trainer(cfg)
    assert trainer.mode == "loss"
    from multitask.methods.base import GradientMethod

    class Mean(GradientMethod):
        needs = "gramian"

        def weights(self, gramian, losses=None):
            return torch.full((gramian.shape[0],), 0.5, dtype=gramian.dtype)

    trainer.method = Mean()
    trainer.mode = "features"
    trainer.fit()
    header = (tmp_path / "run" / "steps.csv").read_text().splitlines()[0]
    assert "cos/left/right" in header and "grad_norm/left" in header


def test_resume_after_kill_mid_epoch_is_bitwise_identical(tiny_config, tmp_path):
    full = Trainer(tiny_config(checkpoint_every=1, out_dir=str(tmp_path / "a"))).fit()
    full_state = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["model"]

    cfg = tiny_config(checkpoint_every=1, out_dir=str(tmp_path / "b"))
    killed = Trainer(cfg)
    original = killed.train_step

    def dying_step(x, targets):
        if killed.global_step == 5:  # second epoch, second step
            raise KeyboardInterrupt
        return original(x, targets)

    killed.train_step = dying_step
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    resumed = Trainer(cfg).fit(resume=True)
    resumed_state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["model"]
    for key in full_state:
        assert torch.equal(full_state[key], resumed_state[key]), key
    assert resumed["test"] == full["test"] and resumed["val"] == full["val"]
    rows_a = (tmp_path / "a" / "steps.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "steps.csv").read_text().splitlines()
    assert len(rows_a) == len(rows_b)


def _poison(trainer, at_step):
    original = trainer._losses

    def losses(x, targets):
        out, feats = original(x, targets)
        if trainer.global_step == at_step:
            out["right"] = out["right"] * float("nan")
        return out, feats

    trainer._losses = losses


def test_non_finite_loss_stops_with_task_and_step(tiny_config, tmp_path):
    trainer = Trainer(tiny_config(checkpoint_every=1))
    _poison(trainer, 3)
    with pytest.raises(NonFiniteLossError, match=r"task 'right' at epoch 0 step 3") as exc:
        trainer.fit()
    assert "checkpoint.pt (epoch 0, step 3)" in str(exc.value)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["global_step"] == 3  # the last good checkpoint is kept


def test_non_finite_loss_before_any_checkpoint_says_so_and_keeps_the_logs(tiny_config, tmp_path):
    trainer = Trainer(tiny_config())
    _poison(trainer, 2)
    with pytest.raises(NonFiniteLossError) as exc:
        trainer.fit()
    msg = str(exc.value)
    assert "no checkpoint was written yet" in msg and "checkpoint.pt" not in msg
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    steps = (tmp_path / "run" / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2 and "loss/left" in steps[0]  # steps 0 and 1, written


def test_resume_with_more_epochs_continues_to_the_new_count(tiny_config, tmp_path, user_module):
    import mt_user_toys

    def make(epochs, out):
        cfg = tiny_config(epochs=epochs, out_dir=str(tmp_path / out))
        cfg.method.name = "mt_user_toys:HalfWeights"
        return cfg

    mt_user_toys.HalfWeights.budgets.clear()
    straight = Trainer(make(3, "a")).fit()
    Trainer(make(1, "b")).fit()
    resumed = Trainer(make(3, "b")).fit(resume=True)
    assert mt_user_toys.HalfWeights.budgets == [(3, 4), (1, 4), (3, 4)]  # once per fit, full budget
    assert resumed["epochs"] == 3 and len((tmp_path / "b" / "epochs.csv").read_text().splitlines()) == 4
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert b["epoch"] == 3 and b["global_step"] == 12
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert resumed["test"] == straight["test"]


def test_resident_and_streamed_data_train_identically(tiny_config, tmp_path):
    results, models = [], []
    for mode in ("always", "never"):
        cfg = tiny_config(epochs=1, out_dir=str(tmp_path / mode))
        cfg.data.in_memory = mode
        trainer = Trainer(cfg)
        assert (
            type(trainer.splits["train"]).__name__ == {"always": "TensorSplit", "never": "StreamSplit"}[mode]
        )
        results.append(trainer.fit())
        models.append(trainer.model.state_dict())
    assert results[0]["test"] == results[1]["test"]
    for key in models[0]:
        assert torch.equal(models[0][key], models[1][key]), key


def test_non_finite_steps_can_be_skipped_and_counted(tiny_config):
    trainer = Trainer(tiny_config(nonfinite="skip"))
    _poison(trainer, 2)
    result = trainer.fit()
    assert result["skipped_steps"] == 1


def test_split_kwargs_override_per_split(tiny_config):
    cfg = tiny_config(epochs=1)
    cfg.data.split_kwargs = {"val": {"n_val": 32}}
    trainer = Trainer(cfg)
    assert len(trainer.val_set) == 32 and len(trainer.test_set) == 64
    assert len(trainer.splits["val"]) == 32
    cfg.data.split_kwargs = {"valid": {}}
    with pytest.raises(ValueError, match=r"'data\.split_kwargs\.valid'"):
        Trainer(cfg)


def test_fit_restores_the_callers_determinism_setting(tiny_config):
    assert not torch.are_deterministic_algorithms_enabled()
    Trainer(tiny_config(epochs=1)).fit()
    assert not torch.are_deterministic_algorithms_enabled()
