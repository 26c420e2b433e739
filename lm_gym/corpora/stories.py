"""A seeded generator of short English children's stories, for the BabyStories setup.

Zhao et al. (2023) fine-tune a storyteller with PPO against a reward model trained on human
judgements of story continuations. This module is the offline stand-in for their data: a
project-written generator of small stories with the parts a children's story has, so that
a storyteller can be trained on them and a reward model can learn what a good continuation is.

Every story has two named characters (a hero and a helper, each an animal with a trait and a
gender that fixes the pronouns), a setting, a goal, a problem in the way of the goal, the
helper's solution and an ending, in 5 to 8 sentences::

    Once upon a time, there was a curious fox named Lily. Lily wanted to find her lost kite.
    She looked everywhere in the meadow. But the kite was stuck high up in a tall tree. ...

A story's *prompt* is its first one or two sentences (the story beginning an environment shows
the storyteller) and its *continuation* the rest. The characters are recorded with the story,
so :mod:`lm_gym.rewards.preferences` can corrupt continuations in known ways (swap the characters,
reorder the events, repeat, graft another story's ending).

Randomness comes only from ``random.Random(seed)``: the same seed gives the same stories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lm_gym.utils.validation import check_int

MALE_NAMES = (
    "Tom", "Max", "Leo", "Sam", "Ben", "Jack", "Finn", "Oscar", "Theo", "Hugo",
    "Milo", "Noah", "Otto", "Pip", "Rex", "Toby", "Ollie", "Jake", "Eli", "Ned",
)  # fmt: skip
FEMALE_NAMES = (
    "Lily", "Mia", "Anna", "Lucy", "Ella", "Rosa", "Zoe", "Ruby", "Ivy", "Nora",
    "Emma", "Daisy", "Luna", "Maya", "Sofia", "Tess", "Wendy", "Hazel", "Clara", "Bella",
)  # fmt: skip
KINDS = (
    "rabbit", "fox", "bear", "owl", "duck", "mouse", "cat", "dog", "frog", "turtle",
    "squirrel", "pig", "lamb", "hedgehog", "deer", "puppy", "kitten", "elephant", "lion",
    "monkey", "goat", "goose", "penguin", "badger",
)  # fmt: skip
CAST: dict[str, str] = {
    **{name: KINDS[i % len(KINDS)] for i, name in enumerate(FEMALE_NAMES)},
    **{name: KINDS[(i + 12) % len(KINDS)] for i, name in enumerate(MALE_NAMES)},
}
"""The recurring cast: every name is always the same kind of animal (Tom is always a fox)."""
TRAITS = (
    "brave", "shy", "kind", "curious", "clever", "happy", "little", "gentle", "funny",
    "clumsy", "quiet", "cheerful", "sleepy", "silly", "friendly", "busy", "careful", "old",
    "young", "eager",
)  # fmt: skip
SETTINGS = (
    "in a big green forest", "near a quiet river", "on a sunny farm", "in a small village",
    "by the sea", "in a cozy house on a hill", "in a busy town", "at the edge of a dark wood",
    "in a garden full of flowers", "on a snowy mountain", "in a valley with a blue lake",
    "under an old oak tree",
)  # fmt: skip
TIMES = ("One sunny morning", "One rainy afternoon", "Early the next day", "After breakfast")

# Lost-object goals: (object, where the hero looks) and (problem, solution) pairs.
LOST_OBJECTS = (
    "red ball", "blue hat", "kite", "toy boat", "favourite book", "yellow scarf",
    "shiny key", "little drum", "green umbrella", "wooden whistle",
)  # fmt: skip
SEARCH_PLACES = ("the meadow", "the park", "the garden", "the old barn", "the forest path")
LOST_PROBLEMS = (
    ("the {obj} was stuck high up in a tall tree",
     "{Helper} climbed the tree and dropped the {obj} down"),
    ("the {obj} was under a big heavy rock",
     "{Helper} helped {hero_obj} push the rock away"),
    ("the {obj} was on the other side of the river",
     "{Helper} built a little bridge of sticks so they could cross"),
    ("the {obj} was at the bottom of a deep hole",
     "{Helper} found a long stick and pulled the {obj} out"),
    ("the {obj} was caught in a thorny bush",
     "{Helper} moved the thorny branches aside very carefully"),
)  # fmt: skip

# Making goals: (goal, the thing made, what is missing, where to go, the result).
MAKE_GOALS = (
    ("build a big sand castle", "castle", "buckets", "the beach",
     "the castle stood tall with a flag on top"),
    ("bake a cake for {hero_poss} mother", "cake", "flour", "the kitchen",
     "the cake came out of the oven warm and sweet"),
    ("make a kite that could fly", "kite", "string", "the workshop",
     "the kite danced high in the wind"),
    ("plant a garden of flowers", "garden", "seeds", "the field behind the house",
     "little red and yellow flowers grew in rows"),
    ("paint a picture of the sea", "picture", "blue paint", "the porch",
     "the picture showed waves and a tiny boat"),
)  # fmt: skip
MAKE_SOLUTIONS = (
    "{Helper} brought a big bag of {material} to share",
    "{Helper} knew where to find more {material} and showed {hero_obj} the way",
)

# Learning goals: (skill, what goes wrong when the hero tries, the helper's tip).
LEARN_GOALS = (
    ("swim", "{hero_pron} sank and splashed", "kick {hero_poss} legs slowly"),
    ("ride a bike", "{hero_pron} wobbled and fell over", "look ahead and pedal steadily"),
    ("sing a song", "{hero_pron} forgot the words", "sing one line at a time"),
    ("climb a tree", "{hero_pron} slipped down the trunk", "hold on to the strong branches"),
    ("read a book", "the letters got all mixed up", "sound out each word"),
    ("jump over the fence", "{hero_pron} bumped into the fence", "run fast and jump early"),
)  # fmt: skip

# Journey goals: (goal, destination, problem, solution).
VISIT_GOALS = (
    ("visit {hero_poss} grandma on the other side of the hill", "grandma's house",
     "the path was long and {hero_pron} got lost",
     "{Helper} knew the way and walked with {hero_obj}"),
    ("see the lights at the big fair", "the fair",
     "a big storm came and the wind blew hard",
     "{Helper} shared an umbrella and they waited under a tree until the storm passed"),
    ("reach the top of the tall mountain", "the top of the mountain",
     "the snow was deep and {hero_pron} was very tired",
     "{Helper} gave {hero_obj} some warm soup and carried {hero_poss} bag"),
    ("find the secret lake in the woods", "the secret lake",
     "a wide stream blocked the way",
     "{Helper} showed {hero_obj} the stepping stones across the stream"),
)  # fmt: skip

FEELINGS = (
    "{Hero} felt sad and began to cry.",
    "{Hero} did not know what {hero_pron} should do.",
    "{Hero} sat down on a rock and hid {hero_poss} face.",
    "{Hero} almost gave up, but {hero_pron} did not.",
)
HELPER_ARRIVALS = (
    "Just then, {helper_a} named {Helper} came by.",
    "Then {Hero} met {Helper}, {helper_a}.",
    "Soon, {Helper} the {helper_kind} walked by and asked what was wrong.",
)
# Every ending names the hero next to one of the hero's pronouns, so the characters' names and
# pronouns agree right up to the last sentence.
ENDINGS = (
    "From that day on, {Hero} and {Helper} were best friends, and {hero_pron} was never lonely.",
    "{Hero} thanked {Helper} and gave {helper_obj} a big hug.",
    "That night, {Hero} fell asleep in {hero_poss} bed with a happy smile.",
    "{Hero} learned that friends make {hero_poss} problems smaller.",
    "{Hero} and {Helper} played until the sun went down, and then {hero_pron} went home.",
    "{Hero} said, \"Thank you, {Helper}! You are a good friend to me,\" and {hero_pron} smiled.",
)  # fmt: skip


@dataclass(frozen=True)
class Story:
    """One generated story, split into sentences.

    Attributes:
        sentences: the story's sentences, in order.
        prompt_sentences: how many leading sentences form the prompt (1 or 2).
        hero: the main character's name.
        helper: the second character's name (always different from ``hero``).
    """

    sentences: tuple[str, ...]
    prompt_sentences: int
    hero: str
    helper: str

    @property
    def prompt(self) -> str:
        """The story beginning: the first ``prompt_sentences`` sentences."""
        return " ".join(self.sentences[: self.prompt_sentences])

    @property
    def continuation_sentences(self) -> tuple[str, ...]:
        """The sentences after the prompt."""
        return self.sentences[self.prompt_sentences :]

    @property
    def continuation(self) -> str:
        """The rest of the story after the prompt."""
        return " ".join(self.continuation_sentences)

    @property
    def text(self) -> str:
        """The whole story as one line."""
        return " ".join(self.sentences)


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _character(rng: random.Random, female: bool, avoid_kind: str = "") -> dict[str, str]:
    names = [n for n in (FEMALE_NAMES if female else MALE_NAMES) if CAST[n] != avoid_kind]
    name = rng.choice(names)
    return {
        "name": name,
        "kind": CAST[name],
        "trait": rng.choice(TRAITS),
        "pron": "she" if female else "he",
        "obj": "her" if female else "him",
        "poss": "her" if female else "his",
        "refl": "herself" if female else "himself",
    }


def _plan(rng: random.Random, slots: dict[str, str]) -> dict[str, str]:
    """Pick a goal; return its templates: goal, trip, problem, solution, result, ending."""
    kind = rng.choice(("lost", "make", "learn", "visit"))
    if kind == "lost":
        problem, solution = rng.choice(LOST_PROBLEMS)
        slots["obj"] = rng.choice(LOST_OBJECTS)
        return {
            "goal": "find {hero_poss} lost {obj}",
            "trip": f"{{Hero_pron}} looked everywhere in {rng.choice(SEARCH_PLACES)}.",
            "problem": problem,
            "solution": solution,
            "result": "At last, {Hero} had {hero_poss} {obj} back.",
            "ending": "{Hero} held {hero_poss} {obj} tight and never lost it again.",
        }
    if kind == "make":
        goal, thing, material, place, result = rng.choice(MAKE_GOALS)
        slots["material"] = material
        return {
            "goal": goal,
            "trip": f"{{time}}, {{Hero}} went to {place} to make the {thing}.",
            "problem": "{hero_pron} did not have enough {material}",
            "solution": rng.choice(MAKE_SOLUTIONS),
            "result": f"Soon {result}.",
            "ending": f"Everyone came to see the {thing}, and {{Hero}} was proud of {{hero_refl}}.",
        }
    if kind == "learn":
        skill, failure, tip = rng.choice(LEARN_GOALS)
        return {
            "goal": f"learn to {skill}",
            "trip": "{time}, {Hero} decided to try.",
            "problem": f"every time {{hero_pron}} tried, {failure}",
            "solution": f"{{Helper}} showed {{hero_obj}} how to {tip}",
            "result": f"By the evening, {{Hero}} could {skill} all by {{hero_refl}}.",
            "ending": f"Now {{Hero}} loves to {skill} every day, all by {{hero_refl}}.",
        }
    goal, destination, problem, solution = rng.choice(VISIT_GOALS)
    return {
        "goal": goal,
        "trip": "{time}, {Hero} packed a bag and set off.",
        "problem": problem,
        "solution": solution,
        "result": f"At last, {{Hero}} reached {destination}.",
        "ending": f"{{Hero}} never forgot the day {{hero_pron}} went to {destination}.",
    }


def _fill(template: str, slots: dict[str, str]) -> str:
    text = template.format(**slots)
    return text[0].upper() + text[1:]


def generate_story(rng: random.Random) -> Story:
    """Draw one story from ``rng`` (see the module docstring for its parts)."""
    # Hero and helper have different genders, so every pronoun has one possible antecedent.
    hero_female = rng.random() < 0.5
    hero = _character(rng, hero_female)
    helper = _character(rng, not hero_female, avoid_kind=hero["kind"])
    slots = {
        "Hero": hero["name"],
        "Helper": helper["name"],
        "Hero_pron": hero["pron"].capitalize(),
        "hero_pron": hero["pron"],
        "hero_obj": hero["obj"],
        "helper_obj": helper["obj"],
        "hero_poss": hero["poss"],
        "hero_refl": hero["refl"],
        "hero_a": _with_article(f"{hero['trait']} {hero['kind']}"),
        "helper_a": _with_article(f"{helper['trait']} {helper['kind']}"),
        "helper_kind": helper["kind"],
        "hero_kind": hero["kind"],
        "setting": rng.choice(SETTINGS),
        "time": rng.choice(TIMES),
    }
    plan = _plan(rng, slots)
    long_intro = rng.random() < 0.3
    intro = (
        ["Once upon a time, there was {hero_a} named {Hero}.", "{Hero_pron} lived {setting}."]
        if long_intro
        else [
            rng.choice(
                (
                    "Once upon a time, there was {hero_a} named {Hero} who lived {setting}.",
                    "{Hero} was {hero_a} who lived {setting}.",
                    "There once lived {hero_a} called {Hero}, {setting}.",
                )
            )
        ]
    )
    goal = rng.choice(("{Hero} wanted to ", "More than anything, {Hero} wanted to "))
    if rng.random() < 0.3:  # the helper arrives and solves the problem in one sentence
        helping = [
            "Just then, " + plan["solution"].replace("{Helper}", "{Helper} the {helper_kind}")
        ]
    else:
        helping = [rng.choice(HELPER_ARRIVALS), plan["solution"]]
    optional = {"trip": plan["trip"], "feeling": rng.choice(FEELINGS), "result": plan["result"]}
    room = 8 - 1 - len(intro) - 2 - len(helping)  # at most 8 sentences, one ending at least
    keep = set(rng.sample(sorted(optional), rng.randint(0, min(3, room))))
    base = len(intro) + 2 + len(keep) + len(helping)
    endings = [plan["ending"], *rng.sample(ENDINGS, 2)]  # the goal's own ending first
    ending = rng.sample(endings, rng.choice((1, 2)) if base <= 6 else 1)
    parts = [
        *intro,
        goal + plan["goal"] + ".",
        *([optional["trip"]] if "trip" in keep else []),
        "But " + plan["problem"] + ".",
        *([optional["feeling"]] if "feeling" in keep else []),
        *(sentence + ("" if sentence.endswith(".") else ".") for sentence in helping),
        *([optional["result"]] if "result" in keep else []),
        *ending,
    ]
    # Now and then the hero is named with its kind ("Tom the fox"), as picture books do.
    parts[len(intro) :] = [
        part.replace("{Hero}", "{Hero} the {hero_kind}", 1) if rng.random() < 0.25 else part
        for part in parts[len(intro) :]
    ]
    sentences = tuple(_fill(part, slots) for part in parts)
    return Story(
        sentences=sentences,
        prompt_sentences=rng.choice((1, 2)),
        hero=hero["name"],
        helper=helper["name"],
    )


def generate_stories(n: int, seed: int = 0) -> list[Story]:
    """``n`` stories drawn from ``random.Random(seed)``.

    Raises:
        ValueError: ``n`` is negative.
        TypeError: ``n`` or ``seed`` is not an integer.
    """
    check_int("n", n, minimum=0)
    rng = random.Random(check_int("seed", seed))
    return [generate_story(rng) for _ in range(n)]


def generate_story_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` whole stories, one string each (the ``stories`` training corpus)."""
    return [story.text for story in generate_stories(n, seed)]


def story_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` story beginnings (each story's first one or two sentences)."""
    return [story.prompt for story in generate_stories(n, seed)]
