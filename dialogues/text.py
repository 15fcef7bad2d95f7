"""Normalisation of recognised speech before intent classification and slot extraction.

Speech recognisers and people typing into ``callrobot chat`` write the same answer many ways:
"I'm not sure.", "um im not sure", "I AM not sure". :func:`normalize` maps them to one form:
lower case, no punctuation, contractions expanded, hesitation fillers dropped, digits kept.
"""

from __future__ import annotations

import re
import unicodedata

# Contractions whose expansion is not just "drop the apostrophe". Checked before the
# generic suffix rules below.
_WHOLE_CONTRACTIONS = {
    "can't": "can not",
    "cannot": "can not",
    "won't": "will not",
    "shan't": "shall not",
    "ain't": "is not",
    "i'm": "i am",
    "let's": "let us",
    "y'all": "you all",
    "ma'am": "maam",
    "o'clock": "oclock",
    "'cause": "because",
    "where'd": "where did",
    "how'd": "how did",
    "what'd": "what did",
    "why'd": "why did",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
    "gimme": "give me",
    "lemme": "let me",
    "dunno": "do not know",
    "kinda": "kind of",
    "sorta": "sort of",
    "cant": "can not",
    "dont": "do not",
    "didnt": "did not",
    "doesnt": "does not",
    "isnt": "is not",
    "wont": "will not",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "thats": "that is",
    "whats": "what is",
    "whos": "who is",
}

# Words before "'s" that make it "is" (or "has"; "is" reads right for a classifier).
_IS_HOSTS = frozenset(
    [
        "it",
        "he",
        "she",
        "that",
        "what",
        "who",
        "where",
        "when",
        "how",
        "there",
        "here",
        "this",
        "why",
        "which",
        "everything",
        "nothing",
        "something",
        "someone",
        "somebody",
        "nobody",
        "everyone",
        "now",
        "name",
    ]
)
_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'d", " would"))

# Hesitations that carry no meaning. "mm-hmm" / "uh-huh" are answers, not fillers: they are
# folded into the single token "mhm" before fillers are dropped.
_FILLERS = frozenset(
    ["uh", "um", "uhm", "umm", "uhh", "er", "erm", "ah", "ahh", "eh", "hmm", "hm", "mmm", "oh"]
)
_ASSENT_SOUNDS = re.compile(r"\b(?:m+-?hm+|mm+ hm+|uh-? ?huh|mhm+|mm+-?hmm+)\b")
# "like" is a filler unless it is a verb after these words ("i would like", "do not like").
_LIKE_VERB_BEFORE = frozenset(
    ["i", "you", "we", "they", "would", "not", "do", "does", "did", "really", "dont", "i'd", "we'd"]
)

_PUNCTUATION = re.compile(r"[^\w\s'.]|_")
_STRAY_DOTS = re.compile(r"\.(?!\d)|(?<!\d)\.")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})


def _expand(word: str) -> str:
    if word in _WHOLE_CONTRACTIONS:
        return _WHOLE_CONTRACTIONS[word]
    if "'" not in word:
        return word
    for suffix, expansion in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)] + expansion
    if word.endswith("'s"):
        host = word[:-2]
        return f"{host} is" if host in _IS_HOSTS else host
    return word.replace("'", "")


def _drop_fillers(words: list[str]) -> list[str]:
    kept: list[str] = []
    for index, word in enumerate(words):
        if word in _FILLERS:
            continue
        if word == "like" and (not kept or kept[-1] not in _LIKE_VERB_BEFORE):
            continue
        if word == "well" and not kept and index + 1 < len(words):
            continue  # utterance-initial "well, ..."
        kept.append(word)
    return kept


def normalize(text: str) -> str:
    """Lower-case, strip punctuation, expand contractions and drop fillers.

    >>> normalize("Um, I'm not  interested!")
    'i am not interested'
    >>> normalize("Mm-hmm.")
    'mhm'
    """
    folded = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    folded = _ASSENT_SOUNDS.sub(" mhm ", folded)
    # Keep decimal points inside numbers ("2.5k"); drop thousands separators ("5,000").
    folded = re.sub(r"(?<=\d),(?=\d{3}\b)", "", folded)
    folded = _STRAY_DOTS.sub(" ", _PUNCTUATION.sub(" ", folded))
    words: list[str] = []
    for raw in _SPACES.split(folded):
        word = raw.strip("'")
        if not word:
            continue
        words.extend(_expand(word).split())
    return " ".join(_drop_fillers(words))
