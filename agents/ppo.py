"""Token-level PPO for language-model policies (the BAMBINO-LM recipe), readable top to bottom.

In this file, in order: the hyperparameters (:class:`PPOConfig`), the advantage estimates
(:func:`gae`, :func:`whiten`), the KL-penalty coefficient (:class:`KLController`) and the agent
(:class:`PPO`). The loop around them is :meth:`lm_gym.agents.base.BaseAgent.learn`; one
iteration of it is:

1. **Collect** (:meth:`PPO._collect`, i.e. :func:`~lm_gym.agents.rollout.collect_token_rollout`):
   one prompt per row of the vector env (a single env plays ``num_envs`` episodes in turn,
   stacked into one batch), one token per env step sampled through the policy's KV cache,
   until every episode ended; the log-probability and value of each step are recorded from the
   sampling forward pass. The callbacks' ``on_rollout_end`` follows.
2. **Update** (:meth:`PPO._update`):

   a. **Reference**: the reference model's log-probabilities, in one forward pass (the initial
      model, or a wrapper's twin of the policy's model; see "Which reference" below);
   b. **Rewards**: the env's reward after each token minus ``kl_coef * (log pi - log pi_ref)``,
      the per-token KL penalty (Ziegler et al. 2019; TRL's PPO);
   c. **GAE** (gamma, lambda) over each episode's tokens; advantages whitened over the batch;
   d. **Epochs**: ``num_epochs`` passes over minibatches of episodes with the clipped
      surrogate, a clipped value loss, an optional entropy bonus and gradient clipping;
   e. **Adapt** the KL coefficient towards the target, after logging the iteration's metrics.
3. **Log and call back**: the loop dumps the metrics row and calls ``on_iteration_end``.

**Data parallelism** (torchrun, :mod:`lm_gym.utils.distributed`): each rank collects
``num_envs`` episodes and scores them (2a-c, GAE per episode); from the whitening on, every rank
works on the gathered batch of ``num_envs x world_size`` episodes, as one process would, each
taking an equal share of every minibatch and summing gradients over ranks
(:mod:`lm_gym.agents.data_parallel`). Whitening, the KL controller and the logged means thus
see all episodes, the parameters stay identical on every rank, and the update matches the
one-process update of the same batch up to float rounding.

The agent works unchanged when the env is wrapped in :class:`lm_gym.wrappers.CLMAlternation`
with ``agent.model``: the wrapper trains the same weights between episodes (before each
rollout's first step, after the previous update) and the agent only sees the env.

**Which reference.** BAMBINO-LM's KL penalty is there to stop the *RL* part from drifting; the
CLM updates move the baby towards the new language on purpose, so the KL to the initial baby
must grow under CLM alternation however well PPO behaves (measured on the default Bambino-v0,
seed 0, 30,720 tokens: about 120 nats per episode at the end, CLM alone 131, PPO alone 3; see
the README), and a penalty on it would fight language learning. So by default
(``reference_follows_env``) the reference receives exactly the updates that something other
than PPO made to the policy's weights, and none of PPO's: when a wrapper declares that it
trains the policy's model (``trained_model``), the reference is the wrapper's
``reference_model``, a twin of the model that the wrapper updates on the same CLM batches and
nothing else (:mod:`lm_gym.wrappers.clm_alternation`). The penalty and ``charts/kl`` then
measure all the drift PPO has accumulated, on every batch. (Re-taking the reference from the
policy after each CLM block, as an earlier version did, made ``charts/kl`` exactly 0 on the
first batch after every block and one update's drift on the second: a bound that held
trivially.) The KL to the initial model is still computed and logged as ``charts/kl_initial``,
so nothing is hidden. Without such a wrapper nothing changes: the reference is the initial
model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lm_gym.agents.base import BaseAgent, make_adam, torch_generator
from lm_gym.agents.data_parallel import gather_token_batch, minibatch_share
from lm_gym.agents.logger import Logger
from lm_gym.agents.policies import (
    LMPolicy,
    as_tensor_batch,
    check_token_space,
    resolve_policy_lm,
)
from lm_gym.agents.protocol import is_vector_env
from lm_gym.agents.rollout import TokenRollout, collect_token_rollout, filler_token
from lm_gym.models.sampling import sample_tokens
from lm_gym.utils import distributed
from lm_gym.utils.device import resolve_device
from lm_gym.utils.env_attributes import get_env_attr
from lm_gym.utils.validation import check_int, check_positive_int


# ---------------------------------------------------------------------- hyperparameters
@dataclass
class PPOConfig:
    """Token-level PPO for LM policies (one field per hyperparameter, CleanRL style).

    Defaults follow BAMBINO-LM (Shen et al. 2024), who ran TRL's PPO with its defaults of the
    time: 4 PPO epochs, clip 0.2, value-loss coefficient 0.1, gamma 1, lambda 0.95 and an
    adaptive KL penalty starting at 0.2 with target 6 and horizon 10000, 32 episodes per batch.
    The learning rate is the paper's too, 1.41e-5. An earlier default of 1e-4 (thought better
    for the tiny default models on one seed) was not supported by 5: PPO alone on the default
    ``Bambino-v0`` (30,720 tokens, seeds 0-4) ended with no significant difference in return
    between the two rates (``ppo-bambino`` track, README), so the default is the paper's value.
    The quick, cpu and ppo-bambino tracks pin 1e-4 where their committed results used it.
    """

    seed: int = 0
    """Seeds token sampling, minibatch order, the value head and the env's first reset."""
    device: str | None = None
    """Where the policy runs; ``None`` picks CUDA when present (see ``lm_gym.utils.device``)."""
    model: str | None = None
    """Policy LM spec for ``lm_gym.models.load_model``; ``None`` uses the env's own model."""
    num_envs: int = 32
    """Episodes per iteration: the rows of the vector env ``train_agent`` builds, or the
    episodes a single env plays in turn; a vector env given to ``learn`` plays its own rows."""
    learning_rate: float = 1.41e-5
    """Adam learning rate (the paper's; see the class docstring)."""
    value_learning_rate: float | None = None
    """Adam learning rate of the value head; ``None`` uses ``learning_rate``. The head starts
    untrained while rewards may be several units large; at an LM's small rate it takes many
    batches to catch up, and until then the advantages are skewed. A larger rate lets it catch
    up sooner: on BabyStories-v0, 100 x the LM's rate removed an early dip in reward and
    nearly doubled the final score, and the storytellers collapsed onto one plot (README)."""
    num_epochs: int = 4
    """Optimisation epochs over each batch of episodes."""
    num_minibatches: int = 4
    """Minibatches per epoch (episodes are split, never tokens of one episode)."""
    gamma: float = 1.0
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_coef: float = 0.2
    """PPO surrogate clipping range."""
    clip_value: float = 0.2
    """Value-prediction clipping range around the rollout's values (TRL's ``cliprange_value``)."""
    vf_coef: float = 0.1
    """Value-loss coefficient."""
    ent_coef: float = 0.0
    """Entropy-bonus coefficient (0 = no bonus; the KL penalty already keeps the LM diverse)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    normalize_advantages: bool = True
    """Whiten advantages over the batch's tokens."""
    temperature: float = 1.0
    """Sampling temperature of rollouts (1 = the LM's own distribution, no top-k/top-p)."""
    min_new_tokens: int = 0
    """EOS is ruled out for the first n tokens (as ``generate(min_new_tokens=n)``); 0 = off."""
    kl_coef: float = 0.2
    """Initial coefficient of the per-token KL penalty to the frozen reference model."""
    adaptive_kl: bool = True
    """Adapt the KL coefficient towards ``kl_target`` (False keeps it fixed at ``kl_coef``)."""
    kl_target: float = 6.0
    """Target sequence-level KL (nats) of the adaptive controller."""
    kl_horizon: int = 10_000
    """Horizon (in episodes) of the adaptive controller."""
    reference_follows_env: bool = True
    """When a wrapper (CLM alternation) also trains the policy's model, take the KL reference
    from its ``reference_model``, the model with the wrapper's updates alone, so the penalty and
    ``charts/kl`` measure PPO's own accumulated drift; ``charts/kl_initial`` still reports the KL
    to the initial model. False keeps the initial model as the reference throughout. Without
    such a wrapper both are the same."""
    prepend_bos: bool = True
    """Feed ``<s>`` before each prompt (the baby models were trained on ``<s> text </s>``)."""
    verbose: int = 1
    """1 prints a metrics table every ``log_interval`` iterations (see ``learn``), 0 is silent."""

    def __post_init__(self) -> None:
        positive = ("num_envs", "num_epochs", "num_minibatches", "kl_horizon")
        for name in positive:
            value = getattr(self, name)
            check_positive_int(f"PPOConfig.{name}", value)
        for name in ("learning_rate", "temperature", "kl_target", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        value_lr = self.value_learning_rate
        if value_lr is not None and not value_lr > 0:
            raise ValueError(f"PPOConfig.value_learning_rate must be None or > 0, got {value_lr!r}")
        for name in ("clip_coef", "clip_value", "vf_coef", "ent_coef", "kl_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        check_int("PPOConfig.min_new_tokens", self.min_new_tokens, minimum=0)
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError("PPOConfig.gamma and gae_lambda must lie in [0, 1]")


# ---------------------------------------------------------------------- advantages
def masked_mean(
    values: torch.Tensor, mask: torch.Tensor, count: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1; or their sum over ``count``, the token count of
    a minibatch of which ``mask`` is one rank's share (data parallelism)."""
    return (values * mask).sum() / (mask.sum().clamp(min=1.0) if count is None else count)


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-variance ``values`` over the masked entries (0 elsewhere)."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(var + 1e-8) * mask


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """Generalised advantage estimates over ``(B, T)`` tokens; an episode ends where mask ends.

    The step after an episode's last token has mask 0, so it contributes no bootstrap value:
    terminal and truncated episodes alike end with their final (sequence) reward.
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    horizon = rewards.shape[1]
    for t in reversed(range(horizon)):
        next_mask = mask[:, t + 1] if t + 1 < horizon else torch.zeros_like(running)
        next_value = values[:, t + 1] * next_mask if t + 1 < horizon else next_mask
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * next_mask * running
        advantages[:, t] = running
    return advantages * mask


def stack_rollouts(rollouts: list[TokenRollout], filler: int) -> TokenRollout:
    """One batch of the episodes of several rollouts (a single env's episodes played one
    after the other): the shorter action blocks padded on the right to the longest with
    ``filler`` and mask 0, the narrower prompt blocks on the left (prompts stay right-aligned,
    as the envs give them, the padding masked out)."""
    horizon = max(r.actions.shape[1] for r in rollouts)
    width = max(r.prompt_ids.shape[1] for r in rollouts)

    def pad(tensors: list[torch.Tensor], value: float) -> torch.Tensor:
        return torch.cat(
            [nn.functional.pad(t, (0, horizon - t.shape[1]), value=value) for t in tensors]
        )

    def pad_left(tensors: list[torch.Tensor], value: int) -> torch.Tensor:
        return torch.cat(
            [nn.functional.pad(t, (width - t.shape[1], 0), value=value) for t in tensors]
        )

    keys = sorted({key for r in rollouts for key in r.end_info})
    return TokenRollout(
        prompt_ids=pad_left([r.prompt_ids for r in rollouts], filler),
        prompt_mask=pad_left([r.prompt_mask for r in rollouts], 0),
        actions=pad([r.actions for r in rollouts], filler),
        mask=pad([r.mask for r in rollouts], 0.0),
        rewards=pad([r.rewards for r in rollouts], 0.0),
        logprobs=pad([r.logprobs for r in rollouts], 0.0),
        values=None if rollouts[0].values is None else pad([r.values for r in rollouts], 0.0),
        returns=np.concatenate([r.returns for r in rollouts]),
        lengths=np.concatenate([r.lengths for r in rollouts]),
        end_info={
            key: np.concatenate(
                [r.end_info.get(key, np.full(len(r.returns), np.nan)) for r in rollouts]
            )
            for key in keys
        },
        completions=[text for r in rollouts for text in r.completions],
    )


# ---------------------------------------------------------------------- KL penalty
class KLController:
    """The KL-penalty coefficient: fixed, or adapted as in Ziegler et al. (2019) / TRL.

    The adaptive rule nudges the coefficient by a proportional error clipped to +-20%:
    ``coef *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_episodes / horizon``.
    """

    def __init__(
        self, init: float, *, adaptive: bool, target: float = 6.0, horizon: int = 10_000
    ) -> None:
        self.value = float(init)
        self.adaptive = adaptive
        self.target = target
        self.horizon = horizon

    def update(self, kl: float, n_episodes: int) -> None:
        """Adapt to the measured mean sequence KL of a batch of ``n_episodes``."""
        if not self.adaptive:
            return
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_episodes / self.horizon

    def state_dict(self) -> dict:
        """The coefficient, for checkpoints."""
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        """Restore a coefficient saved by :meth:`state_dict`."""
        self.value = float(state["value"])


# ---------------------------------------------------------------------- the agent
class PPO(BaseAgent):
    """Proximal policy optimisation of a causal LM with a value head and a KL penalty.

    Args:
        env: a token-mode env or vector env (``Discrete`` actions), e.g.
            ``gym.make_vec("Bambino-v0", num_envs=32)``; a single env plays ``num_envs``
            episodes in turn per batch (the same updates, more slowly than a vector env).
        config: a :class:`PPOConfig` or dict; keyword ``overrides`` replace its fields.
        model: the policy LM (an ``LM``, a ``(model, tokenizer)`` pair or any
            ``load_model`` spec); default ``config.model``, else the env's ``generating_model``.
        logger: metrics destination (default: stdout when ``verbose``).

    Raises:
        TypeError: for a non-token action space.
    """

    config_class = PPOConfig
    action_kinds = ("token",)
    vectorizes_single_envs = True

    def __init__(
        self,
        env: Any,
        config: PPOConfig | dict | None = None,
        *,
        model: Any = None,
        logger: Logger | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        cfg = self.config
        vocab = check_token_space(self.action_space, "PPO")
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)  # the value head's initial weights
        lm = resolve_policy_lm(env, model if model is not None else cfg.model, self.device)
        self.policy = LMPolicy(
            lm.model,
            lm.tokenizer,
            prepend_bos=cfg.prepend_bos,
            action_size=vocab,
            min_new_tokens=cfg.min_new_tokens,
            observation_space=self.observation_space,
        ).to(self.device)
        distributed.broadcast_module(self.policy)  # every rank starts from rank 0's weights
        self.reference = copy.deepcopy(self.policy.model).eval().requires_grad_(False)
        # The wrapper's twin of the policy's model, when the env of the current learn call
        # has one and reference_follows_env is on (see _prepare_learn).
        self.env_reference: nn.Module | None = None
        head = list(self.policy.value_head.parameters())
        trunk = [p for p in self.policy.parameters() if all(p is not h for h in head)]
        value_lr = cfg.learning_rate if cfg.value_learning_rate is None else cfg.value_learning_rate
        self.optimizer = make_adam(
            [{"params": trunk}, {"params": head, "lr": value_lr}], cfg.learning_rate, self.device
        )
        self.kl_controller = KLController(
            cfg.kl_coef, adaptive=cfg.adaptive_kl, target=cfg.kl_target, horizon=cfg.kl_horizon
        )
        self.generator = torch_generator(self.rank_seed(), self.device)

    @property
    def model(self) -> nn.Module:
        """The policy's causal LM (give it to ``CLMAlternation``)."""
        return self.policy.model

    @property
    def tokenizer(self) -> Any:
        """The policy LM's tokenizer."""
        return self.policy.tokenizer

    # ------------------------------------------------------------------ acting
    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """The next token for one observation or a batch (ints, or a tensor for tensor obs)."""
        batch, single = as_tensor_batch(obs, self.device)
        self.policy.eval()
        logits = self.policy.next_token_logits(batch["input_ids"], batch["attention_mask"])
        tokens = sample_tokens(
            logits, self.generator, temperature=self.config.temperature, greedy=deterministic
        )
        if isinstance(obs["input_ids"], torch.Tensor):
            return tokens[0] if single else tokens
        tokens = tokens.cpu().numpy()
        return int(tokens[0]) if single else tokens

    # ------------------------------------------------------------------ one iteration
    def _collect(self, env: Any) -> TokenRollout | None:
        """Step 1: one batch of episodes (``None`` when a callback stopped it).

        A vector env's rows play one lock-step batch. A single env (which the loop runs as a
        one-row vector env) plays ``num_envs`` episodes one after the other, stacked into one
        batch, so an update sees as many episodes as the config says either way. (Wrapped in
        :class:`~lm_gym.wrappers.CLMAlternation`, a single env's every episode is a slot of the
        schedule, so CLM updates may fall between the episodes of one batch: wrap a vector
        env, as ``train_agent`` does.)
        """
        self.policy.eval()
        rounds = 1 if is_vector_env(self.env) else self.config.num_envs
        rollouts = []
        for _ in range(rounds):
            rollout = collect_token_rollout(
                env,
                self.policy,
                self.generator,
                temperature=self.config.temperature,
                seed=self._reset_seed(),
                on_step=self._count_steps,
            )
            if rollout is None:
                return None
            rollouts.append(rollout)
        return rollouts[0] if rounds == 1 else stack_rollouts(rollouts, self._filler())

    def _filler(self) -> int:
        """The token that pads stacked episodes (masked out, like a rollout's own filler)."""
        tokenizer = self.policy.tokenizer
        return filler_token(self.policy.action_size, tokenizer.eos_token_id, tokenizer.pad_token_id)

    def _prepare_learn(self, env: Any) -> None:
        """Step 2a's choice of reference for this ``env``.

        Raises:
            ValueError: when a wrapper trains the policy's model but keeps no twin of it.
        """
        self.env_reference = self._reference_from_env(env)

    def _reference_from_env(self, env: Any) -> nn.Module | None:
        """Step 2a: the wrapper's twin of the policy's model, if a wrapper of ``env`` trains
        it and ``reference_follows_env`` is on; else ``None`` (the initial model is the
        reference). A wrapper that trains another model is no concern of this agent's."""
        if not self.config.reference_follows_env:
            return None
        if get_env_attr(env, "trained_model", None) is not self.policy.model:
            return None
        twin = get_env_attr(env, "reference_model", None)
        if twin is None:
            raise ValueError(
                "a wrapper of the env trains the policy's model but keeps no reference_model "
                "(CLMAlternation(..., keep_reference=False)): keep it, or pass "
                "reference_follows_env=False to use the initial model as the KL reference"
            )
        return twin

    @torch.no_grad()
    def _score_rollout(self, rollout: TokenRollout) -> dict[str, torch.Tensor]:
        """Steps 2a-c: reference log-probs, KL-penalised rewards, GAE advantages and returns
        (the advantages not whitened yet: under data parallelism that needs all ranks)."""
        sequences, prompts, mask = rollout.sequences, rollout.prompt_mask, rollout.mask
        logprobs, values = rollout.logprobs, rollout.values
        temperature = self.config.temperature
        initial = self.policy.logprobs_under(
            self.reference, sequences, prompts, temperature=temperature
        )
        kl_initial = (logprobs - initial) * mask
        if self.env_reference is None:
            kl = kl_initial
        else:
            reference = self.policy.logprobs_under(
                self.env_reference, sequences, prompts, temperature=temperature
            )
            kl = (logprobs - reference) * mask
        rewards = rollout.rewards - self.kl_controller.value * kl
        advantages = gae(rewards, values, mask, self.config.gamma, self.config.gae_lambda)
        returns = advantages + values
        return {
            "sequences": sequences,
            "prompt_mask": prompts,
            "mask": mask,
            "logprobs": logprobs,
            "values": values * mask,
            "advantages": advantages,
            "returns": returns * mask,
            "kl": kl.sum(1),
            "kl_initial": kl_initial.sum(1),
        }

    def _update(self, rollout: TokenRollout) -> None:
        """Step 2: score the rollout, run the clipped-surrogate epochs (2d), log, adapt (2e).

        Under data parallelism the scored batch is gathered from all ranks first; each rank
        then computes its share of every minibatch's loss (its rows' sum over the whole
        minibatch's token count) and the gradients are summed over ranks before clipping.
        """
        cfg = self.config
        eos, pad = self.policy.tokenizer.eos_token_id, self.policy.tokenizer.pad_token_id
        filler = filler_token(self.policy.action_size, eos, pad)
        batch = gather_token_batch(self._score_rollout(rollout), filler)
        if cfg.normalize_advantages:
            batch["advantages"] = whiten(batch["advantages"], batch["mask"])
        kl_initial = batch.pop("kl_initial")
        size = batch["sequences"].shape[0]
        minibatch = max(1, size // cfg.num_minibatches)
        stats: dict[str, list[torch.Tensor]] = {
            "policy_loss": [],
            "value_loss": [],
            "entropy": [],
            "approx_kl": [],
            "clipfrac": [],
        }
        self.policy.train()
        for _ in range(cfg.num_epochs):
            order = torch.from_numpy(self.rng.permutation(size)).to(self.device)
            for first in range(0, size - minibatch + 1, minibatch):
                rows = order[first : first + minibatch]
                count = batch["mask"][rows].sum().clamp(min=1.0)  # the whole minibatch's tokens
                self.optimizer.zero_grad(set_to_none=True)
                own = minibatch_share(rows)
                if len(own):
                    losses = self._minibatch_losses({k: v[own] for k, v in batch.items()}, count)
                else:  # fewer rows than ranks: this rank only joins the gradient sum
                    losses = dict.fromkeys(stats, torch.zeros((), device=self.device))
                distributed.all_reduce_gradients(self.policy.parameters())
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                for key, value in losses.items():
                    stats[key].append(value)
        self.policy.eval()
        kl = float(batch["kl"].mean())
        self._log_iteration(rollout, stats, kl, float(kl_initial.mean()))
        self.kl_controller.update(kl, size)

    def _minibatch_losses(
        self, mb: dict[str, torch.Tensor], count: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Step 2d for one minibatch (this rank's share of it): the clipped-surrogate, value
        and entropy terms as sums over ``count`` tokens, backpropagated; returns the detached
        terms and diagnostics (the minibatch's means once summed over ranks)."""
        cfg = self.config
        mask = mb["mask"]
        logprobs, entropy, values = self.policy.evaluate(
            mb["sequences"],
            mb["prompt_mask"],
            temperature=cfg.temperature,
            entropy_grad=cfg.ent_coef > 0,
        )
        log_ratio = logprobs - mb["logprobs"]
        ratio = log_ratio.exp()
        advantages = mb["advantages"]
        surrogate = torch.max(
            -advantages * ratio,
            -advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef),
        )
        policy_loss = masked_mean(surrogate, mask, count)
        clipped = mb["values"] + (values - mb["values"]).clamp(-cfg.clip_value, cfg.clip_value)
        value_loss = 0.5 * masked_mean(
            torch.max((values - mb["returns"]) ** 2, (clipped - mb["returns"]) ** 2), mask, count
        )
        entropy_mean = masked_mean(entropy, mask, count)
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy_mean
        loss.backward()
        with torch.no_grad():
            clip_hit = ((ratio - 1).abs() > cfg.clip_coef).float()
            return {
                "policy_loss": policy_loss.detach(),
                "value_loss": value_loss.detach(),
                "entropy": entropy_mean.detach(),
                "approx_kl": masked_mean((ratio - 1) - log_ratio, mask, count),
                "clipfrac": masked_mean(clip_hit, mask, count),
            }

    def _log_iteration(
        self, rollout: TokenRollout, stats: dict, kl: float, kl_initial: float
    ) -> None:
        """Record the iteration's episode, loss and KL metrics (the loop dumps them); episode
        data and minibatch losses are those of all ranks."""
        returns, lengths, end_info = self._gather_episodes(
            rollout.returns, rollout.lengths, rollout.end_info
        )
        self._record_episodes(returns, lengths)
        self._record_episode_stats()
        self.logger.record("rollout/batch_rew_mean", returns.mean())
        self._record_end_info(end_info)
        stats = {key: values for key, values in stats.items() if values}
        if stats:
            table = torch.stack([torch.stack(values) for values in stats.values()])
            distributed.all_reduce_sum(table)
            for key, row in zip(stats, table):
                self.logger.record(f"losses/{key}", float(row.mean()))
        self.logger.record("charts/kl", kl)
        self.logger.record("charts/kl_initial", kl_initial)
        self.logger.record("charts/kl_coef", self.kl_controller.value)
        self.logger.record("charts/learning_rate", self.optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------------ checkpoints
    def _state_dict(self) -> dict:
        return {
            "policy": self.policy.state_dict(),
            "reference": self.reference.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "kl_controller": self.kl_controller.state_dict(),
            "generator": self.generator.get_state(),
        }

    def _load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.reference.load_state_dict(state["reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.generator.set_state(state["generator"])
