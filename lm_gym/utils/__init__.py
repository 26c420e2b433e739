"""Small helpers every part of lm_gym shares: device choice, atomic files, locks between
processes, the model cache, argument checks and lazy package faces."""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "default_device": "lm_gym.utils.device",
    "resolve_device": "lm_gym.utils.device",
    "autocast": "lm_gym.utils.device",
    "atomic_write": "lm_gym.utils.files",
    "atomic_write_text": "lm_gym.utils.files",
    "LocationError": "lm_gym.utils.files",
    "safe_file_name": "lm_gym.utils.files",
    "exclusive_lock": "lm_gym.utils.locks",
    "cache_root": "lm_gym.utils.cache",
    "lazy_exports": "lm_gym.utils.lazy",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
