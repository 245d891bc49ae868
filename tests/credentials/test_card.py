"""Property tests for the pure card maths: the `otp` codec, challenge names, cell picking and the state
machine."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials import card


@st.composite
def cards(draw):
    geometry = card.Geometry(
        rows=draw(st.integers(1, 26)), cols=draw(st.integers(1, 30)), coordinate_format=draw(st.booleans())
    )
    width = draw(st.integers(2, 8))
    cells = draw(
        st.lists(
            st.text("0123456789", min_size=width, max_size=width), min_size=geometry.cells, max_size=geometry.cells
        )
    )
    counters = draw(st.lists(st.integers(0, card.MAX_COUNTER), min_size=geometry.cells, max_size=geometry.cells))
    challenge = draw(st.none() | st.integers(0, geometry.cells - 1).map(geometry.challenge_name))
    return card.CardData(geometry=geometry, counters=counters, cells=cells, latest_challenge=challenge)


@given(cards())
def test_encode_then_decode_is_the_identity(data):
    encoded = card.encode(data)
    assert card.decode(encoded, coordinate_format=data.geometry.coordinate_format) == data
    rows, cols, counters, cells, *rest = encoded.split("|")
    assert (int(rows), int(cols)) == (data.geometry.rows, data.geometry.cols)
    assert len(counters) == data.geometry.cells and cells == "".join(data.cells)
    assert rest == ([data.latest_challenge] if data.latest_challenge else [])


@given(st.integers(1, 26), st.integers(1, 99), st.booleans(), st.data())
def test_challenge_names_name_exactly_one_cell(rows, cols, coordinate, data):
    geometry = card.Geometry(rows, cols, coordinate)
    index = data.draw(st.integers(0, geometry.cells - 1))
    name = geometry.challenge_name(index)
    assert geometry.challenge_index(name) == index


def test_the_default_card_has_168_cells_named_as_nevisidm_names_them():
    assert card.Geometry().cells == 168
    assert [card.Geometry().challenge_name(i) for i in (0, 9, 167)] == ["001", "010", "168"]
    coordinates = card.Geometry(coordinate_format=True)
    assert [coordinates.challenge_name(i) for i in (0, 11, 12, 167)] == ["A1", "A12", "B1", "N12"]


@pytest.mark.parametrize(
    "otp",
    [
        "",
        "14|12",
        "a|b|c|d",
        "2|3|00000|131313131313",
        "2|3|000000|1313131313131",
        "2|3|00000!|131313131313",
        "2|3|000000|13131313131x",
        "2|3|000000|131313131313|7",
        "2|3|000000|131313131313|1|2",
        "0|3||",
    ],
)
def test_malformed_otp_strings_are_refused(otp):
    with pytest.raises(card.CardFormatError):
        card.decode(otp)


@pytest.mark.parametrize("name", ["000", "169", "1", "0010", "A1", "abc", ""])
def test_challenges_not_on_the_card_are_refused(name):
    with pytest.raises(card.CardFormatError):
        card.Geometry().challenge_index(name)


@given(st.integers(1, 60), st.data())
def test_a_used_cell_is_never_challenged_again(cells, data):
    counters = data.draw(st.lists(st.integers(0, 1), min_size=cells, max_size=cells))
    already_used = {index for index, count in enumerate(counters) if count}
    picked = []
    while (index := card.pick_unused_cell(counters)) is not None:
        assert counters[index] == 0 and index not in already_used
        counters[index] += 1
        picked.append(index)
    assert len(picked) == len(set(picked)) == cells - len(already_used)
    assert card.cells_remaining(counters) == 0


def test_answers_compare_exactly():
    cells = ["0042", "1337"]
    assert card.answer_matches(cells, 1, "1337") and card.answer_matches(cells, 1, " 1337 ")
    assert not card.answer_matches(cells, 1, "133") and not card.answer_matches(cells, 0, "1337")


EVENTS = [
    card.Event.LOGIN_SUCCESS,
    card.Event.TMP_LOCK,
    card.Event.TMP_LOCK_EXPIRED,
    card.Event.FAIL_LOCK,
    *[card.admin_event(state) for state in card.STATES],
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(EVENTS), max_size=40))
def test_no_sequence_of_events_leaves_the_table(events):
    state = "initial"
    for event in events:
        try:
            following = card.next_state(state, event)
        except card.InvalidTransition:
            continue
        assert (state, event) in card.TRANSITIONS and card.TRANSITIONS[(state, event)] == following
        assert following in card.STATES
        assert state != "archived", "nothing leaves archived"
        if event == card.Event.LOGIN_SUCCESS:
            assert state in card.LOGIN_STATES
        if following in card.LOCKED_STATES and not event.startswith(card.Event.ADMIN):
            assert state in card.LOGIN_STATES
        state = following


def test_locked_or_disabled_cards_cannot_log_in():
    for state in ("tmp-locked", "fail-locked", "disabled", "archived", "reset-code", "admin-changed"):
        with pytest.raises(card.InvalidTransition):
            card.next_state(state, card.Event.LOGIN_SUCCESS)


@given(st.integers(-1, 6), st.integers(-1, 6), st.booleans(), st.integers(1, 20))
def test_failures_lock_as_the_policy_says(tmp_threshold, max_failures, strict, failed):
    tmp_threshold = -1 if tmp_threshold == 0 else tmp_threshold
    max_failures = -1 if max_failures == 0 else max_failures
    policy = card.LockPolicy(tmp_threshold, max_failures, strict)
    event = card.failure_event(policy, failed)
    if max_failures != -1 and failed >= max_failures:
        assert event == card.Event.FAIL_LOCK
    elif tmp_threshold != -1 and (failed >= tmp_threshold if strict else failed == tmp_threshold):
        assert event == card.Event.TMP_LOCK
    else:
        assert event is None


def test_nevisidm_defaults_lock_temporarily_at_two_and_for_good_at_three():
    policy = card.LockPolicy()
    assert [card.failure_event(policy, n) for n in (1, 2, 3)] == [None, card.Event.TMP_LOCK, card.Event.FAIL_LOCK]
