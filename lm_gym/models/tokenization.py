"""SentencePiece tokenizers for the offline recipes, as Hugging Face tokenizers.

The offline models each get their own tokenizer, trained with the ``sentencepiece`` library
(unigram model) on the recipe's corpus. The trained pieces and scores are turned into a
``tokenizers`` Unigram model wrapped in :class:`transformers.PreTrainedTokenizerFast`, so the
result saves with ``save_pretrained``, loads with ``AutoTokenizer`` and plugs into any Hugging
Face or TRL code that expects a tokenizer.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import sentencepiece as spm
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import Unigram
from transformers import PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"


def train_sentencepiece_tokenizer(
    texts: Iterable[str], vocab_size: int, seed: int = 0
) -> PreTrainedTokenizerFast:
    """Train a SentencePiece unigram tokenizer and return it as a Hugging Face fast tokenizer.

    Args:
        texts: training sentences (one utterance each).
        vocab_size: target vocabulary size, special tokens and the 256 byte pieces included;
            raised to the minimum SentencePiece accepts (specials + bytes + the corpus's
            characters) when smaller. SentencePiece may stop below it on a small corpus.
        seed: kept for the cache key; SentencePiece's unigram training is deterministic for a
            fixed input order.

    Characters the corpus never showed (an English baby meeting Italian ``è``) are spelled as
    UTF-8 byte pieces (``byte_fallback``), so every text round-trips and no input is lost to
    ``<unk>``.

    Returns:
        A tokenizer with ``<pad>`` = 0, ``<unk>`` = 1, ``<s>`` = 2, ``</s>`` = 3. It adds
        no special tokens by itself; callers append ``</s>`` where a sequence ends.
    """
    del seed  # deterministic given the texts; the parameter keeps call sites explicit
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("cannot train a tokenizer on an empty corpus")
    # SentencePiece needs a piece for every special token, every byte and every character.
    minimum = 4 + 256 + len(set("".join(texts)) - {" "}) + 1
    vocab_size = max(vocab_size, minimum)
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=proto,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece=PAD,
        unk_piece=UNK,
        bos_piece=BOS,
        eos_piece=EOS,
        hard_vocab_limit=False,
        character_coverage=1.0,
        byte_fallback=True,
        num_threads=1,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    vocab = [
        (processor.id_to_piece(i), processor.get_score(i))
        for i in range(processor.get_piece_size())
    ]
    return _fast_tokenizer_from_vocab(vocab, unk_id=1)


def _fast_tokenizer_from_vocab(
    vocab: list[tuple[str, float]], unk_id: int
) -> PreTrainedTokenizerFast:
    """Build the Hugging Face tokenizer: unigram pieces, metaspace pre-tokenization."""
    backend = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=True))
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(content=" ", left=1, right=0),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
