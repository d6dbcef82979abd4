"""Qwen family (ARM): transformers' Qwen2ForCausalLM (biases on q/k/v)."""
from transformers import Qwen2Config, Qwen2ForCausalLM

from .arm import HFCausalAdapter


class QwenAdapter(HFCausalAdapter):
    family = "qwen"
    config_class = Qwen2Config
    model_class = Qwen2ForCausalLM
