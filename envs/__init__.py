"""Environment classes of lm_gym, one module per family (imported as ``lm_gym.envs``)."""
