"""coturn's turnutils_uclient against turn_stub, with TURN REST credentials (-W)."""

from __future__ import annotations

import re

import pytest

from tests.turn.uclient import CLIENTS, MESSAGES, run_uclient

pytestmark = pytest.mark.slow  # coturn's programs, seconds each


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["-c"], id="channel-data"),
        pytest.param(["-c", "-s"], id="send-indications"),
        pytest.param(["-c", "-t"], id="tcp"),
        pytest.param(["-c", "-t", "-s"], id="tcp-send-indications"),
        pytest.param(["-c", "-D", "-l", "101"], id="padding"),
        pytest.param(["-c", "-t", "-D", "-l", "101"], id="tcp-padding"),
        pytest.param(["-c", "-g"], id="dont-fragment"),
        pytest.param(["-c", "-y"], id="client-to-client"),
        pytest.param([], id="rtp-rtcp-even-port"),
    ],
)
async def test_uclient_relays_without_loss(turn_server, coturn_peer, flags):
    code, output = await run_uclient(turn_server, coturn_peer, *flags)
    assert code == 0, output
    sent = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", output, re.MULTILINE)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", output)
    assert sent and lost, output
    assert int(sent.group(1)) == MESSAGES * CLIENTS
    assert int(sent.group(2)) == MESSAGES * CLIENTS
    assert int(lost.group(1)) == 0 and float(lost.group(2)) == 0.0


async def test_uclient_with_wrong_secret_fails(turn_server, coturn_peer):
    code, output = await run_uclient(turn_server, coturn_peer, "-c", secret="wrong secret")
    assert code != 0
    assert "Cannot complete Allocation" in output
    assert turn_server.allocation_count == 0
