"""CLM alternation: keep training the baby on the new language between RL episodes.

BAMBINO-LM's learning phase interleaves plain causal-LM (CLM) updates on the L2 corpus with the
PPO updates (Algorithm 1). :class:`CLMAlternation` does the CLM half inside the environment,
so any agent, which knows nothing of it, gets the paper's training loop by wrapping its env.

Time is counted in *slots*, as in Algorithm 1's "i-th batch": a CLM slot is one CLM update on
the next batch of the corpus stream; an RL slot is one batch of RL episodes (``rl_batch_size``
finished episodes, by default one per vector row). When an RL slot is used up, the CLM slots
that follow it are only *due*: they run at the start of the next ``reset`` or ``step``, i.e.
before the next RL episodes begin and after the agent has updated on the episodes it just
collected, as in Algorithm 1 (an on-policy agent's batch is never trained by CLM between its
sampling and its update). Schedules:

* ``alternate`` (default): slot ``i`` is CLM when ``i % (r_clm + r_rl) < r_clm`` (10:2);
* ``block``: each epoch is one full pass of CLM over the corpus, then RL slots worth
  ``1 - block_fraction`` of the epoch (CLM for the first 85% of the epoch, RL for the rest);
* ``clm_only`` (the paper's "w/o PPO"): slots as in ``alternate``, but RL slots run a CLM
  update too, so every batch is a CLM batch; pair it with an agent that does not learn;
* ``rl_only``: no CLM at all.

``info`` (and the reset info) report ``clm_steps``, ``words_seen`` and, after the first CLM
update, ``clm_loss`` (the latest). Padding never counts in the loss (:func:`lm_gym.clm.clm_loss`).
With a :class:`~lm_gym.wrappers.WordCounter` in the stack (inside or around this wrapper) every
CLM batch is charged to its word ledger before the update, and a batch that would cross the
ledger's budget is refused with :class:`~lm_gym.babylm.ledger.BudgetExhausted`: not drawn, not
trained on, the remaining CLM slots still due.

The wrappers also declare ``trained_model`` (the module they update), ``model_updates`` (how
many updates they made to it so far), ``reference_model`` and ``words_seen``, read through any
wrapper stack with :func:`lm_gym.utils.env_attributes.get_env_attr`. The first three are a
generic announcement, not CLM-specific: an agent that also trains ``trained_model`` can tell
its own updates from the wrapper's.

**The CLM-only twin** (``reference_model``, on by default, ``keep_reference``): a copy of the
model taken when the wrapper is made, with its own optimizer of the same kind and settings as
the CLM updates' (fresh state), updated on the same CLM batches, in the same order, with the
same dropout masks, and by nothing else. It is the model as the CLM updates alone would have
left it: PPO measures its KL penalty against it (:mod:`lm_gym.agents.ppo`), so the penalty and
``charts/kl`` see all of PPO's own drift on every batch while the CLM updates move both alike.
If nothing else trains the model (and the CLM updates use the wrapper's own optimizer), twin
and model stay bit-identical. It costs a second CLM update per CLM slot and a copy of the
model and its optimizer state; its weights and optimizer state are part of
:meth:`CLMSchedule.state_dict`, so a resumed run continues with the same twin.

**Data parallelism** (torchrun, :mod:`lm_gym.utils.distributed`): every rank wraps its own env
and runs the same schedule in lock step. The corpus stream is one stream of global batches of
``batch_size x world_size`` sentences, drawn from the same seed on every rank; rank ``r`` trains
on the ``r``-th ``batch_size`` of each, its loss is its share of the global batch's mean (its
tokens' sum over the global batch's token count) and the gradients (of the model and of the
twin) are summed over ranks before clipping, so every CLM step is the one-process step on the
global batch. ``clm_steps``, ``words_seen`` (words of the global batches) and ``clm_loss``
count for the whole run, and the schedule's state is the same on every rank. An RL slot must
then end where a batch of episodes does (``rl_batch_size`` a multiple of ``num_envs``), so the
ranks' CLM steps never fall within a rollout on one rank and after the update on another.
Each rank charges its word ledger with its own part of every CLM batch (the ranks' ledgers add
up to the global batch), and a batch one rank's share of the budget refuses is refused by all.
A rank may still end its collection while another goes on towards a CLM step (its share of the
budget refused an env step the other's admitted, its callback stopped it; a REINFORCE batch of
several rounds, or a non-learning agent's reset after each batch, then reaches the next CLM
step within the same collection), so every CLM step first meets the other ranks
(:func:`~lm_gym.utils.distributed.meet_before_joint_step`): it runs only when every rank is at
it, and is otherwise not run on any rank (:class:`~lm_gym.utils.distributed.PeerStopped` ends
the collection, the CLM slots stay due).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv, VectorWrapper
from torch import nn

from lm_gym.babylm.ledger import BudgetExhausted, WordLedger, ledger_of
from lm_gym.corpora.loaders import load_texts
from lm_gym.corpora.words import count_words
from lm_gym.models.clm import SentenceBatches, clm_loss, encode_sentences
from lm_gym.utils import distributed
from lm_gym.utils.device import autocast
from lm_gym.utils.validation import check_positive_int

SCHEDULES = ("alternate", "block", "clm_only", "rl_only")


class CLMSchedule:
    """The slot clock and the CLM updates behind :class:`CLMAlternation` (one per wrapper).

    Args:
        model: the trainable causal LM (the same object the agent trains).
        tokenizer: its tokenizer.
        texts: the L2 corpus.
        optimizer: shared with the agent if given; else AdamW over ``model``'s parameters.
        schedule, r_clm, r_rl, block_fraction: see the module docstring.
        batch_size: sentences per CLM update (per rank under data parallelism).
        lr: learning rate of the AdamW made when ``optimizer`` is None.
        max_length: CLM rows are cut to this many tokens (``<s>`` and ``</s>`` included).
        rl_batch_size: finished episodes per RL slot.
        max_grad_norm: gradient-norm clip of each CLM update.
        seed: seeds the corpus shuffling and any dropout during CLM updates.
        keep_reference: keep the CLM-only twin of ``model`` (module docstring); ``False``
            saves its memory and compute when no agent reads it (a non-learning agent).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        texts: Sequence[str],
        optimizer: torch.optim.Optimizer | None = None,
        *,
        schedule: str = "alternate",
        r_clm: int = 10,
        r_rl: int = 2,
        block_fraction: float = 0.85,
        batch_size: int = 32,
        lr: float = 3e-4,
        max_length: int = 64,
        rl_batch_size: int = 1,
        max_grad_norm: float = 1.0,
        seed: int = 0,
        keep_reference: bool = True,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        for name, value in (("r_clm", r_clm), ("r_rl", r_rl), ("rl_batch_size", rl_batch_size)):
            check_positive_int(name, value)
        if not 0 < block_fraction < 1:
            raise ValueError(f"block_fraction must be in (0, 1), got {block_fraction!r}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch module, got {type(model).__name__}")
        if isinstance(texts, str) or not texts:
            raise ValueError("the CLM corpus must be a non-empty list of strings")
        self.model, self.tokenizer = model, tokenizer
        self.schedule, self.r_clm, self.r_rl = schedule, r_clm, r_rl
        self.rl_batch_size, self.max_length = rl_batch_size, max_length
        self.max_grad_norm, self.seed = max_grad_norm, seed
        self.world_size, self.rank = distributed.world_size(), distributed.rank()
        if self.world_size > 1 and len(texts) < batch_size * self.world_size:
            raise ValueError(
                f"the CLM corpus has {len(texts)} sentences, fewer than one global batch "
                f"(batch_size {batch_size} x {self.world_size} processes)"
            )
        self.batch_size = batch_size
        self.stream = SentenceBatches(texts, batch_size * self.world_size, seed)
        epoch = self.stream.batches_per_epoch
        self._block = (epoch, max(epoch + 1, round(epoch / block_fraction)))
        self.optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr)
        self.reference: nn.Module | None = None
        self.reference_optimizer: torch.optim.Optimizer | None = None
        if keep_reference:
            self.reference = copy.deepcopy(model).eval()
            self.reference_optimizer = optimizer_like(self.optimizer, model, self.reference)
        self.slot = 0
        self.episodes_in_slot = 0
        self.due = True  # the CLM slots before the current RL slot have not run yet
        self.clm_steps = 0
        self.words_seen = 0
        self.clm_loss: float | None = None
        self.ledger: WordLedger | None = None

    def kind(self, slot: int) -> str:
        """``"clm"``, ``"rl"`` or (``clm_only``'s RL slots) ``"both"``."""
        if self.schedule == "rl_only":
            return "rl"
        if self.schedule == "block":
            clm_slots, epoch_slots = self._block
            return "clm" if slot % epoch_slots < clm_slots else "rl"
        clm = slot % (self.r_clm + self.r_rl) < self.r_clm
        if clm:
            return "clm"
        return "both" if self.schedule == "clm_only" else "rl"

    def catch_up(self) -> None:
        """Run the CLM slots that are due before the current RL slot (no-op when none are).

        Called at the start of every ``reset`` and ``step``, so they run before the next RL
        episodes begin: at the first reset, then after each full RL slot.
        """
        if not self.due:
            return
        while self.kind(self.slot) == "clm":
            self.clm_step()
            self.slot += 1
        if self.kind(self.slot) == "both":
            self.clm_step()
        self.due = False  # only now: a refused CLM batch leaves the remaining slots due

    def episodes_finished(self, count: int) -> None:
        """Count finished episodes; when an RL slot is full, the CLM slots after it fall due.

        Several RL slots may fill in one call (``count`` > ``rl_batch_size``); the clock then
        moves past each of them, running the CLM slots between two of them at once, while
        those after the last one wait for :meth:`catch_up`.
        """
        self.episodes_in_slot += count
        while self.episodes_in_slot >= self.rl_batch_size:
            self.episodes_in_slot -= self.rl_batch_size
            self.catch_up()
            self.slot += 1
            self.due = True

    def attach_ledger(self, ledger: WordLedger) -> None:
        """Charge every CLM batch to ``ledger`` (corpus ``clm``) from now on, refusing one that
        would cross its budget (:meth:`clm_step`)."""
        ledger.register_corpus("clm", self.stream.texts)
        self.ledger = ledger

    def clm_step(self) -> float:
        """One CLM update of the model (and of its twin) on the next corpus batch; its loss.

        Under data parallelism the batch is this rank's share of the global batch, and the
        loss returned is the global batch's.

        Raises:
            BudgetExhausted: when the batch would cross the ledger's budget (under data
                parallelism: when this rank's part would cross its share on any rank, so every
                rank refuses it); the batch is then not drawn (the corpus stream stays where it
                was) and nothing is updated.
            PeerStopped: under data parallelism, when another rank has already ended its
                collection (:func:`~lm_gym.utils.distributed.meet_before_joint_step`); nothing
                is drawn or updated either.
        """
        if self.world_size != distributed.world_size():
            raise RuntimeError(
                f"the CLM schedule was made for {self.world_size} process(es) but runs in "
                f"{distributed.world_size()}: join the process group before wrapping the env"
            )
        distributed.meet_before_joint_step(self.clm_steps)
        position = self.stream.state_dict()
        batch = self.stream.next_batch()
        own = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        if self.ledger is not None:
            try:
                self._charge(batch[own], len(batch))
            except BudgetExhausted:
                self.stream.load_state_dict(position)
                raise
        input_ids, attention_mask = encode_sentences(self.tokenizer, batch, self.max_length)
        targets = attention_mask[:, 1:].sum()  # the global batch's loss tokens
        input_ids, attention_mask = input_ids[own], attention_mask[own]
        width = int(attention_mask.sum(1).max())  # drop the columns only other ranks need
        input_ids, attention_mask = input_ids[:, :width], attention_mask[:, :width]
        share = float(attention_mask[:, 1:].sum() / targets)  # 1 in one process
        loss = self._update(self.model, self.optimizer, input_ids, attention_mask, share)
        if self.reference is not None:
            self._update(self.reference, self.reference_optimizer, input_ids, attention_mask, share)
        self.clm_steps += 1
        self.words_seen += sum(len(text.split()) for text in batch)
        self.clm_loss = loss
        return self.clm_loss

    def _charge(self, texts: list[str], sentences: int) -> None:
        """Charge this rank's ``texts`` of a CLM batch of ``sentences`` to the ledger, unless a
        rank's ledger refuses its part: then every rank raises (one vote, an all-reduce)."""
        what = f"CLM batch {self.clm_steps + 1} ({sentences} sentences)"
        words = sum(count_words(text) for text in texts)
        refusal = None
        try:
            self.ledger.check(exposed=words, consumed={"clm": words}, what=what)
        except BudgetExhausted as error:
            refusal = error
        if not distributed.agree(refusal is None):
            refusals = distributed.all_gather_objects(refusal)
            raise refusal or next(error for error in refusals if error is not None)
        self.ledger.expose("clm", texts, corpus="clm", what=what)

    def _update(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        share: float,
    ) -> float:
        """One CLM update of ``model``; returns the (global batch's) loss. ``share`` scales
        this rank's mean loss to its part of the global batch's mean. The dropout seed
        depends only on the step count (and the rank), so the model and its twin draw the
        same masks."""
        device = next(model.parameters()).device
        was_training = model.training
        model.train()
        with torch.random.fork_rng():  # seeded dropout; the agent's RNG streams are untouched
            step_seed = self.seed * 1_000_003 + self.clm_steps
            torch.manual_seed(step_seed * self.world_size + self.rank)
            with autocast(device):
                loss = clm_loss(model, input_ids.to(device), attention_mask.to(device)) * share
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        distributed.all_reduce_gradients(model.parameters())
        nn.utils.clip_grad_norm_(model.parameters(), self.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.train(was_training)
        return float(distributed.all_reduce_sum(loss.detach().float()))

    def info(self) -> dict[str, Any]:
        """The counters reported in ``info``."""
        info: dict[str, Any] = {"clm_steps": self.clm_steps, "words_seen": self.words_seen}
        if self.clm_loss is not None:
            info["clm_loss"] = self.clm_loss
        return info

    def state_dict(self) -> dict[str, Any]:
        """Schedule position, counters, corpus stream position, optimizer state and the twin
        (its weights and optimizer state; ``None`` without one).

        The model's weights are not included: checkpoint them alongside.
        """
        twin = self.reference
        return {
            "slot": self.slot,
            "episodes_in_slot": self.episodes_in_slot,
            "due": self.due,
            "clm_steps": self.clm_steps,
            "words_seen": self.words_seen,
            "clm_loss": self.clm_loss,
            "stream": self.stream.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "reference": None if twin is None else twin.state_dict(),
            "reference_optimizer": None if twin is None else self.reference_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`.

        Raises:
            ValueError: when one schedule keeps a twin and the other does not, or the state
                predates the twin.
        """
        if "reference" not in state:
            raise ValueError(
                "the saved CLM schedule predates the CLM-only twin (reference_model): a run "
                "saved by an earlier lm_gym cannot resume with this one"
            )
        saved = state["reference"] is not None
        if saved != (self.reference is not None):
            raise ValueError(
                f"the saved CLM schedule was made with keep_reference={saved}, this one with "
                f"keep_reference={not saved}: make the wrapper as it was when saved"
            )
        self.slot, self.episodes_in_slot = state["slot"], state["episodes_in_slot"]
        self.due, self.clm_steps = state["due"], state["clm_steps"]
        self.words_seen, self.clm_loss = state["words_seen"], state["clm_loss"]
        self.stream.load_state_dict(state["stream"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.reference is not None:
            self.reference.load_state_dict(state["reference"])
            self.reference_optimizer.load_state_dict(state["reference_optimizer"])


def optimizer_like(
    optimizer: torch.optim.Optimizer, model: nn.Module, twin: nn.Module
) -> torch.optim.Optimizer:
    """A fresh optimizer of ``optimizer``'s class and settings over ``twin``'s parameters.

    ``twin`` is a copy of ``model``; each of ``model``'s parameters in a group of ``optimizer``
    is replaced by its twin, with that group's hyperparameters. Parameters that are not
    ``model``'s (an agent's value head, when the optimizer is the agent's) are left out.
    """
    twins = {id(p): q for p, q in zip(model.parameters(), twin.parameters())}
    groups = []
    for group in optimizer.param_groups:
        params = [twins[id(p)] for p in group["params"] if id(p) in twins]
        if params:
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params})
    accepted = inspect.signature(type(optimizer)).parameters
    settings = {k: v for k, v in optimizer.defaults.items() if k in accepted}
    return type(optimizer)(groups, **settings)


def _schedule_for(
    env: Any, model: nn.Module, optimizer, tokenizer, corpus, **kwargs
) -> CLMSchedule:
    """Build the schedule, taking tokenizer and corpus from a text-generation env by default,
    and charge its batches to the env's word ledger when it has one."""
    base = env.unwrapped
    tokenizer = tokenizer if tokenizer is not None else getattr(base, "tokenizer", None)
    task = getattr(base, "task", None)
    texts = corpus if corpus is not None else getattr(task, "texts", None)
    if tokenizer is None or texts is None:
        raise ValueError(
            "the env has no tokenizer/corpus to train on: pass tokenizer= and corpus= "
            "(only lm_gym text-generation envs provide them)"
        )
    if isinstance(texts, str):
        texts = load_texts(texts, argument="corpus")
    schedule = CLMSchedule(model, tokenizer, list(texts), optimizer, **kwargs)
    if (ledger := ledger_of(env)) is not None:
        schedule.attach_ledger(ledger)
    return schedule


class _ScheduleAccess:
    """What both wrappers expose of their :class:`CLMSchedule`."""

    schedule: CLMSchedule
    state_same_on_all_ranks = True
    """Under data parallelism the schedule's state is the same on every rank (module
    docstring), so a checkpoint keeps it once (:func:`lm_gym.agents.checkpoint.env_state`)."""

    @property
    def trained_model(self) -> nn.Module:
        """The model this wrapper updates between episodes."""
        return self.schedule.model

    @property
    def model_updates(self) -> int:
        """How many updates this wrapper has made to :attr:`trained_model` so far."""
        return self.schedule.clm_steps

    @property
    def reference_model(self) -> nn.Module | None:
        """The CLM-only twin of :attr:`trained_model` (module docstring), or ``None`` when the
        wrapper was made with ``keep_reference=False``."""
        return self.schedule.reference

    @property
    def words_seen(self) -> int:
        """Words of CLM text this wrapper has trained :attr:`trained_model` on so far."""
        return self.schedule.words_seen

    def attach_word_ledger(self, ledger: WordLedger) -> None:
        """Charge the CLM batches to ``ledger`` (called by a ``WordCounter`` around this
        wrapper; one inside it is found when this wrapper is made)."""
        self.schedule.attach_ledger(ledger)

    def state_dict(self) -> dict[str, Any]:
        """See :meth:`CLMSchedule.state_dict`."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :meth:`CLMSchedule.load_state_dict`."""
        self.schedule.load_state_dict(state)


class CLMAlternation(_ScheduleAccess, gym.Wrapper):
    """Run CLM updates of ``model`` between RL episodes on a schedule (module docstring).

    Given a ``VectorEnv`` it returns a :class:`VectorCLMAlternation`, which counts the
    finished rows of each batched step.

    Args:
        env: the RL environment (its tokenizer and corpus are the defaults).
        model: the trainable model the agent also trains.
        optimizer: optional shared optimizer.
        tokenizer: defaults to ``env.unwrapped.tokenizer``.
        corpus: L2 texts (a list or a corpus path); defaults to the env's prompt corpus.
        schedule, r_clm, r_rl, block_fraction, batch_size, lr, max_length, seed,
            keep_reference: see :class:`CLMSchedule`.
        rl_batch_size: finished episodes per RL slot (default: 1, or ``num_envs`` for a
            vector env).
    """

    def __new__(cls, env: Any, *args: Any, **kwargs: Any):
        if isinstance(env, VectorEnv) and cls is CLMAlternation:
            return VectorCLMAlternation(env, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        env: gym.Env,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        tokenizer: Any = None,
        corpus: Sequence[str] | str | None = None,
        rl_batch_size: int | None = None,
        **schedule_kwargs: Any,
    ) -> None:
        super().__init__(env)
        self.schedule = _schedule_for(
            env,
            model,
            optimizer,
            tokenizer,
            corpus,
            rl_batch_size=rl_batch_size or 1,
            **schedule_kwargs,
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.schedule.catch_up()
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, **self.schedule.info()}

    def step(self, action: Any):
        self.schedule.catch_up()
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self.schedule.episodes_finished(1)
        return obs, reward, terminated, truncated, {**info, **self.schedule.info()}


class VectorCLMAlternation(_ScheduleAccess, VectorWrapper):
    """:class:`CLMAlternation` for vector envs; counters come as ``(num_envs,)`` info arrays."""

    def __init__(
        self,
        env: VectorEnv,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        tokenizer: Any = None,
        corpus: Sequence[str] | str | None = None,
        rl_batch_size: int | None = None,
        **schedule_kwargs: Any,
    ) -> None:
        super().__init__(env)
        rl_batch_size = rl_batch_size or env.num_envs
        if distributed.world_size() > 1 and rl_batch_size % env.num_envs:
            raise ValueError(
                f"rl_batch_size={rl_batch_size} is not a multiple of num_envs={env.num_envs}: "
                "under data parallelism an RL slot must end with a batch of episodes"
            )
        self.schedule = _schedule_for(
            env, model, optimizer, tokenizer, corpus, rl_batch_size=rl_batch_size, **schedule_kwargs
        )

    def _with_counters(self, info: dict[str, Any]) -> dict[str, Any]:
        every = np.ones(self.num_envs, dtype=bool)
        for key, value in self.schedule.info().items():
            info[key] = np.full(self.num_envs, value)
            info[f"_{key}"] = every
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.schedule.catch_up()
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._with_counters(info)

    def step(self, actions: Any):
        self.schedule.catch_up()
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        finished = int(np.count_nonzero(np.logical_or(terminated, truncated)))
        if finished:
            self.schedule.episodes_finished(finished)
        return obs, rewards, terminated, truncated, self._with_counters(info)
