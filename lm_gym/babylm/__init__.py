"""Training under BabyLM's rules: a word ledger, milestone checkpoints, export and evaluation
over revisions.

``WordLedger`` / ``WordBudget`` count what a student read and wrote and stop it at a budget
(``"strict"``, ``"strict-small"``, ``"strict-small/1000"``, or explicit numbers); the
``lm_gym.wrappers.WordCounter`` wrapper keeps one for any env. ``MilestoneCallback`` saves the
student as a ``save_pretrained`` folder at each milestone (``chck_1M``, ...);
``export_babylm`` writes a git repository with one branch per milestone, and
``evaluate_revisions`` scores every milestone and plots the measures against words exposed.
"""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "BudgetExhausted": "lm_gym.babylm.ledger",
    "PRESETS": "lm_gym.babylm.ledger",
    "WordBudget": "lm_gym.babylm.ledger",
    "WordLedger": "lm_gym.babylm.ledger",
    "format_words": "lm_gym.babylm.ledger",
    "ledger_of": "lm_gym.babylm.ledger",
    "parse_words": "lm_gym.babylm.ledger",
    "MilestoneCallback": "lm_gym.babylm.milestones",
    "list_revisions": "lm_gym.babylm.milestones",
    "official_milestones": "lm_gym.babylm.milestones",
    "parse_milestones": "lm_gym.babylm.milestones",
    "read_revision": "lm_gym.babylm.milestones",
    "revision_name": "lm_gym.babylm.milestones",
    "ExportError": "lm_gym.babylm.export",
    "export_babylm": "lm_gym.babylm.export",
    "evaluate_revisions": "lm_gym.babylm.revisions",
    "plot_revisions": "lm_gym.babylm.revisions",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
