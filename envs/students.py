"""Batched students: many small causal Transformer LMs trained at once.

The teacher environments of ter Hoeve et al. (2022) train a fresh group of students on every
selection and score them on an exam, so student training is the inner loop of every
environment step and must be fast. Training the students one after another as separate
Hugging Face models spends most of its time in Python and framework overhead, because each
model is tiny. Here the students' weights are *stacked*: every parameter has a leading student
dimension, the forward pass is written with batched matrix products (``torch.baddbmm``) over that
dimension, and a single fused AdamW optimizer updates the stacked tensors. AdamW is elementwise
and the total loss is a plain sum of the per-student losses, so no gradient or optimizer
statistic ever mixes two students: student ``i`` of a batch follows the trajectory it would
follow alone (up to float rounding), which ``tests/test_students.py`` checks.

Each student is a GPT-2 block stack (pre-LayerNorm, learned positions, a ReLU or GPT-2's
tanh-GELU MLP, untied output layer without bias), so :meth:`BatchedStudents.to_gpt2` exports
any student as a ``transformers.GPT2LMHeadModel`` computing the same function. The default size
(one layer, 16 dimensions) is small on purpose: with ten training sentences bigger students
memorise more and generalise less to the exam. Students read word ids from a
:class:`WordVocabulary`; a sentence is encoded as ``<s> words </s>`` padded on the right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from lm_gym.models.building import gpt2_config
from lm_gym.utils.validation import check_int, check_positive_int

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
"""Special word ids, the same layout as lm_gym's SentencePiece tokenizers."""
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")

MAX_LOG_PERPLEXITY = 700.0
"""Mean negative log-likelihoods are clipped here before ``exp`` (``exp(700)`` ~ 1e304), so a
perplexity is always a finite float64 even for a student that never saw the exam's words."""


class WordVocabulary:
    """A word-level vocabulary: whitespace-separated words to ids, the special tokens first.

    Args:
        words: the words, in the order their ids should follow the four special tokens.
            Duplicates are dropped (first occurrence wins); special tokens are not allowed.
    """

    def __init__(self, words: Sequence[str]) -> None:
        if isinstance(words, str):
            raise TypeError("words must be a sequence of words, not one string")
        ordered: dict[str, None] = {}
        for word in words:
            if not isinstance(word, str) or not word or word != "".join(word.split()):
                raise ValueError(f"vocabulary word {word!r} must be a non-empty string, no spaces")
            if word in SPECIAL_TOKENS:
                raise ValueError(f"vocabulary word {word!r} is a reserved special token")
            ordered[word] = None
        self.tokens: tuple[str, ...] = SPECIAL_TOKENS + tuple(ordered)
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_sentences(cls, sentences: Sequence[str]) -> WordVocabulary:
        """Every word of ``sentences``, in order of first appearance."""
        return cls([word for sentence in sentences for word in sentence.split()])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def encode(
        self, sentences: Sequence[str], max_length: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode sentences as right-padded ``<s> words </s>`` rows; unknown words get ``<unk>``.

        Args:
            sentences: the texts, words separated by whitespace.
            max_length: the row width; rows longer than it are cut (their ``</s>`` is lost).
                ``None`` uses the longest row.

        Returns:
            ``(input_ids, attention_mask)``, int64 tensors of shape ``(len(sentences), width)``.
        """
        if isinstance(sentences, str):
            raise TypeError("sentences must be a sequence of strings, not one string")
        rows = [[BOS_ID, *(self._ids.get(w, UNK_ID) for w in s.split()), EOS_ID] for s in sentences]
        width = max_length if max_length is not None else max((len(r) for r in rows), default=2)
        input_ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            row = row[:width]
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        return input_ids, attention_mask

    def decode(self, ids: Sequence[int]) -> str:
        """The words of one row, special tokens left out."""
        return " ".join(self.tokens[int(i)] for i in ids if int(i) >= len(SPECIAL_TOKENS))


_ACTIVATIONS = {"relu": "relu", "gelu": "gelu_new"}
"""Our activation names and the matching ``GPT2Config.activation_function``."""


@dataclass(frozen=True)
class StudentConfig:
    """Size and optimisation of one student (all students of a group share it)."""

    n_layer: int = 1
    """Transformer blocks."""
    n_embd: int = 16
    """Width of the residual stream."""
    n_head: int = 1
    """Attention heads; must divide ``n_embd``."""
    max_positions: int = 32
    """Longest row (``<s>`` and ``</s>`` included) a student can read."""
    activation: str = "relu"
    """MLP non-linearity: ``"relu"`` or ``"gelu"`` (GPT-2's tanh approximation)."""
    lr: float = 1e-3
    """Learning rate (constant, no clipping)."""
    weight_decay: float = 1.0
    """AdamW's decoupled weight decay (0 is plain Adam)."""
    batch_size: int = 10
    """Sentences per update; with at least as many as the training set, every update is
    full-batch."""

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_embd", "n_head", "max_positions", "batch_size"):
            value = getattr(self, name)
            check_positive_int(f"StudentConfig.{name}", value)
        if self.n_embd % self.n_head:
            raise ValueError(f"StudentConfig.n_head ({self.n_head}) must divide n_embd")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"StudentConfig.activation must be one of {sorted(_ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"StudentConfig.lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, int | float) and self.weight_decay >= 0):
            raise ValueError(f"StudentConfig.weight_decay must be >= 0, got {self.weight_decay!r}")


def _layer_names(layer: int) -> list[str]:
    return [
        f"h{layer}.{name}"
        for name in (
            "ln1_w",
            "ln1_b",
            "qkv_w",
            "qkv_b",
            "proj_w",
            "proj_b",
            "ln2_w",
            "ln2_b",
            "fc_w",
            "fc_b",
            "out_w",
            "out_b",
        )
    ]


def init_student(config: StudentConfig, vocab_size: int, seed: int) -> dict[str, torch.Tensor]:
    """GPT-2-style initial weights of one student, drawn from ``torch.Generator`` seeded ``seed``.

    Weights are ``N(0, 0.02)`` (the two residual projections scaled by ``1/sqrt(2 n_layer)``),
    biases zero, LayerNorm gains one. Every linear weight is stored ``(in, out)``.
    """
    generator = torch.Generator().manual_seed(int(seed))
    d, std = config.n_embd, 0.02
    residual_std = std / math.sqrt(2 * config.n_layer)

    def normal(*shape: int, scale: float = std) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * scale

    params = {"wte": normal(vocab_size, d), "wpe": normal(config.max_positions, d)}
    for layer in range(config.n_layer):
        shapes = {
            "ln1_w": torch.ones(d),
            "ln1_b": torch.zeros(d),
            "qkv_w": normal(d, 3 * d),
            "qkv_b": torch.zeros(3 * d),
            "proj_w": normal(d, d, scale=residual_std),
            "proj_b": torch.zeros(d),
            "ln2_w": torch.ones(d),
            "ln2_b": torch.zeros(d),
            "fc_w": normal(d, 4 * d),
            "fc_b": torch.zeros(4 * d),
            "out_w": normal(4 * d, d, scale=residual_std),
            "out_b": torch.zeros(d),
        }
        params.update({f"h{layer}.{k}": v for k, v in shapes.items()})
    params.update({"lnf_w": torch.ones(d), "lnf_b": torch.zeros(d), "head": normal(d, vocab_size)})
    return params


def _student_rows(
    name: str,
    input_ids: object,
    attention_mask: object,
    num_students: int,
    max_positions: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check rows and return them per student, ``(num_students, rows, width)``.

    Rows shared by every student come as ``(rows, length)``; one set of rows per student (the
    same number each) as ``(num_students, rows, length)``. Trailing all-padding columns are cut.
    """
    if not isinstance(input_ids, torch.Tensor) or not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"{name}: input_ids and attention_mask must be torch tensors")
    if input_ids.dim() not in (2, 3) or input_ids.shape != attention_mask.shape:
        raise ValueError(
            f"{name}: input_ids and attention_mask must both be (rows, length) or "
            f"(num_students, rows, length), got {tuple(input_ids.shape)} and "
            f"{tuple(attention_mask.shape)}"
        )
    if input_ids.dim() == 3 and input_ids.shape[0] != num_students:
        raise ValueError(
            f"{name}: per-student rows need a first dimension of {num_students} students, "
            f"got {input_ids.shape[0]}"
        )
    if input_ids.dtype != torch.long:
        raise TypeError(f"{name}: input_ids must be int64, got {input_ids.dtype}")
    if input_ids.shape[-2] == 0:
        raise ValueError(f"{name}: no rows given")
    if input_ids.shape[-1] > max_positions:
        raise ValueError(
            f"{name}: rows of length {input_ids.shape[-1]} exceed the students' "
            f"max_positions={max_positions}"
        )
    if (attention_mask[..., 1:].sum(dim=-1) == 0).any():
        raise ValueError(f"{name}: every row needs at least one token after the first")
    width = int(attention_mask.sum(dim=-1).max())
    ids, mask = input_ids[..., :width], attention_mask[..., :width]
    if ids.dim() == 2:
        ids, mask = ids.expand(num_students, -1, -1), mask.expand(num_students, -1, -1)
    return ids, mask


class BatchedStudents:
    """A group of independently seeded causal LM students trained together.

    Args:
        vocab_size: number of word ids (special tokens included).
        seeds: one seed per student; student ``i`` starts from :func:`init_student` with
            ``seeds[i]`` and draws its minibatches from ``numpy.random.default_rng(seeds[i])``,
            so it is the same student whatever group it is trained in.
        config: the students' size and optimiser settings.
        device: where the weights live (default CPU).
    """

    def __init__(
        self,
        vocab_size: int,
        seeds: Sequence[int],
        config: StudentConfig | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        check_int("vocab_size (4 special ids and at least one word)", vocab_size, minimum=5)
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must hold at least one seed (one per student)")
        self.config = config or StudentConfig()
        self.vocab_size = vocab_size
        self.seeds = seeds
        self.device = torch.device(device)
        singles = [init_student(self.config, vocab_size, s) for s in seeds]
        self.params = {
            name: torch.stack([p[name] for p in singles]).to(self.device).requires_grad_()
            for name in singles[0]
        }
        self._rngs = [np.random.default_rng(s) for s in seeds]
        self.optimizer = torch.optim.AdamW(
            list(self.params.values()),
            lr=self.config.lr,
            weight_decay=self.config.weight_decay,
            fused=True,
        )
        self.updates = 0

    @property
    def num_students(self) -> int:
        return len(self.seeds)

    # ---------------------------------------------------------------------------------------
    # Forward pass
    # ---------------------------------------------------------------------------------------

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(S, B*T, V)`` for word ids ``(S, B, T)`` (one batch of rows per student).

        Every matrix product is one batched call over the student dimension; LayerNorm gains
        and biases are applied with ``addcmul``/``baddbmm`` so each step is a single kernel.
        """
        p, cfg = self.params, self.config
        s, b, t = ids.shape
        d, h = cfg.n_embd, cfg.n_head
        offsets = (torch.arange(s, device=ids.device) * self.vocab_size).view(s, 1, 1)
        x = F.embedding(ids + offsets, p["wte"].view(-1, d)) + p["wpe"][:, None, :t]
        x = x.view(s, b * t, d)
        act = F.relu if cfg.activation == "relu" else partial(F.gelu, approximate="tanh")
        for layer in range(cfg.n_layer):
            w = {name.split(".")[1]: p[name] for name in _layer_names(layer)}
            a = torch.addcmul(w["ln1_b"][:, None], F.layer_norm(x, (d,)), w["ln1_w"][:, None])
            qkv = torch.baddbmm(w["qkv_b"][:, None], a, w["qkv_w"])
            q, k, v = qkv.view(s * b, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            att = att.transpose(1, 2).reshape(s, b * t, d)
            x = torch.baddbmm(x + w["proj_b"][:, None], att, w["proj_w"])
            m = torch.addcmul(w["ln2_b"][:, None], F.layer_norm(x, (d,)), w["ln2_w"][:, None])
            m = act(torch.baddbmm(w["fc_b"][:, None], m, w["fc_w"]))
            x = torch.baddbmm(x + w["out_b"][:, None], m, w["out_w"])
        x = torch.addcmul(p["lnf_b"][:, None], F.layer_norm(x, (d,)), p["lnf_w"][:, None])
        return torch.bmm(x, p["head"])

    def _token_nll(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token negative log-likelihoods ``(S, B, T-1)`` of rows ``(S, B, T)``."""
        s, b, t = ids.shape
        logits = self._logits(ids[..., :-1])
        targets = ids[..., 1:].reshape(-1)
        nll = F.cross_entropy(logits.view(-1, self.vocab_size), targets, reduction="none")
        return nll.view(s, b, t - 1)

    # ---------------------------------------------------------------------------------------
    # Training
    # ---------------------------------------------------------------------------------------

    def _batch_indices(self, num_rows: int, steps: int) -> np.ndarray:
        """Row indices ``(steps, S, B)``: per student, shuffled epochs cut into batches.

        Each student shuffles with its own generator, so its batches do not depend on the other
        students of the group. Every call starts a new epoch; a last partial batch is dropped.
        """
        batch = self.config.batch_size
        per_epoch = num_rows // batch
        out = np.empty((steps, self.num_students, batch), dtype=np.int64)
        for step in range(steps):
            if step % per_epoch == 0:
                orders = [rng.permutation(num_rows) for rng in self._rngs]
            start = (step % per_epoch) * batch
            out[step] = np.stack([order[start : start + batch] for order in orders])
        return out

    def train_on(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, steps: int
    ) -> torch.Tensor:
        """Train every student for ``steps`` AdamW updates.

        When a student's rows fit in one batch (``config.batch_size``) every update is
        full-batch; otherwise each student draws its own batches.

        Args:
            input_ids: int64 rows as made by :meth:`WordVocabulary.encode`: ``(rows, length)``
                for rows every student trains on, or ``(num_students, rows, length)`` for one
                training set per student (the teacher's vector env trains the students of
                many episodes at once this way).
            attention_mask: 1 on real tokens, 0 on right padding, shaped like ``input_ids``.
            steps: number of updates.

        Returns:
            The training losses, ``(steps, num_students)`` float32 on the CPU (each student's
            mean next-token cross-entropy on its batch, before the update).
        """
        rows, mask = _student_rows(
            "train_on", input_ids, attention_mask, self.num_students, self.config.max_positions
        )
        check_int("steps", steps, minimum=0)
        rows, mask = rows.to(self.device), mask.to(self.device, torch.float32)
        num_rows = rows.shape[1]
        full_batch = self.config.batch_size >= num_rows
        if not full_batch:
            index = torch.from_numpy(self._batch_indices(num_rows, steps)).to(self.device)
        student = torch.arange(self.num_students, device=self.device).unsqueeze(1)
        losses = torch.empty(steps, self.num_students)
        for step in range(steps):
            if step == 0 or not full_batch:
                ids, target_mask = rows, mask[..., 1:]
                if not full_batch:
                    ids, target_mask = rows[student, index[step]], target_mask[student, index[step]]
                # Each student's loss is the mean over its real target tokens; summing the
                # students' losses keeps their gradients apart.
                weights = target_mask / target_mask.sum(dim=(1, 2), keepdim=True)
            per_student = (self._token_nll(ids) * weights).sum(dim=(1, 2))
            self.optimizer.zero_grad(set_to_none=True)
            per_student.sum().backward()
            self.optimizer.step()
            losses[step] = per_student.detach().cpu()
        self.updates += steps
        return losses

    # ---------------------------------------------------------------------------------------
    # Evaluation
    # ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def log_likelihoods(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed next-token NLL per row and the number of scored tokens per row.

        Every token after ``<s>`` is scored, ``</s>`` included; padding is not. Rows are
        shared (``(rows, length)``) or per student (``(num_students, rows, length)``).

        Returns:
            ``(nll, counts)``, float64 on the CPU: ``nll`` is ``(num_students, rows)``,
            ``counts`` is ``(rows,)`` for shared rows and ``(num_students, rows)`` otherwise.
        """
        shared = input_ids.dim() == 2 if isinstance(input_ids, torch.Tensor) else False
        ids, mask = _student_rows(
            "log_likelihoods",
            input_ids,
            attention_mask,
            self.num_students,
            self.config.max_positions,
        )
        target_mask = mask[..., 1:].to(self.device, torch.float64)
        nll = self._token_nll(ids.to(self.device)).double() * target_mask
        counts = target_mask.sum(dim=2)
        return nll.sum(dim=2).cpu(), (counts[0] if shared else counts).cpu()

    def perplexity(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per-student, per-row perplexity, float64 ``(num_students, rows)``, always finite."""
        nll, counts = self.log_likelihoods(input_ids, attention_mask)
        return torch.exp((nll / counts).clamp(max=MAX_LOG_PERPLEXITY))

    def corpus_perplexity(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Each student's perplexity on all rows as one text (total NLL over total tokens),
        float64 ``(num_students,)``, always finite."""
        nll, counts = self.log_likelihoods(input_ids, attention_mask)
        mean = nll.sum(dim=1) / counts.sum(dim=-1)
        return torch.exp(mean.clamp(max=MAX_LOG_PERPLEXITY))

    # ---------------------------------------------------------------------------------------
    # Export
    # ---------------------------------------------------------------------------------------

    def student_weights(self, index: int) -> dict[str, torch.Tensor]:
        """A detached CPU copy of student ``index``'s weights (the :func:`init_student` layout)."""
        if not 0 <= index < self.num_students:
            raise IndexError(f"student index {index} out of range 0..{self.num_students - 1}")
        return {name: p[index].detach().cpu().clone() for name, p in self.params.items()}

    def to_gpt2(self, index: int) -> GPT2LMHeadModel:
        """Student ``index`` as a ``transformers.GPT2LMHeadModel`` computing the same function."""
        return weights_to_gpt2(self.student_weights(index), self.config)


def student_gpt2_config(config: StudentConfig, vocab_size: int) -> GPT2Config:
    """The ``GPT2Config`` of a student: same sizes, no dropout, untied output layer."""
    return gpt2_config(
        vocab_size=vocab_size,
        n_positions=config.max_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        activation_function=_ACTIVATIONS[config.activation],
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=False,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )


def weights_to_gpt2(weights: dict[str, torch.Tensor], config: StudentConfig) -> GPT2LMHeadModel:
    """Load one student's weights (the :func:`init_student` layout) into a GPT-2 model."""
    vocab_size = weights["wte"].shape[0]
    model = GPT2LMHeadModel(student_gpt2_config(config, vocab_size))
    hf_names = {
        "ln1_w": "ln_1.weight",
        "ln1_b": "ln_1.bias",
        "qkv_w": "attn.c_attn.weight",
        "qkv_b": "attn.c_attn.bias",
        "proj_w": "attn.c_proj.weight",
        "proj_b": "attn.c_proj.bias",
        "ln2_w": "ln_2.weight",
        "ln2_b": "ln_2.bias",
        "fc_w": "mlp.c_fc.weight",
        "fc_b": "mlp.c_fc.bias",
        "out_w": "mlp.c_proj.weight",
        "out_b": "mlp.c_proj.bias",
    }
    state = {
        "transformer.wte.weight": weights["wte"],
        "transformer.wpe.weight": weights["wpe"],
        "transformer.ln_f.weight": weights["lnf_w"],
        "transformer.ln_f.bias": weights["lnf_b"],
        "lm_head.weight": weights["head"].T.contiguous(),
    }
    for layer in range(config.n_layer):
        for ours, theirs in hf_names.items():
            state[f"transformer.h.{layer}.{theirs}"] = weights[f"h{layer}.{ours}"]
    model.load_state_dict(state, strict=True)
    return model
