"""The embedded fact world (fictional, generated) and real-fact worlds (KAMEL), with a tokenizer."""
from .kamel import KAMEL_RELATIONS, data_root, kamel_world
from .measure import object_first_token_ambiguity, object_length_histogram, subject_token_identifiability
from .tokenizer import DEFAULT_VOCAB_SIZE, SPECIAL_TOKENS, train_tokenizer
from .tokens import encode_prompt, encode_sentences, encode_target
from .world import RELATIONS, Fact, Relation, World, WorldConfig, generate_world

__all__ = ["Fact", "Relation", "World", "WorldConfig", "RELATIONS", "generate_world",
           "train_tokenizer", "DEFAULT_VOCAB_SIZE", "SPECIAL_TOKENS",
           "encode_prompt", "encode_target", "encode_sentences",
           "subject_token_identifiability", "object_length_histogram", "object_first_token_ambiguity",
           "KAMEL_RELATIONS", "data_root", "kamel_world"]
