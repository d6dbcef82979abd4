"""Knowledge editing in masked diffusion LMs beside autoregressive LMs.

Python API (``src.api``, imported on first use so that entry points stay light):
``src.edit(model_path, requests, method="rome", **options) -> EditResult`` and
``src.trace(model_path, **options) -> dict``.
"""
import os
import sys
import types

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other jobs (or DDP
# ranks on one machine), spinning threads starve each other and runs got 3-10x slower.
# Set here, before any entry point imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["edit", "trace", "EditResult"]


class _TraceModule(types.ModuleType):
    """The submodule ``src.trace`` (``python -m src.trace``) shares its name with the API's
    ``src.trace(...)``: once imported it owns the name, so it takes the call."""

    def __call__(self, model_path: str, **options):
        from src.api import trace

        return trace(model_path, **options)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # The import system binds a loaded submodule here: make src.trace callable.
        if name == "trace" and type(value) is types.ModuleType:
            value.__class__ = _TraceModule
        super().__setattr__(name, value)

    def __getattr__(self, name: str):
        import importlib

        if name in ("edit", "EditResult"):
            return getattr(importlib.import_module("src.api"), name)
        if name == "trace":
            return importlib.import_module("src.trace")
        raise AttributeError(f"module 'src' has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
