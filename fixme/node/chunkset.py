"""Which chunks of a blob a peer holds, as the ranges it sent: never expanded.

A `blob_status` may name up to 1024 ranges of up to 2^32 chunks each. The
set of chunk indexes they stand for is never built: membership is a binary
search over the range starts, and the ranges are first checked against the
manifest, so a peer cannot claim chunks the blob does not have. The memory a
peer's claim costs is its ranges (at most MAX_RANGES) plus the chunks it
later said it did not have after all (at most the chunks we asked it for).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable


class ChunkClaimError(ValueError):
    """Ranges that do not fit the blob they are about (a peer breaking the protocol)."""


class HeldChunks:
    """The chunk indexes a peer holds of one blob: sorted, disjoint half-open ranges,
    less the indexes it withdrew (answered `not_found` for)."""

    def __init__(self, ranges: Iterable[tuple[int, int]], chunk_count: int):
        """`ranges` as a checked `blob_status` carries them (sorted, disjoint, non-empty);
        ChunkClaimError if one reaches past the blob's `chunk_count` chunks."""
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            if end > chunk_count:
                raise ChunkClaimError(f"claims chunks up to {end - 1} of a blob of {chunk_count} chunks")
            self._starts.append(start)
            self._ends.append(end)
        self._withdrawn: set[int] = set()

    def __contains__(self, index: int) -> bool:
        at = bisect_right(self._starts, index) - 1
        return at >= 0 and index < self._ends[at] and index not in self._withdrawn

    def __bool__(self) -> bool:
        return len(self) > 0

    def __len__(self) -> int:
        return sum(end - start for start, end in zip(self._starts, self._ends)) - len(self._withdrawn)

    def discard(self, index: int) -> None:
        """The peer no longer has chunk `index` (it answered not_found)."""
        if index in self:
            self._withdrawn.add(index)
