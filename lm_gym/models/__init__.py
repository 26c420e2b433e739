"""Language models: loading any spec, the offline recipe table, building, tokenizers, CLM.

``load_model(spec)`` turns a recipe name, a ``save_pretrained`` folder, a Hugging Face id or an
in-memory model into ``LM(model, tokenizer)`` on lm_gym's device.
"""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "LM": "lm_gym.models.loading",
    "ModelLoadError": "lm_gym.models.loading",
    "load_model": "lm_gym.models.loading",
    "forward_with_cache": "lm_gym.models.loading",
    "RECIPES": "lm_gym.models.recipes",
    "Recipe": "lm_gym.models.recipes",
    "RewardRecipe": "lm_gym.models.recipes",
    "recipe_corpus": "lm_gym.models.recipes",
    "build_recipe": "lm_gym.models.building",
    "gpt2_config": "lm_gym.models.building",
    "opt_config": "lm_gym.models.building",
    "train_sentencepiece_tokenizer": "lm_gym.models.tokenization",
    "train_clm": "lm_gym.models.clm",
    "clm_loss": "lm_gym.models.clm",
    "encode_sentences": "lm_gym.models.clm",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
