"""A small BPE tokenizer trained on a world's sentences, saved as a Hugging Face tokenizer folder.

The Metaspace pre-tokenizer (prepend "▁" to every word, split before it) keeps tokens inside
words, so ``encode(prompt + " " + obj) == encode(prompt) + encode(" " + obj)``: an object's ids
are the same wherever it follows a prompt, and a name's tokens do not depend on its position.
"""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD, EOS, MASK, BOS, UNK = "<|pad|>", "<|endoftext|>", "<|mask|>", "<|bos|>", "<|unk|>"
SPECIAL_TOKENS = [PAD, EOS, MASK, BOS, UNK]
DEFAULT_VOCAB_SIZE = 256


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,
                    min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a BPE of at most ``vocab_size`` tokens (special tokens included) on ``texts``.

    Word parts frequent in ``texts`` become single tokens, rare ones stay split. No special
    token is added by ``encode``: callers prepend ``bos_token_id`` or append ``eos_token_id``
    where their model wants them.
    """
    # Characters never seen in training map to UNK rather than vanish.
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS,
                                   mask_token=MASK, bos_token=BOS, unk_token=UNK)
