"""bench.pretrain_speed: one row per family and mode, the modes train alike."""
import math


def test_pretrain_speed_rows(tiny_cache):
    from bench.pretrain_speed import main

    rows = main(["--config", "tiny.yaml", "--batches", "2", "--modes", "fp32", "bf16",
                 "--families", "llama", "llada"])
    assert [(r["family"], r["mode"]) for r in rows] == [("llama", "fp32"), ("llama", "bf16"),
                                                        ("llada", "fp32"), ("llada", "bf16")]
    assert all(r["seconds_per_epoch"] > 0 and math.isfinite(r["loss"]) for r in rows)
    # Same seed, same batches: bfloat16 autocast moves the loss by rounding only.
    for family in ("llama", "llada"):
        fp32, bf16 = (r["loss"] for r in rows if r["family"] == family)
        assert abs(fp32 - bf16) < 0.05 * fp32
