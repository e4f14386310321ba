"""The pytest plugin, as a user's test suite sees it (run in a separate pytest with pytester)."""

from __future__ import annotations

import re

import pytest

from tests.kit.paths import README

pytestmark = pytest.mark.slow  # a pytest process per case


def _run(pytester, source: str, *args: str):
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args, timeout=120)


def test_sync_fixture_mints_tokens_and_serves_ice(pytester):
    result = _run(
        pytester,
        """
        import jwt

        def test_backend(orga_emulator):
            token = orga_emulator.mint_token("ada@example.com")
            claims = jwt.decode(token, options={"verify_signature": False})
            assert claims["email"] == "ada@example.com"
            servers = orga_emulator.ice_servers
            assert [s["urls"][0].split(":")[0] for s in servers] == ["stun", "turn"]
            assert orga_emulator.base_url.startswith("http://127.0.0.1:")
            assert orga_emulator.sessions == {}

        def test_each_test_gets_its_own(orga_emulator):
            assert orga_emulator.sessions == {}
        """,
    )
    result.assert_outcomes(passed=2)


def test_settings_can_be_overridden_and_errors_surface(pytester):
    result = _run(
        pytester,
        """
        import pytest
        from emulator.testing.client import OrgaHTTPError
        from emulator.config import Settings

        @pytest.fixture
        def orga_emulator_settings():
            return Settings(port=0, turn=False, users=("only@example.com",))

        def test_unknown_user(orga_emulator):
            with pytest.raises(Exception) as info:
                orga_emulator.mint_token("someone@example.com")
            assert "404" in str(info.value)

        @pytest.mark.asyncio
        async def test_client_sees_status(orga_client):
            orga_client.email = "nobody@example.com"
            with pytest.raises(OrgaHTTPError) as info:
                await orga_client.get_session_config()
            assert info.value.status == 404
            assert info.value.body["error"]["message"] == "User not found."
        """,
    )
    result.assert_outcomes(passed=2)


def test_a_failing_user_test_fails(pytester):
    result = _run(
        pytester,
        """
        def test_wrong(orga_emulator):
            assert orga_emulator.sessions == {"nope": 1}
        """,
    )
    result.assert_outcomes(failed=1)


def test_the_readme_example_passes_as_pasted(pytester):
    text = README.read_text()
    match = re.search(
        r"<!-- example:start -->\s*```python\n(.*?)```\s*<!-- example:end -->", text, re.S
    )
    assert match, "README has no marked pytest example"
    result = _run(pytester, match.group(1))
    result.assert_outcomes(
        passed=len(re.findall(r"^async def test_|^def test_", match.group(1), re.M))
    )


def test_the_readme_line_for_pytest_asyncio_silences_its_warning(pytester):
    """Without the line the README gives, pytest-asyncio warns on every run; with it, not."""
    text = README.read_text()
    line = re.search(r'^asyncio_default_fixture_loop_scope = "function"$', text, re.M)
    assert line, "README lost its pytest-asyncio line"
    example = re.search(
        r"<!-- example:start -->\s*```python\n(.*?)```\s*<!-- example:end -->", text, re.S
    ).group(1)
    warning = "asyncio_default_fixture_loop_scope"
    bare = _run(pytester, example, "-W", "default")
    assert warning in bare.stdout.str() + bare.stderr.str()
    pytester.makefile(".toml", pyproject=f"[tool.pytest.ini_options]\n{line.group(0)}\n")
    configured = _run(pytester, example, "-W", "default")
    configured.assert_outcomes(passed=1)
    assert warning not in configured.stdout.str() + configured.stderr.str()
