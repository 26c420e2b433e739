"""The seeded children's-story generator: structure, characters, prompts, determinism."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lm_gym.corpora.stories import (
    CAST,
    FEMALE_NAMES,
    generate_stories,
    generate_story_texts,
    story_prompts,
)


@pytest.fixture(scope="module")
def stories():
    return generate_stories(300, seed=3)


def test_same_seed_same_stories_other_seed_other_stories():
    assert generate_stories(20, seed=1) == generate_stories(20, seed=1)
    assert generate_story_texts(20, seed=1) != generate_story_texts(20, seed=2)
    assert generate_stories(5, seed=np.int64(4)) == generate_stories(5, seed=4)


def test_stories_have_five_to_eight_sentences(stories):
    lengths = {len(story.sentences) for story in stories}
    assert lengths <= set(range(4, 9))
    assert len(lengths) >= 3  # the length varies


def test_prompt_is_the_first_one_or_two_sentences(stories):
    assert {story.prompt_sentences for story in stories} == {1, 2}
    for story in stories:
        assert story.text == f"{story.prompt} {story.continuation}"
        assert story.continuation_sentences
        assert story.hero in story.prompt  # the beginning introduces the hero


def test_two_characters_of_the_cast_with_different_genders(stories):
    for story in stories:
        assert story.hero != story.helper
        assert re.search(rf"\b{story.helper}\b", story.continuation)
        assert (story.hero in FEMALE_NAMES) != (story.helper in FEMALE_NAMES)


def test_every_character_is_always_the_same_kind_of_animal(stories):
    for story in stories:
        for name in (story.hero, story.helper):
            for kind in re.findall(rf"\b{name} the (\w+)", story.text):
                assert kind == CAST[name], story.text
        assert f"{CAST[story.hero]} named {story.hero}" in story.text or (
            f"{CAST[story.hero]} called {story.hero}" in story.text
            or f"{story.hero} was a" in story.text
        )


def test_sentences_are_capitalised_and_end_with_punctuation(stories):
    for story in stories:
        for sentence in story.sentences:
            assert sentence[0].isupper(), sentence
            assert sentence.endswith((".", '."')), sentence
            assert "{" not in sentence and "  " not in sentence


def test_corpus_is_varied(stories):
    texts = [story.text for story in stories]
    assert len(set(texts)) == len(texts)
    assert len({story.hero for story in stories}) > 20
    assert len(set(" ".join(texts).split())) > 300


def test_prompts_are_story_beginnings():
    prompts = story_prompts(10, seed=5)
    texts = generate_story_texts(10, seed=5)
    assert all(text.startswith(prompt) for prompt, text in zip(prompts, texts))


@pytest.mark.parametrize(("n", "seed", "error"), [(-1, 0, ValueError), (2.0, 0, TypeError)])
def test_bad_arguments_are_clear_errors(n, seed, error):
    with pytest.raises(error, match="n must"):
        generate_stories(n, seed=seed)


def test_non_integer_seed_is_a_type_error():
    with pytest.raises(TypeError, match="seed"):
        generate_stories(3, seed=1.5)
