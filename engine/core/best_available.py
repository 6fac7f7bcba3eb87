"""Best-available seat selection, kept as an index beside a shard's seat states.

Preference order: N adjacent seats in one row; among those, blocks that leave no single
orphan seat between them and a taken seat or the row's end; among those, the smallest total
distance to the focal point, ties going to the row nearer the stage (by its nearest seat,
then its index) and then to the leftmost block. When no row has N adjacent seats, the N
nearest seats are taken. `reference_choice` states this by scoring every block; the index
must always agree with it.

The index: each row's free seats are one integer bitmask, so the blocks a row can give and
the ones that would leave an orphan are found with a few shifts and masks; along a row whose
block scores fall to one lowest point and rise again (any row of a geometric layout), the
best block is one of the two nearest that point, found with two bit scans. A row that
changes is scored again at once, for every count asked for so far. Requests anywhere, and
requests in a section, keep the rows they may take in a heap ordered by the best block each
row gave when it was pushed. A change that makes a row worse (almost every hold) leaves the
heaps alone: the row's old entry still bounds it from below, and is replaced only if it
reaches the top. A change that makes a row better (a release, an expiry, a hold that takes an
orphan away) pushes the row's new entry at once. A request for a grade takes the best of the
heaps of the sections that have that grade. So a request looks at the top of one heap (or of
one heap per section of its grade) and at the few rows that changed there, however full the
house is. Everything here is derived from the seat states: `reset` rebuilds it, nothing of it
is journaled."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

AVAILABLE = 0

CLEAN, ANY, SINGLES = 0, 1, 2
"""Tiers of a choice, best first: a block leaving no orphan, any block, the nearest seats."""

BestKey = tuple[int, float]
"""How good a shard's best choice is: (tier, total distance); smaller is better."""

# A row's best block as a heap entry: (tier, score, row rank, start in row, row).
_Entry = tuple[int, float, int, int, int]
# A row's best blocks for counts 1, 2, ... (None where it has no block of that count).
_Entries = list[_Entry | None]


@dataclass(frozen=True, slots=True)
class RowIndex:
    """Static facts about one row, computed once per layout."""

    start: int
    end: int
    section: int
    lower_bound: float  # distance of the row's nearest seat
    grades: frozenset[int]


class _Blocks:
    """The blocks of `count` seats of one row (static): their scores by start, and either
    the start where the scores bottom out (they fall strictly to it and rise strictly after)
    or, for rows without that shape, every start best first."""

    __slots__ = ("bottom", "order", "scores")

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores
        bottom = scores.index(min(scores)) if scores else 0
        falls = all(scores[a] > scores[a + 1] for a in range(bottom))
        rises = all(scores[a] < scores[a + 1] for a in range(bottom + 1, len(scores) - 1))
        self.bottom = bottom if falls and rises else -1
        self.order = [] if self.bottom >= 0 else sorted(range(len(scores)),
                                                          key=lambda a: (scores[a], a))

    def best(self, starts: int) -> int:
        """The best start among the bits of `starts` (not 0): least score, then leftmost."""
        bottom = self.bottom
        if bottom < 0:
            for a in self.order:
                if starts >> a & 1:
                    return a
            raise AssertionError("a start outside the row")  # pragma: no cover
        left = starts & ((2 << bottom) - 1)
        right = starts >> (bottom + 1)
        if not right:
            return left.bit_length() - 1
        after = (right & -right).bit_length() + bottom
        if not left:
            return after
        before = left.bit_length() - 1
        scores = self.scores
        return before if scores[before] <= scores[after] else after


class _Board:
    """The rows one kind of request may take, in a heap. `live[r]` is row r's entry in the
    heap: the row's current entry, or one that was and bounds it from below; any other entry
    of the row in the heap is dead. `grade` is set only for the rows of a section with
    several grades."""

    __slots__ = ("count", "grade", "heap", "live", "rows")

    def __init__(self, rows: list[int], count: int, grade: int | None, row_count: int
                 ) -> None:
        self.rows = rows
        self.count = count
        self.grade = grade
        self.heap: list[_Entry] = []
        self.live: _Entries = [None] * row_count


class _Singles:
    """The seats of one filter in a heap by (distance, index), for the nearest-seats choice.
    Taken seats are dropped when they reach the top; freed seats are pushed again."""

    __slots__ = ("freed", "grade", "heap", "size")

    def __init__(self, grade: int | None) -> None:
        self.grade = grade
        self.heap: list[tuple[float, int]] = []
        self.size = 0
        self.freed: list[int] = []


class SeatSelector:
    def __init__(
        self,
        rows: Sequence[RowIndex],
        distance: Sequence[float],
        grade_of: Sequence[int],
        section_count: int,
        grade_count: int,
    ) -> None:
        self._rows = list(rows)
        self._distance = distance
        self._grade_of = grade_of
        self._cum = [0.0]
        for d in distance:
            self._cum.append(self._cum[-1] + d)
        order = sorted(range(len(rows)), key=lambda r: (rows[r].lower_bound, r))
        self._rank = [0] * len(rows)
        for k, r in enumerate(order):
            self._rank[r] = k
        self._all_rows = order
        self._section_rows: list[list[int]] = [[] for _ in range(section_count)]
        for r in order:
            self._section_rows[rows[r].section].append(r)
        # (section, grade) -> the grade filter a board of the section needs: None where every
        # seat of the section is of that grade.
        self._section_grade: dict[tuple[int, int], int | None] = {}
        for section, section_rows in enumerate(self._section_rows):
            grades = frozenset().union(*(rows[r].grades for r in section_rows))
            for g in grades:
                self._section_grade[(section, g)] = None if len(grades) == 1 else g
        self._uniform = [len(row.grades) == 1 for row in rows]
        seat_count = len(distance)
        self._row_of = [0] * seat_count
        self._bit = [0] * seat_count
        for r, row in enumerate(rows):
            for i in range(row.start, row.end):
                self._row_of[i] = r
                self._bit[i] = 1 << (i - row.start)
        self._free = [(1 << (row.end - row.start)) - 1 for row in rows]
        # Per row, its blocks by count (index 0 unused), made as counts are asked for.
        self._blocks: list[list[_Blocks]] = [[] for _ in rows]
        self._grade_windows: dict[tuple[int, int, int], int] = {}
        self._counts = 0  # the largest count asked for so far
        self._boards: dict[tuple[int | None, int | None, int], _Board] = {}
        self._row_boards: list[list[_Board]] = [[] for _ in rows]
        # Per row and grade filter in use, the row's best block now for counts 1, 2, ...
        self._current: list[dict[int | None, _Entries]] = [{} for _ in rows]
        # Rows changed since they were last scored, by changes that cannot have made them
        # better (their entries in the heaps still bound them from below).
        self._stale = [False] * len(rows)
        self._singles: dict[tuple[int | None, int | None], _Singles] = {}
        self._row_freed: list[list[list[int]]] = [[] for _ in rows]

    # ------------------------------------------------------------------ keeping in step

    def reset(self, state: bytes | bytearray) -> None:
        """Rebuilds the index from one byte per seat (0 is available)."""
        free = []
        for row in self._rows:
            mask = 0
            for p, s in enumerate(state[row.start:row.end]):
                if s == AVAILABLE:
                    mask |= 1 << p
            free.append(mask)
        self._free = free
        self._counts = 0
        self._boards = {}
        self._row_boards = [[] for _ in self._rows]
        self._current = [{} for _ in self._rows]
        self._stale = [False] * len(self._rows)
        self._singles = {}
        self._row_freed = [[] for _ in self._rows]

    def taken(self, seats: Sequence[int]) -> None:
        """These seats, available until now, are held or sold.

        Taking seats only removes blocks, except that a block next to a single taken seat
        may stop leaving an orphan. So a row whose taken seats form one run of two or more
        is only marked stale; any other change is scored again at once."""
        if not seats:
            return
        row_of = self._row_of
        bit = self._bit
        free = self._free
        r = row_of[seats[0]]
        mask = 0
        for i in seats:
            if row_of[i] != r:
                break
            mask |= bit[i]
        else:
            free[r] &= ~mask
            run = mask // (mask & -mask)
            if run > 1 and not run & (run + 1):
                self._stale[r] = True
            else:
                self._changed(r)
            return
        changed = set()
        for i in seats:
            free[row_of[i]] &= ~bit[i]
            changed.add(row_of[i])
        for r in changed:
            self._changed(r)

    def freed(self, seats: Sequence[int]) -> None:
        """These seats are available again."""
        row_of = self._row_of
        bit = self._bit
        free = self._free
        changed = -1
        for i in seats:
            r = row_of[i]
            free[r] |= bit[i]
            for pending in self._row_freed[r]:
                pending.append(i)
            if r != changed:
                if changed >= 0:
                    self._changed(changed)
                changed = r
        if changed >= 0:
            self._changed(changed)

    def _changed(self, r: int) -> None:
        """Scores row r again; pushes its entries wherever they got better. An entry equal
        to the old one stays the old object (heaps recognise a row's current entry by
        identity)."""
        self._stale[r] = False
        current = self._current[r]
        for key, old in current.items():
            new = self._score_row(r, key)
            better = False
            for c, entry in enumerate(new):
                if entry is not None:
                    was = old[c] if c < len(old) else None
                    if entry == was:
                        new[c] = was
                    elif was is None or entry < was:
                        better = True
            current[key] = new
            if better:
                self._push_better(r, key, new)

    def _push_better(self, r: int, key: int | None, new: _Entries) -> None:
        uniform = self._uniform[r]
        for board in self._row_boards[r]:
            entry = new[board.count - 1]
            if entry is None or (None if board.grade is None or uniform
                                 else board.grade) != key:
                continue
            held = board.live[r]
            if held is None or entry < held:
                board.live[r] = entry
                heapq.heappush(board.heap, entry)

    def _refresh(self, r: int) -> None:
        """Scores a stale row again (it can only have got worse: nothing to push)."""
        self._stale[r] = False
        current = self._current[r]
        for key, old in current.items():
            current[key] = self._rescore(r, key, old)

    def _rescore(self, r: int, key: int | None, old: _Entries) -> _Entries:
        """Row r's entries now, those equal to the old ones being the old objects."""
        new = self._score_row(r, key)
        for c in range(min(len(old), len(new))):
            if new[c] is not None and new[c] == old[c]:
                new[c] = old[c]
        return new

    # ------------------------------------------------------------------ choosing

    def choose(
        self, count: int, section: int | None = None, grade: int | None = None
    ) -> list[int] | None:
        """The seats to hold for the best `count` available, or None if there are fewer."""
        entry = self._best(count, section, grade)
        if entry is not None:
            first = self._rows[entry[4]].start + entry[3]
            return list(range(first, first + count))
        return self._nearest(count, section, grade)

    @property
    def counts(self) -> int:
        """The largest count asked for since the index was built."""
        return self._counts

    def best_key(
        self, count: int, section: int | None = None, grade: int | None = None
    ) -> BestKey | None:
        """How good `choose` would be now, without choosing (None: it would find nothing)."""
        entry = self._best(count, section, grade)
        if entry is not None:
            return (entry[0], entry[1])
        seats = self._nearest(count, section, grade)
        if seats is None:
            return None
        return (SINGLES, sum(self._distance[i] for i in seats))

    def best_block(
        self, count: int, section: int | None = None, grade: int | None = None
    ) -> list[int] | None:
        """The best block of `count` adjacent seats (clean if any is), or None."""
        entry = self._best(count, section, grade)
        if entry is None:
            return None
        first = self._rows[entry[4]].start + entry[3]
        return list(range(first, first + count))

    def nearest_seats(
        self, count: int, section: int | None = None, grade: int | None = None
    ) -> list[int] | None:
        """The `count` available seats nearest the focal point, in index order, or None."""
        return self._nearest(count, section, grade)

    def reference(self, state: bytes | bytearray, count: int, section: int | None = None,
                  grade: int | None = None) -> list[int] | None:
        """`reference_choice` over this selector's layout: what `choose` must answer."""
        return reference_choice(self._rows, self._distance, self._grade_of, state, count,
                                section, grade)

    # ------------------------------------------------------------------ the boards

    def _best(self, count: int, section: int | None, grade: int | None) -> _Entry | None:
        if grade is not None and section is not None:
            grade = self._section_grade.get((section, grade), -1)
            if grade == -1:
                return None  # no seat of that grade in the section
        board = self._boards.get((section, grade, count))
        return self._top(board if board is not None else self._board(count, section, grade))

    def _board(self, count: int, section: int | None, grade: int | None) -> _Board:
        key = (section, grade, count)
        board = self._boards.get(key)
        if board is None:
            board = self._boards[key] = self._new_board(count, section, grade)
        return board

    def _new_board(self, count: int, section: int | None, grade: int | None) -> _Board:
        if count > self._counts:
            self._counts = count
            for r, current in enumerate(self._current):
                self._stale[r] = False
                for key in current:
                    current[key] = self._rescore(r, key, current[key])
        rows = self._all_rows if section is None else self._section_rows[section]
        if grade is not None:
            rows = [r for r in rows if grade in self._rows[r].grades]
        board = _Board(rows, count, grade, len(self._rows))
        heap = []
        for r in rows:
            entry = self._entries(r, grade)[count - 1]
            if entry is not None:
                heap.append(entry)
            board.live[r] = entry
            self._row_boards[r].append(board)
        heapq.heapify(heap)
        board.heap = heap
        return board

    def _entries(self, r: int, grade: int | None) -> _Entries:
        """Row r's current entries for a grade filter (None: any seat)."""
        key = None if grade is None or self._uniform[r] else grade
        if self._stale[r]:
            self._refresh(r)
        current = self._current[r]
        entries = current.get(key)
        if entries is None:
            entries = current[key] = self._score_row(r, key)
        return entries

    def _top(self, board: _Board) -> _Entry | None:
        heap = board.heap
        live = board.live
        index = board.count - 1
        grade = board.grade
        current = self._current
        uniform = self._uniform
        stale = self._stale
        while heap:
            top = heap[0]
            r = top[4]
            if stale[r]:
                self._refresh(r)
            entry = current[r][None if grade is None or uniform[r] else grade][index]
            if entry is top:
                return top
            if live[r] is top:  # the row's bound reached the top: put its real entry in
                live[r] = entry
                if entry is not None:
                    heapq.heapreplace(heap, entry)
                    continue
            heapq.heappop(heap)
        return None

    def _score_row(self, r: int, grade: int | None) -> _Entries:
        """Row r's best block now (clean if it has one) for every count asked for so far."""
        free = self._free[r]
        counts = self._counts
        if not free:
            return [None] * counts
        blocks = self._blocks[r]
        if len(blocks) <= counts:
            self._add_blocks(r, counts)
        rank = self._rank[r]
        # Seat p+1 not free after free seat p: the end of a run (a right orphan's seat).
        run_ends = free & ~(free >> 1)
        # Free seat p-1 before seat p, and seat p-2 not free: a left orphan before p.
        left_orphan = (free << 1) & ~(free << 2)
        entries: _Entries = []
        starts = free
        for count in range(1, counts + 1):
            if count > 1:
                starts &= free >> (count - 1)
                if not starts:
                    entries += [None] * (counts - count + 1)
                    break
            fits = starts
            if grade is not None:
                fits &= self._windows_of_grade(r, count, grade)
                if not fits:
                    entries.append(None)
                    continue
            clean = fits & ~(left_orphan | (run_ends >> count))
            row_blocks = blocks[count]
            a = row_blocks.best(clean or fits)
            entries.append((CLEAN if clean else ANY, row_blocks.scores[a], rank, a, r))
        return entries

    def _add_blocks(self, r: int, counts: int) -> None:
        cum = self._cum
        start, end = self._rows[r].start, self._rows[r].end
        blocks = self._blocks[r]
        if not blocks:
            blocks.append(_Blocks([]))  # count 0: unused
        for count in range(len(blocks), counts + 1):
            blocks.append(_Blocks([cum[start + a + count] - cum[start + a]
                                   for a in range(end - start - count + 1)]))

    def _windows_of_grade(self, r: int, count: int, grade: int) -> int:
        key = (r, count, grade)
        mask = self._grade_windows.get(key)
        if mask is None:
            row = self._rows[r]
            of_grade = 0
            for p in range(row.end - row.start):
                if self._grade_of[row.start + p] == grade:
                    of_grade |= 1 << p
            mask = of_grade
            for k in range(1, count):
                mask &= of_grade >> k
            self._grade_windows[key] = mask
        return mask

    # ------------------------------------------------------------------ nearest seats

    def _nearest(self, count: int, section: int | None, grade: int | None
                 ) -> list[int] | None:
        """Pops the nearest available seats and pushes them back: choosing takes nothing
        (the seats leave the heap when they reach its top taken)."""
        singles = self._singles.get((section, grade))
        if singles is None:
            singles = self._singles[(section, grade)] = self._new_singles(section, grade)
        heap = singles.heap
        if singles.freed:
            distance = self._distance
            grade_of = self._grade_of
            for i in singles.freed:
                if grade is None or grade_of[i] == grade:
                    heapq.heappush(heap, (distance[i], i))
            singles.freed.clear()
            if len(heap) > 2 * singles.size + 64:
                heap[:] = sorted(set(heap))
        free = self._free
        row_of = self._row_of
        bit = self._bit
        popped: list[tuple[float, int]] = []
        while heap and len(popped) < count:
            entry = heapq.heappop(heap)
            i = entry[1]
            if free[row_of[i]] & bit[i] and (not popped or popped[-1] != entry):
                popped.append(entry)
        for entry in popped:
            heapq.heappush(heap, entry)
        if len(popped) < count:
            return None
        return sorted(i for _, i in popped)

    def _new_singles(self, section: int | None, grade: int | None) -> _Singles:
        """The heap of a filter's seats that are free now (it is first needed when few are)."""
        distance = self._distance
        grade_of = self._grade_of
        free = self._free
        heap = []
        size = 0
        singles = _Singles(grade)
        for r in self._all_rows if section is None else self._section_rows[section]:
            row = self._rows[r]
            if grade is not None and grade not in row.grades:
                continue
            size += row.end - row.start
            mask = free[r]
            while mask:
                low = mask & -mask
                i = row.start + low.bit_length() - 1
                if grade is None or grade_of[i] == grade:
                    heap.append((distance[i], i))
                mask ^= low
            self._row_freed[r].append(singles.freed)
        heapq.heapify(heap)
        singles.heap = heap
        singles.size = size
        return singles


def reference_choice(
    rows: Sequence[RowIndex], distance: Sequence[float], grade_of: Sequence[int],
    state: bytes | bytearray, count: int, section: int | None = None,
    grade: int | None = None,
) -> list[int] | None:
    """What best-available must choose, by scoring every block of every row (slow: for tests
    and benchmarks)."""
    cum = [0.0]
    for d in distance:
        cum.append(cum[-1] + d)
    order = sorted(range(len(rows)), key=lambda r: (rows[r].lower_bound, r))
    candidates = [r for r in order
                  if (section is None or rows[r].section == section)
                  and (grade is None or grade in rows[r].grades)]
    best_clean: tuple[float, int] | None = None
    best_any: tuple[float, int] | None = None
    for r in candidates:
        row = rows[r]
        i = row.start
        while i < row.end:
            if state[i] != AVAILABLE:
                i += 1
                continue
            j = i
            while j < row.end and state[j] == AVAILABLE:
                j += 1
            run = j - i
            for o in range(max(0, run - count + 1)):
                a, b = i + o, i + o + count
                if grade is not None and any(grade_of[k] != grade for k in range(a, b)):
                    continue
                score = cum[b] - cum[a]
                orphan = o == 1 or run - o - count == 1
                if not orphan and (best_clean is None or score < best_clean[0]):
                    best_clean = (score, a)
                if best_any is None or score < best_any[0]:
                    best_any = (score, a)
            i = j
    chosen = best_clean or best_any
    if chosen is not None:
        return list(range(chosen[1], chosen[1] + count))
    pool = [k for r in candidates for k in range(rows[r].start, rows[r].end)
            if state[k] == AVAILABLE and (grade is None or grade_of[k] == grade)]
    if len(pool) < count:
        return None
    return sorted(sorted(pool, key=lambda k: (distance[k], k))[:count])
