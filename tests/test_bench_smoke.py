"""The benchmark (tests/bench, make bench) runs end to end, and its yardstick, the pam_exec script
extid-login.sh, really checks what pam_extid checks: a comparison with a script that skipped
checks would flatter the script."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "bench"))

import bench  # noqa: E402

pytestmark = [pytest.mark.system, pytest.mark.slow]

CLIENT = os.path.join(ROOT, "build", "bench", "bench-client")
# Each of these makes the mock return a token that must be refused (tests/mock_tenant.py).
BAD_TOKENS = ["forged", "algnone", "hs256", "unknownkid", "rotatedkid", "expiredtoken", "future",
              "multiaud", "otherazp",
              "wrongaud", "wrongiss", "wrongtid", "otheruser", "noexp", "expstring"]


def make(*targets, **env):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT, *targets],
                          capture_output=True, text=True, env=dict(os.environ, **env),
                          timeout=600)


def test_bench_smoke_prints_table_and_module_meets_counts(tmp_path):
    out = tmp_path / "bench.json"
    proc = make("bench-smoke", BENCH_ARGS="--json %s" % out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| figure" in proc.stdout and "| pam_extid" in proc.stdout, proc.stdout
    assert "extid-login.sh" in proc.stdout and "Machine:" in proc.stdout
    result = json.loads(out.read_text())
    series = {(x["impl"], x["cache"]): x for x in result["series"] if x["rtt"] == 0}
    warm, cold = series[("module", "warm")], series[("module", "cold")]
    assert (warm["connections"], warm["tls_handshakes"], warm["requests"]) == (1, 1, 3), warm
    assert cold["connections"] == 1 and cold["requests"] <= 5, cold
    assert warm["by_endpoint"]["discovery"] == 0 and warm["by_endpoint"]["jwks"] == 0
    # The script pays a connection per curl: that is the point of the comparison.
    assert series[("script", "warm")]["connections"] == 3
    assert series[("script", "warm")]["requests"] == 3
    assert warm["cpu_ms"] < series[("script", "warm")]["cpu_ms"]
    for k in ("1", "2"):
        assert result["throughput"]["module"][k] > 0 and result["throughput"]["script"][k] > 0
    failed = [t["text"] for t in result["targets"] if not t["ok"] and "memory" not in t["text"]]
    assert not failed, failed


@pytest.fixture(scope="module")
def rig():
    proc = make("build/bench/bench-client")
    assert proc.returncode == 0, proc.stderr
    with bench.Bench(CLIENT, users=1) as b:
        yield b


def login_as(rig, email, impl="script", code=None, after_reset=None):
    rig.write_users({0: email})
    rig.reset_counts()
    if after_reset:
        after_reset()
    return rig.login(impl, email=email, code=code), rig.tenant.stats()["requests"]


def test_script_logs_in_with_the_emailed_code(rig):
    res, requests = login_as(rig, "bench00@example.com")
    assert res["rc"] == 0, res["stderr"]
    assert requests["initiate"] == requests["challenge"] == requests["token"] == 1


def test_script_refuses_a_wrong_code(rig):
    res, requests = login_as(rig, "bench00@example.com", code="00000000")
    assert res["rc"] != 0
    assert requests["token"] == 1


@pytest.mark.parametrize("scenario", BAD_TOKENS)
def test_script_refuses_bad_id_tokens(rig, scenario):
    # Both the module and the script get the token from /token, and both must refuse it.
    for impl in ("script", "module"):
        res, requests = login_as(rig, "%s@example.com" % scenario, impl)
        assert res["rc"] != 0, (impl, scenario)
        assert requests["token"] == 1, (impl, requests)


def test_script_refetches_jwks_for_a_rotated_key(rig):
    res, requests = login_as(rig, "rotatedkid@example.com", after_reset=rig.tenant.rotate)
    assert res["rc"] == 0, res["stderr"]
    assert requests["jwks"] == 1
