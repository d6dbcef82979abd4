"""Edit methods as LightningModules."""
from .memit import MEMIT
from .method import EditMethod
from .rome import ROME

__all__ = ["EditMethod", "ROME", "MEMIT"]
