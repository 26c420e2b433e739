"""Token-level PPO for language-model policies (the BAMBINO-LM recipe), readable top to bottom.

One iteration of the shared loop (:meth:`lm_gym.agents.base.BaseAgent.learn`):

1. **Rollout** (:meth:`PPO._collect`, i.e.
   :func:`~lm_gym.agents.rollout.collect_token_rollout`): ``num_envs`` prompts,
   one token per env step sampled through the policy's KV cache, until every episode ended;
   the log-probability and value of each step are recorded from the sampling forward pass.
2. **Reference**: the frozen reference model's log-probabilities, in one forward pass (the
   reference is re-taken first if a wrapper updated the model; see "Which reference" below).
3. **Rewards**: the env's reward after each token minus ``kl_coef * (log pi - log pi_ref)``,
   the per-token KL penalty (Ziegler et al. 2019; TRL's PPO).
4. **GAE** (gamma, lambda) over each episode's tokens; advantages whitened over the batch.
5. **Update**: ``num_epochs`` passes over minibatches of episodes with the clipped surrogate,
   a clipped value loss, an optional entropy bonus and gradient clipping.
6. **Adapt** the KL coefficient towards the target; the loop logs and calls the callbacks.

The agent works unchanged when the env is wrapped in :class:`lm_gym.wrappers.CLMAlternation`
with ``agent.model``: the wrapper trains the same weights between episodes (before each
rollout's first step, after the previous update) and the agent only sees the env.

**Which reference.** BAMBINO-LM's KL penalty is there to stop the *RL* part from drifting; the
CLM updates move the baby towards the new language on purpose, so the KL to the initial baby
must grow under CLM alternation however well PPO behaves (measured on the default Bambino-v0,
seed 0, 30,720 tokens: about 120 nats per episode at the end, CLM alone 131, PPO alone 3; see
the README), and a penalty on it would fight language learning. So by default
(``reference_follows_env``) the reference follows the updates that something other than PPO
made to the policy's weights: when a wrapper announces (generically,
:func:`~lm_gym.agents.policy_model.env_model_updates`) that it updated the model since the last
snapshot, the reference is re-taken from the policy before the next update, and the penalty
and ``charts/kl`` measure the drift PPO has added since the latest CLM block. The KL to the
initial model is still computed and logged as ``charts/kl_initial``, so nothing is hidden.
Without such a wrapper nothing changes: the reference is the initial model.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from lm_gym.agents.base import BaseAgent, make_adam, torch_generator
from lm_gym.agents.lm_policy import LMPolicy, as_tensor_batch, check_token_space, sample_tokens
from lm_gym.agents.logger import Logger
from lm_gym.agents.policy_model import env_model_updates, resolve_policy_lm
from lm_gym.agents.ppo_config import KLController, PPOConfig
from lm_gym.agents.rollout import TokenRollout, collect_token_rollout
from lm_gym.utils.device import resolve_device


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


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


class PPO(BaseAgent):
    """Proximal policy optimisation of a causal LM with a value head and a KL penalty.

    Args:
        env: a token-mode env or vector env (``Discrete`` actions), e.g.
            ``gym.make_vec("Bambino-v0", num_envs=32)``; a single env is run as a batch of 1.
        config: a :class:`PPOConfig` or dict; keyword ``overrides`` replace its fields.
        model: the policy LM (an ``LM``, a ``(model, tokenizer)`` pair or any
            ``load_model`` spec); default ``config.model``, else the env's baby model.
        logger: metrics destination (default: stdout when ``verbose``).

    Raises:
        TypeError: for a non-token action space.
    """

    config_class = PPOConfig
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
        ).to(self.device)
        self.reference = copy.deepcopy(self.policy.model).eval().requires_grad_(False)
        # The initial model, kept aside once the reference has followed an env update, and
        # the env's count of model updates when the reference was last taken.
        self.initial_reference: nn.Module | None = None
        self.reference_updates = 0
        head = list(self.policy.value_head.parameters())
        trunk = [p for p in self.policy.parameters() if all(p is not h for h in head)]
        value_lr = cfg.learning_rate if cfg.value_learning_rate is None else cfg.value_learning_rate
        self.optimizer = make_adam(
            [{"params": trunk}, {"params": head, "lr": value_lr}], cfg.learning_rate, self.device
        )
        self.kl_controller = KLController(
            cfg.kl_coef, adaptive=cfg.adaptive_kl, target=cfg.kl_target, horizon=cfg.kl_horizon
        )
        self.generator = torch_generator(cfg.seed, self.device)

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
        """One lock-step batch of episodes (``None`` when a callback stopped it)."""
        self.policy.eval()
        return collect_token_rollout(
            env,
            self.policy,
            self.generator,
            temperature=self.config.temperature,
            seed=self._reset_seed(),
            on_step=self._count_steps,
        )

    def _follow_env_updates(self) -> None:
        """Re-take the reference from the policy if a wrapper updated its model since last time.

        Runs after the rollout and before PPO's update, so the snapshot is the model the
        rollout sampled from: the weights the env's latest updates left, plus PPO's own
        updates since the previous snapshot. The first time, the initial reference is kept
        aside for ``charts/kl_initial``.
        """
        if not self.config.reference_follows_env:
            return
        updates = env_model_updates(self.env, self.policy.model)
        if updates == self.reference_updates:
            return
        if self.initial_reference is None:
            self.initial_reference = self.reference
            self.reference = copy.deepcopy(self.reference)
        self.reference.load_state_dict(self.policy.model.state_dict())
        self.reference_updates = updates

    @torch.no_grad()
    def _score_rollout(self, rollout: TokenRollout) -> dict[str, torch.Tensor]:
        """Old log-probs and values, reference log-probs, KL-penalised rewards and advantages."""
        sequences, k, mask = rollout.sequences, rollout.prompt_ids.shape[1], rollout.mask
        logprobs, values = rollout.logprobs, rollout.values
        temperature = self.config.temperature
        reference = self.policy.logprobs_under(
            self.reference, sequences, k, temperature=temperature
        )
        kl = (logprobs - reference) * mask
        if self.initial_reference is None:
            kl_initial = kl
        else:
            initial = self.policy.logprobs_under(
                self.initial_reference, sequences, k, temperature=temperature
            )
            kl_initial = (logprobs - initial) * mask
        rewards = rollout.rewards - self.kl_controller.value * kl
        advantages = gae(rewards, values, mask, self.config.gamma, self.config.gae_lambda)
        returns = advantages + values
        if self.config.normalize_advantages:
            advantages = whiten(advantages, mask)
        return {
            "sequences": sequences,
            "mask": mask,
            "logprobs": logprobs,
            "values": values * mask,
            "advantages": advantages,
            "returns": returns * mask,
            "kl": kl.sum(1),
            "kl_initial": kl_initial.sum(1),
        }

    def _update(self, rollout: TokenRollout) -> None:
        """Score the rollout, run the clipped-surrogate epochs, log, adapt the KL coefficient."""
        cfg = self.config
        self._follow_env_updates()
        batch = self._score_rollout(rollout)
        kl_initial = batch.pop("kl_initial")
        k = rollout.prompt_ids.shape[1]
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
                mb = {key: value[rows] for key, value in batch.items()}
                mask = mb["mask"]
                logprobs, entropy, values = self.policy.evaluate(
                    mb["sequences"], k, temperature=cfg.temperature, entropy_grad=cfg.ent_coef > 0
                )
                log_ratio = logprobs - mb["logprobs"]
                ratio = log_ratio.exp()
                advantages = mb["advantages"]
                surrogate = torch.max(
                    -advantages * ratio,
                    -advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef),
                )
                policy_loss = masked_mean(surrogate, mask)
                clipped = mb["values"] + (values - mb["values"]).clamp(
                    -cfg.clip_value, cfg.clip_value
                )
                value_loss = 0.5 * masked_mean(
                    torch.max((values - mb["returns"]) ** 2, (clipped - mb["returns"]) ** 2), mask
                )
                entropy_mean = masked_mean(entropy, mask)
                loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy_mean
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    stats["policy_loss"].append(policy_loss.detach())
                    stats["value_loss"].append(value_loss.detach())
                    stats["entropy"].append(entropy_mean.detach())
                    stats["approx_kl"].append(masked_mean((ratio - 1) - log_ratio, mask))
                    clip_hit = ((ratio - 1).abs() > cfg.clip_coef).float()
                    stats["clipfrac"].append(masked_mean(clip_hit, mask))
        self.policy.eval()
        kl = float(batch["kl"].mean())
        self._log_iteration(rollout, stats, kl, float(kl_initial.mean()))
        self.kl_controller.update(kl, size)

    def _log_iteration(
        self, rollout: TokenRollout, stats: dict, kl: float, kl_initial: float
    ) -> None:
        self._record_episodes(rollout.returns, rollout.lengths)
        self._record_episode_stats()
        self.logger.record("rollout/batch_rew_mean", rollout.returns.mean())
        self._record_end_info(rollout.end_info)
        means = {key: torch.stack(values).mean() for key, values in stats.items() if values}
        for key, value in means.items():
            self.logger.record(f"losses/{key}", float(value))
        self.logger.record("charts/kl", kl)
        self.logger.record("charts/kl_initial", kl_initial)
        self.logger.record("charts/kl_coef", self.kl_controller.value)
        self.logger.record("charts/learning_rate", self.optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------------ checkpoints
    def _state_dict(self) -> dict:
        return {
            "policy": self.policy.state_dict(),
            "reference": self.reference.state_dict(),
            "reference_updates": self.reference_updates,
            "initial_reference": (
                None if self.initial_reference is None else self.initial_reference.state_dict()
            ),
            "optimizer": self.optimizer.state_dict(),
            "kl_controller": self.kl_controller.state_dict(),
            "generator": self.generator.get_state(),
        }

    def _load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.reference.load_state_dict(state["reference"])
        self.reference_updates = state["reference_updates"]
        if state["initial_reference"] is not None:
            self.initial_reference = copy.deepcopy(self.reference)
            self.initial_reference.load_state_dict(state["initial_reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.generator.set_state(state["generator"])
