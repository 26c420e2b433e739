"""Agents that learn in lm_gym environments (imported as ``lm_gym.agents``).

Every name below is imported on first use, so ``lm-gym list`` does not pay for torch models or
Stable-Baselines3 it never builds. The built-in agents share one training loop
(:class:`BaseAgent`'s ``learn``); :class:`PPO` is readable top to bottom in
``lm_gym/agents/ppo.py``; :func:`train_agent` is what ``lm-gym run`` and the leaderboard call.
"""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    # the protocol, the shared base and the registry
    "Agent": "lm_gym.agents.protocol",
    "BaseAgent": "lm_gym.agents.base",
    "ENTRY_POINT_GROUP": "lm_gym.agents.registry",
    "get_agent_spec": "lm_gym.agents.registry",
    "list_agents": "lm_gym.agents.registry",
    "load_entry_points": "lm_gym.agents.registry",
    "make_agent": "lm_gym.agents.registry",
    "register_agent": "lm_gym.agents.registry",
    # the agents and their configs
    "PPO": "lm_gym.agents.ppo",
    "PPOConfig": "lm_gym.agents.ppo",
    "KLController": "lm_gym.agents.ppo",
    "Reinforce": "lm_gym.agents.reinforce",
    "ReinforceConfig": "lm_gym.agents.reinforce",
    "RandomAgent": "lm_gym.agents.untrained",
    "RandomConfig": "lm_gym.agents.untrained",
    "LMSampleAgent": "lm_gym.agents.untrained",
    "LMSampleConfig": "lm_gym.agents.untrained",
    "OracleTeacher": "lm_gym.agents.teachers",
    "WorstCaseTeacher": "lm_gym.agents.teachers",
    "FixedTeacherConfig": "lm_gym.agents.teachers",
    "ReinforceTeacher": "lm_gym.agents.teachers",
    "ReinforceTeacherConfig": "lm_gym.agents.teachers",
    "SB3PPO": "lm_gym.agents.sb3_adapter",
    "SB3PPOConfig": "lm_gym.agents.sb3_adapter",
    # policies and token rollouts
    "LMPolicy": "lm_gym.agents.policies",
    "SequenceLMPolicy": "lm_gym.agents.policies",
    "PoolEncoder": "lm_gym.agents.subset_policy",
    "SubsetPolicy": "lm_gym.agents.subset_policy",
    "SubsetSelectionPolicy": "lm_gym.agents.subset_policy",
    "plackett_luce_log_prob": "lm_gym.agents.subset_policy",
    "TokenRollout": "lm_gym.agents.rollout",
    "collect_token_rollout": "lm_gym.agents.rollout",
    # callbacks, logging, training runs
    "Callback": "lm_gym.agents.callbacks",
    "CallbackList": "lm_gym.agents.callbacks",
    "CheckpointCallback": "lm_gym.agents.callbacks",
    "FunctionCallback": "lm_gym.agents.callbacks",
    "StopAfterTimesteps": "lm_gym.agents.callbacks",
    "EvalCallback": "lm_gym.agents.eval_callback",
    "Logger": "lm_gym.agents.logger",
    "RunResult": "lm_gym.agents.run",
    "train_agent": "lm_gym.agents.run",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
