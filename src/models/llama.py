"""LLaMA family (ARM): transformers' LlamaForCausalLM."""
from transformers import LlamaConfig, LlamaForCausalLM

from .arm import HFCausalAdapter


class LlamaAdapter(HFCausalAdapter):
    family = "llama"
    config_class = LlamaConfig
    model_class = LlamaForCausalLM
