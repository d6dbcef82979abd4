"""Edit methods as LightningModules."""
from .ft import FTL
from .lora import LoRAEdit
from .memit import MEMIT
from .method import EditMethod
from .rome import ROME

__all__ = ["EditMethod", "ROME", "MEMIT", "FTL", "LoRAEdit"]
