"""talklab.lab.load: a live room's load, measured (notebook 08 shows it for 6, 8 and 10 people)."""

from __future__ import annotations

import socket

import pytest

from talklab import Lab
from talklab.lab.load import REAL_TIME, _queued_kb, measure


async def test_a_room_of_three_runs_in_real_time_and_each_uploads_two_streams():
    async with Lab() as lab:
        for name in ("Alice", "Bob", "Charlie"):
            await lab.join(name, voice=True)
        await lab.wait_connected()
        await lab.people["Alice"].wait_heard()
        load = await measure(lab, 1.0)
    assert load.people == 3 and load.streams == 6
    assert load.real_time and load.pps_min >= REAL_TIME
    assert 80 <= load.upload_pps_median <= 120  # 50 packets a second to each of two others
    assert load.cpu_percent > 0 and load.queued_kb is not None and load.queued_kb < 256


async def test_eight_and_ten_people_are_measured_live():
    async with Lab(voice_cap=10) as lab:
        loads = {}
        for n in range(1, 11):
            await lab.join(f"P{n}", voice=True)
            if n in (8, 10):
                await lab.wait_connected(60)
                loads[n] = await measure(lab, 1.0)
    for n, load in loads.items():
        assert load.people == n and load.streams == n * (n - 1)
        assert 0 < load.pps_min <= load.pps_median
        assert load.real_time == (load.pps_min >= REAL_TIME)
        assert load.upload_pps_median > 0 and load.cpu_percent > 0
        assert 1 <= load.seconds < 3  # the window is the window: reading counters never awaits
        # what the process has not read yet waits in the kernel; a room in real time has none
        assert load.queued_kb is not None and (load.real_time or load.queued_kb > 0)


async def test_measure_refuses_a_window_that_makes_no_sense():
    async with Lab() as lab:
        for bad in (0, -1, 61, "2", True):
            with pytest.raises(ValueError, match="seconds"):
                await measure(lab, bad)


def test_queued_bytes_are_read_for_the_rooms_addresses_only(tmp_path):
    mine = socket.inet_aton("127.10.0.2")[::-1].hex().upper()
    other = socket.inet_aton("127.0.0.1")[::-1].hex().upper()
    table = tmp_path / "udp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n"
        f"   1: {mine}:D4F3 00000000:0000 07 00000000:00000800 00:00000000 00000000\n"
        f"   2: {other}:0035 00000000:0000 07 00000000:00010000 00:00000000 00000000\n")
    assert _queued_kb({"127.10.0.2"}, str(table)) == 2.0
    assert _queued_kb({"127.10.0.2"}, str(tmp_path / "missing")) is None
