"""bench.pretrain_speed: one row per family and mode, the modes train alike."""
import math


def test_pretrain_speed_rows(tiny_cache):
    from bench.pretrain_speed import main

    rows = main(["--config", "tiny.yaml", "--batches", "2", "--modes", "fp32", "bf16", "ddp",
                 "--families", "llama", "llada"])
    assert [(r["family"], r["mode"]) for r in rows] == [(f, m) for f in ("llama", "llada") for m in ("fp32", "bf16", "ddp")]
    assert all(r["seconds_per_epoch"] > 0 and math.isfinite(r["loss"]) for r in rows)
    loss = {(r["family"], r["mode"]): r["loss"] for r in rows}
    # Same seed, same batches: bfloat16 autocast moves the loss by rounding only, and two processes
    # on half batches with averaged gradients train the ARM (no random masks) as one process does.
    for family in ("llama", "llada"):
        assert abs(loss[family, "fp32"] - loss[family, "bf16"]) < 0.05 * loss[family, "fp32"]
    assert abs(loss["llama", "fp32"] - loss["llama", "ddp"]) < 0.02 * loss["llama", "fp32"]
