"""Names of an edit's variant, shared by the report's tables and the run's own figures."""
from __future__ import annotations


def variant(is_mdm: bool, schedule: str | None) -> str:
    """MDM edits: "naive" (schedule none), "corrected" (the study's schedule) or "corrected
    (<schedule>)"; "" for ARMs and where the schedule is unknown."""
    if not is_mdm or schedule is None:
        return ""
    if schedule == "none":
        return "naive"
    return "corrected" if schedule == "study" else f"corrected ({schedule})"


def edit_label(method: str, variant_name: str, layers: list[int]) -> str:
    """Method, variant and layers, e.g. "ROME corrected L0", "MEMIT L0-1"."""
    return " ".join(filter(None, [method, variant_name, "L" + "-".join(map(str, layers))]))


def run_title(trainer, pl_module) -> str:
    """Method, variant, layers and family of a running fit, e.g. "ROME corrected L0 on llada"."""
    schedule = getattr(getattr(trainer, "datamodule", None), "hparams", {}).get("schedule")
    kind = variant(pl_module.adapter.kind == "mdm", schedule)
    return f"{edit_label(type(pl_module).__name__, kind, pl_module.layers)} on {pl_module.adapter.family}"
