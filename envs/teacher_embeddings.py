"""Sentence embeddings the teacher's policy scores pool sentences by (ter Hoeve et al., 2022).

The paper's teacher sees each candidate sentence through its own language model, either as
the mean of the sentence's word embeddings or as the mean of the LM's last hidden states. Both
are offered here over any lm_gym model spec (an offline recipe such as ``baby-en``, a local
folder, an in-memory model), plus a model-free ``"bag"`` of words over the students'
vocabulary, which needs no LM at all and is the quickest choice for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lm_gym.envs.students import SPECIAL_TOKENS, WordVocabulary
from lm_gym.models.clm import encode_sentences
from lm_gym.models.loading import load_model

EMBEDDINGS = ("mean_embedding", "mean_hidden", "bag")
"""Supported kinds: the teacher LM's mean input word embedding, its mean last hidden state,
or the normalised word counts (model-free)."""


class SentenceEmbedder:
    """Maps sentences to ``(N, D)`` float32 vectors.

    Args:
        kind: one of :data:`EMBEDDINGS`.
        vocabulary: the students' vocabulary (the dimensions of ``"bag"``).
        teacher_model: model spec for the LM kinds (see :func:`lm_gym.models.load_model`);
            ignored for ``"bag"``.
        device: where the teacher LM runs.
        max_length: longest teacher-token row; longer sentences are cut.

    Raises:
        ValueError: for an unknown kind or a missing teacher model.
    """

    def __init__(
        self,
        kind: str,
        vocabulary: WordVocabulary,
        teacher_model: Any = None,
        device: str | torch.device | None = None,
        max_length: int = 64,
    ) -> None:
        if kind not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {kind!r}")
        self.kind = kind
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.lm = None
        if kind == "bag":
            self.dim = len(vocabulary) - len(SPECIAL_TOKENS)
            return
        if teacher_model is None:
            raise ValueError(f"embedding={kind!r} needs a teacher_model (or use 'bag')")
        self.lm = load_model(teacher_model, device=device)
        self.dim = int(self(["a"]).shape[1])

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        """The embeddings of ``sentences``, float32 ``(len(sentences), dim)``."""
        if self.kind == "bag":
            return self._bag(sentences)
        return self._from_lm(sentences)

    def _bag(self, sentences: Sequence[str]) -> np.ndarray:
        """Word counts over the vocabulary (specials and unknown words left out), divided by the
        sentence length, so every row sums to at most one."""
        ids, mask = self.vocabulary.encode(sentences)
        offset = len(SPECIAL_TOKENS)
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for row, (row_ids, row_mask) in enumerate(zip(ids.numpy(), mask.numpy())):
            words = row_ids[row_mask.astype(bool)]
            words = words[words >= offset] - offset
            if words.size:
                np.add.at(out[row], words, 1.0 / max(1, int(row_mask.sum()) - 2))
        return out

    @torch.no_grad()
    def _from_lm(self, sentences: Sequence[str]) -> np.ndarray:
        """Mean input embedding or mean last hidden state over each sentence's own tokens.

        Rows are ``<s> tokens </s>``; the LM reads the whole row, and the mean is taken over
        the sentence's tokens only (not ``<s>``, ``</s>`` or padding).
        """
        model, tokenizer = self.lm
        device = next(model.parameters()).device
        ids, mask = encode_sentences(tokenizer, list(sentences), self.max_length)
        ids, mask = ids.to(device), mask.to(device)
        words = mask.clone()
        words[:, 0] = 0  # <s>
        if tokenizer.eos_token_id is not None:
            words &= (ids != tokenizer.eos_token_id).long()
        if self.kind == "mean_embedding":
            vectors = model.get_input_embeddings()(ids)
        else:
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            vectors = out.hidden_states[-1]
        weights = words.unsqueeze(-1).to(vectors.dtype)
        mean = (vectors * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return mean.float().cpu().numpy()
