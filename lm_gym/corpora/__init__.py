"""Built-in, project-written corpora and loaders for users' own text."""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "generate_parentese": "lm_gym.corpora.parentese",
    "generate_parallel": "lm_gym.corpora.parentese",
    "generate_minimal_pairs": "lm_gym.corpora.minimal_pairs",
    "domains_task": "lm_gym.corpora.artificial",
    "structures_task": "lm_gym.corpora.artificial",
    "SelectionTask": "lm_gym.corpora.artificial",
    "generate_stories": "lm_gym.corpora.stories",
    "generate_story_texts": "lm_gym.corpora.stories",
    "CorpusError": "lm_gym.corpora.loaders",
    "load_texts": "lm_gym.corpora.loaders",
    "read_jsonl": "lm_gym.corpora.loaders",
    "write_jsonl": "lm_gym.corpora.loaders",
    "split_corpus": "lm_gym.corpora.splits",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
