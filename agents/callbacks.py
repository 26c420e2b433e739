"""Training callbacks in the Stable-Baselines3 style: hooks that watch, save or stop a run.

Every agent's ``learn(env, total_timesteps, callback)`` calls :meth:`Callback.on_step` after each
environment step (one vector step counts ``num_envs`` timesteps); when it returns ``False`` the
agent stops training at once. ``callback`` may be ``None``, a :class:`Callback`, a list of them,
or a plain function ``f(locals_, globals_) -> bool`` as SB3 accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_CHECKPOINT_EVERY = 5_000
"""Timesteps between the periodic checkpoints of ``lm-gym run`` (about ten PPO batches of
Bambino-v0's defaults: a killed run loses at most that much)."""


class Callback:
    """Base class: override ``_on_step`` (return ``False`` to stop) and the optional hooks.

    Attributes:
        agent: the agent being trained (set by :meth:`init_callback`).
        n_calls: how many times ``on_step`` ran.
        num_timesteps: the agent's timestep counter at the last call.
        locals: the learning loop's local variables at the last call (read-only by convention).
    """

    def __init__(self) -> None:
        self.agent: Any = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}

    def init_callback(self, agent: Any) -> None:
        """Attach to ``agent`` before training starts."""
        self.agent = agent

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        """Called once when ``learn`` starts."""
        self.locals = locals_
        self._on_training_start()

    def on_step(self, locals_: dict[str, Any] | None = None) -> bool:
        """Called after every environment step; ``False`` stops training."""
        self.n_calls += 1
        self.num_timesteps = self.agent.num_timesteps
        if locals_ is not None:
            self.locals = locals_
        return bool(self._on_step())

    def on_rollout_end(self) -> None:
        """Called after each rollout, before the policy update."""
        self._on_rollout_end()

    def on_iteration_end(self) -> None:
        """Called after each policy update, when the agent's state is whole (safe to save)."""
        self._on_iteration_end()

    def on_training_end(self) -> None:
        """Called once when ``learn`` returns."""
        self._on_training_end()

    def _on_training_start(self) -> None:
        pass

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        pass

    def _on_iteration_end(self) -> None:
        pass

    def _on_training_end(self) -> None:
        pass


class CallbackList(Callback):
    """Runs several callbacks in order; training stops when any of them returns ``False``."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def init_callback(self, agent: Any) -> None:
        super().init_callback(agent)
        for callback in self.callbacks:
            callback.init_callback(agent)

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_training_start(locals_)

    def on_step(self, locals_: dict[str, Any] | None = None) -> bool:
        # Every callback sees every step, even after one of them asked to stop.
        results = [callback.on_step(locals_) for callback in self.callbacks]
        return all(results)

    def on_rollout_end(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_end()

    def on_iteration_end(self) -> None:
        for callback in self.callbacks:
            callback.on_iteration_end()

    def on_training_end(self) -> None:
        for callback in self.callbacks:
            callback.on_training_end()


class FunctionCallback(Callback):
    """Adapts a function ``f(locals_, globals_) -> bool | None`` (``None`` means continue)."""

    def __init__(self, function: Callable[[dict, dict], bool | None]) -> None:
        super().__init__()
        self.function = function

    def _on_step(self) -> bool:
        return self.function(self.locals, globals()) is not False


class StopAfterTimesteps(Callback):
    """Stops training once the agent has taken ``max_timesteps`` steps in total."""

    def __init__(self, max_timesteps: int) -> None:
        super().__init__()
        if max_timesteps < 1:
            raise ValueError(f"max_timesteps must be >= 1, got {max_timesteps}")
        self.max_timesteps = max_timesteps

    def _on_step(self) -> bool:
        return self.num_timesteps < self.max_timesteps


class CheckpointCallback(Callback):
    """Saves the agent every ``save_freq`` timesteps to ``folder/<prefix>_<timesteps>.pt``,
    or, with ``latest_only``, to ``folder/<prefix>.pt``, replaced by each save.

    Saving happens after a policy update (``on_iteration_end``), where the agent's state is
    whole, so every file is a valid point to resume from; the built-in agents write atomically,
    so a run killed while saving keeps the previous file. Intervals count from the agent's
    timesteps when training starts (a resumed run does not save again at once).
    """

    def __init__(
        self,
        save_freq: int,
        folder: str | Path,
        prefix: str = "checkpoint",
        *,
        latest_only: bool = False,
    ) -> None:
        super().__init__()
        if save_freq < 1:
            raise ValueError(f"save_freq must be >= 1, got {save_freq}")
        self.save_freq = save_freq
        self.folder = Path(folder)
        self.prefix = prefix
        self.latest_only = latest_only
        self._last_saved = 0
        self.saved: list[Path] = []

    def _on_training_start(self) -> None:
        self._last_saved = self.agent.num_timesteps

    def _on_iteration_end(self) -> None:
        timesteps = self.agent.num_timesteps
        if timesteps - self._last_saved >= self.save_freq:
            name = self.prefix if self.latest_only else f"{self.prefix}_{timesteps}"
            path = self.folder / f"{name}.pt"
            self.agent.save(path)
            if path not in self.saved:
                self.saved.append(path)
            self._last_saved = timesteps


def as_callback(callback: Any) -> Callback:
    """Normalise what users pass as ``callback`` into one :class:`Callback`.

    Raises:
        TypeError: for anything that is not ``None``, a callback, a list of them or a function.
    """
    if callback is None:
        return CallbackList([])
    if isinstance(callback, Callback):
        return callback
    if isinstance(callback, (list, tuple)):
        return CallbackList([as_callback(c) for c in callback])
    if callable(callback):
        return FunctionCallback(callback)
    raise TypeError(
        f"callback must be None, a Callback, a list of them or a function, "
        f"got {type(callback).__name__}"
    )
