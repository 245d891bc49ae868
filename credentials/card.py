"""OTP card maths: grids, challenges, answers, the `otp` string and the credential state machine.

Pure Python with no Django import, so that it can be tested exhaustively on its own.

The grid
    A card is `rows` × `cols` cells (nevisIDM's default 14 × 12 = 168), each holding a short string of
    digits (`cell_length`, a policy setting). Cells are numbered row-major from 0. A challenge names one
    cell: `001`…`168` (zero-padded to the width of the largest number), or with `coordinateCardFormat`
    a row letter and a column number, `A1`…`N12` (rows A–N, columns 1–12).

The `otp` string (nevisIDM's `rows|cols|counters|card(|latestChallenge)`; it publishes no inside format,
so otpsite defines it)
    rows      the number of rows, in decimal: `14`
    cols      the number of columns, in decimal: `12`
    counters  one character per cell, row-major: how many times that cell has been challenged, in base 36
              (`0`–`9`, `a`–`z`); cells are never challenged twice, so in practice `0` or `1`
    card      every cell's value concatenated row-major; all cells have the same length, so each is
              len(card) / (rows × cols) digits
    latestChallenge (optional) the challenge currently waiting for an answer, as the user sees it

    Example, a 2 × 3 card with 2-digit cells whose second cell was challenged: `2|3|010000|132245916701|2`.
"""

import hmac
import secrets
import string
from dataclasses import dataclass

COUNTER_DIGITS = string.digits + string.ascii_lowercase
MAX_COUNTER = len(COUNTER_DIGITS) - 1
ROW_LETTERS = string.ascii_uppercase


class CardFormatError(ValueError):
    """An `otp` string or a challenge that does not follow the format above."""


@dataclass(frozen=True)
class Geometry:
    rows: int = 14
    cols: int = 12
    coordinate_format: bool = False

    def __post_init__(self):
        if not 1 <= self.rows <= len(ROW_LETTERS) or not 1 <= self.cols <= 99:
            raise CardFormatError("A card has 1 to 26 rows and 1 to 99 columns.")

    @property
    def cells(self) -> int:
        return self.rows * self.cols

    def challenge_name(self, index: int) -> str:
        if not 0 <= index < self.cells:
            raise CardFormatError(f"Cell {index} is not on a {self.rows} × {self.cols} card.")
        if self.coordinate_format:
            row, col = divmod(index, self.cols)
            return f"{ROW_LETTERS[row]}{col + 1}"
        return f"{index + 1:0{len(str(self.cells))}d}"

    def challenge_index(self, name: str) -> int:
        """The cell a challenge names; CardFormatError when it names none."""
        if self.coordinate_format:
            letter, number = name[:1], name[1:]
            if letter not in ROW_LETTERS[: self.rows] or not number.isdigit() or number != str(int(number)):
                raise CardFormatError(f"{name!r} is not a challenge on this card.")
            col = int(number) - 1
            if not 0 <= col < self.cols:
                raise CardFormatError(f"{name!r} is not a challenge on this card.")
            return ROW_LETTERS.index(letter) * self.cols + col
        if len(name) != len(str(self.cells)) or not name.isdigit() or not 1 <= int(name) <= self.cells:
            raise CardFormatError(f"{name!r} is not a challenge on this card.")
        return int(name) - 1


def generate_cells(geometry: Geometry, cell_length: int) -> list[str]:
    return ["".join(secrets.choice(string.digits) for _ in range(cell_length)) for _ in range(geometry.cells)]


def pick_unused_cell(counters: list[int]) -> int | None:
    """A random cell that has never been challenged, or None when the card is used up."""
    unused = [index for index, count in enumerate(counters) if count == 0]
    return secrets.choice(unused) if unused else None


def answer_matches(cells: list[str], index: int, answer: str) -> bool:
    """Constant-time comparison of an answer with a cell's value."""
    return hmac.compare_digest(cells[index].encode(), answer.strip().encode())


def cells_remaining(counters: list[int]) -> int:
    return sum(1 for count in counters if count == 0)


@dataclass(frozen=True)
class CardData:
    geometry: Geometry
    counters: list[int]
    cells: list[str]
    latest_challenge: str | None = None

    def __post_init__(self):
        if len(self.counters) != self.geometry.cells or len(self.cells) != self.geometry.cells:
            raise CardFormatError("Counters and cells must cover every cell of the card.")
        lengths = {len(cell) for cell in self.cells}
        if len(lengths) != 1 or not all(cell.isdigit() and cell.isascii() for cell in self.cells):
            raise CardFormatError("Cells are digit strings of one length.")
        if not all(0 <= count <= MAX_COUNTER for count in self.counters):
            raise CardFormatError(f"Counters run from 0 to {MAX_COUNTER}.")
        if self.latest_challenge is not None:
            self.geometry.challenge_index(self.latest_challenge)


def encode(card: CardData) -> str:
    parts = [
        str(card.geometry.rows),
        str(card.geometry.cols),
        "".join(COUNTER_DIGITS[count] for count in card.counters),
        "".join(card.cells),
    ]
    if card.latest_challenge is not None:
        parts.append(card.latest_challenge)
    return "|".join(parts)


def decode(otp: str, *, coordinate_format: bool = False) -> CardData:
    parts = otp.split("|")
    if len(parts) not in (4, 5):
        raise CardFormatError("Expected rows|cols|counters|card with an optional |latestChallenge.")
    rows, cols, counters, card = parts[:4]
    if not (rows.isdigit() and cols.isdigit() and rows.isascii() and cols.isascii()):
        raise CardFormatError("Rows and columns are decimal numbers.")
    geometry = Geometry(int(rows), int(cols), coordinate_format)
    if len(counters) != geometry.cells or any(digit not in COUNTER_DIGITS for digit in counters):
        raise CardFormatError("Counters hold one base-36 digit per cell.")
    if not card or len(card) % geometry.cells:
        raise CardFormatError("The card holds every cell, all of one length.")
    width = len(card) // geometry.cells
    return CardData(
        geometry=geometry,
        counters=[COUNTER_DIGITS.index(digit) for digit in counters],
        cells=[card[index : index + width] for index in range(0, len(card), width)],
        latest_challenge=parts[4] if len(parts) == 5 else None,
    )


#
# The credential state machine
#

STATES = ("initial", "active", "tmp-locked", "fail-locked", "reset-code", "admin-changed", "disabled", "archived")
LOGIN_STATES = frozenset({"initial", "active"})
LOCKED_STATES = frozenset({"tmp-locked", "fail-locked"})


class Event:
    """What moves a card from one state to another."""

    LOGIN_SUCCESS = "login-success"
    TMP_LOCK = "tmp-lock"  # failures reached tmpLockingThreshold
    TMP_LOCK_EXPIRED = "tmp-lock-expired"  # tmpLockingDuration has passed
    FAIL_LOCK = "fail-lock"  # failures reached maxCredFailureCount
    ADMIN = "admin"  # an administrator set the state (API PATCH or admin action)


_ADMIN_TARGETS = {
    # from state: states an administrator may set. Nothing leaves archived.
    "initial": {"active", "disabled", "archived", "admin-changed", "reset-code"},
    "active": {"disabled", "archived", "admin-changed", "reset-code", "initial"},
    "tmp-locked": {"active", "disabled", "archived", "admin-changed", "reset-code"},
    "fail-locked": {"active", "disabled", "archived", "admin-changed", "reset-code"},
    "reset-code": {"active", "initial", "disabled", "archived", "admin-changed"},
    "admin-changed": {"active", "initial", "disabled", "archived", "reset-code"},
    "disabled": {"active", "initial", "archived", "admin-changed", "reset-code"},
    "archived": set(),
}

# The one transition table: (from, event) → to.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("initial", Event.LOGIN_SUCCESS): "active",
    ("active", Event.LOGIN_SUCCESS): "active",
    ("initial", Event.TMP_LOCK): "tmp-locked",
    ("active", Event.TMP_LOCK): "tmp-locked",
    ("tmp-locked", Event.TMP_LOCK_EXPIRED): "active",
    ("initial", Event.FAIL_LOCK): "fail-locked",
    ("active", Event.FAIL_LOCK): "fail-locked",
    **{(source, f"{Event.ADMIN}:{target}"): target for source, targets in _ADMIN_TARGETS.items() for target in targets},
}


class InvalidTransition(ValueError):
    def __init__(self, state: str, event: str):
        super().__init__(f"A card in state {state!r} cannot take {event!r}.")
        self.state, self.event = state, event


def admin_event(target: str) -> str:
    return f"{Event.ADMIN}:{target}"


def next_state(state: str, event: str) -> str:
    """The state `event` moves a card in `state` to; InvalidTransition when the table has no such move."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


@dataclass(frozen=True)
class LockPolicy:
    """nevisIDM's lockout parameters; -1 switches a threshold off."""

    tmp_locking_threshold: int = 2
    max_cred_failure_count: int = 3
    strict: bool = True  # strict: every failure at or past the threshold locks again; threshold: only the one


def failure_event(policy: LockPolicy, failed_count: int) -> str | None:
    """The lock event a failure brings, given the failure count after it (None: no lock)."""
    if policy.max_cred_failure_count != -1 and failed_count >= policy.max_cred_failure_count:
        return Event.FAIL_LOCK
    threshold = policy.tmp_locking_threshold
    if threshold != -1 and (failed_count >= threshold if policy.strict else failed_count == threshold):
        return Event.TMP_LOCK
    return None
