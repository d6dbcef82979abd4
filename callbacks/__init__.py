"""Callbacks of an edit run: per-length efficacy, loss curves, result files."""
from .efficacy import EfficacyPerLength
from .loss_curves import LossCurves
from .results import ResultsWriter

__all__ = ["EfficacyPerLength", "LossCurves", "ResultsWriter"]
