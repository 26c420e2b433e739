"""Agents that learn in lm_gym environments (imported as ``lm_gym.agents``)."""
