"""Ranking speech segments: lexical (the query's words in the segment's text) and fusion.

Qdrant's full-text index finds the segments that hold any of the query's words; how well each
matches (the whole phrase, then the share of the query's words) is ranked here, and the lexical
and semantic rankings are fused by reciprocal rank, as TwelveLabs' `transcription_options`
lexical/semantic choose. Both engines (a Qdrant server and the embedded one) use the same code,
so results do not depend on where the index lives.
"""

from __future__ import annotations

import re
from typing import Any, Hashable, Sequence

RRF_K = 60  # Qdrant's own constant for reciprocal rank fusion

_WORD = re.compile(r"\w+", re.UNICODE)


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def lexical_score(query: str, text: str) -> float:
    """1 for the whole phrase in order, plus the share of the query's distinct words present."""
    wanted = words_of(query)
    if not wanted:
        return 0.0
    have = words_of(text)
    present = set(have)
    share = sum(1 for w in set(wanted) if w in present) / len(set(wanted))
    n = len(wanted)
    phrase = any(have[i:i + n] == wanted for i in range(len(have) - n + 1))
    return (1.0 if phrase else 0.0) + share


def rank_lexical(query: str, payloads: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """Candidates best first (shorter segments first among equals: the match is more of them)."""
    scored = [(p, lexical_score(query, p.get("text", ""))) for p in payloads]
    scored = [(p, s) for p, s in scored if s > 0]
    return sorted(scored, key=lambda ps: (-ps[1], len(ps[0].get("text", "")), ps[0].get("start_s", 0.0)))


def fuse_rrf(rankings: Sequence[Sequence[Hashable]]) -> list[tuple[Hashable, float]]:
    """Reciprocal rank fusion of several rankings of ids: best first, with the fused score."""
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])
