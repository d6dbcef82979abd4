"""Token-level form of an edit request: what the edit methods optimise and evaluate.

Every prompt is tokenised as a whole and the subject's last token found from the
tokenizer's character offsets, so no family's tokenizer needs prompts to split cleanly at
the subject boundary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from src.data.requests import EditRequest, InvalidRequest, fill
from src.factworld.tokens import encode_prompt, encode_target

ESSENCE_TEMPLATE = "{} is a"  # ROME's KL prompt: keeps what the subject is


@dataclass
class Prompt:
    ids: list[int]
    subject_last: int  # index of the subject's last token in ``ids``


@dataclass
class EditCase:
    request: EditRequest
    prompt: Prompt                    # the edit prompt itself
    contexts: list[Prompt]            # the edit prompt after each context prefix ("" first)
    essence: Prompt
    target_ids: list[int]
    paraphrases: list[list[int]] = field(default_factory=list)
    neighbours: list[list[int]] = field(default_factory=list)
    neighbour_targets: list[list[int]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.target_ids)


def encode_with_subject(tokenizer, template: str, subject: str, prefix: str = "") -> Prompt:
    """Tokenise ``prefix + template`` with the subject filled in and locate the subject."""
    head = prefix + " " if prefix else ""
    text = head + fill(template, subject)
    start = len(head) + template.index("{}")
    end = start + len(subject)
    enc = tokenizer(text, return_offsets_mapping=True)
    inside = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < end and b > start]
    if not inside:
        raise InvalidRequest(f"subject {subject!r} not found among the tokens of {text!r}")
    return Prompt(enc["input_ids"], inside[-1])


def build_case(request: EditRequest, tokenizer, prefixes: list[str], max_target_tokens: int) -> EditCase:
    """Raises InvalidRequest (recorded as a failed edit) when the request cannot be run."""
    if "{}" not in request.prompt:
        raise InvalidRequest(f"subject {request.subject!r} not found in the prompt", case_id=request.case_id)
    target = encode_target(tokenizer, request.target_new) if request.target_new.strip() else []
    if not target:
        raise InvalidRequest("empty target", case_id=request.case_id)
    if len(target) > max_target_tokens:
        raise InvalidRequest(f"target has {len(target)} tokens; the decoder allows at most "
                             f"{max_target_tokens} (max_target_tokens)", case_id=request.case_id)
    try:
        contexts = [encode_with_subject(tokenizer, request.prompt, request.subject, p) for p in ["", *prefixes]]
        essence = encode_with_subject(tokenizer, ESSENCE_TEMPLATE, request.subject)
    except InvalidRequest as err:
        raise InvalidRequest(err.reason, case_id=request.case_id) from None
    return EditCase(
        request=request, prompt=contexts[0], contexts=contexts, essence=essence, target_ids=target,
        paraphrases=[encode_prompt(tokenizer, p) for p in request.paraphrase_prompts],
        neighbours=[encode_prompt(tokenizer, p) for p in request.neighborhood_prompts],
        neighbour_targets=[encode_target(tokenizer, t) for t in request.neighborhood_targets],
    )
