"""The state file: round trip, atomic save, permission, damaged files kept aside."""

from __future__ import annotations

import json
import logging
import stat

import pytest

from storage.state import (
    STATE_VERSION,
    BotState,
    PendingOrder,
    Position,
    StateFileError,
    StateStore,
)


def _full_state() -> BotState:
    return BotState(
        position=Position(
            quantity=0.000999,
            entry_price=23000.5,
            entry_time_ms=1_740_744_000_000,
            entry_order_id="123",
            entry_client_order_id="pb-1b-x",
            entry_fee=0.000001,
            entry_fee_currency="BTC",
            requested_price=23000.0,
        ),
        pending=PendingOrder(
            client_order_id="pb-2s-y",
            side="sell",
            quantity=0.000999,
            reason="stop_loss",
            requested_price=22540.0,
            signal_candle_ms=None,
            created_ms=1_740_744_060_000,
        ),
        last_candle_ms=1_740_744_000_000,
        order_seq=2,
        symbol="BTC/USDT",
        extra={"note": "kept"},
    )


def test_missing_file_loads_a_fresh_flat_state(tmp_path):
    """
    Given no state file
    When the store loads
    Then the state is flat with no pending order, no candle seen and sequence 0
    """
    state = StateStore(tmp_path / "state.json").load()
    assert state == BotState()
    assert state.position is None and state.pending is None
    assert state.last_candle_ms is None and state.order_seq == 0
    assert state.version == STATE_VERSION


def test_save_then_load_round_trips_every_field(tmp_path):
    """
    Given a state with an open position, a pending sell and counters
    When it is saved and loaded again
    Then every field comes back equal
    """
    store = StateStore(tmp_path / "state.json")
    state = _full_state()
    store.save(state)
    assert store.load() == state


def test_save_is_owner_only_and_leaves_no_temp_file(tmp_path):
    """
    Given a store in an empty directory
    When a state is saved twice
    Then only the state file exists and its permission is 0600
    """
    store = StateStore(tmp_path / "state.json")
    store.save(BotState())
    store.save(_full_state())
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_load_tightens_a_loose_permission(tmp_path):
    """
    Given a valid state file readable by everyone
    When the store loads it
    Then its permission becomes 0600
    """
    path = tmp_path / "state.json"
    StateStore(path).save(BotState(order_seq=3))
    path.chmod(0o644)
    assert StateStore(path).load().order_seq == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_removes_temp_files_left_by_a_killed_save(tmp_path, caplog):
    """
    Given a state file and a temp file a killed save left next to it
    When the store loads
    Then the temp file is removed, logged, and the state file is read normally
    """
    path = tmp_path / "state.json"
    StateStore(path).save(BotState(order_seq=7))
    (tmp_path / ".state.json.k2j3.tmp").write_text('{"half')
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert StateStore(path).load().order_seq == 7
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert "interrupted state save" in caplog.text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"version": 1, "position": {"quantity": 0.1', "Expecting"),
        (b"", "the file is empty"),
        (b"\xff\xfe", "codec"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"position": null}', "'version' is missing"),
        (b'{"version": 99}', "newer than this bot"),
        (b'{"version": 1, "bogus": 1}', "unknown key(s) bogus"),
        (b'{"version": 1, "order_seq": "3"}', "'order_seq' is not an integer"),
        (b'{"version": 1, "position": {"quantity": 1}}', "'position.entry_price' is missing"),
        (b'{"version": 1, "position": 5}', "'position' is not an object"),
        (b'{"version": 1, "position": {"quantity": "1", "entry_price": 1, "entry_time_ms": 1,'
         b' "entry_order_id": "1", "entry_client_order_id": "c"}}', "'position.quantity' is not"),
        (b'{"version": 1, "position": {"quantity": 1, "entry_price": 1, "entry_time_ms": 1,'
         b' "entry_order_id": 1, "entry_client_order_id": "c"}}', "not a string"),
        (b'{"version": 1, "position": {"quantity": 1, "x": 1}}', "unknown key(s) x"),
        (b'{"version": 1, "pending": {"client_order_id": "c", "side": "hold", "quantity": 1,'
         b' "reason": "signal", "requested_price": null, "signal_candle_ms": null,'
         b' "created_ms": 1}}', "not buy or sell"),
        (b'{"version": 1, "pending": {"client_order_id": "c", "side": "buy", "quantity": 1,'
         b' "reason": "whim", "requested_price": null, "signal_candle_ms": null,'
         b' "created_ms": 1}}', "'pending.reason'"),
        (b'{"version": 1, "extra": []}', "'extra' is not an object"),
        (b'{"version": 1, "symbol": 5}', "'symbol' is not a string"),
    ],
)
def test_damaged_file_is_kept_aside_with_a_clear_message(tmp_path, content, reason):
    """
    Given a state file that is truncated, empty, not UTF-8 or has a wrong shape
    When the store loads it
    Then StateFileError says why and where the damaged copy was kept, in one line
    And the damaged bytes are kept under state.json.corrupt-<stamp> and the next load is fresh
    """
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError) as caught:
        StateStore(path).load()
    message = str(caught.value)
    assert "\n" not in message
    assert reason in message
    kept = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == content
    assert str(kept[0]) in message
    assert "start again" in message
    assert not path.exists()
    assert StateStore(path).load() == BotState()


def test_two_damaged_files_in_the_same_second_get_distinct_names(tmp_path, monkeypatch):
    """
    Given the UTC stamp is frozen so two corrupt files get the same stamp
    When two damaged state files are loaded one after the other
    Then both copies are kept under distinct names
    """
    monkeypatch.setattr("storage.state._utc_stamp", lambda: "20250228T120000Z")
    path = tmp_path / "state.json"
    for text in ("{", "}"):
        path.write_text(text)
        with pytest.raises(StateFileError):
            StateStore(path).load()
    names = sorted(p.name for p in tmp_path.glob("state.json.corrupt-*"))
    assert names == ["state.json.corrupt-20250228T120000Z", "state.json.corrupt-20250228T120000Z-1"]


def test_unreadable_file_says_how_to_fix(tmp_path):
    """
    Given a state path that is a directory (cannot be read as a file)
    When the store loads
    Then StateFileError asks to fix the permission or move it away, and nothing is moved
    """
    path = tmp_path / "state.json"
    path.mkdir()
    with pytest.raises(StateFileError, match="cannot read the state file"):
        StateStore(path).load()
    assert path.is_dir()


def test_saved_file_is_plain_json_with_a_version(tmp_path):
    """
    Given a saved state
    When the file is read as JSON by hand
    Then it has the version and the position's actual entry price
    """
    path = tmp_path / "state.json"
    StateStore(path).save(_full_state())
    data = json.loads(path.read_text())
    assert data["version"] == STATE_VERSION
    assert data["position"]["entry_price"] == 23000.5
    assert data["pending"]["reason"] == "stop_loss"


def test_optional_fields_may_be_omitted_in_the_file(tmp_path):
    """
    Given a hand-written state file whose position lacks the optional fee fields
    When the store loads it
    Then the defaults are used
    """
    path = tmp_path / "state.json"
    path.write_text(json.dumps({
        "version": 1,
        "position": {"quantity": 1, "entry_price": 10, "entry_time_ms": 5,
                     "entry_order_id": "9", "entry_client_order_id": "c"},
    }))
    state = StateStore(path).load()
    assert state.position == Position(1.0, 10.0, 5, "9", "c")
    assert state.order_seq == 0 and state.pending is None


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("position", "quantity"), float("nan"), "'position.quantity' is nan, not a finite"),
        (("position", "quantity"), -0.001, "'position.quantity' is -0.001; it must be above 0"),
        (("position", "entry_price"), float("inf"), "'position.entry_price' is inf"),
        (("position", "entry_price"), -23000.0, "'position.entry_price' is -23000.0; it must be"),
        (("position", "entry_fee"), -1.0, "'position.entry_fee' is -1.0; it must not be"),
        (("position", "requested_price"), 0.0, "'position.requested_price' is 0.0"),
        (("pending", "quantity"), float("-inf"), "'pending.quantity' is -inf"),
        (("pending", "created_ms"), -5, "'pending.created_ms' is -5; a time cannot be"),
        (("last_candle_ms",), -60000, "'last_candle_ms' is -60000"),
        (("order_seq",), -1, "'order_seq' is -1"),
    ],
)
def test_out_of_range_numbers_are_refused_and_the_file_kept_aside(tmp_path, path, value, reason):
    """
    Given a state file with a NaN, infinite, negative or zero quantity, price, fee or time
    When the state is loaded
    Then StateFileError names the field and value in one line and the file is kept aside
    """
    target = tmp_path / "state.json"
    StateStore(target).save(_full_state())
    doc = json.loads(target.read_text())
    holder = doc
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    target.write_text(json.dumps(doc))  # Python writes NaN / Infinity, as a buggy tool would
    with pytest.raises(StateFileError) as caught:
        StateStore(target).load()
    message = str(caught.value)
    assert reason in message and "\n" not in message
    assert not target.exists() and len(list(tmp_path.glob("state.json.corrupt-*"))) == 1
