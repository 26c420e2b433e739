"""The policies the built-in agents act with, and where their language model comes from.

* :class:`LMPolicy`: a causal LM as a token-level policy. The policy's state is a token prefix
  and its action the next token, so the LM's next-token distribution *is* the policy. Rollouts
  sample one token per step through the model's key/value cache (one forward of one token per
  step); training recomputes log-probabilities, entropies and values for whole sequences in one
  forward pass. The optional value head is a linear layer on the last hidden state (the input
  of the LM head), as in TRL's value-head models. The environments' observations start with
  the prompt ids themselves; baby models were trained on ``<s> text </s>``, so the policy puts
  the BOS id in front of every sequence it feeds the model (``prepend_bos``), which keeps
  prompts in the distribution the model knows.
* :class:`SequenceLMPolicy`: the same LM answering a prompt with a whole continuation
  (sequence-mode envs, one step per episode).
* :func:`resolve_policy_lm`: the LM an agent acts with. Its policy must speak the env's action
  vocabulary, i.e. use the tokenizer the env tokenizes prompts with; lm_gym's text-generation
  envs declare the model they were built for as the attribute ``generating_model`` (an
  :class:`~lm_gym.models.LM`), so by default agents take that one; a spec passed explicitly
  (recipe name, folder, HF id, in-memory model, ``LM``) wins.
"""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym
import torch
from gymnasium.spaces import Dict
from torch import nn

from lm_gym.models.clm import bos_id
from lm_gym.models.loading import LM, load_model
from lm_gym.models.sampling import (
    DecodingState,
    continue_decoding,
    generate,
    positions,
    start_decoding,
    with_bos,
)
from lm_gym.utils.device import autocast
from lm_gym.utils.env_attributes import get_env_attr
from lm_gym.utils.limits import check_fits_context, context_length

NEVER = -1e9
"""Logit of a token that must not be chosen: its probability is exactly 0 in float32, and
``0 * NEVER`` stays 0 in entropies (``-inf`` would give NaN)."""


def resolve_policy_lm(env: Any, spec: Any, device: torch.device) -> LM:
    """The policy LM on ``device``: ``spec`` when given, else the env's ``generating_model``.

    The env's model is used as the same object (not a copy), so the env, a CLM wrapper and the
    agent all see one model.

    Raises:
        ValueError: when there is neither a spec nor a model declared by the env.
    """
    if spec is None:
        spec = get_env_attr(env, "generating_model", None)
    if spec is None:
        raise ValueError(
            "no policy model: pass model=<recipe name, folder or LM> (config field 'model'), "
            "or use an env that declares its model as env.generating_model"
        )
    return load_model(spec, device=device)


class LMPolicy(nn.Module):
    """A causal LM with an optional scalar value head.

    Args:
        model: a Hugging Face-style causal LM (``model(input_ids=..., cache=...)``, or
            ``past_key_values=`` as older releases name the cache).
        tokenizer: its tokenizer (for the BOS id and the agents' text output).
        value_head: add the value head (PPO) or not (REINFORCE, sampling baselines).
        prepend_bos: feed ``<s>`` before every sequence.
        action_size: the env's vocabulary size; logits beyond it (a model whose output layer is
            larger than the tokenizer) are cut off so no out-of-vocabulary id is ever drawn.
        min_new_tokens: EOS cannot be chosen before this many tokens were generated (as
            ``generate(min_new_tokens=...)``); applied when sampling and when scoring, so the
            log-probabilities always describe the distribution actually sampled from.
        observation_space: the env's (single) observation space; when it has ``input_ids``,
            their length plus the BOS must fit the model's context (checked here, so an env
            with longer episodes than the model reads is refused before training).

    Raises:
        ValueError: for an env with more actions than the model predicts, or observations
            longer than the model's context.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        value_head: bool = True,
        prepend_bos: bool = True,
        action_size: int | None = None,
        min_new_tokens: int = 0,
        observation_space: gym.Space | None = None,
    ) -> None:
        super().__init__()
        output = model.get_output_embeddings()
        if output is None or not hasattr(output, "in_features"):
            raise TypeError(f"{type(model).__name__} has no linear LM head to read hidden states")
        if action_size is not None and action_size > output.out_features:
            raise ValueError(
                f"the env has {action_size} actions but the model only predicts "
                f"{output.out_features} tokens: it is not the env's generating model"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.action_size = action_size or output.out_features
        self.min_new_tokens = min_new_tokens
        self._keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        self._bos = bos_id(tokenizer) if prepend_bos else None
        ids = observation_space.get("input_ids") if isinstance(observation_space, Dict) else None
        if ids is not None:
            check_fits_context(
                "an observation of this env",
                {"BOS": int(self._bos is not None), "input_ids": int(ids.shape[-1])},
                context_length(model),
                f"the policy model {type(model).__name__}",
                "build the env with a smaller max_new_tokens (or prompt), or use a model with a "
                "longer context",
            )
        self.value_head = nn.Linear(output.in_features, 1) if value_head else None
        if self.value_head is not None:
            nn.init.normal_(self.value_head.weight, std=1.0 / output.in_features)
            nn.init.zeros_(self.value_head.bias)

    @property
    def device(self) -> torch.device:
        """Where the model's weights live."""
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ sampling (no grad)
    def forbid_early_eos(self, logits: torch.Tensor, step: int = 0) -> torch.Tensor:
        """Rule out EOS at generation steps before ``min_new_tokens``.

        Args:
            logits: ``(B, V)`` for generation step ``step``, or ``(B, T, V)`` for steps
                ``step .. step + T - 1``.
        """
        eos = self.tokenizer.eos_token_id
        if step >= self.min_new_tokens or eos is None or eos >= self.action_size:
            return logits
        logits = logits.clone()
        if logits.dim() == 2:
            logits[:, eos] = NEVER
        else:
            logits[:, : self.min_new_tokens - step, eos] = NEVER
        return logits

    def _value(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1).float()

    @torch.no_grad()
    def start(
        self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecodingState]:
        """Feed a block of right-aligned prompts (padding on their left, mask 0).

        Returns:
            ``(logits, values, state)``: next-token logits ``(B, V)``, the value of the prompt
            state ``(B,)`` (``None`` without a value head) and the decoding state (KV cache).
        """
        with autocast(self.device):
            out, state = start_decoding(
                self.model,
                prompt_ids,
                prompt_mask,
                bos_id=self._bos,
                output_hidden_states=self.value_head is not None,
            )
        return *self._last(out), state

    @torch.no_grad()
    def advance(
        self, tokens: torch.Tensor, state: DecodingState
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecodingState]:
        """Feed one token per row through the cache; outputs as :meth:`start`."""
        with autocast(self.device):
            out, state = continue_decoding(
                self.model, tokens, state, output_hidden_states=self.value_head is not None
            )
        return *self._last(out), state

    def _last(self, out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits (cut to the action vocabulary) and value at the last position."""
        logits = out.logits[:, -1, : self.action_size].float()
        values = None if self.value_head is None else self._value(out.hidden_states[-1][:, -1])
        return logits, values

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        max_new_tokens: int,
        generator: torch.Generator,
        *,
        temperature: float = 1.0,
        greedy: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample whole continuations through the KV cache (sequence-mode envs).

        Returns:
            ``(tokens, mask)``, both ``(B, max_new_tokens)``: the ids, padded after the first
            EOS, and 1 for the ids that belong to the continuation (EOS included).
        """
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        with autocast(self.device):
            return generate(
                self.model,
                prompt_ids,
                prompt_mask,
                max_new_tokens,
                generator,
                eos_id=eos,
                pad_id=eos if pad is None else pad,
                bos_id=self._bos,
                temperature=temperature,
                greedy=greedy,
                vocab_size=self.action_size,
                logits_hook=self.forbid_early_eos,
            )

    # ------------------------------------------------------------------ training (with grad)
    def action_logits(
        self,
        model: nn.Module,
        sequences: torch.Tensor,
        prompt_mask: torch.Tensor,
        *,
        temperature: float = 1.0,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, Any]:
        """Logits of the distributions each action of ``sequences`` was drawn from.

        ``sequences`` is the prompt block (``prompt_mask`` marks its real tokens) followed by
        the actions. ``model`` is the policy's LM or a copy of it (the frozen reference). The
        last action is not fed (nothing after it is predicted), and only the positions that
        predict actions go through the LM head (``logits_to_keep``) when the model supports it.

        Returns:
            ``(logits (B, T, V) float32, model output)``; the output's hidden states, when
            requested, end with the ``T`` positions the actions were drawn at.
        """
        num_actions = sequences.shape[1] - prompt_mask.shape[1]
        mask = torch.cat([prompt_mask, torch.ones_like(sequences[:, prompt_mask.shape[1] :])], 1)
        ids, mask = with_bos(sequences[:, :-1], mask[:, :-1], self._bos)
        extra = {"logits_to_keep": num_actions} if self._keeps_logits else {}
        with autocast(self.device):
            out = model(
                input_ids=ids,
                attention_mask=mask.long(),
                position_ids=positions(mask),
                output_hidden_states=output_hidden_states,
                **extra,
            )
        logits = out.logits[:, -num_actions:, : self.action_size].float()
        return self.forbid_early_eos(logits) / temperature, out

    @torch.no_grad()
    def logprobs_under(
        self,
        model: nn.Module,
        sequences: torch.Tensor,
        prompt_mask: torch.Tensor,
        *,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``(B, T)`` log-probabilities of the actions of ``sequences`` under ``model``.

        ``model`` is a frozen copy of the policy's LM (PPO's KL reference, the initial baby).
        """
        logits, _ = self.action_logits(model, sequences, prompt_mask, temperature=temperature)
        log_probs = torch.log_softmax(logits, -1)
        actions = sequences[:, prompt_mask.shape[1] :]
        return log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def evaluate(
        self,
        sequences: torch.Tensor,
        prompt_mask: torch.Tensor,
        *,
        temperature: float = 1.0,
        with_values: bool = True,
        entropy_grad: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Score the generated part of ``sequences`` = prompt block + actions.

        The prompt block's padding (``prompt_mask`` 0) is masked out of attention; positions
        after an episode's end only ever see earlier tokens (causal attention), and are masked
        out of every loss by the caller.

        Args:
            entropy_grad: keep the entropy in the autograd graph (off when it is only logged,
                which spares a backward pass over the whole vocabulary).

        Returns:
            ``(logprobs, entropy, values)``, each ``(B, T)`` float32 for the ``T`` actions:
            the log-probability of each action, the entropy of the distribution it was drawn
            from, and the value of the state before it (``None`` without a value head).
        """
        want_values = with_values and self.value_head is not None
        logits, out = self.action_logits(
            self.model,
            sequences,
            prompt_mask,
            temperature=temperature,
            output_hidden_states=want_values,
        )
        log_probs = torch.log_softmax(logits, dim=-1)
        actions = sequences[:, prompt_mask.shape[1] :]
        chosen = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            entropy = -(log_probs.exp() * log_probs).sum(-1)
        values = None
        if want_values:
            num_actions = actions.shape[1]
            values = self._value(out.hidden_states[-1][:, -num_actions:])
        return chosen, entropy, values

    @torch.no_grad()
    def next_token_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits after the last real token of each row of an observation (the prompt block
        padded on its left, the tokens so far, padding on the right)."""
        ids, mask = with_bos(input_ids, attention_mask, self._bos)
        with autocast(self.device):
            logits = self.model(
                input_ids=ids, attention_mask=mask.long(), position_ids=positions(mask)
            ).logits
        columns = torch.arange(mask.shape[1], device=mask.device)
        last = (mask.long() * columns).argmax(dim=1)
        return logits[torch.arange(len(ids), device=ids.device), last, : self.action_size].float()


def as_tensor_batch(obs: Any, device: torch.device) -> tuple[dict[str, torch.Tensor], bool]:
    """A (possibly single) token observation as batched int64 tensors on ``device``.

    Returns:
        ``(batch, single)`` where ``single`` says a batch dimension was added.
    """
    if not isinstance(obs, dict) or "input_ids" not in obs or "attention_mask" not in obs:
        raise TypeError("expected a token observation dict with input_ids and attention_mask")
    batch = {key: torch.as_tensor(obs[key], device=device).long() for key in obs}
    single = batch["input_ids"].dim() == 1
    if single:
        batch = {key: value.unsqueeze(0) for key, value in batch.items()}
    return batch, single


def check_token_space(action_space: gym.Space, agent: str) -> int:
    """The vocabulary size of a token-mode action space.

    Raises:
        TypeError: for any other action space, naming the agent.
    """
    if not isinstance(action_space, gym.spaces.Discrete):
        raise TypeError(
            f"{agent} acts token by token and needs a Discrete action space (a token-mode env "
            f"such as Bambino-v0), got {action_space}"
        )
    return int(action_space.n)


def prompt_of(obs: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` of the prompt block of a batch of fresh token observations.

    lm_gym's text envs right-align every prompt in a block of ``P`` columns (padding on its
    left, mask 0) and start generating at column ``P``; in a fresh observation that is the
    column after the last real token of any row.

    Raises:
        ValueError: when a row has no prompt token.
    """
    ids = torch.as_tensor(obs["input_ids"], device=device).long()
    mask = torch.as_tensor(obs["attention_mask"], device=device).long()
    if not bool(mask.any(dim=1).all()):
        raise ValueError("a fresh observation has a row without any prompt token")
    width = int(torch.nonzero(mask.any(dim=0)).max()) + 1
    return ids[:, :width], mask[:, :width]


class SequenceLMPolicy(nn.Module):
    """A causal LM that answers a prompt observation with a whole continuation.

    Its ``act`` / ``log_prob`` pair is the interface of the one-step policies REINFORCE trains
    (shared with :class:`~lm_gym.agents.subset_policy.SubsetSelectionPolicy`).
    """

    def __init__(self, lm: LMPolicy, max_new_tokens: int, temperature: float) -> None:
        super().__init__()
        self.lm = lm
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature

    def act(
        self, obs: dict[str, torch.Tensor], generator: torch.Generator, deterministic: bool
    ) -> tuple[torch.Tensor, tuple]:
        """``(actions (B, T), memo)``; ids after the first EOS are padding."""
        prompt, prompt_mask = prompt_of(obs, self.lm.device)
        tokens, mask = self.lm.generate(
            prompt,
            prompt_mask,
            self.max_new_tokens,
            generator,
            temperature=self.temperature,
            greedy=deterministic,
        )
        return tokens, (prompt, prompt_mask, tokens, mask)

    def log_prob(self, obs: dict, memo: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequence log-probability and mean token entropy, each ``(B,)``."""
        prompt, prompt_mask, tokens, mask = memo
        chosen, entropy, _ = self.lm.evaluate(
            torch.cat([prompt, tokens], dim=1),
            prompt_mask,
            temperature=self.temperature,
            with_values=False,
        )
        length = mask.sum(1).clamp(min=1.0)
        return (chosen * mask).sum(1), (entropy * mask).sum(1) / length
