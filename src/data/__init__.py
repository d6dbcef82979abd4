"""Edit requests and the loaders that build them from each data source."""
from .requests import EditRequest, InvalidRequest, RequestSet, validate

__all__ = ["EditRequest", "InvalidRequest", "RequestSet", "validate"]
