"""Causal tracing (ROME) for all four families: batched restorations, summaries, figures."""
from .corrupt import corrupt_subject, noise_scale, record_states, restore_states
from .plots import average_figure, fact_figure, lines_figure, log_figures, models_figure, save_figures
from .summary import GROUPS, peak, summarize, token_groups
from .trace import KINDS, TraceResult, trace_fact, window_layers

__all__ = ["corrupt_subject", "noise_scale", "record_states", "restore_states", "average_figure",
           "fact_figure", "lines_figure", "log_figures", "models_figure", "save_figures", "GROUPS", "peak",
           "summarize", "token_groups", "KINDS", "TraceResult", "trace_fact", "window_layers"]
